// Authentication-Results (RFC 8601): formatting, and removal of fields that claim our
// authserv-id. See results.h.
#include "auth/results.h"
#include "mail/header.h"

#include "auth/lexical.h"
#include "mail/writer.h"

#include <cctype>
#include <string>
#include <string_view>

namespace postern::auth {
namespace {

// RFC 2045 5.1: token := 1*<any (US-ASCII) CHAR except SPACE, CTLs, or tspecials>.
bool is_token_char(unsigned char c) {
  if (c <= 0x20 || c >= 0x7f) return false;
  switch (c) {
    case '(':
    case ')':
    case '<':
    case '>':
    case '@':
    case ',':
    case ';':
    case ':':
    case '\\':
    case '"':
    case '/':
    case '[':
    case ']':
    case '?':
    case '=':
      return false;
    default:
      return true;
  }
}

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (unsigned char c : s) {
    if (!is_token_char(c)) return false;
  }
  return true;
}

// RFC 5322 3.2.3 atext.
bool is_atext(unsigned char c) {
  if (std::isalnum(c)) return true;
  return std::string_view("!#$%&'*+-/=?^_`{|}~").find(static_cast<char>(c)) !=
         std::string_view::npos;
}

bool is_dot_atom(std::string_view s) {
  if (s.empty() || s.front() == '.' || s.back() == '.') return false;
  char prev = 0;
  for (unsigned char c : s) {
    if (c == '.') {
      if (prev == '.') return false;
    } else if (!is_atext(c)) {
      return false;
    }
    prev = static_cast<char>(c);
  }
  return true;
}

bool is_domain_name(std::string_view s) {
  if (s.empty() || s.front() == '.' || s.back() == '.') return false;
  for (unsigned char c : s) {
    if (!std::isalnum(c) && c != '-' && c != '.' && c != '_') return false;
  }
  return s.find("..") == std::string_view::npos;
}

// RFC 8601 2.2 pvalue: a value, or [[local-part] "@"] domain-name.
bool is_bare_pvalue(std::string_view s) {
  if (is_token(s)) return true;
  size_t at = s.rfind('@');
  if (at == std::string_view::npos) return false;
  std::string_view local = s.substr(0, at);
  return (local.empty() || is_dot_atom(local)) && is_domain_name(s.substr(at + 1));
}

// RFC 5322 3.2.4 quoted-string.
std::string quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\r' || c == '\n') {
      out += ' ';
      continue;
    }
    out += c;
  }
  out += '"';
  return out;
}

std::string token_or_quoted(std::string_view s) { return is_token(s) ? std::string(s) : quote(s); }

// RFC 5322 3.2.2 comment: parentheses and backslashes escaped as quoted-pairs.
std::string comment(std::string_view s) {
  std::string out = "(";
  for (char c : s) {
    if (c == '(' || c == ')' || c == '\\') out += '\\';
    if (c == '\r' || c == '\n') {
      out += ' ';
      continue;
    }
    out += c;
  }
  out += ')';
  return out;
}

// Skips CFWS (RFC 5322 3.2.2): white space, folding line breaks and nested comments.
size_t skip_cfws(std::string_view s, size_t i) {
  while (i < s.size()) {
    char c = s[i];
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      ++i;
    } else if (c == '(') {
      int depth = 0;
      while (i < s.size()) {
        if (s[i] == '\\') {
          i += 2;
          continue;
        }
        if (s[i] == '(') ++depth;
        if (s[i] == ')' && --depth == 0) {
          ++i;
          break;
        }
        ++i;
      }
    } else {
      break;
    }
  }
  return i < s.size() ? i : s.size();
}

}  // namespace

std::string strip_comments(std::string_view s) {
  std::string out;
  int depth = 0;
  bool quoted = false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '\\' && i + 1 < s.size()) {
      if (depth == 0) out.append(s.substr(i, 2));
      ++i;
    } else if (quoted) {
      out += c;
      if (c == '"') quoted = false;
    } else if (c == '(') {
      ++depth;
    } else if (c == ')' && depth > 0) {
      if (--depth == 0) out += ' ';
    } else if (depth == 0) {
      if (c == '"') quoted = true;
      out += (c == '\r' || c == '\n' || c == '\t') ? ' ' : c;
    }
  }
  return out;
}

std::vector<std::string> split_unquoted(std::string_view s, std::string_view seps) {
  std::vector<std::string> out(1);
  bool quoted = false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '\\' && quoted && i + 1 < s.size()) {
      out.back() += s.substr(i, 2);
      ++i;
    } else if (c == '"') {
      quoted = !quoted;
      out.back() += c;
    } else if (!quoted && seps.find(c) != std::string_view::npos) {
      if (!out.back().empty()) out.emplace_back();
    } else {
      out.back() += c;
    }
  }
  if (out.back().empty()) out.pop_back();
  return out;
}

std::string unquote(std::string_view v) {
  if (v.size() < 2 || v.front() != '"' || v.back() != '"') return std::string(v);
  std::string out;
  for (size_t i = 1; i + 1 < v.size(); ++i) {
    if (v[i] == '\\' && i + 2 < v.size()) ++i;
    out += v[i];
  }
  return out;
}

ParsedResults parse_authentication_results(std::string_view field_value) {
  ParsedResults out;
  std::string text = strip_comments(field_value);
  std::vector<std::string> parts = split_unquoted(text, ";");
  if (parts.empty()) return out;
  auto id_words = split_unquoted(parts[0], " ");
  if (!id_words.empty()) out.id = unquote(id_words[0]);
  for (size_t i = 1; i < parts.size(); ++i) {
    auto words = split_unquoted(parts[i], " ");
    if (words.empty()) continue;
    ResultClause c;
    size_t eq = words[0].find('=');
    if (eq == std::string::npos) continue;  // "none"
    std::string method = words[0].substr(0, eq);
    c.method = mail::to_lower(method.substr(0, method.find('/')));  // methodspec [ "/" version ]
    c.result = mail::to_lower(words[0].substr(eq + 1));
    for (size_t w = 1; w < words.size(); ++w) {
      size_t e = words[w].find('=');
      if (e == std::string::npos) continue;
      std::string key = mail::to_lower(words[w].substr(0, e));
      std::string value = unquote(words[w].substr(e + 1));
      if (key == "reason") {
        c.reason = value;
      } else {
        c.props.emplace_back(std::move(key), std::move(value));
      }
    }
    out.clauses.push_back(std::move(c));
  }
  return out;
}

std::vector<std::pair<std::string_view, std::string_view>> header_fields(std::string_view msg) {
  std::vector<std::pair<std::string_view, std::string_view>> out;
  size_t pos = 0;
  while (pos < msg.size()) {
    size_t eol = msg.find('\n', pos);
    size_t end = eol == std::string_view::npos ? msg.size() : eol + 1;
    std::string_view line = msg.substr(pos, end - pos);
    if (line == "\n" || line == "\r\n") break;
    if ((line[0] == ' ' || line[0] == '\t') && !out.empty()) {
      auto& last = out.back().second;
      last = std::string_view(last.data(), msg.data() + end - last.data());
    } else {
      size_t colon = line.find(':');
      if (colon != std::string_view::npos) {
        std::string_view name = line.substr(0, colon);
        while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.remove_suffix(1);
        out.emplace_back(name, line.substr(colon + 1));
      }
    }
    pos = end;
  }
  return out;
}

std::vector<ResultClause> our_results(std::string_view message, std::string_view authserv_id) {
  std::vector<ResultClause> out;
  if (authserv_id.empty()) return out;
  for (const auto& [name, value] : header_fields(message)) {
    if (!mail::iequals(name, "Authentication-Results")) continue;
    ParsedResults pr = parse_authentication_results(value);
    if (!mail::iequals(pr.id, authserv_id)) continue;
    for (auto& c : pr.clauses) out.push_back(std::move(c));
  }
  return out;
}

std::vector<ResultClause> merge_results(std::vector<ResultClause> earlier,
                                        const std::vector<ResultClause>& ours) {
  std::vector<ResultClause> out;
  for (auto& c : earlier) {
    bool replaced = false;
    for (const auto& o : ours) replaced = replaced || o.method == c.method;
    if (!replaced) out.push_back(std::move(c));
  }
  out.insert(out.end(), ours.begin(), ours.end());
  return out;
}

std::string format_clause(const ResultClause& clause) {
  // RFC 8601 2.2 resinfo: methodspec [reasonspec] *propspec; a comment is CFWS.
  std::string out = clause.method + "=" + clause.result;
  if (!clause.comment.empty()) out.append(" ").append(comment(clause.comment));
  if (!clause.reason.empty()) out.append(" reason=").append(quote(clause.reason));
  for (const auto& [prop, value] : clause.props) {
    out += " " + prop + "=";
    out += is_bare_pvalue(value) ? value : quote(value);
  }
  return out;
}

std::string format_authentication_results(std::string_view authserv_id,
                                          const std::vector<ResultClause>& clauses) {
  std::string out = "Authentication-Results: " + token_or_quoted(authserv_id) + ";";
  if (clauses.empty()) return out + " none\r\n";  // RFC 8601 2.2 no-result
  for (size_t i = 0; i < clauses.size(); ++i) {
    out += "\r\n\t" + format_clause(clauses[i]);
    if (i + 1 < clauses.size()) out += ";";
  }
  return out + "\r\n";
}

std::string stamp(std::string_view message, std::string_view authserv_id,
                  const std::vector<ResultClause>& clauses, bool headers_only) {
  std::string out = mail::match_line_ending(format_authentication_results(authserv_id, clauses),
                                            message);
  if (!headers_only) out += message;
  return out;
}

std::string authserv_id_of(std::string_view v) {
  // RFC 8601 2.2: authres-header-field = "Authentication-Results:" authserv-id
  //   [ CFWS authres-version ] ( no-result / 1*resinfo ); authserv-id = value.
  size_t i = skip_cfws(v, 0);
  if (i >= v.size()) return "";
  if (v[i] == '"') {
    std::string out;
    for (++i; i < v.size() && v[i] != '"'; ++i) {
      if (v[i] == '\\' && i + 1 < v.size()) ++i;
      out += v[i];
    }
    return out;
  }
  size_t start = i;
  while (i < v.size() && is_token_char(static_cast<unsigned char>(v[i]))) ++i;
  return std::string(v.substr(start, i - start));
}

std::string strip_authentication_results(std::string_view message, std::string_view authserv_id) {
  if (authserv_id.empty()) return std::string(message);  // nothing can claim no id
  std::string out;
  out.reserve(message.size());
  size_t pos = 0;
  bool dropping = false;  // inside a field being removed (its continuation lines too)
  while (pos < message.size()) {
    size_t eol = message.find('\n', pos);
    size_t next = eol == std::string_view::npos ? message.size() : eol + 1;
    std::string_view line = message.substr(pos, next - pos);
    std::string_view bare = line;
    while (!bare.empty() && (bare.back() == '\n' || bare.back() == '\r')) bare.remove_suffix(1);
    if (bare.empty()) break;  // end of the header section: the rest is kept as is
    if (line[0] == ' ' || line[0] == '\t') {
      if (!dropping) out.append(line);
      pos = next;
      continue;
    }
    dropping = false;
    size_t colon = bare.find(':');
    if (colon != std::string_view::npos) {
      std::string_view name = bare.substr(0, colon);
      while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.remove_suffix(1);
      if (mail::iequals(name, "Authentication-Results")) {
        // Gather the whole (possibly folded) field to read its authserv-id.
        size_t end = next;
        while (end < message.size() && (message[end] == ' ' || message[end] == '\t')) {
          size_t e = message.find('\n', end);
          end = e == std::string_view::npos ? message.size() : e + 1;
        }
        std::string_view value = message.substr(pos + colon + 1, end - pos - colon - 1);
        if (mail::iequals(authserv_id_of(value), authserv_id)) dropping = true;
      }
    }
    if (!dropping) out.append(line);
    pos = next;
  }
  out.append(message.substr(pos));
  return out;
}

}  // namespace postern::auth
