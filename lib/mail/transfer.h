// Content-Transfer-Encoding decoders (RFC 2045 6): base64 and quoted-printable, written to
// be lenient the way mail clients are, and never to read outside their input.
//
//   auto b = decode_base64("aGVs bG8\r\n");         // b.data == "hello", b.clean == true
//   auto q = decode_quoted_printable("caf=E9=\r\n!"); // "caf\xe9!"
//   Encoding e = parse_transfer_encoding(" Base64 \r\n");  // Encoding::kBase64
#pragma once

#include <string>
#include <string_view>

namespace postern::mail {

enum class Encoding { kIdentity, kBase64, kQuotedPrintable };

// RFC 2045 6.1: "7bit", "8bit", "binary" and anything unknown (including the common
// misspellings "8 bit", "7-bit", "") mean the body is used as it is.
Encoding parse_transfer_encoding(std::string_view raw_value);

struct Decoded {
  std::string data;
  // false when the input held characters that cannot appear in that encoding (for base64:
  // anything but the alphabet, '=' and white space). Callers treat such a body as not
  // encoded at all (RFC 2045 6.8 leaves the handling of invalid input to the reader).
  bool clean = true;
};

// RFC 2045 6.8. White space and line breaks are skipped anywhere, padding may be missing
// or repeated, and decoding continues after a padded quantum (concatenated base64 blobs).
Decoded decode_base64(std::string_view in);

// The length decode_base64(in).data would have, without decoding.
size_t base64_decoded_size(std::string_view in);

// True when `in` holds only what base64 allows (the alphabet, '=' and white space): the
// same test as Decoded::clean, without decoding.
bool base64_is_clean(std::string_view in);

// The value of a hexadecimal digit, either case (0-15), or -1 for any other byte.
int hex_digit(char c);

// RFC 2045 6.7. Soft line breaks (=CRLF or =LF, with trailing white space before the break)
// are removed; a '=' not followed by two hex digits is kept as it is (rule 1 leniency);
// lower-case hex digits are accepted; trailing white space on hard lines is kept.
Decoded decode_quoted_printable(std::string_view in);

}  // namespace postern::mail
