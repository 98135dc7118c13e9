// Content-Type and Content-Disposition values (RFC 2045 5.1, RFC 2183 2) with RFC 2231
// parameter value continuations, charsets and languages, and the common malformations:
// missing ';' between parameters, unquoted values with spaces, RFC 2047 words in values.
#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "mail/charset.h"
#include "mail/header.h"
#include "mail/header_internal.h"
#include "mail/transfer.h"

namespace postern::mail {
namespace {

using detail::is_space;

// RFC 2045 5.1 tspecials, plus whitespace and CTLs, end a token.
bool is_token_char(char c) {
  const auto u = static_cast<unsigned char>(c);
  if (u <= 0x20 || u == 0x7F) return false;
  switch (c) {
    case '(': case ')': case '<': case '>': case '@': case ',': case ';': case ':':
    case '\\': case '"': case '/': case '[': case ']': case '?': case '=':
      return false;
    default:
      return true;
  }
}

void skip_cfws(std::string_view s, size_t* i) {
  while (*i < s.size()) {
    if (is_space(s[*i])) {
      ++*i;
    } else if (s[*i] == '(') {
      std::string ignored;
      *i = detail::read_comment(s, *i, &ignored);
    } else {
      break;
    }
  }
}

// At whitespace inside an unquoted value: does a new "name=" (or a comment, or the end)
// follow? Then the value ends here; otherwise the space is part of a malformed value.
bool value_ends_at_space(std::string_view s, size_t i) {
  while (i < s.size() && is_space(s[i])) ++i;
  if (i >= s.size() || s[i] == ';' || s[i] == '(') return true;
  size_t j = i;
  while (j < s.size() && (is_token_char(s[j]) || s[j] == '*')) ++j;
  if (j == i) return false;
  while (j < s.size() && is_space(s[j])) ++j;
  return j < s.size() && s[j] == '=';
}

struct RawParam {
  std::string name;  // lower-cased, including any RFC 2231 "*N*" suffix
  std::string value;
  size_t order;
};

// RFC 2231 3: "name*N" / "name*N*" sections; "name*" (4) is a single extended value.
struct Section {
  long section;  // -1 for "name*"
  bool extended;
  std::string value;
};

std::string percent_decode(std::string_view v) {
  auto hex = hex_digit;
  std::string out;
  out.reserve(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i] == '%' && i + 2 < v.size() && hex(v[i + 1]) >= 0 && hex(v[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex(v[i + 1]) * 16 + hex(v[i + 2])));
      i += 2;
    } else {
      out.push_back(v[i]);
    }
  }
  return out;
}

std::string plain_value(const std::string& v) {
  // RFC 2047 5 forbids encoded words in parameters, yet filename="=?utf-8?...?=" is what
  // many clients send and all clients read.
  if (v.find("=?") != std::string::npos) return decode_encoded_words(v);
  return utf8_or_latin1(v);
}

}  // namespace

ContentType parse_content_type(std::string_view raw) {
  const std::string s = detail::strip_line_breaks(detail::field_body(raw));
  ContentType ct;
  size_t i = 0;
  skip_cfws(s, &i);
  size_t b = i;
  while (i < s.size() && s[i] != '/' && s[i] != ';' && s[i] != '(' && !is_space(s[i])) ++i;
  std::string type = to_lower(std::string_view(s).substr(b, i - b));
  if (type.empty()) return ct;  // no type at all: nothing usable
  ct.type = utf8_or_latin1(type);
  skip_cfws(s, &i);
  if (i < s.size() && s[i] == '/') {
    ++i;
    skip_cfws(s, &i);
    b = i;
    while (i < s.size() && s[i] != ';' && s[i] != '(' && !is_space(s[i])) ++i;
    if (i > b) ct.subtype = utf8_or_latin1(to_lower(std::string_view(s).substr(b, i - b)));
  }

  // Parameters (RFC 2045 5.1 parameter := attribute "=" value).
  std::vector<RawParam> raw_params;
  size_t order = 0;
  while (i < s.size()) {
    while (i < s.size() && (is_space(s[i]) || s[i] == ';')) ++i;
    if (i < s.size() && s[i] == '(') {
      std::string ignored;
      i = detail::read_comment(s, i, &ignored);
      continue;
    }
    if (i >= s.size()) break;
    b = i;
    while (i < s.size() && s[i] != '=' && s[i] != ';' && s[i] != '(' && s[i] != '"' &&
           !is_space(s[i]))
      ++i;
    std::string name = to_lower(std::string_view(s).substr(b, i - b));
    skip_cfws(s, &i);
    if (i >= s.size() || s[i] != '=') {
      if (i == b) ++i;  // a stray character: step over it
      continue;
    }
    ++i;  // '='
    while (i < s.size() && is_space(s[i])) ++i;
    std::string value;
    if (i < s.size() && s[i] == '"') {
      i = detail::read_quoted(s, i, &value);
    } else {
      b = i;
      while (i < s.size() && s[i] != ';') {
        if (is_space(s[i]) && value_ends_at_space(s, i)) break;
        ++i;
      }
      value = std::string(detail::trim(std::string_view(s).substr(b, i - b)));
    }
    if (name.empty() || value.empty()) continue;
    raw_params.push_back({std::move(name), std::move(value), order++});
  }

  // RFC 2231 3 and 4: gather sections per parameter name.
  struct Joined {
    std::vector<Section> sections;
    size_t last_order = 0;
  };
  std::map<std::string, Joined> joined;
  std::vector<std::pair<size_t, std::pair<std::string, std::string>>> ordered;
  for (auto& p : raw_params) {
    const size_t star = p.name.find('*');
    if (star == std::string::npos) {
      ordered.push_back({p.order, {p.name, plain_value(p.value)}});
      continue;
    }
    std::string base = p.name.substr(0, star);
    std::string_view rest = std::string_view(p.name).substr(star + 1);
    Section sec{-1, false, std::move(p.value)};
    if (rest.empty()) {
      sec.extended = true;  // name*=charset'lang'value
    } else {
      size_t d = 0;
      while (d < rest.size() && detail::is_digit(rest[d])) ++d;
      if (d == 0 || d > 9) continue;
      if (d < rest.size()) {
        if (rest.substr(d) != "*") continue;  // "name*1*2": not RFC 2231
        sec.extended = true;
      }
      sec.section = std::stol(std::string(rest.substr(0, d)));
    }
    if (base.empty()) continue;
    auto& j = joined[base];
    j.sections.push_back(std::move(sec));
    j.last_order = p.order;
  }

  for (auto& [base, j] : joined) {
    std::stable_sort(j.sections.begin(), j.sections.end(),
                     [](const Section& a, const Section& b) { return a.section < b.section; });
    std::string charset, language, bytes;
    bool first = true;
    for (auto& sec : j.sections) {
      std::string_view v = sec.value;
      if (sec.extended && first) {
        // RFC 2231 4: charset'language'encoded — only in the first section.
        const size_t q1 = v.find('\'');
        const size_t q2 = q1 == std::string_view::npos ? q1 : v.find('\'', q1 + 1);
        if (q2 != std::string_view::npos) {
          charset = std::string(v.substr(0, q1));
          language = std::string(v.substr(q1 + 1, q2 - q1 - 1));
          v = v.substr(q2 + 1);
        }
      } else if (sec.extended && !charset.empty() && v.size() > charset.size() &&
                 v[charset.size()] == '\'' && detail::iequals(v.substr(0, charset.size()), charset)) {
        // Some mailers repeat "charset'" in every section; drop the repetition.
        v = v.substr(charset.size() + 1);
      }
      bytes += sec.extended ? percent_decode(v) : std::string(v);
      first = false;
    }
    std::string value;
    if (auto conv = charset.empty() ? std::nullopt : to_utf8(bytes, charset)) {
      value = std::move(*conv);
    } else {
      value = utf8_or_latin1(bytes);
    }
    if (!language.empty()) ct.languages.emplace_back(base, language);
    // An RFC 2231 value overrides a plain parameter of the same name (RFC 2231 is what
    // the sender meant; the plain one is the fallback for old readers).
    bool replaced = false;
    for (auto& o : ordered) {
      if (o.second.first == base) {
        o.second.second = value;
        replaced = true;
        break;
      }
    }
    if (!replaced) ordered.push_back({j.last_order, {base, std::move(value)}});
  }
  std::stable_sort(ordered.begin(), ordered.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& o : ordered) ct.params.push_back(std::move(o.second));
  return ct;
}

}  // namespace postern::mail
