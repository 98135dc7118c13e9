// Helpers shared by the header-value parsers (header.cpp, address.cpp, content_type.cpp,
// date.cpp, received.cpp). Not part of the public API.
#pragma once

#include <string>
#include <string_view>

namespace postern::mail::detail {

inline bool is_wsp(char c) { return c == ' ' || c == '\t'; }
inline bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
inline char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }
inline bool is_digit(char c) { return c >= '0' && c <= '9'; }
inline bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

using mail::iequals;
std::string_view trim(std::string_view s);

// The field body proper: `raw` up to the first line break that is not followed by WSP
// (RFC 5322 2.2.3), so a value handed over with the next field attached stops in time.
std::string_view field_body(std::string_view raw);

// Removes every CR and LF (the field body's folds), keeping the WSP that follows them.
std::string strip_line_breaks(std::string_view s);

// Reads a comment starting at s[pos] == '(' (RFC 5322 3.2.2): nested comments are kept
// with their parentheses, quoted-pairs are unescaped. Returns the position after the
// closing parenthesis (or s.size() when unbalanced).
size_t read_comment(std::string_view s, size_t pos, std::string* content);

// Reads a quoted-string starting at s[pos] == '"' (RFC 5322 3.2.4), unescaping
// quoted-pairs; unterminated strings run to the end. Returns the position after it.
size_t read_quoted(std::string_view s, size_t pos, std::string* content,
                   bool* terminated = nullptr);

// RFC 2047 decoding with the options the callers need.
enum class WordMode {
  kPlain,         // decode_encoded_words: text is already unfolded
  kUnstructured,  // folds collapse to one space; a space separates words glued to text
};
std::string decode_words(std::string_view text, WordMode mode);

}  // namespace postern::mail::detail
