// SMTP command lines, MAIL/RCPT arguments and replies (see command.h).
#include "smtp/command.h"

#include <arpa/inet.h>

#include <array>
#include <charconv>

#include "mail/charset.h"
#include "mail/transfer.h"

namespace postern::smtp {

namespace {

using base::Error;
using base::ExitCode;
namespace queue = store::queue;

char ascii_upper(char c) { return (c >= 'a' && c <= 'z') ? char(c - 'a' + 'A') : c; }

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = ascii_upper(c);
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (ascii_upper(a[i]) != ascii_upper(b[i])) return false;
  }
  return true;
}

bool istarts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

bool is_alpha(unsigned char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }
bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
bool is_space(char c) { return c == ' ' || c == '\t'; }

// ---------------------------------------------------------------- errors

// Client text quoted in a reply: printable ASCII only, at most 64 characters, so a reply
// never carries line breaks or control bytes the client sent.
std::string shown(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 64)) {
    out += (c >= 32 && c < 127) ? c : '?';
  }
  if (s.size() > 64) out += "...";
  return out;
}

// RFC 5321 4.2.3 / RFC 3463 3.6: syntax error in parameters or arguments.
Error syntax(std::string m) { return Error(ExitCode::kUsage, 501, "5.5.4", std::move(m)); }
// RFC 5321 4.1.1.11: a MAIL/RCPT parameter that is not recognized or not implemented.
Error not_offered(std::string m) { return Error(ExitCode::kUsage, 555, "5.5.4", std::move(m)); }
// RFC 3463 3.2: 5.1.7 bad sender's mailbox address syntax.
Error bad_sender(std::string m) { return Error(ExitCode::kDataErr, 501, "5.1.7", std::move(m)); }
// RFC 3463 3.2: 5.1.3 bad destination mailbox address syntax.
Error bad_recipient(std::string m) { return Error(ExitCode::kDataErr, 553, "5.1.3", std::move(m)); }
// RFC 6531 3.5 / RFC 6532: non-ASCII address without SMTPUTF8.
Error need_utf8(std::string m) { return Error(ExitCode::kDataErr, 553, "5.6.7", std::move(m)); }
// RFC 1870 6: the declared size exceeds the fixed maximum message size.
Error too_big(std::string m) { return Error(ExitCode::kDataErr, 552, "5.3.4", std::move(m)); }

// ---------------------------------------------------------------- mailbox syntax

// RFC 5322 3.2.3 atext.
bool is_atext(unsigned char c) {
  static constexpr std::string_view kSpecials = "!#$%&'*+-/=?^_`{|}~";
  return is_alpha(c) || is_digit(c) ||
         (c != 0 && kSpecials.find(char(c)) != std::string_view::npos);
}

// RFC 5321 4.1.2 Dot-string = Atom *("." Atom); RFC 6531 3.3 adds UTF8-non-ascii to atext.
bool valid_dot_string(std::string_view s, bool utf8) {
  if (s.empty() || s.front() == '.' || s.back() == '.') return false;
  char prev = 0;
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '.') {
      if (prev == '.') return false;
    } else if (c >= 0x80) {
      if (!utf8) return false;
    } else if (!is_atext(c)) {
      return false;
    }
    prev = ch;
  }
  return true;
}

// RFC 5321 4.1.2 Quoted-string = DQUOTE *QcontentSMTP DQUOTE, QcontentSMTP = qtextSMTP /
// quoted-pairSMTP; qtextSMTP is %d32-33 / %d35-91 / %d93-126 (RFC 6531 3.3: and
// UTF8-non-ascii); quoted-pairSMTP is "\" %d32-126.
bool valid_quoted_string(std::string_view s, bool utf8) {
  if (s.size() < 2 || s.front() != '"' || s.back() != '"') return false;
  for (size_t i = 1; i + 1 < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '\\') {
      if (i + 2 >= s.size()) return false;  // the escape would swallow the closing quote
      const auto q = static_cast<unsigned char>(s[++i]);
      if (q < 32 || q > 126) return false;
    } else if (c == '"') {
      return false;
    } else if (c >= 0x80) {
      if (!utf8) return false;
    } else if (c < 32 || c == 127) {
      return false;
    }
  }
  return true;
}

// RFC 5321 4.1.3 Snum = 1*3DIGIT, representing a decimal integer value in 0-255.
bool valid_ipv4(std::string_view s) {
  int parts = 0;
  size_t i = 0;
  while (true) {
    size_t start = i;
    unsigned v = 0;
    while (i < s.size() && is_digit(s[i]) && i - start < 3) v = v * 10 + unsigned(s[i++] - '0');
    if (i == start || v > 255) return false;
    ++parts;
    if (i == s.size()) break;
    if (s[i] != '.' || parts == 4) return false;
    ++i;
  }
  return parts == 4;
}

// RFC 5321 4.1.3 address literals: IPv4, "IPv6:" IPv6-addr. The general form
// (Standardized-tag ":" dcontent) needs an IANA-registered tag; only IPv6 is registered.
bool valid_address_literal(std::string_view s) {
  if (s.size() < 3 || s.front() != '[' || s.back() != ']') return false;
  std::string_view inner = s.substr(1, s.size() - 2);
  if (istarts_with(inner, "IPv6:")) {
    inner.remove_prefix(5);
    if (inner.empty() || inner.size() > 45) return false;
    for (char c : inner) {
      if (!(is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' ||
            c == '.')) {
        return false;
      }
    }
    // RFC 5321 4.1.3's IPv6-addr grammar is RFC 4291 2.2's text form, which inet_pton
    // implements (full, compressed, and with an embedded IPv4 address).
    std::string text(inner);
    std::array<unsigned char, 16> buf{};
    return inet_pton(AF_INET6, text.c_str(), buf.data()) == 1;
  }
  return valid_ipv4(inner);
}

// RFC 5321 4.1.2 Domain = sub-domain *("." sub-domain), sub-domain = Let-dig [Ldh-str];
// RFC 6531 3.3 adds U-labels (here: labels holding UTF-8 beside letters, digits, hyphens).
bool valid_domain(std::string_view d, bool utf8) {
  if (d.empty() || d.size() > 255) return false;  // RFC 5321 4.5.3.1.2
  if (d.front() == '[') return valid_address_literal(d);
  size_t start = 0;
  while (start <= d.size()) {
    size_t dot = d.find('.', start);
    if (dot == std::string_view::npos) dot = d.size();
    std::string_view label = d.substr(start, dot - start);
    if (label.empty() || label.front() == '-' || label.back() == '-') return false;
    bool ascii = true;
    for (char ch : label) {
      const auto c = static_cast<unsigned char>(ch);
      if (c >= 0x80) {
        if (!utf8) return false;
        ascii = false;
      } else if (!is_alpha(c) && !is_digit(c) && c != '-') {
        return false;
      }
    }
    if (ascii && label.size() > 63) return false;  // RFC 1035 2.3.4
    start = dot + 1;
  }
  return true;
}

// The index of the '@' that separates local part and domain, or npos. A quoted local
// part may hold '@' itself.
size_t find_at(std::string_view a) {
  if (!a.empty() && a.front() == '"') {
    for (size_t i = 1; i < a.size(); ++i) {
      if (a[i] == '\\') {
        ++i;
      } else if (a[i] == '"') {
        return (i + 1 < a.size() && a[i + 1] == '@') ? i + 1 : std::string_view::npos;
      }
    }
    return std::string_view::npos;
  }
  return a.find('@');
}

// ---------------------------------------------------------------- paths and parameters

struct Path {
  std::string_view mailbox;  // without <> and without a source route
  std::string_view rest;     // what follows the '>'
};

// RFC 5321 4.1.2 Path = "<" [ A-d-l ":" ] Mailbox ">", after "FROM:" / "TO:" (RFC 5321
// 4.1.1.2/4.1.1.3). The caller gives the argument with the keyword removed.
base::Result<Path> parse_path(std::string_view s, const char* what) {
  // Tolerated: "MAIL FROM: <a@b>" (spaces after the colon), as most servers do.
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  if (s.empty() || s.front() != '<') {
    return syntax(std::string(what) + " address must be enclosed in <>");
  }
  // The closing '>' is the first one outside a quoted string.
  size_t i = 1;
  bool quoted = false;
  for (; i < s.size(); ++i) {
    const char c = s[i];
    if (quoted) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        quoted = false;
    } else if (c == '"') {
      quoted = true;
    } else if (c == '>') {
      break;
    }
  }
  if (i >= s.size()) return syntax(std::string(what) + " address has no closing >");
  // RFC 5321 4.5.3.1.3: a path is at most 256 octets, punctuation included.
  if (i + 1 > 256) return syntax(std::string(what) + " path longer than 256 octets");
  std::string_view inner = s.substr(1, i - 1);
  // RFC 5321 C / 4.1.2 A-d-l: a source route ("@a,@b:") is accepted and ignored.
  if (!inner.empty() && inner.front() == '@') {
    size_t colon = inner.find(':');
    if (colon == std::string_view::npos) {
      return syntax(std::string(what) + " address has a source route without ':'");
    }
    std::string_view adl = inner.substr(0, colon);
    size_t p = 0;
    while (p < adl.size()) {
      size_t comma = adl.find(',', p);
      if (comma == std::string_view::npos) comma = adl.size();
      std::string_view hop = adl.substr(p, comma - p);
      if (hop.size() < 2 || hop.front() != '@' || !valid_domain(hop.substr(1), true)) {
        return syntax(std::string(what) + " address has a malformed source route");
      }
      p = comma + 1;
    }
    if (adl.back() == ',')
      return syntax(std::string(what) + " address has a malformed source route");
    inner.remove_prefix(colon + 1);
    if (inner.empty()) return syntax(std::string(what) + " address is only a source route");
  }
  return Path{inner, s.substr(i + 1)};
}

struct Param {
  std::string keyword;  // upper-cased
  std::optional<std::string_view> value;
};

// RFC 5321 4.1.2: Mail-parameters = esmtp-param *(SP esmtp-param);
// esmtp-param = esmtp-keyword ["=" esmtp-value]; esmtp-keyword = (ALPHA / DIGIT)
// *(ALPHA / DIGIT / "-"); esmtp-value = 1*(%d33-60 / %d62-126), and RFC 6531 3.3 adds
// UTF8-non-ascii. Runs of spaces are tolerated, keywords are case-insensitive, and a
// keyword given twice is a syntax error.
base::Result<std::vector<Param>> parse_params(std::string_view rest) {
  std::vector<Param> out;
  if (!rest.empty() && !is_space(rest.front())) {
    return syntax("expected a space after the address");
  }
  size_t i = 0;
  while (true) {
    while (i < rest.size() && is_space(rest[i])) ++i;
    if (i == rest.size()) break;
    size_t end = i;
    while (end < rest.size() && !is_space(rest[end])) ++end;
    std::string_view item = rest.substr(i, end - i);
    i = end;
    size_t eq = item.find('=');
    std::string_view kw = item.substr(0, eq);
    if (kw.empty() || !(is_alpha(kw[0]) || is_digit(kw[0]))) {
      return syntax("malformed parameter \"" + shown(item) + "\"");
    }
    for (char c : kw) {
      if (!is_alpha(c) && !is_digit(c) && c != '-') {
        return syntax("malformed parameter \"" + shown(item) + "\"");
      }
    }
    Param p{upper(kw), std::nullopt};
    if (eq != std::string_view::npos) {
      std::string_view v = item.substr(eq + 1);
      if (v.empty()) return syntax("parameter " + shown(p.keyword) + "= has an empty value");
      for (char ch : v) {
        const auto c = static_cast<unsigned char>(ch);
        if (c < 33 || c == '=' || c == 127) {
          return syntax("parameter " + shown(p.keyword) + " has a malformed value");
        }
      }
      if (has_8bit(v) && !mail::is_valid_utf8(v)) {
        return syntax("parameter " + shown(p.keyword) + " has a value that is not UTF-8");
      }
      p.value = v;
    }
    for (const Param& q : out) {
      if (q.keyword == p.keyword) return syntax("parameter " + shown(p.keyword) + " given twice");
    }
    out.push_back(std::move(p));
  }
  return out;
}

base::Status no_value(const Param& p) {
  if (p.value) return syntax("parameter " + p.keyword + " takes no value");
  return {};
}

base::Result<std::string_view> need_value(const Param& p) {
  if (!p.value) return syntax("parameter " + p.keyword + " needs a value");
  return *p.value;
}

// A value that must be xtext (RFC 3461 4) of printable US-ASCII once decoded.
base::Result<std::string> xtext_value(const Param& p, size_t max_len) {
  auto v = need_value(p);
  if (!v) return v.error();
  if (v->size() > max_len) {
    return syntax("parameter " + p.keyword + " longer than " + std::to_string(max_len) +
                  " characters");
  }
  auto d = xtext_decode(*v);
  if (!d) return syntax("parameter " + p.keyword + " is not valid xtext");
  for (char ch : *d) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 32 || c > 126) {
      return syntax("parameter " + p.keyword + " holds characters other than printable ASCII");
    }
  }
  return std::move(*d);
}

base::Status check_address(std::string_view address, bool smtputf8, bool sender) {
  // RFC 6531 3.5: a non-ASCII address in a transaction without SMTPUTF8.
  if (has_8bit(address) && !smtputf8) {
    return need_utf8(std::string(sender ? "sender" : "recipient") +
                     " address is not ASCII and SMTPUTF8 was not given");
  }
  if (!valid_mailbox(address, smtputf8)) {
    if (sender) return bad_sender("bad sender address syntax");
    return bad_recipient("bad recipient address syntax");
  }
  return {};
}

}  // namespace

// ---------------------------------------------------------------- commands

Command parse_command(std::string_view line) {
  // RFC 5321 4.1.1: a verb, then SP and its argument. Verbs are case-insensitive
  // (RFC 5321 2.4). Tabs are accepted as separators too.
  size_t end = 0;
  while (end < line.size() && !is_space(line[end])) ++end;
  size_t arg = end;
  while (arg < line.size() && is_space(line[arg])) ++arg;
  Command c;
  c.name = upper(line.substr(0, end));
  c.arg = std::string(line.substr(arg));
  static constexpr std::pair<std::string_view, Verb> kVerbs[] = {
      {"HELO", Verb::kHelo}, {"EHLO", Verb::kEhlo},         {"LHLO", Verb::kLhlo},
      {"MAIL", Verb::kMail}, {"RCPT", Verb::kRcpt},         {"DATA", Verb::kData},
      {"BDAT", Verb::kBdat}, {"RSET", Verb::kRset},         {"NOOP", Verb::kNoop},
      {"QUIT", Verb::kQuit}, {"VRFY", Verb::kVrfy},         {"EXPN", Verb::kExpn},
      {"HELP", Verb::kHelp}, {"STARTTLS", Verb::kStarttls}, {"AUTH", Verb::kAuth},
  };
  for (const auto& [name, verb] : kVerbs) {
    if (c.name == name) {
      c.verb = verb;
      break;
    }
  }
  return c;
}

base::Result<MailParams> parse_mail(std::string_view arg, const Offered& offered) {
  // RFC 5321 4.1.1.2: "MAIL FROM:" Reverse-path [SP Mail-parameters].
  if (!istarts_with(arg, "FROM:")) return syntax("expected MAIL FROM:<address>");
  auto path = parse_path(arg.substr(5), "sender");
  if (!path) return path.error();
  auto params = parse_params(path->rest);
  if (!params) return params.error();

  MailParams m;
  for (const Param& p : *params) {
    const std::string& k = p.keyword;
    if (k == "SIZE") {
      // RFC 1870 3/6: SIZE=1*20DIGIT, the estimated message size in octets.
      if (!offered.size) return not_offered("SIZE not offered");
      auto v = need_value(p);
      if (!v) return v.error();
      uint64_t n = 0;
      auto [ptr, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
      if (ec != std::errc() || ptr != v->data() + v->size() || v->size() > 20) {
        return syntax("SIZE is not a number of octets");
      }
      if (offered.max_size && n > offered.max_size) {
        return too_big("message size exceeds the limit of " + std::to_string(offered.max_size) +
                       " octets");
      }
      m.size = n;
    } else if (k == "BODY") {
      // RFC 6152 2: BODY=7BIT / 8BITMIME; RFC 3030 3: BODY=BINARYMIME (with CHUNKING).
      if (!offered.eightbitmime && !offered.binarymime) return not_offered("BODY not offered");
      auto v = need_value(p);
      if (!v) return v.error();
      if (iequals(*v, "7BIT")) {
        m.body = queue::Body::k7Bit;
      } else if (iequals(*v, "8BITMIME")) {
        if (!offered.eightbitmime) return not_offered("BODY=8BITMIME not offered");
        m.body = queue::Body::k8BitMime;
      } else if (iequals(*v, "BINARYMIME")) {
        if (!offered.binarymime) return not_offered("BODY=BINARYMIME not offered");
        m.body = queue::Body::kBinaryMime;
      } else {
        return syntax("BODY must be 7BIT, 8BITMIME or BINARYMIME");
      }
    } else if (k == "SMTPUTF8") {
      // RFC 6531 3.4: SMTPUTF8 takes no value.
      if (!offered.smtputf8) return not_offered("SMTPUTF8 not offered");
      if (auto st = no_value(p); !st) return st.error();
      m.smtputf8 = true;
    } else if (k == "RET") {
      // RFC 3461 4.3: RET=FULL / HDRS.
      if (!offered.dsn) return not_offered("RET not offered");
      auto v = need_value(p);
      if (!v) return v.error();
      if (iequals(*v, "FULL"))
        m.ret = queue::Ret::kFull;
      else if (iequals(*v, "HDRS"))
        m.ret = queue::Ret::kHeaders;
      else
        return syntax("RET must be FULL or HDRS");
    } else if (k == "ENVID") {
      // RFC 3461 4.4: ENVID=xtext, at most 100 characters, printable ASCII once decoded.
      if (!offered.dsn) return not_offered("ENVID not offered");
      auto v = xtext_value(p, 100);
      if (!v) return v.error();
      m.envid = std::move(*v);
    } else if (k == "REQUIRETLS") {
      // RFC 8689 4.1: REQUIRETLS takes no value and is offered only over TLS.
      if (!offered.requiretls) return not_offered("REQUIRETLS not offered");
      if (auto st = no_value(p); !st) return st.error();
      m.requiretls = true;
    } else if (k == "AUTH") {
      // RFC 4954 5: AUTH=xtext (an addr-spec) or AUTH=<>.
      if (!offered.auth) return not_offered("AUTH not offered");
      auto v = need_value(p);
      if (!v) return v.error();
      if (*v == "<>") {
        m.auth = "<>";
      } else {
        auto d = xtext_decode(*v);
        if (!d || d->empty()) return syntax("AUTH= is not valid xtext");
        // The value is an addr-spec (UTF-8 allowed under RFC 6531): no control bytes.
        for (char ch : *d) {
          const auto c = static_cast<unsigned char>(ch);
          if (c < 32 || c == 127) return syntax("AUTH= holds control characters");
        }
        m.auth = std::move(*d);
      }
    } else {
      return not_offered("parameter " + shown(k) + " not recognized");
    }
  }

  m.sender = std::string(path->mailbox);
  // RFC 5321 4.1.1.2: "<>" is the null reverse-path (bounces).
  if (!m.sender.empty()) {
    if (auto st = check_address(m.sender, m.smtputf8, true); !st) return st.error();
  }
  return m;
}

base::Result<RcptParams> parse_rcpt(std::string_view arg, const Offered& offered) {
  // RFC 5321 4.1.1.3: "RCPT TO:" ( "<Postmaster@" Domain ">" / "<Postmaster>" /
  // Forward-path ) [SP Rcpt-parameters].
  if (!istarts_with(arg, "TO:")) return syntax("expected RCPT TO:<address>");
  auto path = parse_path(arg.substr(3), "recipient");
  if (!path) return path.error();
  auto params = parse_params(path->rest);
  if (!params) return params.error();

  RcptParams r;
  for (const Param& p : *params) {
    const std::string& k = p.keyword;
    if (k == "NOTIFY") {
      // RFC 3461 4.1: NOTIFY=NEVER or a comma list of SUCCESS, FAILURE, DELAY.
      if (!offered.dsn) return not_offered("NOTIFY not offered");
      auto v = need_value(p);
      if (!v) return v.error();
      unsigned bits = 0;
      size_t i = 0;
      while (i <= v->size()) {
        size_t comma = v->find(',', i);
        if (comma == std::string_view::npos) comma = v->size();
        std::string_view word = v->substr(i, comma - i);
        if (iequals(word, "NEVER"))
          bits |= queue::kNotifyNever;
        else if (iequals(word, "SUCCESS"))
          bits |= queue::kNotifySuccess;
        else if (iequals(word, "FAILURE"))
          bits |= queue::kNotifyFailure;
        else if (iequals(word, "DELAY"))
          bits |= queue::kNotifyDelay;
        else
          return syntax("NOTIFY must be NEVER or a list of SUCCESS, FAILURE, DELAY");
        i = comma + 1;
      }
      if ((bits & queue::kNotifyNever) && bits != queue::kNotifyNever) {
        return syntax("NOTIFY=NEVER cannot be combined with other values");
      }
      r.notify = bits;
    } else if (k == "ORCPT") {
      // RFC 3461 4.2: ORCPT=addr-type ";" xtext, at most 500 characters.
      if (!offered.dsn) return not_offered("ORCPT not offered");
      auto v = need_value(p);
      if (!v) return v.error();
      if (v->size() > 500) return syntax("ORCPT longer than 500 characters");
      size_t semi = v->find(';');
      if (semi == std::string_view::npos || semi == 0 || semi + 1 == v->size()) {
        return syntax("ORCPT must be addr-type;address");
      }
      std::string_view type = v->substr(0, semi);
      for (char c : type) {
        if (!is_atext(static_cast<unsigned char>(c)))
          return syntax("ORCPT has a malformed addr-type");
      }
      auto addr = xtext_decode(v->substr(semi + 1));
      if (!addr) return syntax("ORCPT address is not valid xtext");
      // The address type is case-insensitive; "rfc822" is kept in its usual spelling.
      r.orcpt = (iequals(type, "rfc822") ? std::string("rfc822") : std::string(type)) + ";" + *addr;
    } else {
      return not_offered("parameter " + shown(k) + " not recognized");
    }
  }

  if (path->mailbox.empty()) return bad_recipient("the null path <> is not a recipient");
  r.address = std::string(path->mailbox);
  // RFC 5321 4.5.1: "<Postmaster>" without a domain must be accepted.
  if (iequals(r.address, "postmaster")) return r;
  if (auto st = check_address(r.address, offered.smtputf8, false); !st) return st.error();
  return r;
}

// ---------------------------------------------------------------- mailboxes

bool valid_mailbox(std::string_view address, bool utf8) {
  if (has_8bit(address)) {
    if (!utf8 || !mail::is_valid_utf8(address)) return false;
  }
  const size_t at = find_at(address);
  if (at == std::string_view::npos || at == 0) return false;
  std::string_view local = address.substr(0, at);
  std::string_view domain = address.substr(at + 1);
  // RFC 5321 4.5.3.1.1: a local part is at most 64 octets.
  if (local.size() > 64) return false;
  const bool local_ok =
      local.front() == '"' ? valid_quoted_string(local, utf8) : valid_dot_string(local, utf8);
  return local_ok && valid_domain(domain, utf8);
}

bool has_8bit(std::string_view s) {
  for (char c : s) {
    if (static_cast<unsigned char>(c) >= 0x80) return true;
  }
  return false;
}

// ---------------------------------------------------------------- xtext

// RFC 3461 4: xtext = *( xchar / hexchar ); xchar is "!" to "~" except "+" and "=";
// hexchar is "+" and two upper-case hex digits. Lower-case hex digits are accepted too
// (some clients send them); the encoder writes upper case only.
std::optional<std::string> xtext_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '+') {
      if (i + 2 >= s.size()) return std::nullopt;
      const int hi = mail::hex_digit(s[i + 1]), lo = mail::hex_digit(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (c < 33 || c > 126 || c == '=') {
      return std::nullopt;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

std::string xtext_encode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c >= 33 && c <= 126 && c != '+' && c != '=') {
      out += ch;
    } else {
      out += '+';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

// ---------------------------------------------------------------- replies

std::string format_reply(int code, std::string_view enhanced, std::string_view text) {
  // RFC 5321 4.2: Reply-line = *( Reply-code "-" [ textstring ] CRLF )
  //                            Reply-code [ SP textstring ] CRLF
  // RFC 2034 4: with ENHANCEDSTATUSCODES every line carries the enhanced code.
  std::vector<std::string_view> lines;
  if (!text.empty() && text.back() == '\n') text.remove_suffix(1);
  size_t start = 0;
  while (true) {
    size_t nl = text.find('\n', start);
    lines.push_back(text.substr(start, nl == std::string_view::npos ? nl : nl - start));
    if (nl == std::string_view::npos) break;
    start = nl + 1;
  }
  const std::string code_text = std::to_string(code);
  std::string out;
  for (size_t i = 0; i < lines.size(); ++i) {
    // A CR inside the text would end the line early on the wire: dropped.
    std::string line;
    for (char c : lines[i]) {
      if (c != '\r') line += c;
    }
    out += code_text;
    out += i + 1 < lines.size() ? '-' : ' ';
    std::string body(enhanced);
    if (!line.empty()) {
      if (!body.empty()) body += ' ';
      body += line;
    }
    if (body.empty() && i + 1 == lines.size()) out.pop_back();  // "250" alone, no SP
    out += body;
    out += "\r\n";
  }
  return out;
}

std::string format_reply(const base::Error& e) {
  return format_reply(e.smtp_code(), e.enhanced(), e.message());
}

}  // namespace postern::smtp
