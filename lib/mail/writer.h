// Writing header fields and simple MIME messages: the inverse of header.h.
//
//   std::string h = fold_header("Subject", encode_header_value("Grüße aus Köln", 7));
//   // "Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe_aus_K=C3=B6ln?=\r\n"
//   std::string to = fold_header("To", format_address({"Zoë", "zoe@example.org"}));
//   std::string d = fold_header("Date", format_date(1700000000, 60));
//
//   MimeBuilder mb("mixed");
//   mb.header("From", format_address({"Ann", "ann@example.org"}))
//     .header("Subject", encode_header_value("Report", 7))
//     .text("Hello,\nthe report is attached.\n")
//     .attachment(pdf_bytes, "application/pdf", "report.pdf");
//   std::string message = mb.build();  // CRLF line endings, ready for SMTP DATA
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "mail/header.h"

namespace postern::mail {

// Unstructured header text (Subject, Comments, ...) ready to follow "Name: ". Plain
// printable ASCII is only folded; anything else (8-bit, controls, text that would read as
// an encoded word) becomes RFC 2047 encoded words of at most 75 characters, never
// splitting a UTF-8 sequence. `name_len` is the field name's length, for the first line.
// Lines are folded with "\r\n " to stay within 78 columns (RFC 5322 2.1.1).
std::string encode_header_value(std::string_view utf8, size_t name_len);

// "Name: value\r\n", folded at whitespace so lines stay within 78 columns where the words
// allow (RFC 5322 2.2.3). Existing folds in `value` are kept; any other CR/LF in it is
// replaced by a space, so a value can never inject a field. The value is not encoded:
// pass it through encode_header_value / format_address first.
std::string fold_header(std::string_view name, std::string_view value);

// "Name <local@domain>" (RFC 5322 3.4): the display name as atoms when it can be, as a
// quoted-string when it has specials, as RFC 2047 encoded words (5(3)) when it is not
// ASCII. Just "local@domain" without a name.
std::string format_address(const Address& address);
std::string format_address_list(const std::vector<Address>& addresses);

// RFC 5322 3.3 date-time, e.g. "Tue, 14 Nov 2023 23:13:20 +0100", for the instant `unix`
// shown in the zone `tz_offset_minutes` east of UTC.
std::string format_date(int64_t unix, int tz_offset_minutes);

// Assembles a multipart message (RFC 2046 5.1) with CRLF line endings. Text parts are
// UTF-8: 7bit when ASCII with short lines, quoted-printable otherwise (RFC 2045 6.7).
// Other parts are base64 in 76-column lines (RFC 2045 6.8). The boundary is random and
// checked not to occur in any part.
class MimeBuilder {
 public:
  explicit MimeBuilder(std::string subtype = "mixed");

  // A top-level field; `value` must already be encoded (encode_header_value,
  // format_address, format_date). MIME-Version and Content-Type are added by build().
  MimeBuilder& header(std::string_view name, std::string_view value);
  // A text/<subtype>; charset=utf-8 part.
  MimeBuilder& text(std::string_view utf8, std::string_view subtype = "plain");
  // A binary part; `filename` (UTF-8) goes into Content-Disposition (RFC 2183, RFC 2231
  // when not ASCII). Empty filename: an inline part without a name.
  MimeBuilder& attachment(std::string_view data, std::string_view content_type,
                          std::string_view filename);

  std::string build() const;

 private:
  struct Part {
    std::string headers;  // complete, folded, CRLF-terminated fields
    std::string body;     // encoded body, CRLF line endings
  };
  std::string subtype_;
  std::string headers_;
  std::vector<Part> parts_;
};

// Encoders used by MimeBuilder, exposed for other writers.
std::string encode_base64_lines(std::string_view data);      // 76-column lines, CRLF
std::string encode_quoted_printable(std::string_view text);  // text: LF or CRLF lines

// Header fields built with CRLF, converted to the line ending of `message` (LF when its
// first line ends in a bare LF), so a filter prepends fields that match what it was given.
std::string match_line_ending(std::string fields, std::string_view message);

// The message with every line ending CRLF (bare LF and bare CR become CRLF), the form
// the store keeps and SMTP/IMAP sizes count. Returns the input unchanged when it is
// already canonical.
std::string to_crlf(std::string message);

// Only bare LFs become CRLF; a bare CR stays (DKIM canonicalization and mailbox import
// keep the bytes otherwise as they are).
std::string lf_to_crlf(std::string_view message);
// The first LF at or after `from` that no CR precedes, or npos.
size_t find_bare_lf(std::string_view s, size_t from = 0);

}  // namespace postern::mail
