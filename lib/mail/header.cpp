// Header field values: unfolding, RFC 2047 encoded words, unstructured text, message-ids
// and comma lists. Addresses, content types, dates and Received traces live in their own
// files (address.cpp, content_type.cpp, date.cpp, received.cpp).
#include "mail/header.h"

#include <algorithm>

#include "mail/charset.h"
#include "mail/header_internal.h"
#include "mail/transfer.h"

namespace postern::mail {
namespace detail {



std::string_view trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && is_space(s[b])) ++b;
  while (e > b && is_space(s[e - 1])) --e;
  return s.substr(b, e - b);
}

// RFC 5322 2.2.3: a line break followed by WSP is a fold; any other line break ends the
// field. A CR not followed by LF is not a line break (treated as whitespace by callers).
std::string_view field_body(std::string_view raw) {
  for (size_t i = 0; i < raw.size(); ++i) {
    size_t lb = 0;
    if (raw[i] == '\n') {
      lb = 1;
    } else if (raw[i] == '\r' && i + 1 < raw.size() && raw[i + 1] == '\n') {
      lb = 2;
    }
    if (!lb) continue;
    const size_t next = i + lb;
    if (next < raw.size() && is_wsp(raw[next])) {
      i = next - 1;  // a fold: keep going
      continue;
    }
    return raw.substr(0, i);
  }
  return raw;
}

std::string strip_line_breaks(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s)
    if (c != '\r' && c != '\n') out.push_back(c);
  return out;
}

size_t read_comment(std::string_view s, size_t pos, std::string* content) {
  int depth = 0;
  size_t i = pos;
  for (; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '\\' && i + 1 < s.size()) {
      content->push_back(s[++i]);  // RFC 5322 3.2.1 quoted-pair
    } else if (c == '(') {
      if (depth++ > 0) content->push_back(c);
    } else if (c == ')') {
      if (--depth == 0) return i + 1;
      content->push_back(c);
    } else {
      content->push_back(c);
    }
  }
  return s.size();
}

size_t read_quoted(std::string_view s, size_t pos, std::string* content, bool* terminated) {
  if (terminated) *terminated = false;
  for (size_t i = pos + 1; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '\\' && i + 1 < s.size()) {
      content->push_back(s[++i]);
    } else if (c == '"') {
      if (terminated) *terminated = true;
      return i + 1;
    } else {
      content->push_back(c);
    }
  }
  return s.size();
}

namespace {

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

// RFC 2047 4.1 "B" encoding: lenient base64 (characters outside the alphabet are
// skipped, missing padding is tolerated, decoding stops at '=').
std::string decode_b(std::string_view text) {
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    if (c == '=') break;
    const int v = base64_value(c);
    if (v < 0) continue;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  return out;
}

// RFC 2047 4.2 "Q" encoding. A fold inside the word (which RFC 2047 forbids but mailers
// produce) is dropped together with its indentation.
std::string decode_q(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\r' || c == '\n') {
      while (i + 1 < text.size() && is_space(text[i + 1])) ++i;
    } else if (c == '_') {
      out.push_back(' ');
    } else if (c == '=' && i + 2 < text.size() && hex_digit(text[i + 1]) >= 0 &&
               hex_digit(text[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex_digit(text[i + 1]) * 16 + hex_digit(text[i + 2])));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

struct EncodedWord {
  size_t end = 0;
  std::string charset;  // lower-cased, RFC 2231 5 "*language" removed
  std::string bytes;    // decoded octets in `charset`
};

// RFC 2047 2: encoded-word = "=?" charset "?" encoding "?" encoded-text "?=". The text is
// allowed to contain spaces and folds (a common malformation); the charset is not.
// `no_close_from` caches "no '?=' exists at or after this offset" across calls.
bool parse_encoded_word(std::string_view s, size_t pos, size_t* no_close_from, EncodedWord* w) {
  if (pos + 1 >= s.size() || s[pos] != '=' || s[pos + 1] != '?') return false;
  size_t i = pos + 2;
  const size_t cs_begin = i;
  while (i < s.size() && s[i] != '?') {
    const char c = s[i];
    if (is_space(c) || c == '=' || c == '"' || c == '(' || c == ')' || i - cs_begin > 64)
      return false;
    ++i;
  }
  if (i == cs_begin || i + 2 >= s.size()) return false;
  const char enc = ascii_lower(s[i + 1]);
  if ((enc != 'b' && enc != 'q') || s[i + 2] != '?') return false;
  const size_t text_begin = i + 3;
  if (text_begin >= *no_close_from) return false;
  const size_t close = s.find("?=", text_begin);
  if (close == std::string_view::npos) {
    *no_close_from = text_begin;
    return false;
  }
  std::string charset = to_lower(s.substr(cs_begin, i - cs_begin));
  if (auto star = charset.find('*'); star != std::string::npos) charset.resize(star);
  if (charset.empty()) return false;
  const std::string_view text = s.substr(text_begin, close - text_begin);
  w->end = close + 2;
  w->charset = std::move(charset);
  w->bytes = enc == 'b' ? decode_b(text) : decode_q(text);
  return true;
}

std::string convert(const std::string& bytes, const std::string& charset) {
  if (auto s = to_utf8(bytes, charset)) return std::move(*s);
  return utf8_or_latin1(bytes);  // unknown charset: show the bytes as best we can
}

// Literal (non-encoded) text: raw 8-bit as UTF-8 or Latin-1 (RFC 6532 3.2); in
// unstructured mode each fold with the whitespace around it becomes one space.
void append_literal(std::string& out, std::string_view lit, WordMode mode) {
  if (lit.empty()) return;
  std::string text;
  text.reserve(lit.size());
  for (size_t i = 0; i < lit.size(); ++i) {
    const char c = lit[i];
    if (c == '\r' || c == '\n') {
      if (mode == WordMode::kUnstructured) {
        while (!text.empty() && is_wsp(text.back())) text.pop_back();
        while (i + 1 < lit.size() && is_space(lit[i + 1])) ++i;
        text.push_back(' ');
      }
      continue;
    }
    text.push_back(c);
  }
  out += utf8_or_latin1(text);
}

}  // namespace

// RFC 2047 6.2: whitespace between adjacent encoded words is ignored; the octets of
// adjacent words in the same charset are converted together so that a character split
// across two words (5: "each encoded-word MUST represent an integral number of
// characters", often violated) still decodes.
std::string decode_words(std::string_view s, WordMode mode) {
  std::string out;
  std::string lit;        // pending literal text
  std::string gap;        // whitespace after an encoded word, dropped if another follows
  std::string pend_cs;    // pending encoded octets and their charset
  std::string pend_bytes;
  bool have_pend = false;
  bool last_was_word = false;
  size_t no_close_from = std::string_view::npos;

  auto flush_pending = [&] {
    if (have_pend) out += convert(pend_bytes, pend_cs);
    pend_bytes.clear();
    pend_cs.clear();
    have_pend = false;
  };

  EncodedWord w;
  size_t i = 0;
  while (i < s.size()) {
    if (s[i] == '=' && parse_encoded_word(s, i, &no_close_from, &w)) {
      if (!last_was_word) {
        append_literal(out, lit, mode);
        lit.clear();
        if (mode == WordMode::kUnstructured && !out.empty() && !is_space(out.back()))
          out.push_back(' ');  // "[SPAM]=?utf-8?q?x?=": restore the missing separator
      }
      gap.clear();
      if (have_pend && pend_cs == w.charset) {
        pend_bytes += w.bytes;
      } else {
        flush_pending();
        pend_cs = std::move(w.charset);
        pend_bytes = std::move(w.bytes);
        have_pend = true;
      }
      last_was_word = true;
      i = w.end;
      continue;
    }
    const char c = s[i];
    if (last_was_word) {
      if (is_space(c)) {
        gap.push_back(c);
        ++i;
        continue;
      }
      flush_pending();
      if (mode == WordMode::kUnstructured && gap.empty()) out.push_back(' ');
      lit = std::move(gap);
      gap.clear();
      last_was_word = false;
    }
    lit.push_back(c);
    ++i;
  }
  if (last_was_word) {
    flush_pending();
    lit = std::move(gap);
  }
  append_literal(out, lit, mode);
  return out;
}

}  // namespace detail

using detail::field_body;
using detail::is_space;
using detail::trim;

std::string unfold(std::string_view raw) {
  return std::string(trim(detail::strip_line_breaks(field_body(raw))));
}

std::string decode_unstructured(std::string_view raw) {
  return detail::decode_words(trim(field_body(raw)), detail::WordMode::kUnstructured);
}

std::string decode_encoded_words(std::string_view text) {
  return detail::decode_words(text, detail::WordMode::kPlain);
}

std::vector<Address> AddressList::flatten() const {
  if (groups.empty()) return list;
  std::vector<Address> out;
  for (const auto& g : groups) out.insert(out.end(), g.addresses.begin(), g.addresses.end());
  return out;
}

const std::string* ContentType::param(std::string_view name) const {
  for (const auto& [k, v] : params)
    if (detail::iequals(k, name)) return &v;
  return nullptr;
}

bool ContentType::is(std::string_view t, std::string_view st) const {
  return detail::iequals(type, t) && subtype && detail::iequals(*subtype, st);
}

// RFC 5322 3.6.4: msg-id = "<" id-left "@" id-right ">". When the field has angle
// brackets only bracketed ids count (comments and stray words are skipped); without any,
// whitespace-separated tokens are taken as ids (a common malformation).
std::vector<std::string> parse_message_ids(std::string_view raw) {
  const std::string s = detail::strip_line_breaks(field_body(raw));
  std::vector<std::string> ids;
  const bool bracketed = s.find('<') != std::string::npos;
  size_t i = 0;
  while (i < s.size()) {
    const char c = s[i];
    if (is_space(c) || c == ',') {
      ++i;
    } else if (c == '(') {
      std::string ignored;
      i = detail::read_comment(s, i, &ignored);
    } else if (c == '<') {
      const size_t close = s.find('>', i + 1);
      const size_t end = close == std::string::npos ? s.size() : close;
      auto id = trim(std::string_view(s).substr(i + 1, end - i - 1));
      if (!id.empty()) ids.push_back(utf8_or_latin1(id));
      i = close == std::string::npos ? s.size() : close + 1;
    } else {
      size_t j = i;
      while (j < s.size() && !is_space(s[j]) && s[j] != '<' && s[j] != ',' && s[j] != '(') ++j;
      if (!bracketed) ids.push_back(utf8_or_latin1(std::string_view(s).substr(i, j - i)));
      i = j;
    }
  }
  return ids;
}

// Comma-separated phrases (RFC 2369 / RFC 5322 3.6.5 keywords): split at commas that are
// outside quoted strings and encoded words, then decode each like unstructured text.
std::vector<std::string> parse_comma_list(std::string_view raw) {
  const std::string_view s = field_body(raw);
  std::vector<std::string> out;
  auto emit = [&](std::string_view part) {
    std::string v(trim(detail::decode_words(trim(part), detail::WordMode::kUnstructured)));
    if (!v.empty()) out.push_back(std::move(v));
  };
  size_t start = 0;
  size_t no_close = std::string_view::npos;
  bool in_quote = false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '\\' && in_quote) {
      ++i;
    } else if (c == '"') {
      in_quote = !in_quote;
    } else if (c == '=' && !in_quote && i + 1 < s.size() && s[i + 1] == '?') {
      // Skip a whole encoded word so a ',' inside its text does not split the item.
      const size_t q = s.find('?', i + 2);  // end of the charset
      if (q != std::string_view::npos && q - i <= 66 && q + 2 < s.size() && s[q + 2] == '?' &&
          q + 3 < no_close) {
        const size_t close = s.find("?=", q + 3);
        if (close != std::string_view::npos) {
          i = close + 1;
        } else {
          no_close = q + 3;  // no later word can be closed either: stay linear
        }
      }
    } else if (c == ',' && !in_quote) {
      emit(s.substr(start, i - start));
      start = i + 1;
    }
  }
  if (start < s.size()) emit(s.substr(start));
  return out;
}

std::string to_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = detail::ascii_lower(c);
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (detail::ascii_lower(a[i]) != detail::ascii_lower(b[i])) return false;
  return true;
}

}  // namespace postern::mail
