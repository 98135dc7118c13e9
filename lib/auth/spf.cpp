// SPF (RFC 7208): check_host(), the record parser, the macro expander, and reporting.
// See spf.h.
#include "auth/spf.h"
#include "mail/header.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace postern::auth {
namespace {

using base::Error;
using base::Result;
using base::Task;
using dns::Answer;
using dns::RrType;
using dns::Status;

constexpr int kMaxDnsMechanisms = 10;  // RFC 7208 4.6.4
constexpr int kMaxVoidLookups = 2;     // RFC 7208 4.6.4
constexpr size_t kMaxMxNames = 10;     // RFC 7208 4.6.4
constexpr size_t kMaxPtrNames = 10;    // RFC 7208 4.6.4

bool is_alpha(char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alnum(char c) { return is_alpha(c) || is_digit(c); }

Error syntax(std::string m) { return Error::bad_data(std::move(m)); }

// ---- addresses ----

std::string reverse_name(const IpAddress& ip) {
  std::string out;
  char buf[8];
  if (!ip.v6) {
    for (int i = 3; i >= 0; --i) {
      out += std::to_string(ip.bytes[i]);
      out += '.';
    }
    return out + "in-addr.arpa";
  }
  for (int i = 15; i >= 0; --i) {
    std::snprintf(buf, sizeof buf, "%x.%x.", ip.bytes[i] & 0xf, ip.bytes[i] >> 4);
    out += buf;
  }
  return out + "ip6.arpa";
}

// RFC 7208 7.3: %{i} — dotted quad, or 32 dot-separated nibbles for IPv6.
std::string dotted_ip(const IpAddress& ip) {
  if (!ip.v6) return ip.to_string();
  std::string out;
  char buf[8];
  for (int i = 0; i < 16; ++i) {
    std::snprintf(buf, sizeof buf, "%x.%x", ip.bytes[i] >> 4, ip.bytes[i] & 0xf);
    if (i) out += '.';
    out += buf;
  }
  return out;
}

// ---- domains ----

// RFC 7208 4.3: a well-formed, multi-label domain name (labels ≤ 63, none empty).
bool is_valid_domain(std::string_view d) {
  if (!d.empty() && d.back() == '.') d.remove_suffix(1);
  if (d.empty() || d.size() > 253 || d.front() == '[') return false;
  size_t labels = 0;
  size_t start = 0;
  while (true) {
    size_t dot = d.find('.', start);
    size_t len = (dot == std::string_view::npos ? d.size() : dot) - start;
    if (len == 0 || len > 63) return false;
    ++labels;
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return labels >= 2;
}

std::string strip_dot(std::string s) {
  while (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

// RFC 7208 7.1: toplabel = ( *alphanum ALPHA *alphanum ) /
//                          ( 1*alphanum "-" *( alphanum / "-" ) alphanum )
bool is_toplabel(std::string_view s) {
  if (s.empty()) return false;
  bool alpha = false, hyphen = false;
  for (char c : s) {
    if (is_alpha(c)) {
      alpha = true;
    } else if (c == '-') {
      hyphen = true;
    } else if (!is_digit(c)) {
      return false;
    }
  }
  if (!hyphen) return alpha;
  return is_alnum(s.front()) && is_alnum(s.back());
}

bool is_delimiter(char c) { return std::string_view(".-+,/_=").find(c) != std::string_view::npos; }

// One macro-expand at s[i] == '%' (RFC 7208 7.1). Returns the index after it, or an error.
struct MacroToken {
  size_t end = 0;
  char literal = 0;        // '%', ' ' or 0 for "%-" / a letter macro
  bool url_space = false;  // "%-"
  char letter = 0;         // as written (upper case: URL-encode)
  long digits = 0;         // 0: all parts
  bool reverse = false;
  std::string delimiters;
};

Result<MacroToken> scan_macro(std::string_view s, size_t i) {
  MacroToken t;
  if (i + 1 >= s.size()) return syntax("'%' at the end of a macro-string");
  char n = s[i + 1];
  if (n == '%' || n == '_' || n == '-') {
    t.end = i + 2;
    t.literal = n == '%' ? '%' : ' ';
    t.url_space = n == '-';
    return t;
  }
  if (n != '{') return syntax(std::string("'%' followed by '") + n + "' (RFC 7208 7.1)");
  size_t j = i + 2;
  if (j >= s.size()) return syntax("unterminated macro");
  t.letter = s[j++];
  if (std::string_view("slodiphcrtv")
          .find(static_cast<char>(std::tolower(static_cast<unsigned char>(t.letter)))) ==
      std::string_view::npos) {
    return syntax(std::string("unknown macro letter '") + t.letter + "'");
  }
  size_t digit_start = j;
  while (j < s.size() && is_digit(s[j])) {
    if (t.digits < 1000) t.digits = t.digits * 10 + (s[j] - '0');
    ++j;
  }
  if (j > digit_start && t.digits == 0) return syntax("macro transformer of zero (RFC 7208 7.3)");
  if (j < s.size() && (s[j] == 'r' || s[j] == 'R')) {
    t.reverse = true;
    ++j;
  }
  while (j < s.size() && is_delimiter(s[j])) t.delimiters += s[j++];
  if (j >= s.size() || s[j] != '}') return syntax("malformed macro");
  t.end = j + 1;
  return t;
}

bool is_exp_only_letter(char letter) {
  char l = static_cast<char>(std::tolower(static_cast<unsigned char>(letter)));
  return l == 'c' || l == 'r' || l == 't';
}

// Validates a macro-string; returns the index just after its last macro-expand (0: none).
Result<size_t> scan_macro_string(std::string_view s, bool exp_letters) {
  size_t last_macro_end = 0;
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '%') {
      auto t = scan_macro(s, i);
      if (!t) return t.error();
      if (t->letter && !exp_letters && is_exp_only_letter(t->letter)) {
        return syntax(std::string("macro letter '") + t->letter +
                      "' is allowed only in explanations (RFC 7208 7.2)");
      }
      i = t->end;
      last_macro_end = i;
    } else if (c < 0x21 || c > 0x7e) {
      return syntax("character outside visible ASCII in a macro-string");
    } else {
      ++i;
    }
  }
  return last_macro_end;
}

base::Status check_domain_spec_impl(std::string_view spec, bool exp_letters) {
  if (spec.empty()) return syntax("empty domain-spec");
  auto end = scan_macro_string(spec, exp_letters);
  if (!end) return end.error();
  // RFC 7208 7.1: domain-end = ( "." toplabel [ "." ] ) / macro-expand
  std::string_view tail = spec.substr(*end);
  if (tail.empty()) return {};
  if (tail.back() == '.') tail.remove_suffix(1);
  size_t dot = tail.rfind('.');
  if (dot == std::string_view::npos || !is_toplabel(tail.substr(dot + 1))) {
    return syntax("domain-spec '" + std::string(spec) + "' does not end in a top label");
  }
  return {};
}

// RFC 3986 2.3 unreserved characters stay; everything else is %XX (RFC 7208 7.3).
std::string url_encode(std::string_view s) {
  std::string out;
  char buf[4];
  for (unsigned char c : s) {
    if (is_alnum(static_cast<char>(c)) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

// RFC 7208 7.3: split on the delimiters, optionally reverse, keep the rightmost parts,
// join with ".".
std::string transform(std::string_view value, const MacroToken& t) {
  std::string delims = t.delimiters.empty() ? "." : t.delimiters;
  std::vector<std::string_view> parts;
  size_t start = 0;
  for (size_t i = 0; i <= value.size(); ++i) {
    if (i == value.size() || delims.find(value[i]) != std::string::npos) {
      parts.push_back(value.substr(start, i - start));
      start = i + 1;
    }
  }
  if (t.reverse) std::reverse(parts.begin(), parts.end());
  size_t keep = parts.size();
  if (t.digits > 0 && static_cast<size_t>(t.digits) < keep) keep = static_cast<size_t>(t.digits);
  std::string out;
  for (size_t i = parts.size() - keep; i < parts.size(); ++i) {
    if (i > parts.size() - keep) out += '.';
    out += parts[i];
  }
  return out;
}

// ---- DNS ----

bool is_failure(const Answer& a) {
  return a.status == Status::kServFail || a.status == Status::kTimeout;
}

std::string dns_problem(std::string_view name, RrType type, const Answer& a) {
  std::string m = "DNS " + std::string(dns::type_name(type)) + " lookup of " + std::string(name) +
                  ": " + std::string(dns::status_name(a.status));
  if (!a.why.empty()) m += " (" + a.why + ")";
  return m;
}

// The evaluation's state, shared by the recursion (RFC 7208 4.6.4 counts across it).
struct Context {
  dns::Resolver& resolver;
  const SpfRequest& request;
  MacroValues values;  // d and p change as evaluation goes
  int dns_mechanisms = 0;
  int void_lookups = 0;
};

struct Outcome {
  SpfCode code = SpfCode::kNone;
  std::string mechanism;
  std::string explanation;
  std::string problem;
};

Outcome make(SpfCode code, std::string problem) {
  Outcome o;
  o.code = code;
  o.problem = std::move(problem);
  return o;
}

SpfCode from_qualifier(char q) {
  switch (q) {
    case '-':
      return SpfCode::kFail;
    case '~':
      return SpfCode::kSoftFail;
    case '?':
      return SpfCode::kNeutral;
    default:
      return SpfCode::kPass;
  }
}

// RFC 7208 4.6.4: counts a term that causes DNS queries.
bool count_dns_mechanism(Context& c) { return ++c.dns_mechanisms <= kMaxDnsMechanisms; }

// RFC 7208 4.6.4: counts an answer with no records; false once over the limit.
bool count_void(Context& c, const Answer& a) {
  if (a.status == Status::kNxDomain || (a.status == Status::kNoData) ||
      (a.status == Status::kOk && a.records.empty())) {
    return ++c.void_lookups <= kMaxVoidLookups;
  }
  return true;
}

bool domain_matches(const std::string& name, const std::string& target) {
  std::string n = mail::to_lower(strip_dot(name)), t = mail::to_lower(strip_dot(target));
  return n == t || (n.size() > t.size() && n.compare(n.size() - t.size(), t.size(), t) == 0 &&
                    n[n.size() - t.size() - 1] == '.');
}

Task<bool> address_matches(Context& c, std::string host, bool* temp_error) {
  RrType type = c.request.ip.v6 ? RrType::kAaaa : RrType::kA;
  Answer a = co_await c.resolver.lookup(host, type);
  if (is_failure(a)) *temp_error = true;
  for (const auto& r : a.records) {
    auto ip = IpAddress::parse(r.text);
    if (ip && *ip == c.request.ip) co_return true;
  }
  co_return false;
}

// RFC 7208 5.5: the validated names of the client IP; with `target`, only those that
// equal it or are below it (that is all the ptr mechanism needs). DNS errors skip names.
Task<std::vector<std::string>> validated_names(Context& c, std::optional<std::string> target,
                                               bool* void_lookup) {
  std::vector<std::string> out;
  std::string rname = reverse_name(c.request.ip);
  Answer a = co_await c.resolver.lookup(rname, RrType::kPtr);
  if (void_lookup) *void_lookup = a.status == Status::kNxDomain || a.status == Status::kNoData;
  if (a.status != Status::kOk) co_return out;
  size_t n = 0;
  for (const auto& r : a.records) {
    if (n++ >= kMaxPtrNames) break;  // RFC 7208 4.6.4: the rest are ignored
    if (target && !domain_matches(r.text, *target)) continue;
    bool temp = false;
    if (co_await address_matches(c, r.text, &temp)) out.push_back(strip_dot(r.text));
  }
  co_return out;
}

// RFC 7208 7.3: %{p} — a validated name, preferably %{d} or below it, else "unknown".
Task<std::string> ptr_value(Context& c) {
  std::vector<std::string> names = co_await validated_names(c, std::nullopt, nullptr);
  for (const auto& n : names) {
    if (domain_matches(n, c.values.domain)) co_return n;
  }
  co_return names.empty() ? std::string("unknown") : names.front();
}

Task<Result<std::string>> expand(Context& c, std::string spec, bool exp_text) {
  // %{p} prefers a name at or below %{d}, so it is computed where it is used.
  if (uses_ptr_macro(spec)) c.values.ptr = co_await ptr_value(c);
  co_return expand_macros(spec, c.values, exp_text);
}

struct Fetched {
  SpfCode code = SpfCode::kNone;  // kNone with text: found
  std::string text;
  std::string problem;
};

// RFC 7208 4.4, 4.5: the domain's one SPF record.
Task<Fetched> fetch_record(Context& c, std::string domain) {
  Fetched f;
  Answer a = co_await c.resolver.lookup(domain, RrType::kTxt);
  if (is_failure(a)) {
    f.code = SpfCode::kTempError;
    f.problem = dns_problem(domain, RrType::kTxt, a);
    co_return f;
  }
  std::vector<std::string> found;
  for (const auto& r : a.records) {
    std::string text;
    for (const auto& s : r.strings) text += s;  // RFC 7208 3.3: joined, nothing between
    if (r.strings.empty()) text = r.text;
    if (is_spf_record(text)) found.push_back(std::move(text));
  }
  if (found.empty()) {
    f.problem = "no SPF record at " + domain;
    co_return f;
  }
  if (found.size() > 1) {
    f.code = SpfCode::kPermError;
    f.problem = "more than one SPF record at " + domain + " (RFC 7208 4.5)";
    co_return f;
  }
  f.text = std::move(found.front());
  f.code = SpfCode::kNeutral;  // marker: a record was found
  co_return f;
}

// RFC 7208 6.2: the explanation, or "" whenever anything about it goes wrong.
Task<std::string> explain(Context& c, std::string exp_spec) {
  auto name = co_await expand(c, exp_spec, false);
  if (!name || name->empty()) co_return std::string();
  Answer a = co_await c.resolver.lookup(*name, RrType::kTxt);
  if (a.status != Status::kOk || a.records.size() != 1) co_return std::string();
  std::string text;
  for (const auto& s : a.records[0].strings) text += s;
  if (a.records[0].strings.empty()) text = a.records[0].text;
  for (unsigned char ch : text) {
    if (ch > 0x7e || (ch < 0x20)) co_return std::string();  // must be US-ASCII
  }
  if (uses_ptr_macro(text)) c.values.ptr = co_await ptr_value(c);
  auto out = expand_macros(text, c.values, true);
  co_return out ? *out : std::string();
}

Task<Outcome> evaluate(Context& c, std::string domain, bool want_exp);

// RFC 7208 5: does this mechanism match? Sets `stop` to an error outcome when evaluation
// must end (temperror, permerror).
Task<bool> matches(Context& c, const SpfMechanism& m, const std::string& domain,
                   std::optional<Outcome>& stop) {
  using K = SpfMechanismKind;
  const IpAddress& ip = c.request.ip;
  switch (m.kind) {
    case K::kAll:
      co_return true;
    case K::kIp4:
      co_return !ip.v6 && ip.in_network(m.network, m.cidr4);
    case K::kIp6:
      co_return ip.v6&& ip.in_network(m.network, m.cidr6);
    default:
      break;
  }
  if (!count_dns_mechanism(c)) {
    stop = make(SpfCode::kPermError, "more than 10 DNS-querying terms (RFC 7208 4.6.4)");
    co_return false;
  }
  std::string target = domain;
  if (!m.domain_spec.empty()) {
    auto t = co_await expand(c, m.domain_spec, false);
    if (!t) {
      stop = make(SpfCode::kPermError, t.error().message());
      co_return false;
    }
    target = *t;
  }
  // A target no DNS query can be composed from (an empty label, a label over 63
  // characters) is treated like a name that does not exist: the mechanism does not
  // match (RFC 7208 4.3 and 4.8 by analogy; the suite's "invalid-domain-*" cases prefer
  // this over permerror). include: of such a name has no record, hence permerror.
  if (!is_valid_domain(target)) {
    if (m.kind == K::kInclude) {
      stop = make(SpfCode::kPermError, "include:" + target + " is not a valid domain name");
    }
    co_return false;
  }
  auto void_limit = [&]() {
    stop = make(SpfCode::kPermError, "more than 2 void lookups (RFC 7208 4.6.4)");
  };
  switch (m.kind) {
    case K::kInclude: {  // RFC 7208 5.2
      Outcome o = co_await evaluate(c, target, false);
      switch (o.code) {
        case SpfCode::kPass:
          co_return true;
        case SpfCode::kTempError:
        case SpfCode::kPermError:
          stop = std::move(o);
          co_return false;
        case SpfCode::kNone:
          stop = make(SpfCode::kPermError, "include:" + target + " has no SPF record");
          co_return false;
        default:
          co_return false;
      }
    }
    case K::kA: {  // RFC 7208 5.3
      RrType type = ip.v6 ? RrType::kAaaa : RrType::kA;
      Answer a = co_await c.resolver.lookup(target, type);
      if (is_failure(a)) {
        stop = make(SpfCode::kTempError, dns_problem(target, type, a));
        co_return false;
      }
      if (!count_void(c, a)) {
        void_limit();
        co_return false;
      }
      for (const auto& r : a.records) {
        auto addr = IpAddress::parse(r.text);
        if (addr && ip.in_network(*addr, ip.v6 ? m.cidr6 : m.cidr4)) co_return true;
      }
      co_return false;
    }
    case K::kMx: {  // RFC 7208 5.4
      Answer a = co_await c.resolver.lookup(target, RrType::kMx);
      if (is_failure(a)) {
        stop = make(SpfCode::kTempError, dns_problem(target, RrType::kMx, a));
        co_return false;
      }
      if (!count_void(c, a)) {
        void_limit();
        co_return false;
      }
      if (a.records.size() > kMaxMxNames) {
        stop = make(SpfCode::kPermError,
                    "mx:" + target + " has more than 10 MX records (RFC 7208 4.6.4)");
        co_return false;
      }
      RrType type = ip.v6 ? RrType::kAaaa : RrType::kA;
      for (const auto& mx : a.records) {
        Answer h = co_await c.resolver.lookup(mx.text, type);
        if (is_failure(h)) {
          stop = make(SpfCode::kTempError, dns_problem(mx.text, type, h));
          co_return false;
        }
        for (const auto& r : h.records) {
          auto addr = IpAddress::parse(r.text);
          if (addr && ip.in_network(*addr, ip.v6 ? m.cidr6 : m.cidr4)) co_return true;
        }
      }
      co_return false;
    }
    case K::kPtr: {  // RFC 7208 5.5
      bool void_lookup = false;
      auto names = co_await validated_names(c, target, &void_lookup);
      if (void_lookup && ++c.void_lookups > kMaxVoidLookups) {
        void_limit();
        co_return false;
      }
      co_return !names.empty();
    }
    case K::kExists: {  // RFC 7208 5.7: always an A query
      Answer a = co_await c.resolver.lookup(target, RrType::kA);
      if (is_failure(a)) {
        stop = make(SpfCode::kTempError, dns_problem(target, RrType::kA, a));
        co_return false;
      }
      if (!count_void(c, a)) {
        void_limit();
        co_return false;
      }
      co_return !a.records.empty();
    }
    default:
      co_return false;
  }
}

// RFC 7208 4.6: fetch, parse and evaluate the record of `domain`.
Task<Outcome> evaluate(Context& c, std::string domain, bool want_exp) {
  domain = strip_dot(domain);
  Fetched f = co_await fetch_record(c, domain);
  if (f.code != SpfCode::kNeutral) co_return make(f.code, f.problem);
  auto rec = parse_spf_record(f.text);
  if (!rec)
    co_return make(SpfCode::kPermError, "SPF record of " + domain + ": " + rec.error().message());
  std::string saved_domain = c.values.domain;
  c.values.domain = domain;
  struct Restore {
    Context& c;
    std::string d;
    ~Restore() { c.values.domain = d; }
  } restore{c, saved_domain};

  for (const auto& m : rec->mechanisms) {
    std::optional<Outcome> stop;
    bool hit = co_await matches(c, m, domain, stop);
    if (stop) co_return std::move(*stop);
    if (!hit) continue;
    Outcome o;
    o.code = from_qualifier(m.qualifier);
    o.mechanism = m.text;
    if (o.code == SpfCode::kFail && want_exp && rec->exp)
      o.explanation = co_await explain(c, *rec->exp);
    co_return o;
  }
  if (rec->redirect) {  // RFC 7208 6.1
    if (!count_dns_mechanism(c)) {
      co_return make(SpfCode::kPermError, "more than 10 DNS-querying terms (RFC 7208 4.6.4)");
    }
    auto target = co_await expand(c, *rec->redirect, false);
    if (!target) co_return make(SpfCode::kPermError, target.error().message());
    if (!is_valid_domain(*target)) {
      co_return make(SpfCode::kPermError, "redirect=" + *target + " is not a valid domain name");
    }
    Outcome o = co_await evaluate(c, *target, want_exp);
    if (o.code == SpfCode::kNone) {
      co_return make(SpfCode::kPermError, "redirect=" + *target + " has no SPF record");
    }
    co_return o;
  }
  Outcome o;  // RFC 7208 4.7: nothing matched
  o.code = SpfCode::kNeutral;
  o.mechanism = "default";
  co_return o;
}

std::string quote_value(std::string_view v) {
  // RFC 7208 9.1: key-value-pair values are dot-atoms or quoted-strings.
  bool atom =
      !v.empty() && v.front() != '.' && v.back() != '.' && v.find("..") == std::string_view::npos;
  for (unsigned char ch : v) {
    if (!(is_alnum(static_cast<char>(ch)) ||
          std::string_view("!#$%&'*+-/=?^_`{|}~.").find(static_cast<char>(ch)) !=
              std::string_view::npos)) {
      atom = false;
    }
  }
  if (atom) return std::string(v);
  std::string out = "\"";
  for (char ch : v) {
    if (ch == '"' || ch == '\\') out += '\\';
    out += (ch == '\r' || ch == '\n') ? ' ' : ch;
  }
  return out + "\"";
}

std::string comment_text(std::string_view v) {
  std::string out;
  for (char ch : v) {
    if (ch == '(' || ch == ')' || ch == '\\') out += '\\';
    out += (ch == '\r' || ch == '\n') ? ' ' : ch;
  }
  return out;
}

// The sender and its domain for a request (RFC 7208 2.4, 4.3).
void sender_of(const SpfRequest& req, std::string* sender, std::string* local,
               std::string* domain) {
  std::string s = req.identity == SpfIdentity::kHelo || req.mail_from.empty()
                      ? "postmaster@" + req.helo
                      : req.mail_from;
  size_t at = s.rfind('@');
  if (at == std::string::npos) {
    *local = "postmaster";
    *domain = s;
  } else {
    *local = s.substr(0, at);
    *domain = s.substr(at + 1);
  }
  if (local->empty()) *local = "postmaster";  // RFC 7208 4.3
  *sender = *local + "@" + *domain;
}

}  // namespace

std::string_view spf_code_name(SpfCode code) {
  switch (code) {
    case SpfCode::kNone:
      return "none";
    case SpfCode::kNeutral:
      return "neutral";
    case SpfCode::kPass:
      return "pass";
    case SpfCode::kFail:
      return "fail";
    case SpfCode::kSoftFail:
      return "softfail";
    case SpfCode::kTempError:
      return "temperror";
    case SpfCode::kPermError:
      return "permerror";
  }
  return "none";
}

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  std::string s(text);
  IpAddress ip;
  if (::inet_pton(AF_INET, s.c_str(), ip.bytes.data()) == 1) return ip;
  if (::inet_pton(AF_INET6, s.c_str(), ip.bytes.data()) != 1) return std::nullopt;
  static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::equal(kMapped, kMapped + 12, ip.bytes.begin())) {  // RFC 7208 5
    IpAddress v4;
    std::copy(ip.bytes.begin() + 12, ip.bytes.end(), v4.bytes.begin());
    return v4;
  }
  ip.v6 = true;
  return ip;
}

std::string IpAddress::to_string() const {
  char buf[INET6_ADDRSTRLEN];
  ::inet_ntop(v6 ? AF_INET6 : AF_INET, bytes.data(), buf, sizeof buf);
  return buf;
}

bool IpAddress::in_network(const IpAddress& net, int bits) const {
  if (v6 != net.v6) return false;
  int max = v6 ? 128 : 32;
  bits = std::clamp(bits, 0, max);
  for (int i = 0; i < bits / 8; ++i) {
    if (bytes[i] != net.bytes[i]) return false;
  }
  if (bits % 8) {
    uint8_t mask = static_cast<uint8_t>(0xff << (8 - bits % 8));
    if ((bytes[bits / 8] & mask) != (net.bytes[bits / 8] & mask)) return false;
  }
  return true;
}

bool is_spf_record(std::string_view txt) {
  // RFC 7208 4.5: "v=spf1" (case-insensitive) followed by SP or the end.
  return txt.size() >= 6 && mail::iequals(txt.substr(0, 6), "v=spf1") &&
         (txt.size() == 6 || txt[6] == ' ');
}

base::Status check_domain_spec(std::string_view spec) {
  return check_domain_spec_impl(spec, false);
}

bool uses_ptr_macro(std::string_view s) {
  for (size_t i = 0; i + 2 < s.size(); ++i) {
    if (s[i] == '%') {
      if (s[i + 1] == '{' && (s[i + 2] == 'p' || s[i + 2] == 'P')) return true;
      ++i;  // skip "%%" and friends
    }
  }
  return false;
}

namespace {

// RFC 7208 4.6.1 / 5.6: ip4-cidr-length = "/" ( "0" / %x31-39 0*1DIGIT ), same for ip6
// with up to 3 digits; returns -1 when malformed or too large.
int parse_cidr(std::string_view s, int max) {
  if (s.empty() || s.size() > 3) return -1;
  if (s.size() > 1 && s[0] == '0') return -1;
  int v = 0;
  for (char ch : s) {
    if (!is_digit(ch)) return -1;
    v = v * 10 + (ch - '0');
  }
  return v <= max ? v : -1;
}

// Where a dual-cidr-length suffix ("/N", "//N", "/N//N") starts, or npos. A domain-spec
// may itself contain '/' (any visible character but '%', RFC 7208 7.1), so the suffix is
// the first '/' outside macros after which only the CIDR grammar follows.
size_t find_cidr(std::string_view s) {
  auto is_cidr_suffix = [](std::string_view t) {
    size_t i = 0;
    auto digits = [&] {
      size_t start = i;
      while (i < t.size() && is_digit(t[i])) ++i;
      return i > start;
    };
    if (t.substr(0, 2) != "//") {
      if (t.empty() || t[0] != '/') return false;
      ++i;
      if (!digits()) return false;
      if (i == t.size()) return true;
    }
    if (t.substr(i, 2) != "//") return false;
    i += 2;
    return digits() && i == t.size();
  };
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 1 < s.size() && s[i + 1] == '{') {
      size_t close = s.find('}', i);
      if (close == std::string_view::npos) return std::string_view::npos;
      i = close;
    } else if (s[i] == '%') {
      ++i;
    } else if (s[i] == '/' && is_cidr_suffix(s.substr(i))) {
      return i;
    }
  }
  return std::string_view::npos;
}

// dual-cidr-length = [ ip4-cidr-length ] [ "/" ip6-cidr-length ]
base::Status parse_dual_cidr(std::string_view s, SpfMechanism& m) {
  if (s.empty()) return {};
  size_t dd = s.find("//");
  std::string_view v4 = dd == std::string_view::npos ? s : s.substr(0, dd);
  std::string_view v6 = dd == std::string_view::npos ? std::string_view() : s.substr(dd + 2);
  if (!v4.empty()) {
    if (v4[0] != '/') return syntax("bad CIDR length");
    m.cidr4 = parse_cidr(v4.substr(1), 32);
    if (m.cidr4 < 0) return syntax("bad IPv4 CIDR length in " + m.text);
  }
  if (dd != std::string_view::npos) {
    m.cidr6 = parse_cidr(v6, 128);
    if (m.cidr6 < 0) return syntax("bad IPv6 CIDR length in " + m.text);
  }
  return {};
}

bool is_modifier_name(std::string_view n) {
  if (n.empty() || !is_alpha(n[0])) return false;
  for (char ch : n) {
    if (!is_alnum(ch) && ch != '-' && ch != '_' && ch != '.') return false;
  }
  return true;
}

}  // namespace

base::Result<SpfRecord> parse_spf_record(std::string_view text) {
  if (!is_spf_record(text)) return syntax("not an SPF record (no v=spf1)");
  SpfRecord rec;
  std::string_view rest = text.substr(6);
  // RFC 7208 4.6.1: terms = *( 1*SP ( directive / modifier ) ), then *SP.
  size_t i = 0;
  while (i < rest.size()) {
    if (rest[i] == ' ') {
      ++i;
      continue;
    }
    size_t end = rest.find(' ', i);
    if (end == std::string_view::npos) end = rest.size();
    std::string_view term = rest.substr(i, end - i);
    i = end;

    size_t name_end = 0;
    while (name_end < term.size() && (is_alnum(term[name_end]) || term[name_end] == '-' ||
                                      term[name_end] == '_' || term[name_end] == '.')) {
      ++name_end;
    }
    if (name_end < term.size() && term[name_end] == '=' &&
        is_modifier_name(term.substr(0, name_end))) {
      // RFC 7208 6: modifier = name "=" macro-string
      std::string name = mail::to_lower(term.substr(0, name_end));
      std::string_view value = term.substr(name_end + 1);
      if (name == "redirect" || name == "exp") {
        auto& slot = name == "redirect" ? rec.redirect : rec.exp;
        if (slot) return syntax("more than one " + name + "= modifier (RFC 7208 6)");
        if (auto st = check_domain_spec(value); !st) return st.error();
        slot = std::string(value);
      } else {
        auto st = scan_macro_string(value, true);  // RFC 7208 6: unknown modifiers ignored
        if (!st) return st.error();
      }
      continue;
    }

    SpfMechanism m;
    m.text = std::string(term);
    std::string_view t = term;
    if (!t.empty() && std::string_view("+-~?").find(t[0]) != std::string_view::npos) {
      m.qualifier = t[0];
      t.remove_prefix(1);
    }
    size_t n = 0;
    while (n < t.size() && is_alnum(t[n])) ++n;
    std::string name = mail::to_lower(t.substr(0, n));
    std::string_view arg = t.substr(n);  // ":..." or "/..." or ""
    using K = SpfMechanismKind;
    auto domain_and_cidr = [&](bool cidr_allowed, bool domain_required) -> base::Status {
      std::string_view spec;
      std::string_view cidr;
      if (!arg.empty() && arg[0] == ':') {
        std::string_view a = arg.substr(1);
        size_t slash = cidr_allowed ? find_cidr(a) : std::string_view::npos;
        spec = a.substr(0, slash);
        if (slash != std::string_view::npos) cidr = a.substr(slash);
        if (auto st = check_domain_spec(spec); !st) return st;
      } else if (!arg.empty() && arg[0] == '/' && cidr_allowed) {
        cidr = arg;
      } else if (!arg.empty()) {
        return syntax("unknown mechanism '" + m.text + "'");
      }
      if (domain_required && spec.empty()) return syntax(name + " needs a domain");
      m.domain_spec = std::string(spec);
      return parse_dual_cidr(cidr, m);
    };
    base::Status st;
    if (name == "all") {
      m.kind = K::kAll;
      if (!arg.empty()) return syntax("all takes no argument: " + m.text);
    } else if (name == "include") {
      m.kind = K::kInclude;
      st = domain_and_cidr(false, true);
    } else if (name == "a") {
      m.kind = K::kA;
      st = domain_and_cidr(true, false);
    } else if (name == "mx") {
      m.kind = K::kMx;
      st = domain_and_cidr(true, false);
    } else if (name == "ptr") {
      m.kind = K::kPtr;
      st = domain_and_cidr(false, false);
    } else if (name == "exists") {
      m.kind = K::kExists;
      st = domain_and_cidr(false, true);
    } else if (name == "ip4" || name == "ip6") {
      m.kind = name == "ip4" ? K::kIp4 : K::kIp6;
      if (arg.empty() || arg[0] != ':') return syntax(name + " needs an address: " + m.text);
      std::string_view a = arg.substr(1);
      size_t slash = a.find('/');
      std::string addr(a.substr(0, slash));
      int family = name == "ip4" ? AF_INET : AF_INET6;
      if (::inet_pton(family, addr.c_str(), m.network.bytes.data()) != 1) {
        return syntax("bad address in " + m.text);
      }
      m.network.v6 = family == AF_INET6;
      if (slash != std::string_view::npos) {
        int bits = parse_cidr(a.substr(slash + 1), name == "ip4" ? 32 : 128);
        if (bits < 0) return syntax("bad CIDR length in " + m.text);
        (name == "ip4" ? m.cidr4 : m.cidr6) = bits;
      }
    } else {
      return syntax("unknown mechanism '" + m.text + "'");
    }
    if (!st) return st.error();
    rec.mechanisms.push_back(std::move(m));
  }
  return rec;
}

base::Result<std::string> expand_macros(std::string_view s, const MacroValues& v, bool exp_text) {
  std::string out;
  for (size_t i = 0; i < s.size();) {
    unsigned char ch = static_cast<unsigned char>(s[i]);
    if (ch != '%') {
      if (ch > 0x7e || ch < 0x20 || (!exp_text && ch == ' ')) {
        return syntax("character outside visible ASCII in a macro-string");
      }
      out += static_cast<char>(ch);
      ++i;
      continue;
    }
    auto t = scan_macro(s, i);
    if (!t) return t.error();
    i = t->end;
    if (!t->letter) {
      out += t->url_space ? std::string("%20") : std::string(1, t->literal);
      continue;
    }
    char letter = static_cast<char>(std::tolower(static_cast<unsigned char>(t->letter)));
    if (!exp_text && is_exp_only_letter(letter)) {
      return syntax(std::string("macro letter '") + t->letter + "' outside an explanation");
    }
    std::string value;
    switch (letter) {
      case 's':
        value = v.sender;
        break;
      case 'l':
        value = v.local;
        break;
      case 'o':
        value = v.sender_domain;
        break;
      case 'd':
        value = v.domain;
        break;
      case 'i':
        value = dotted_ip(v.ip);
        break;
      case 'p':
        value = v.ptr;
        break;
      case 'h':
        value = v.helo;
        break;
      case 'v':
        value = v.ip.v6 ? "ip6" : "in-addr";
        break;
      case 'c':
        value = v.ip.to_string();
        break;
      case 'r':
        value = v.receiver;
        break;
      case 't':
        value = std::to_string(v.now);
        break;
      default:
        return syntax("unknown macro letter");
    }
    value = transform(value, *t);
    if (std::isupper(static_cast<unsigned char>(t->letter))) value = url_encode(value);
    out += value;
  }
  if (!exp_text) {
    // RFC 7208 7.3: over 253 characters, labels are removed from the left.
    while (out.size() > 253) {
      size_t dot = out.find('.');
      if (dot == std::string::npos) {
        out.erase(0, out.size() - 253);
        break;
      }
      out.erase(0, dot + 1);
    }
  }
  return out;
}

base::Task<SpfResult> check_host(dns::Resolver& resolver, const SpfRequest& request) {
  SpfResult res;
  std::string local, domain;
  sender_of(request, &res.sender, &local, &domain);
  res.domain = strip_dot(domain);
  // RFC 7208 4.3: a malformed or single-label domain gives "none" without any lookup.
  if (!is_valid_domain(domain)) {
    res.code = SpfCode::kNone;
    res.problem = "'" + domain + "' is not a valid domain name (RFC 7208 4.3)";
    co_return res;
  }
  Context c{resolver, request, {}};
  c.values.sender = res.sender;
  c.values.local = local;
  c.values.sender_domain = res.domain;
  c.values.domain = res.domain;
  c.values.ip = request.ip;
  c.values.helo = request.helo;
  c.values.receiver = request.receiver;
  c.values.now = request.now;
  Outcome o = co_await evaluate(c, res.domain, true);
  res.code = o.code;
  res.mechanism = o.mechanism;
  res.explanation = o.code == SpfCode::kFail ? o.explanation : "";
  res.problem = o.problem;
  res.dns_mechanisms = c.dns_mechanisms;
  res.void_lookups = c.void_lookups;
  co_return res;
}

std::string format_received_spf(const SpfRequest& req, const SpfResult& res) {
  // RFC 7208 9.1: Received-SPF: result [comment] [key-value-list]
  std::string receiver = req.receiver.empty() ? "unknown" : req.receiver;
  std::string ip = req.ip.to_string();
  std::string why;
  switch (res.code) {
    case SpfCode::kPass:
      why = "domain of " + res.sender + " designates " + ip + " as permitted sender";
      break;
    case SpfCode::kFail:
      why = "domain of " + res.sender + " does not designate " + ip + " as permitted sender";
      break;
    case SpfCode::kSoftFail:
      why = "domain of transitioning " + res.sender + " does not designate " + ip +
            " as permitted sender";
      break;
    case SpfCode::kNeutral:
      why = ip + " is neither permitted nor denied by domain of " + res.sender;
      break;
    case SpfCode::kNone:
      why = "domain of " + res.sender + " does not provide an SPF record";
      break;
    case SpfCode::kTempError:
      why = "error in processing during lookup of " + res.sender;
      break;
    case SpfCode::kPermError:
      why = "permanent error in processing domain of " + res.sender;
      break;
  }
  std::string out = "Received-SPF: " + std::string(spf_code_name(res.code)) + " (" +
                    comment_text(receiver + ": " + why) + ")\r\n\t";
  out += "client-ip=" + quote_value(ip) + ";";
  std::string from =
      req.identity == SpfIdentity::kMailFrom && !req.mail_from.empty() ? req.mail_from : res.sender;
  out += " envelope-from=" + quote_value(from) + ";";
  if (!req.helo.empty()) out += " helo=" + quote_value(req.helo) + ";";
  out += "\r\n\treceiver=" + quote_value(receiver) + ";";
  out +=
      std::string(" identity=") + (req.identity == SpfIdentity::kHelo ? "helo" : "mailfrom") + ";";
  if (!res.mechanism.empty()) out += " mechanism=" + quote_value(res.mechanism) + ";";
  if (!res.problem.empty() &&
      (res.code == SpfCode::kPermError || res.code == SpfCode::kTempError)) {
    out += "\r\n\tproblem=" + quote_value(res.problem) + ";";
  }
  return out + "\r\n";
}

ResultClause spf_result_clause(const SpfRequest& req, const SpfResult& res) {
  ResultClause c;
  c.method = "spf";
  c.result = std::string(spf_code_name(res.code));
  if (res.code == SpfCode::kPermError || res.code == SpfCode::kTempError) {
    c.reason = res.problem;
  } else if (!res.mechanism.empty()) {
    c.comment = "mechanism " + res.mechanism + " matched";
  }
  // RFC 8601 2.7.2: smtp.mailfrom for the MAIL FROM identity, smtp.helo for HELO.
  if (req.identity == SpfIdentity::kHelo) {
    c.props.emplace_back("smtp.helo", req.helo);
  } else {
    c.props.emplace_back("smtp.mailfrom", res.sender);
  }
  return c;
}

}  // namespace postern::auth
