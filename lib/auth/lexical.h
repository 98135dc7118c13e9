// Internal to lib/auth: the small RFC 5322 lexical helpers that reading result fields
// (Authentication-Results, Received-SPF) needs. Implemented in results.cpp.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace postern::auth {

// Drops RFC 5322 comments (nested, quoted-pairs, not inside quoted strings); folding
// line breaks and tabs become spaces.
std::string strip_comments(std::string_view s);
// Splits on any of `seps` outside quoted strings; empty pieces are dropped.
std::vector<std::string> split_unquoted(std::string_view s, std::string_view seps);
// The content of a quoted string (quoted-pairs resolved); other text as it is.
std::string unquote(std::string_view v);
// The header fields of a message (up to the first empty line; LF or CRLF): each name
// (trimmed) and raw value (after the colon, folding kept), in order. Lines that are not
// fields are skipped.
std::vector<std::pair<std::string_view, std::string_view>> header_fields(std::string_view msg);

}  // namespace postern::auth
