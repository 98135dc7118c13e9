#include "auth/dmarc.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <random>
#include <utility>

#include "auth/lexical.h"
#include "mail/header.h"

namespace postern::auth::dmarc {
namespace {

std::string_view trim(std::string_view s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return {};
  size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

std::optional<Policy> parse_policy(std::string_view v) {
  std::string l = mail::to_lower(trim(v));
  if (l == "none") return Policy::kNone;
  if (l == "quarantine") return Policy::kQuarantine;
  if (l == "reject") return Policy::kReject;
  return std::nullopt;
}

std::optional<uint32_t> parse_uint(std::string_view v) {
  v = trim(v);
  uint32_t n = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (v.empty() || ec != std::errc() || p != v.data() + v.size()) return std::nullopt;
  return n;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  while (true) {
    size_t p = s.find(sep);
    out.push_back(trim(s.substr(0, p)));
    if (p == std::string_view::npos) return out;
    s.remove_prefix(p + 1);
  }
}

// RFC 7489 6.4 dmarc-uri: a URI (scheme ":" ...) with an optional "!" size. Only the
// shape is checked; reports are not sent from here.
std::optional<std::vector<std::string>> parse_uris(std::string_view v) {
  std::vector<std::string> out;
  for (std::string_view u : split(v, ',')) {
    size_t colon = u.find(':');
    if (u.empty() || colon == 0 || colon == std::string_view::npos ||
        !std::isalpha(static_cast<unsigned char>(u[0]))) {
      return std::nullopt;
    }
    out.emplace_back(u);
  }
  return out;
}

// A tag=value list (RFC 7489 6.4, after RFC 6376 3.2): names and values trimmed.
std::optional<std::vector<std::pair<std::string, std::string_view>>> tag_list(
    std::string_view txt) {
  std::vector<std::pair<std::string, std::string_view>> tags;
  for (std::string_view part : split(txt, ';')) {
    if (part.empty()) continue;  // a trailing ";" or ";;"
    size_t eq = part.find('=');
    if (eq == std::string_view::npos) return std::nullopt;
    std::string name = mail::to_lower(trim(part.substr(0, eq)));
    if (name.empty()) return std::nullopt;
    tags.emplace_back(std::move(name), trim(part.substr(eq + 1)));
  }
  return tags;
}

std::string domain_of(std::string_view address) {
  size_t at = address.rfind('@');
  std::string_view d = at == std::string_view::npos ? address : address.substr(at + 1);
  d = trim(d);
  while (!d.empty() && (d.back() == '>' || d.back() == '"')) d.remove_suffix(1);
  return to_ascii_domain(d).value_or(mail::to_lower(d));
}

// A lower-case A-label name with at least two labels. to_ascii_domain() passes any ASCII
// through: a From "domain" with spaces, controls or NUL bytes is no domain name and must
// never become a DNS query (a NUL would cut the name short).
bool is_domain_name(std::string_view d) {
  bool ldh = std::all_of(d.begin(), d.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
  });
  return ldh && !d.empty() && d.find('.') != std::string_view::npos;
}

std::optional<SpfCode> spf_code(std::string_view word) {
  for (SpfCode c : {SpfCode::kNone, SpfCode::kNeutral, SpfCode::kPass, SpfCode::kFail,
                    SpfCode::kSoftFail, SpfCode::kTempError, SpfCode::kPermError}) {
    if (mail::to_lower(word) == spf_code_name(c)) return c;
  }
  return std::nullopt;
}

struct Discovery {
  enum Kind { kFound, kAbsent, kMultiple, kTempError, kPermError } kind = kAbsent;
  Record record;
  std::string problem;
};

// RFC 7489 6.6.3 steps 1-2 and 5 for one name.
base::Task<Discovery> discover(dns::Resolver& resolver, std::string domain) {
  Discovery d;
  dns::Answer a = co_await resolver.lookup("_dmarc." + domain, dns::RrType::kTxt);
  if (!a.definite()) {
    d.kind = Discovery::kTempError;
    d.problem = "DNS " + std::string(dns::status_name(a.status)) + " for _dmarc." + domain;
    co_return d;
  }
  std::vector<std::string> found;
  for (const auto& r : a.records) {
    if (is_dmarc_record(r.text)) found.push_back(r.text);
  }
  if (found.empty()) co_return d;
  if (found.size() > 1) {
    d.kind = Discovery::kMultiple;
    d.problem = "more than one DMARC record at _dmarc." + domain;
    co_return d;
  }
  auto rec = parse_record(found.front());
  if (!rec) {
    d.kind = Discovery::kPermError;
    d.problem = rec.error().message();
    co_return d;
  }
  d.kind = Discovery::kFound;
  d.record = std::move(*rec);
  co_return d;
}

int default_roll() {
  thread_local std::mt19937 gen{std::random_device{}()};
  return std::uniform_int_distribution<int>(0, 99)(gen);
}

}  // namespace

std::string_view code_name(Code c) {
  switch (c) {
    case Code::kNone:
      return "none";
    case Code::kPass:
      return "pass";
    case Code::kFail:
      return "fail";
    case Code::kTempError:
      return "temperror";
    case Code::kPermError:
      return "permerror";
  }
  return "none";
}

std::string_view policy_name(Policy p) {
  switch (p) {
    case Policy::kNone:
      return "none";
    case Policy::kQuarantine:
      return "quarantine";
    case Policy::kReject:
      return "reject";
  }
  return "none";
}

bool is_dmarc_record(std::string_view txt) {
  // RFC 7489 6.4: dmarc-version = "v" *WSP "=" *WSP %x44.4d.41.52.43.31, first.
  txt = trim(txt);
  if (txt.empty() || (txt[0] != 'v' && txt[0] != 'V')) return false;
  txt = trim(txt.substr(1));
  if (!txt.starts_with('=')) return false;
  txt = trim(txt.substr(1));
  if (!txt.starts_with("DMARC1")) return false;
  txt.remove_prefix(6);
  txt = trim(txt);
  return txt.empty() || txt[0] == ';';
}

base::Result<Record> parse_record(std::string_view txt) {
  if (!is_dmarc_record(txt)) return base::Error::bad_data("not a DMARC record");
  auto tags = tag_list(txt);
  if (!tags) return base::Error::bad_data("DMARC record: malformed tag list");
  Record r;
  r.text = std::string(trim(txt));
  bool have_p = false;
  bool bad_sp = false;
  for (const auto& [name, value] : *tags) {
    if (name == "p") {
      if (auto p = parse_policy(value)) r.p = *p, have_p = true;
    } else if (name == "sp") {
      if (auto p = parse_policy(value))
        r.sp = *p;
      else
        bad_sp = true;
    } else if (name == "np") {
      if (auto p = parse_policy(value)) r.np = *p;
    } else if (name == "pct") {
      if (auto n = parse_uint(value); n && *n <= 100) r.pct = static_cast<int>(*n);
    } else if (name == "adkim" || name == "aspf") {
      std::string l = mail::to_lower(value);
      if (l == "s" || l == "r") {
        (name == "adkim" ? r.adkim : r.aspf) = l == "s" ? Alignment::kStrict : Alignment::kRelaxed;
      }
    } else if (name == "rua" || name == "ruf") {
      if (auto uris = parse_uris(value)) (name == "rua" ? r.rua : r.ruf) = std::move(*uris);
    } else if (name == "fo") {
      bool ok = !value.empty();
      for (std::string_view o : split(value, ':')) {
        ok = ok && (o == "0" || o == "1" || o == "d" || o == "s");
      }
      if (ok) r.fo = std::string(value);
    } else if (name == "rf") {
      if (!value.empty()) r.rf = mail::to_lower(value);
    } else if (name == "ri") {
      if (auto n = parse_uint(value)) r.ri = *n;
    }
    // v (already checked) and unknown tags: ignored (RFC 7489 6.3).
  }
  // RFC 7489 6.6.3 step 6: no valid p, or an invalid sp, is p=none when a valid rua exists,
  // and no DMARC processing otherwise.
  if (!have_p || bad_sp) {
    if (r.rua.empty()) {
      return base::Error::bad_data(!have_p ? "DMARC record: no valid p= tag"
                                           : "DMARC record: invalid sp= tag");
    }
    r.p = Policy::kNone;
    r.sp.reset();
    r.p_assumed = true;
  }
  return r;
}

base::Result<std::string> from_domain(std::string_view message) {
  std::optional<std::string_view> from;
  for (const auto& [name, value] : header_fields(message)) {
    if (!mail::iequals(name, "From")) continue;
    // RFC 7489 6.6.1: a message with several From fields is not valid RFC 5322 mail.
    if (from) return base::Error::bad_data("more than one From field");
    from = value;
  }
  if (!from) return base::Error::bad_data("no From field");
  std::string domain;
  for (const auto& a : mail::parse_address_list(*from).flatten()) {
    if (!a.address || a.address->find('@') == std::string::npos) continue;
    std::string d = domain_of(*a.address);
    if (d.empty()) continue;
    if (!domain.empty() && d != domain) {
      return base::Error::bad_data("From addresses in different domains");
    }
    domain = d;
  }
  if (domain.empty()) return base::Error::bad_data("no domain in the From field");
  if (!is_domain_name(domain)) {
    return base::Error::bad_data("the From domain is not a domain name: " + domain);
  }
  return domain;
}

std::string org_domain(std::string_view domain, const PublicSuffixList& psl) {
  std::string d = to_ascii_domain(domain).value_or(mail::to_lower(domain));
  return psl.organizational_domain(d).value_or(d);
}

bool aligned(std::string_view a, std::string_view b, Alignment mode, const PublicSuffixList& psl) {
  std::string x = to_ascii_domain(a).value_or(mail::to_lower(a));
  std::string y = to_ascii_domain(b).value_or(mail::to_lower(b));
  if (x.empty() || y.empty()) return false;
  if (mode == Alignment::kStrict) return x == y;    // RFC 7489 3.1.1, 3.1.2: exact match
  return org_domain(x, psl) == org_domain(y, psl);  // same Organizational Domain
}

base::Task<Evaluation> evaluate(dns::Resolver& resolver, const PublicSuffixList& psl, Request req) {
  Evaluation ev;
  ev.from_domain = to_ascii_domain(req.from_domain).value_or("");
  if (!is_domain_name(ev.from_domain)) {
    ev.result = Code::kPermError;
    ev.problem = "no usable From domain: " + req.from_domain;
    co_return ev;
  }
  ev.org_domain = org_domain(ev.from_domain, psl);
  // RFC 7489 6.6.3: the From domain first, then its Organizational Domain.
  Discovery d = co_await discover(resolver, ev.from_domain);
  ev.record_domain = ev.from_domain;
  if (d.kind == Discovery::kAbsent && ev.org_domain != ev.from_domain) {
    d = co_await discover(resolver, ev.org_domain);
    ev.record_domain = ev.org_domain;
    ev.subdomain_policy = true;
  }
  switch (d.kind) {
    case Discovery::kAbsent:
      ev.record_domain.clear();
      ev.subdomain_policy = false;
      ev.problem = "no DMARC record";
      co_return ev;
    case Discovery::kMultiple:  // RFC 7489 6.6.3 step 5: no DMARC processing
      ev.problem = d.problem;
      co_return ev;
    case Discovery::kTempError:
      ev.result = Code::kTempError;
      ev.problem = d.problem;
      co_return ev;
    case Discovery::kPermError:
      ev.result = Code::kPermError;
      ev.problem = d.problem;
      co_return ev;
    case Discovery::kFound:
      break;
  }
  const Record& r = *(ev.record = std::move(d.record));

  // RFC 7489 3.1.2: SPF counts only when it passed, for the MAIL FROM (or HELO) domain.
  ev.spf_aligned =
      req.spf == SpfCode::kPass && aligned(req.spf_domain, ev.from_domain, r.aspf, psl);
  // RFC 7489 3.1.1: any passing signature whose d= aligns.
  for (const auto& dkim_domain : req.dkim_pass_domains) {
    if (aligned(dkim_domain, ev.from_domain, r.adkim, psl)) {
      ev.dkim_aligned = true;
      ev.dkim_domain = to_ascii_domain(dkim_domain).value_or(mail::to_lower(dkim_domain));
      break;
    }
  }
  // RFC 7489 6.3 sp: the subdomain policy applies when the record came from the
  // Organizational Domain for a From domain below it.
  ev.requested = ev.subdomain_policy ? r.sp.value_or(r.p) : r.p;
  if (ev.spf_aligned || ev.dkim_aligned) {
    ev.result = Code::kPass;
    co_return ev;
  }
  ev.result = Code::kFail;
  // RFC 9091 4.1: np for a From domain that does not exist (NXDOMAIN for A, AAAA and
  // MX). Looked up only when it could matter: a failing subdomain under a record with np.
  if (ev.subdomain_policy && r.np) {
    bool exists = false;
    for (dns::RrType t : {dns::RrType::kA, dns::RrType::kAaaa, dns::RrType::kMx}) {
      dns::Answer a = co_await resolver.lookup(ev.from_domain, t);
      if (a.status != dns::Status::kNxDomain) {
        exists = true;
        break;
      }
    }
    if (!exists) {
      ev.requested = *r.np;
      ev.nonexistent_policy = true;
    }
  }
  // RFC 7489 6.6.4: pct sampling; an unsampled reject is treated as quarantine, an
  // unsampled quarantine as none (local classification).
  if (r.pct < 100) {
    int roll = req.roll ? req.roll() : default_roll();
    ev.sampled = roll < r.pct;
  }
  ev.policy = ev.requested;
  if (!ev.sampled) {
    ev.policy = ev.requested == Policy::kReject ? Policy::kQuarantine : Policy::kNone;
  }
  co_return ev;
}

ResultClause result_clause(const Evaluation& ev) {
  ResultClause c;
  c.method = "dmarc";
  c.result = std::string(code_name(ev.result));
  if (ev.record) {
    const Record& r = *ev.record;
    c.comment = "p=" + std::string(policy_name(r.p)) +
                " sp=" + std::string(policy_name(r.sp.value_or(r.p))) +
                " pct=" + std::to_string(r.pct);
  }
  if (ev.result == Code::kTempError || ev.result == Code::kPermError) c.reason = ev.problem;
  if (!ev.from_domain.empty()) c.props.emplace_back("header.from", ev.from_domain);
  if (ev.result == Code::kPass || ev.result == Code::kFail) {
    c.props.emplace_back("policy.dmarc", std::string(policy_name(ev.policy)));
  }
  return c;
}

UpstreamResults upstream_results(std::string_view message, std::string_view authserv_id) {
  UpstreamResults up;
  std::optional<std::pair<SpfCode, std::string>> received_spf;
  for (const auto& [name, value] : header_fields(message)) {
    if (mail::iequals(name, "Authentication-Results")) {
      ParsedResults pr = parse_authentication_results(value);
      if (!mail::iequals(pr.id, authserv_id)) continue;
      for (const auto& c : pr.clauses) {
        auto prop = [&](std::string_view k) -> std::string {
          for (const auto& [pk, pv] : c.props) {
            if (pk == k) return pv;
          }
          return "";
        };
        if (c.method == "spf" && !up.have_spf) {
          auto code = spf_code(c.result);
          std::string who = prop("smtp.mailfrom");
          if (who.empty()) who = prop("smtp.helo");
          if (!code) continue;
          up.have_spf = true;
          up.spf = *code;
          up.spf_domain = domain_of(who);
        } else if (c.method == "dkim") {
          std::string d = prop("header.d");
          if (d.empty()) d = domain_of(prop("header.i"));
          if (c.result == "pass" && !d.empty()) {
            up.dkim_pass_domains.push_back(to_ascii_domain(d).value_or(mail::to_lower(d)));
          }
        }
      }
      up.clauses.insert(up.clauses.end(), pr.clauses.begin(), pr.clauses.end());
    } else if (mail::iequals(name, "Received-SPF") && !received_spf) {
      // RFC 7208 9.1: result [comment] key=value; ... — ours when receiver= is us.
      std::string text = strip_comments(value);
      auto words = split_unquoted(text, " ;");
      if (words.empty()) continue;
      auto code = spf_code(words[0]);
      std::string receiver, from, identity = "mailfrom", helo;
      for (size_t i = 1; i < words.size(); ++i) {
        size_t e = words[i].find('=');
        if (e == std::string::npos) continue;
        std::string key = mail::to_lower(words[i].substr(0, e));
        std::string v = unquote(words[i].substr(e + 1));
        if (key == "receiver") receiver = v;
        if (key == "envelope-from") from = v;
        if (key == "identity") identity = mail::to_lower(v);
        if (key == "helo") helo = v;
      }
      if (!code || !mail::iequals(receiver, authserv_id)) continue;
      received_spf.emplace(*code, domain_of(identity == "helo" ? helo : from));
    }
  }
  if (!up.have_spf && received_spf) {
    up.have_spf = true;
    up.spf = received_spf->first;
    up.spf_domain = received_spf->second;
    ResultClause c{.method = "spf", .result = std::string(spf_code_name(up.spf))};
    if (!up.spf_domain.empty()) c.props.emplace_back("smtp.mailfrom", up.spf_domain);
    up.clauses.push_back(std::move(c));
  }
  return up;
}

}  // namespace postern::auth::dmarc
