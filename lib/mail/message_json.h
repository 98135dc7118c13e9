// A parsed message as JSON (the format `msg-parse` prints; described in msg-parse(1)), and
// header values decoded by their type.
//
//   auto msg = Message::parse(bytes);
//   std::string line = message_json(*msg, {.file = "a.eml"});          // one line
//   std::string doc = message_json(*msg, {.file = "a.eml", .pretty = true});
//   decoded_header_value("Subject", "=?utf-8?q?caf=C3=A9?=")            // "café"
#pragma once

#include <string>
#include <string_view>

#include "mail/message.h"

namespace postern::mail {

struct JsonOptions {
  std::string file;     // "file" member; omitted when empty
  bool pretty = false;  // indented, one member per line
};

std::string message_json(const Message& message, const JsonOptions& options = {});

// The value of a header field decoded for display: addresses as "Name <addr>" lists,
// message ids as "<id>" lists, dates normalized to RFC 3339, Content-* as written but
// unfolded, everything else as unstructured text with RFC 2047 words decoded.
std::string decoded_header_value(std::string_view name, std::string_view raw_value);

// The kind of structured value a header name carries.
enum class HeaderType { kText, kAddresses, kDate, kMessageIds, kContentType, kList, kReceived };
HeaderType header_type(std::string_view name);

// JSON string escaping helper shared with tools: a quoted JSON string.
std::string json_quote(std::string_view s);

}  // namespace postern::mail
