// What the spam checks look at, taken from a message once: decoded header values, the
// text of the body (HTML rendered to text), the HTML's own features (hidden text, forms,
// links whose text shows another address), every URL with its host, the attachments
// (name, type, what the bytes really are, names inside zip archives), MIME defects and
// the Authentication-Results our own authserv-id stamped.
//
//   auto a = spam::analyze(bytes, {.authserv_ids = {"mx.example.com"}});
//   if (!a) return a.error();           // not a message at all
//   for (const spam::Url& u : a->urls) ...
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace postern::spam {

struct HeaderValue {
  std::string name;     // lower-case
  std::string raw;      // unfolded, not decoded
  std::string decoded;  // RFC 2047 decoded, UTF-8
};

struct Url {
  std::string url;   // as found (scheme added to "www." forms)
  std::string host;  // lower-case, no port, no trailing dot; IP literals without brackets
  std::string scheme;
  bool in_html = false;      // an href/src/action in HTML (else found in text)
  std::string anchor_text;   // for <a href>: the text shown
  bool form_action = false;  // the target of an HTML <form>
  bool image = false;        // <img src>
};

struct AttachmentInfo {
  std::string filename;      // as given (decoded), may be empty
  std::string content_type;  // "application/pdf"
  size_t size = 0;
  std::string magic;         // what the bytes are: "pe" "elf" "zip" "ole" "pdf" "png" "jpeg"
                             // "gif" "rar" "7z" "gzip" "iso" "html" "text" or ""
  std::vector<std::string> archive_names;  // names inside a zip (first 200)
  bool has_vba = false;      // an Office document carrying VBA macros (vbaProject.bin / OLE "VBA")
  bool encrypted_archive = false;
};

struct HtmlFeatures {
  size_t parts = 0;
  size_t text_chars = 0;    // visible text
  size_t hidden_chars = 0;  // text in display:none / visibility:hidden / font-size:0 /
                            // same colour as background / tiny elements
  size_t forms = 0;
  size_t password_inputs = 0;
  size_t images = 0;
  size_t links = 0;
  bool has_script = false;
  bool has_iframe = false;
  bool meta_refresh = false;
};

struct MimeDefects {
  bool missing_delimiter = false;   // a multipart's closing delimiter never came
  bool bad_encoding = false;        // a body not valid in its transfer encoding
  bool multipart_no_boundary = false;
  bool missing_mime_version = false;  // MIME fields without MIME-Version
  bool text_charset_mismatch = false;  // declared charset that does not decode
  bool eight_bit_headers = false;   // raw 8-bit bytes in header fields (no SMTPUTF8 form)
};

// Results from Authentication-Results fields with one of our authserv-ids (others are
// ignored: anyone can write one). Empty string: method absent.
struct AuthResults {
  std::string spf, dkim, dmarc, arc;
  bool present = false;
};

struct Analysis {
  std::string raw;                    // the message as given
  std::vector<HeaderValue> headers;   // top level, in order
  std::string subject;
  std::string from_name, from_address, from_domain;  // first From: mailbox
  std::string reply_to_address, reply_to_domain;
  std::string return_path_domain;
  std::vector<std::string> to_addresses;  // To and Cc
  std::optional<int64_t> date;        // Date: as Unix seconds, when it parses
  bool has_date = false, has_message_id = false, message_id_valid = false;
  std::string message_id;
  std::string body;                   // Subject line, then the text of the body
  std::string html;                   // raw HTML of the HTML parts, concatenated
  HtmlFeatures html_features;
  bool html_only = false;             // HTML text with no text/plain alternative
  std::vector<Url> urls;
  std::vector<AttachmentInfo> attachments;
  MimeDefects defects;
  AuthResults auth;
  size_t parts = 0;
  size_t received_count = 0;

  // Every value of a header field (lower-case name), decoded.
  std::vector<std::string_view> values(std::string_view name) const;
  const HeaderValue* first(std::string_view name) const;
};

struct AnalyzeOptions {
  std::vector<std::string> authserv_ids;  // whose Authentication-Results to trust
  size_t max_body_chars = 512 * 1024;      // body text kept for rules and tokens
  size_t max_urls = 500;
};

// Fails (bad_data) only when the input is not a message at all.
base::Result<Analysis> analyze(std::string raw, const AnalyzeOptions& options = {});

// URL helpers, exposed for tests and other checks.
// The host part of an absolute URL ("HTTP://User@Exa.mple:80/x" -> "exa.mple"), "" if none.
std::string url_host(std::string_view url);
// URLs in plain text: http(s)://..., www.... , hxxp obfuscations are not decoded.
std::vector<std::string> find_urls(std::string_view text, size_t max);
// Lower-case domain of an address ("a@B.example" -> "b.example"), "" when none.
std::string address_domain(std::string_view address);

}  // namespace postern::spam
