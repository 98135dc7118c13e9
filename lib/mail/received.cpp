// Received trace fields (RFC 5321 4.4, RFC 5322 3.6.7): "from" / "by" / "via" / "with" /
// "id" / "for" clauses, the TCP-info comment after "from" (reverse name, IP, HELO, ident),
// TLS details that MTAs put in comments, and the date after the last ';'.
#include <arpa/inet.h>

#include <string>
#include <vector>

#include "mail/charset.h"
#include "mail/header.h"
#include "mail/header_internal.h"

namespace postern::mail {
namespace {

using detail::iequals;
using detail::is_space;

struct Tok {
  bool comment;
  std::string text;
};

// Words, [bracketed] literals (kept with their brackets and any ":port" tail), "quoted"
// strings and (comments) at the top level of the clause part.
std::vector<Tok> tokenize(std::string_view s) {
  std::vector<Tok> toks;
  size_t i = 0;
  while (i < s.size()) {
    const char c = s[i];
    if (is_space(c) || c == ';' || c == ',') {
      ++i;
    } else if (c == '(') {
      std::string content;
      i = detail::read_comment(s, i, &content);
      toks.push_back({true, std::move(content)});
    } else if (c == '"') {
      std::string content;
      i = detail::read_quoted(s, i, &content);
      toks.push_back({false, std::move(content)});
    } else {
      size_t j = i;
      int depth = 0;
      while (j < s.size()) {
        const char d = s[j];
        if (d == '[') ++depth;
        if (d == ']' && depth > 0) --depth;
        if (depth == 0 && (is_space(d) || d == '(' || d == ';' || d == ',')) break;
        ++j;
      }
      toks.push_back({false, std::string(s.substr(i, j - i))});
      i = j;
    }
  }
  return toks;
}

// A canonical IP address string, or nullopt (inet_pton/ntop normalise IPv6 zeros).
std::optional<ReceivedHost> parse_ip(std::string_view text) {
  std::string s(text);
  if (s.size() > 5 && iequals(std::string_view(s).substr(0, 5), "ipv6:")) s.erase(0, 5);
  if (s.size() > 64 || s.empty()) return std::nullopt;
  if (auto pct = s.find('%'); pct != std::string::npos) s.resize(pct);  // zone index
  unsigned char buf[16];
  char out[INET6_ADDRSTRLEN];
  if (inet_pton(AF_INET, s.c_str(), buf) == 1) {
    // inet_pton accepts only dotted quads; keep the text as written.
    return ReceivedHost{ReceivedHost::Kind::kIpv4, s};
  }
  if (inet_pton(AF_INET6, s.c_str(), buf) == 1 && inet_ntop(AF_INET6, buf, out, sizeof out))
    return ReceivedHost{ReceivedHost::Kind::kIpv6, out};
  return std::nullopt;
}

// An IP possibly written as "[ip]", "ip:port", "[ip]:port", "(ip)".
std::optional<ReceivedHost> parse_ip_literal(std::string_view w) {
  while (!w.empty() && (w.front() == '[' || w.front() == '(' || w.front() == '<')) w.remove_prefix(1);
  if (auto close = w.find(']'); close != std::string_view::npos) w = w.substr(0, close);
  while (!w.empty() && (w.back() == ')' || w.back() == '>' || w.back() == ',')) w.remove_suffix(1);
  if (auto ip = parse_ip(w)) return ip;
  // IPv4 with a port: exactly one ':' after a dotted quad.
  if (auto colon = w.rfind(':'); colon != std::string_view::npos && w.find(':') == colon)
    return parse_ip(w.substr(0, colon));
  return std::nullopt;
}

bool is_hostname(std::string_view w) {
  if (w.empty() || w.size() > 255) return false;
  for (char c : w)
    if (!(detail::is_alpha(c) || detail::is_digit(c) || c == '-' || c == '.' || c == '_'))
      return false;
  return true;
}

// A host in "from"/"by": "[ip]", an IP, or a name. nullopt for garbage like "[<x@y>]".
std::optional<ReceivedHost> parse_host(std::string_view w) {
  if (!w.empty() && w.front() == '<' && w.back() == '>' && w.size() >= 2) w = w.substr(1, w.size() - 2);
  if (w.empty()) return std::nullopt;
  if (w.front() == '[') return parse_ip_literal(w);
  if (auto ip = parse_ip(w)) return ip;
  return ReceivedHost{ReceivedHost::Kind::kName, utf8_or_latin1(w)};
}

std::string strip_angle(std::string_view w) {
  while (!w.empty() && (w.front() == '<' || w.front() == '[')) w.remove_prefix(1);
  while (!w.empty() && (w.back() == '>' || w.back() == ']' || w.back() == ',')) w.remove_suffix(1);
  return utf8_or_latin1(w);
}

// RFC 5321 4.4 / RFC 3848 protocol names for "with"; MTA variants mapped onto them.
std::optional<std::string> protocol_of(std::string_view word) {
  std::string w = to_lower(word);
  if (auto cut = w.find_first_of("(/["); cut != std::string::npos) w.resize(cut);
  if (w == "local") return "Local";
  if (w.rfind("local-", 0) == 0) w.erase(0, 6);
  static constexpr std::string_view kProtocols[] = {
      "smtp",     "esmtp",    "esmtpa",    "esmtps",     "esmtpsa", "lmtp",
      "lmtpa",    "lmtps",    "lmtpsa",    "utf8smtp",   "utf8smtpa", "utf8smtps",
      "utf8smtpsa", "utf8lmtp", "utf8lmtpa", "utf8lmtps", "utf8lmtpsa", "http",
      "https",    "imap",     "pop3",      "mmtp"};
  for (auto p : kProtocols) {
    if (w == p) {
      std::string up(p);
      for (char& c : up) c = static_cast<char>(c >= 'a' && c <= 'z' ? c - 32 : c);
      return up;
    }
  }
  if (w == "bsmtp" || w.rfind("smtpsvc", 0) == 0) return "SMTP";
  if (w == "esmtp-tls") return "ESMTPS";
  if (w == "httprest") return "HTTP";
  return std::nullopt;
}

// "TLSv1.3", "TLS1_2", "TLS-1.0", "TLSv1" (→ TLSv1_0) at the start of `w`.
std::optional<std::string> tls_version_of(std::string_view w) {
  if (w.rfind("version=", 0) == 0) w.remove_prefix(8);
  if (w.size() < 4 || w.substr(0, 3) != "TLS") return std::nullopt;
  size_t i = 3;
  if (w[i] == 'v' || w[i] == '-') ++i;
  if (i >= w.size() || w[i] != '1') return std::nullopt;
  ++i;
  char minor = '0';
  if (i < w.size() && (w[i] == '.' || w[i] == '_')) {
    if (i + 1 >= w.size() || !detail::is_digit(w[i + 1])) return std::nullopt;
    minor = w[i + 1];
    i += 2;
  }
  if (i < w.size() && (detail::is_alpha(w[i]) || detail::is_digit(w[i]))) return std::nullopt;
  return std::string("TLSv1_") + minor;
}

bool looks_like_cipher(std::string_view w) {
  if (w.size() < 6 || w == "OTHER") return false;
  bool sep = false;
  for (char c : w) {
    if (c == '_' || c == '-') {
      sep = true;
    } else if (!(detail::is_digit(c) || (c >= 'A' && c <= 'Z'))) {
      return false;
    }
  }
  if (!sep) return false;
  for (std::string_view k : {"AES", "DES", "RC4", "CHACHA", "CAMELLIA", "SHA", "GCM"})
    if (w.find(k) != std::string_view::npos) return true;
  return false;
}

std::vector<std::string> split_words(std::string_view s) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (is_space(s[i]) || s[i] == ',')) ++i;
    size_t j = i;
    while (j < s.size() && !is_space(s[j]) && s[j] != ',') ++j;
    if (j > i) out.emplace_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

// TLS details in a comment: "using TLSv1.3 with cipher X", "version=TLS1_2, cipher=X",
// "Cipher TLSv1:X:168", "TLS-1.0:X:24", "TLS: TLSv1/SSLv3, 168bits,X".
void scan_tls(std::string_view comment, Received* r) {
  const auto words = split_words(comment);
  bool has_version = false;
  for (size_t k = 0; k < words.size(); ++k) {
    std::string_view w = words[k];
    std::string_view parts[3];
    size_t n = 0, b = 0;
    for (size_t i = 0; i <= w.size() && n < 3; ++i) {
      if (i == w.size() || w[i] == ':' || w[i] == '/') {
        parts[n++] = w.substr(b, i - b);
        b = i + 1;
      }
    }
    if (auto v = tls_version_of(parts[0])) {
      has_version = true;
      if (!r->tls_version) r->tls_version = *v;
      if (n >= 2 && w.find(':') != std::string_view::npos && looks_like_cipher(parts[1]) &&
          !r->tls_cipher)
        r->tls_cipher = std::string(parts[1]);
      continue;
    }
    if (iequals(w, "cipher") && k + 1 < words.size()) {
      if (looks_like_cipher(words[k + 1]) && !r->tls_cipher) r->tls_cipher = words[k + 1];
      continue;
    }
    if (w.size() > 7 && iequals(w.substr(0, 7), "cipher=")) {
      std::string_view c = w.substr(7);
      while (!c.empty() && c.back() == ')') c.remove_suffix(1);
      if (looks_like_cipher(c) && !r->tls_cipher) r->tls_cipher = std::string(c);
    }
  }
  if (has_version && !r->tls_cipher) {
    for (const auto& w : words)
      if (looks_like_cipher(w) && !tls_version_of(w)) {
        r->tls_cipher = w;
        break;
      }
  }
}

void set_helo(Received* r, std::string_view cmd, std::string_view host) {
  if (!r->helo_cmd) r->helo_cmd = std::string(cmd);
  if (!r->helo && !host.empty()) r->helo = parse_host(host);
}

// The TCP-info comment after "from" (RFC 5321 4.4: "(" address-literal / domain SP ...
// ")"), in the shapes Postfix, Sendmail, Exim, qmail, Courier and others write.
void scan_from_comment(std::string_view comment, Received* r) {
  const auto words = split_words(comment);
  for (size_t k = 0; k < words.size(); ++k) {
    std::string_view w = words[k];
    const std::string lw = to_lower(w);
    if (lw == "helo" || lw == "ehlo" || lw == "lhlo") {
      std::string cmd = lw;
      cmd[0] = static_cast<char>(cmd[0] - 32);
      std::string_view host = k + 1 < words.size() ? std::string_view(words[k + 1]) : "";
      set_helo(r, cmd, host);
      if (!host.empty()) ++k;
      continue;
    }
    if (lw.rfind("helo=", 0) == 0) {
      set_helo(r, "Helo", w.substr(5));
      continue;
    }
    if (lw.rfind("ident=", 0) == 0 && w.size() > 6) {
      if (!r->ident) r->ident = strip_angle(w.substr(6));
      continue;
    }
    if (lw.rfind("ident:", 0) == 0 && w.size() > 6) {
      if (!r->ident) r->ident = strip_angle(w.substr(6));
      continue;
    }
    if (lw == "envelope-sender" && k + 1 < words.size()) {
      r->ident = strip_angle(words[++k]);
      continue;
    }
    // host[ip] glued together, or a lone [ip] / ip / ip:port
    std::string_view host = w;
    std::string_view literal;
    if (auto br = w.find('['); br != std::string_view::npos && br > 0 && w[br - 1] != '@') {
      host = w.substr(0, br);
      literal = w.substr(br);
    }
    if (auto at = w.find('@'); at != std::string_view::npos) {
      // user@[ip] → ident user, IP; user@host → ident as written
      std::string_view rest = w.substr(at + 1);
      if (!rest.empty() && rest.front() == '[') {
        if (!r->ident) r->ident = strip_angle(w.substr(0, at));
        if (auto ip = parse_ip_literal(rest); ip && !r->from_ip) r->from_ip = ip->value;
      } else if (!r->ident) {
        r->ident = strip_angle(w);
      }
      continue;
    }
    if (!literal.empty()) {
      if (auto ip = parse_ip_literal(literal); ip && !r->from_ip) r->from_ip = ip->value;
    }
    if (auto ip = parse_ip_literal(host); ip) {
      if (!r->from_ip) r->from_ip = ip->value;
      continue;
    }
    if (k == 0) {
      // The reverse-DNS name comes first; placeholders are not names.
      std::string_view name = host;
      if (name.size() >= 2 && name.front() == '<' && name.back() == '>')
        name = name.substr(1, name.size() - 2);
      if (is_hostname(name) && name.find('.') != std::string_view::npos &&
          !iequals(name, "localhost") && !iequals(name, "unknown") && !r->from_iprev)
        r->from_iprev = ReceivedHost{ReceivedHost::Kind::kName, std::string(name)};
    }
  }
  scan_tls(comment, r);
}

enum class Clause { kNone, kFrom, kBy, kVia, kWith, kId, kFor };

Clause clause_of(std::string_view w) {
  if (iequals(w, "from")) return Clause::kFrom;
  if (iequals(w, "by")) return Clause::kBy;
  if (iequals(w, "via")) return Clause::kVia;
  if (iequals(w, "with")) return Clause::kWith;
  if (iequals(w, "id")) return Clause::kId;
  if (iequals(w, "for")) return Clause::kFor;
  return Clause::kNone;
}

}  // namespace

std::optional<Received> parse_received(std::string_view raw) {
  std::string s = detail::strip_line_breaks(detail::field_body(raw));
  // The date follows the last ';' outside comments (RFC 5321 4.4 Stamp).
  size_t semi = std::string::npos;
  int depth = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\') {
      ++i;
    } else if (s[i] == '(') {
      ++depth;
    } else if (s[i] == ')') {
      if (depth > 0) --depth;
    } else if (s[i] == ';' && depth == 0) {
      semi = i;
    }
  }
  Received r;
  if (semi != std::string::npos) r.date = parse_date(std::string_view(s).substr(semi + 1));
  std::string_view clauses = detail::trim(std::string_view(s).substr(0, semi));

  // "(from host [ip]) by ...": a trace whose from-clause was written as a comment.
  std::string unwrapped;
  if (!clauses.empty() && clauses.front() == '(') {
    std::string content;
    const size_t end = detail::read_comment(clauses, 0, &content);
    if (content.size() > 5 && iequals(std::string_view(content).substr(0, 5), "from ")) {
      unwrapped = content + " " + std::string(clauses.substr(end));
      clauses = unwrapped;
    }
  }

  const std::vector<Tok> toks = tokenize(clauses);
  Clause clause = Clause::kNone;
  bool expect_value = false;
  for (size_t k = 0; k < toks.size(); ++k) {
    const Tok& t = toks[k];
    if (!t.comment) {
      const Clause c = clause_of(t.text);
      if (c != Clause::kNone) {
        clause = c;
        expect_value = true;
        continue;
      }
    } else if (clause != Clause::kFrom) {
      scan_tls(t.text, &r);
    }
    switch (clause) {
      case Clause::kNone:
        break;
      case Clause::kFrom:
        if (t.comment) {
          scan_from_comment(t.text, &r);
        } else if (expect_value) {
          if (!r.from) r.from = parse_host(t.text);
          // "host[ip]" written without a space
          if (auto br = t.text.find('['); br != std::string::npos && br > 0 && r.from &&
                                          r.from->kind == ReceivedHost::Kind::kName) {
            r.from = parse_host(std::string_view(t.text).substr(0, br));
            if (auto ip = parse_ip_literal(std::string_view(t.text).substr(br)); ip && !r.from_ip)
              r.from_ip = ip->value;
          }
        } else if (t.text.front() == '[') {
          if (auto ip = parse_ip_literal(t.text); ip && !r.from_ip) r.from_ip = ip->value;
        } else if (iequals(t.text, "user") && k + 1 < toks.size() && !toks[k + 1].comment) {
          if (!r.ident) r.ident = strip_angle(toks[++k].text);  // "as user name"
        }
        break;
      case Clause::kBy:
        if (!t.comment && expect_value && !r.by) r.by = parse_host(t.text);
        break;
      case Clause::kVia:
        if (!t.comment && expect_value && !r.via) r.via = utf8_or_latin1(t.text);
        break;
      case Clause::kWith:
        if (!t.comment) {
          if (!r.with && t.text.front() == '[') {
            for (const auto& w : split_words(std::string_view(t.text).substr(1)))  // "[XMail 1.20 ESMTP Server]"
              if (!r.with) r.with = protocol_of(w);
          } else if (!r.with) {
            r.with = protocol_of(t.text);
          }
          // "ESMTP/TLS/cipher"
          if (auto tls = t.text.find("/TLS/"); tls != std::string::npos && !r.tls_cipher &&
                                              tls + 5 < t.text.size())
            r.tls_cipher = t.text.substr(tls + 5);
        }
        break;
      case Clause::kId:
        if (!t.comment && expect_value && !r.id) r.id = strip_angle(t.text);
        break;
      case Clause::kFor:
        // RFC 5321 4.4: For = "FOR" ( Path / Mailbox ); "for <address>" is not one.
        if (!t.comment && expect_value && !r.for_ && t.text.find('@') != std::string::npos)
          r.for_ = strip_angle(t.text);
        break;
    }
    if (!t.comment) expect_value = false;
  }

  if (!r.from && !r.by && !r.with && !r.id && !r.for_ && !r.via && !r.date && !r.from_ip &&
      !r.helo && !r.ident)
    return std::nullopt;
  return r;
}

}  // namespace postern::mail
