// The Asio-free half of the outbound SMTP client (see client.h): replies, capabilities,
// the message checks and dot-stuffing, and next-hop lookup.
#include "smtp/client.h"

#include <algorithm>
#include <cctype>
#include <optional>

#include "mail/header.h"
#include "smtp/mx.h"

namespace postern::smtp::client {
namespace {

using base::Error;

bool digit(char c) { return c >= '0' && c <= '9'; }

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

// "2.0.0" at the start of `text` (RFC 3463 3: class "." subject "." detail, subject and
// detail 1-3 digits), its class matching the reply code's first digit; its length or 0.
size_t enhanced_prefix(std::string_view text, int code) {
  if (text.size() < 5 || !digit(text[0]) || text[0] - '0' != code / 100 || text[1] != '.') {
    return 0;
  }
  size_t i = 2, n = 0;
  while (i < text.size() && digit(text[i]) && n < 4) ++i, ++n;
  if (n == 0 || n > 3 || i >= text.size() || text[i] != '.') return 0;
  ++i;
  n = 0;
  while (i < text.size() && digit(text[i]) && n < 4) ++i, ++n;
  if (n == 0 || n > 3) return 0;
  if (i < text.size() && text[i] != ' ') return 0;
  return i;
}

// The lookup's answer, waiting for it (the zone engine answers inline).
dns::Answer lookup(dns::Resolver& r, const std::string& name, dns::RrType type) {
  std::optional<dns::Answer> out;
  r.query(name, type, [&out](dns::Answer a) { out = std::move(a); });
  while (!out) r.wait();
  return std::move(*out);
}

}  // namespace

std::string Reply::text() const {
  // No reply (code 0): just the reason the client recorded, if any.
  std::string s = code == 0 ? std::string() : std::to_string(code);
  if (!enhanced.empty()) s += " " + enhanced;
  std::string joined;
  for (const auto& l : lines) {
    if (l.empty()) continue;
    if (!joined.empty()) joined += "; ";
    joined += l;
  }
  if (!joined.empty()) s += (s.empty() ? "" : " ") + joined;
  return s.empty() ? "no reply" : s;
}

bool Reply::positive() const { return code >= 200 && code < 400; }
bool Reply::transient() const { return code == 0 || (code >= 400 && code < 500); }
bool Reply::permanent() const { return code >= 500 && code < 600; }

std::string_view tls_mode_name(TlsMode m) {
  switch (m) {
    case TlsMode::kNone: return "none";
    case TlsMode::kOpportunistic: return "opportunistic";
    case TlsMode::kRequired: return "required";
    case TlsMode::kImplicit: return "implicit";
  }
  return "opportunistic";
}

std::optional<TlsMode> parse_tls_mode(std::string_view s) {
  for (TlsMode m : {TlsMode::kNone, TlsMode::kOpportunistic, TlsMode::kRequired, TlsMode::kImplicit}) {
    if (s == tls_mode_name(m)) return m;
  }
  return std::nullopt;
}

Capabilities parse_capabilities(const Reply& ehlo) {
  Capabilities c;
  c.esmtp = true;
  for (size_t i = 1; i < ehlo.lines.size(); ++i) {
    std::string_view l = ehlo.lines[i];
    size_t sp = l.find_first_of(" =");
    std::string key = upper(l.substr(0, sp));
    std::string_view rest = sp == std::string_view::npos ? std::string_view() : l.substr(sp + 1);
    if (key == "PIPELINING") c.pipelining = true;
    else if (key == "CHUNKING") c.chunking = true;
    else if (key == "BINARYMIME") c.binarymime = true;
    else if (key == "8BITMIME") c.eightbitmime = true;
    else if (key == "SMTPUTF8") c.smtputf8 = true;
    else if (key == "DSN") c.dsn = true;
    else if (key == "STARTTLS") c.starttls = true;
    else if (key == "REQUIRETLS") c.requiretls = true;
    else if (key == "ENHANCEDSTATUSCODES") c.enhanced = true;
    else if (key == "SIZE") {
      uint64_t v = 0;
      bool ok = !rest.empty();
      for (char ch : rest) {
        if (!digit(ch) || v > (UINT64_MAX - 9) / 10) {
          ok = false;
          break;
        }
        v = v * 10 + static_cast<uint64_t>(ch - '0');
      }
      if (ok) c.size = v;
    } else if (key == "AUTH") {  // "AUTH PLAIN LOGIN", or the old "AUTH=PLAIN LOGIN"
      while (!rest.empty()) {
        size_t e = rest.find(' ');
        std::string mech = upper(rest.substr(0, e));
        if (!mech.empty() && std::find(c.auth.begin(), c.auth.end(), mech) == c.auth.end()) {
          c.auth.push_back(mech);
        }
        if (e == std::string_view::npos) break;
        rest.remove_prefix(e + 1);
      }
    }
  }
  return c;
}

const Reply& TransactionResult::outcome(size_t i) const {
  static const Reply kNone;
  if (!mail.positive()) return mail;
  if (i >= rcpts.size()) return kNone;
  if (!rcpts[i].positive()) return rcpts[i];
  if (data.empty()) return kNone;
  if (data.size() == 1) return data.front();
  // LMTP: one data reply per accepted recipient, in order.
  size_t k = 0;
  for (size_t j = 0; j < i; ++j) {
    if (rcpts[j].positive()) ++k;
  }
  return k < data.size() ? data[k] : kNone;
}

// RFC 5321 4.2: Reply-line = *( Reply-code "-" [ textstring ] CRLF )
//                            Reply-code [ SP textstring ] CRLF
ParsedReply parse_reply(std::string_view in, size_t max_line) {
  ParsedReply p;
  size_t pos = 0;
  int code = 0;
  for (;;) {
    size_t nl = in.find('\n', pos);
    if (nl == std::string_view::npos) {
      if (in.size() - pos > max_line) {
        p.status = ParsedReply::kBad;
        p.error = "reply line too long";
      } else {
        p.status = ParsedReply::kNeedMore;
      }
      return p;
    }
    size_t end = nl;
    if (end > pos && in[end - 1] == '\r') --end;
    std::string_view line = in.substr(pos, end - pos);
    if (line.size() > max_line) {
      p.status = ParsedReply::kBad;
      p.error = "reply line too long";
      return p;
    }
    if (line.size() < 3 || !digit(line[0]) || !digit(line[1]) || !digit(line[2]) ||
        line[0] < '2' || line[0] > '5' || (line.size() > 3 && line[3] != ' ' && line[3] != '-')) {
      p.status = ParsedReply::kBad;
      p.error = "malformed reply line: " + std::string(line.substr(0, 80));
      return p;
    }
    int c = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
    if (code != 0 && c != code) {
      p.status = ParsedReply::kBad;
      p.error = "reply lines with different codes: " + std::to_string(code) + ", " + std::to_string(c);
      return p;
    }
    code = c;
    bool more = line.size() > 3 && line[3] == '-';
    std::string_view text = line.size() > 4 ? line.substr(4) : std::string_view();
    // RFC 2034 3: the enhanced code on every line; kept once, from the first line.
    size_t e = enhanced_prefix(text, code);
    if (e > 0 && (p.reply.lines.empty() ? true : text.substr(0, e) == p.reply.enhanced)) {
      if (p.reply.lines.empty()) p.reply.enhanced = std::string(text.substr(0, e));
      text.remove_prefix(e);
      while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
    }
    p.reply.lines.emplace_back(text);
    pos = nl + 1;
    if (!more) break;
  }
  p.reply.code = code;
  p.status = ParsedReply::kOk;
  p.used = pos;
  return p;
}

std::string to_crlf(std::string_view data) {
  std::string out;
  out.reserve(data.size() + data.size() / 32);
  for (size_t i = 0; i < data.size(); ++i) {
    char c = data[i];
    if (c == '\n' && (i == 0 || data[i - 1] != '\r')) out += '\r';
    out += c;
  }
  return out;
}

// RFC 5321 4.5.2 (transparency) and 4.1.1.4 (the end of data).
std::string dot_stuff(std::string_view data) {
  std::string out;
  out.reserve(data.size() + data.size() / 64 + 8);
  bool at_line_start = true;
  for (size_t i = 0; i < data.size(); ++i) {
    char c = data[i];
    if (c == '\r' || c == '\n') {
      // CRLF, or a bare CR or bare LF: each is one line ending, sent as CRLF.
      if (c == '\r' && i + 1 < data.size() && data[i + 1] == '\n') ++i;
      out += "\r\n";
      at_line_start = true;
      continue;
    }
    if (at_line_start && c == '.') out += '.';
    out += c;
    at_line_start = false;
  }
  if (!at_line_start) out += "\r\n";
  out += ".\r\n";
  return out;
}

base::Status check_message(std::string_view data, int body) {
  if (body == 2) return {};
  size_t line_start = 0;
  for (size_t i = 0; i < data.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(data[i]);
    if (c == 0) return Error::bad_data("the message holds a NUL byte (send it as BINARYMIME)");
    if (c >= 0x80 && body == 0) {
      return Error::bad_data("the message holds 8-bit bytes: it needs BODY=8BITMIME");
    }
    if (c == '\n') {
      if (i - line_start > 999) {
        return Error::bad_data("the message has a line over 998 octets (RFC 5321 4.5.3.1.6)");
      }
      line_start = i + 1;
    }
  }
  if (data.size() - line_start > 998) {
    return Error::bad_data("the message has a line over 998 octets (RFC 5321 4.5.3.1.6)");
  }
  return {};
}

base::Result<std::vector<Target>> mail_targets(dns::Resolver& resolver, const std::string& domain,
                                               uint16_t port) {
  auto task = resolve_mx(resolver, domain);
  MxResult mx = dns::run(resolver, task);
  switch (mx.kind) {
    case MxResult::kNullMx:  // RFC 7505 3
      return Error(base::ExitCode::kUnavailable, 556, "5.1.10",
                   "domain " + domain + " accepts no mail (null MX)");
    case MxResult::kNoSuchDomain:
      return Error(base::ExitCode::kUnavailable, 550, "5.1.2",
                   "no mail host for " + domain + (mx.why.empty() ? "" : ": " + mx.why));
    case MxResult::kTempFail:
      return Error(base::ExitCode::kTempFail, 451, "4.4.3",
                   "MX lookup for " + domain + " failed" + (mx.why.empty() ? "" : ": " + mx.why));
    case MxResult::kHosts:
      break;
  }
  std::vector<Target> out;
  for (const MxHost& h : mx.hosts) {
    for (const std::string& ip : h.addresses) out.push_back({h.name, ip, port});
  }
  if (out.empty()) {
    return Error(base::ExitCode::kTempFail, 451, "4.4.3", "no address for the mail hosts of " + domain);
  }
  return out;
}

base::Result<std::vector<Target>> host_targets(dns::Resolver& resolver, const std::string& host_in,
                                               uint16_t port) {
  std::string host = mail::to_lower(host_in);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host.rfind("ipv6:", 0) == 0) host = host.substr(5);
  while (!host.empty() && host.back() == '.') host.pop_back();
  if (host.empty()) return Error::usage("empty host name");
  bool literal = host.find(':') != std::string::npos ||
                 host.find_first_not_of("0123456789.") == std::string::npos;
  if (literal) return std::vector<Target>{{host, host, port}};
  std::vector<Target> out;
  bool temporary = false, exists = false;
  for (dns::RrType t : {dns::RrType::kA, dns::RrType::kAaaa}) {
    dns::Answer a = lookup(resolver, host, t);
    if (!a.definite()) temporary = true;
    if (a.status != dns::Status::kNxDomain) exists = true;
    if (a.status != dns::Status::kOk) continue;
    for (const auto& r : a.records) {
      if (r.type == t) out.push_back({host, r.text, port});
    }
  }
  if (!out.empty()) return out;
  if (temporary) return Error(base::ExitCode::kTempFail, 451, "4.4.3", "address lookup for " + host + " failed");
  return Error(base::ExitCode::kUnavailable, 550, "5.4.4",
               exists ? "no address for " + host : "host " + host + " does not exist");
}

size_t Delivery::accepted() const {
  if (!result) return 0;
  size_t n = 0;
  for (size_t i = 0; i < result->rcpts.size(); ++i) n += result->outcome(i).positive();
  return n;
}
size_t Delivery::temporary() const {
  if (!result) return failure.permanent ? 0 : recipients;
  size_t n = 0;
  for (size_t i = 0; i < result->rcpts.size(); ++i) n += result->outcome(i).transient();
  return n;
}
size_t Delivery::permanent() const {
  if (!result) return failure.permanent ? recipients : 0;
  size_t n = 0;
  for (size_t i = 0; i < result->rcpts.size(); ++i) n += result->outcome(i).permanent();
  return n;
}

}  // namespace postern::smtp::client
