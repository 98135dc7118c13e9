// Charset conversion to UTF-8 (ICU converters, wrapped once).
//
//   auto s = to_utf8("caf\xe9", "iso-8859-1");        // "café"
//   auto t = to_utf8(bytes, "x-unknown");              // nullopt: unknown charset
//   std::string u = sanitize_utf8(bytes);              // invalid sequences → U+FFFD
#pragma once

#include <cstdint>

#include <optional>
#include <string>
#include <string_view>

namespace postern::mail {

// Converts `bytes` in `charset` (MIME/IANA name or alias, case-insensitive) to UTF-8.
// Invalid sequences become U+FFFD. nullopt when the charset is unknown.
std::optional<std::string> to_utf8(std::string_view bytes, std::string_view charset);

bool is_valid_utf8(std::string_view s);

// Appends code point `cp` (at most U+10FFFF) to `out` as UTF-8.
void append_utf8(std::string& out, uint32_t cp);

// Valid UTF-8 unchanged; otherwise invalid sequences replaced by U+FFFD.
std::string sanitize_utf8(std::string_view s);

// Valid UTF-8 unchanged; otherwise the bytes read as Windows-1252 (what clients show for
// undeclared 8-bit text).
std::string utf8_or_latin1(std::string_view s);

}  // namespace postern::mail
