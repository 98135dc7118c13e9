// The RFC 5322 / MIME message parser: one pass over the raw bytes builds an index of header
// fields and of the part tree (RFC 2045, RFC 2046), with the RFC 8621 4.1.4 choice of
// text body, HTML body and attachments. Nothing is decoded during the parse: a part's
// body is transfer-decoded and converted to UTF-8 only when asked for, so parsing a large
// message costs little more memory than the message itself. The original bytes stay
// available (raw header block, raw body of every part) for DKIM canonicalization.
//
// Malformed input parses best-effort, the way mail clients show it; only input with no
// header structure at all is refused. Nesting is capped (ParseOptions::max_depth).
//
//   auto msg = Message::parse(std::move(bytes));
//   if (!msg) return msg.error();                       // empty input or binary junk
//   for (const Part& p : msg->parts()) {
//     std::cout << p.id << " " << p.content_type.type << "/" << *p.content_type.subtype;
//   }
//   std::string text = msg->extract_text();             // text/plain preferred, else HTML
//   for (uint32_t i : msg->attachments()) save(msg->filename(msg->part(i)),
//                                                msg->decoded_body(msg->part(i)));
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "mail/header.h"
#include "mail/transfer.h"

namespace postern::mail {

// One header field; offsets are into the bytes of the part's source (Message::source).
struct HeaderField {
  uint32_t offset_field = 0;  // first byte of the field name
  uint32_t name_length = 0;   // the name as written, white space before ':' excluded
  uint32_t offset_value = 0;  // first byte after ':'
  uint32_t offset_end = 0;    // one past the field's final line break
};

enum class PartKind : uint8_t {
  kText,       // text/* other than text/html (also the default type)
  kHtml,       // text/html
  kBinary,     // anything else, including image/audio/video
  kMultipart,  // multipart/* with a boundary that was found
  kMessage,    // message/rfc822 or message/global that parsed as a message
};

struct Part {
  std::string id;  // IMAP section number (RFC 3501 6.4.5): "1", "2.1"; "0" / "2.0" for a
                   // multipart that is a message's whole body
  PartKind kind = PartKind::kText;
  Encoding encoding = Encoding::kIdentity;
  uint32_t source = 0;  // 0: the raw message; >0: a decoded encapsulated message
  uint32_t offset_header = 0;  // header block start
  uint32_t offset_body = 0;    // body start (after the blank line)
  uint32_t offset_end = 0;     // body end (the line break before a delimiter excluded)
  uint32_t first_header = 0, header_count = 0;
  int32_t parent = -1;          // index of the enclosing multipart or message part
  uint32_t message = 0;         // index into Message::messages() this part belongs to
  uint32_t nested = 0;          // kMessage: index of the encapsulated message
  uint16_t depth = 0;
  std::vector<uint32_t> children;  // kMultipart: the body parts; kMessage: {nested root}
  ContentType content_type;        // with RFC 2045 5.2 / RFC 2046 5.1.5 defaults applied
  bool content_type_defaulted = false;
  std::optional<ContentType> disposition;
  // Anomalies, kept so tools can explain what they show.
  bool missing_delimiter = false;  // the enclosing multipart's delimiter never came
  bool bad_encoding = false;       // body is not valid in its transfer encoding: shown raw
  bool depth_limited = false;      // nesting cap reached: content kept as a leaf

  bool is_leaf() const { return kind != PartKind::kMultipart && kind != PartKind::kMessage; }
};

// A message or an encapsulated message/rfc822 part, with its RFC 8621 4.1.4 body lists
// (indexes into Message::parts()).
struct MessageNode {
  uint32_t root = 0;
  int32_t container = -1;  // the message/rfc822 part holding it; -1 for the top level
  std::vector<uint32_t> text_body, html_body, attachments;
};

struct ParseOptions {
  int max_depth = 100;          // nested multiparts and messages
  int max_parts = 10000;        // beyond this the rest stays in the last part
  int max_encoded_nesting = 3;  // transfer-encoded message/rfc822 parts parsed recursively
};

class Message {
 public:
  // Takes the bytes (LF, CRLF or mixed line ends). Fails (bad_data) only when the input is
  // not a message at all: empty, or no header field before the first blank line.
  static base::Result<Message> parse(std::string raw, const ParseOptions& options = {});

  std::string_view raw() const { return sources_.front(); }
  std::span<const Part> parts() const { return parts_; }
  const Part& part(uint32_t index) const { return parts_.at(index); }
  const Part& root() const { return parts_.front(); }
  std::span<const MessageNode> messages() const { return messages_; }
  // Body lists of the top-level message.
  const std::vector<uint32_t>& text_body() const { return messages_.front().text_body; }
  const std::vector<uint32_t>& html_body() const { return messages_.front().html_body; }
  const std::vector<uint32_t>& attachments() const { return messages_.front().attachments; }
  // The part with this IMAP-style id, or nullptr.
  const Part* find(std::string_view id) const;

  // The bytes a part's offsets refer to.
  std::string_view source(const Part& p) const { return sources_.at(p.source); }
  std::string_view raw_headers(const Part& p) const;  // [offset_header, offset_body)
  std::string_view raw_body(const Part& p) const;     // [offset_body, offset_end)
  std::string_view raw_part(const Part& p) const;     // [offset_header, offset_end)

  std::span<const HeaderField> headers(const Part& p) const;
  std::string_view field_name(const Part& p, const HeaderField& f) const;
  std::string_view field_value(const Part& p, const HeaderField& f) const;  // raw, folded
  // Raw value of the first (or last) field of that name (case-insensitive).
  std::optional<std::string_view> header(const Part& p, std::string_view name,
                                         bool last = false) const;

  // Transfer-decoded body bytes (the raw body when bad_encoding).
  std::string decoded_body(const Part& p) const;
  // decoded_body(p).size(), computed without decoding where the encoding allows.
  size_t decoded_size(const Part& p) const;
  // Decoded body as UTF-8 (declared charset, else UTF-8 or Windows-1252).
  std::string text(const Part& p) const;
  // RFC 2183 filename, else the Content-Type name parameter; empty when neither.
  std::string filename(const Part& p) const;
  // Plain text of the message: the text body parts (RFC 8621), HTML converted to text
  // when there is no text/plain alternative.
  std::string extract_text() const;

 private:
  friend class MessageBuilder;
  std::deque<std::string> sources_;  // deque: elements never move
  std::vector<Part> parts_;
  std::vector<HeaderField> headers_;
  std::vector<MessageNode> messages_;
};

}  // namespace postern::mail
