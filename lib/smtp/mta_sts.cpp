// MTA-STS (RFC 8461): TXT record, policy, cache and the HTTPS fetch (libcurl).
#include "smtp/mta_sts.h"

#include <algorithm>
#include <cctype>
#include <mutex>

#include "base/task.h"
#include "dns/http_client.h"
#include "dns/zone_resolver.h"

namespace postern::smtp::mta_sts {

namespace {

bool is_alnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }
bool is_wsp(char c) { return c == ' ' || c == '\t'; }

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / "."): sts-ext-name (RFC 8461 3.1) and
// sts-policy-ext-name (3.2).
bool is_ext_name(std::string_view s) {
  if (s.empty() || s.size() > 32 || !is_alnum(s[0])) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return is_alnum(c) || c == '_' || c == '-' || c == '.'; });
}

// RFC 5321 4.1.2 Domain: sub-domain *("." sub-domain), sub-domain = Let-dig [Ldh-str].
bool is_domain(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  size_t start = 0;
  while (true) {
    size_t dot = s.find('.', start);
    std::string_view label = s.substr(start, dot == std::string_view::npos ? s.npos : dot - start);
    if (label.empty() || label.size() > 63 || !is_alnum(label.front()) || !is_alnum(label.back())) {
      return false;
    }
    if (!std::all_of(label.begin(), label.end(), [](char c) { return is_alnum(c) || c == '-'; })) {
      return false;
    }
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

std::string_view trim_wsp(std::string_view s) {
  while (!s.empty() && is_wsp(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_wsp(s.back())) s.remove_suffix(1);
  return s;
}

int64_t unix_seconds(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

}  // namespace

std::string_view mode_name(Mode m) {
  switch (m) {
    case Mode::kEnforce:
      return "enforce";
    case Mode::kTesting:
      return "testing";
    case Mode::kNone:
      return "none";
  }
  return "none";
}

// RFC 8461 3.1:
//   sts-text-record = sts-version 1*(*WSP %x3B *WSP sts-field) [%x3B]
//   sts-field = sts-id / sts-extension;  sts-id = %s"id=" 1*32(ALPHA / DIGIT)
//   sts-extension = sts-ext-name "=" sts-ext-value
//   sts-ext-value = 1*(%x21-3A / %x3C / %x3E-7E)
// Trailing white space is tolerated.
base::Result<TxtRecord> parse_txt(std::string_view text) {
  constexpr std::string_view kVersion = "v=STSv1";
  if (text.substr(0, kVersion.size()) != kVersion) {
    return base::Error::bad_data("MTA-STS record does not start with v=STSv1");
  }
  size_t i = kVersion.size();
  TxtRecord rec;
  bool have_id = false;
  int fields = 0;
  while (true) {
    size_t j = i;
    while (j < text.size() && is_wsp(text[j])) ++j;
    if (j == text.size()) break;  // trailing white space is tolerated
    if (text[j] != ';')
      return base::Error::bad_data("MTA-STS record: expected ';' at offset " + std::to_string(j));
    ++j;
    while (j < text.size() && is_wsp(text[j])) ++j;
    if (j == text.size()) break;  // a final ";" (and white space)
    size_t end = j;
    while (end < text.size() && text[end] != ';' && !is_wsp(text[end])) ++end;
    std::string_view field = text.substr(j, end - j);
    size_t eq = field.find('=');
    if (eq == std::string_view::npos) {
      return base::Error::bad_data("MTA-STS record: field without '=': " + std::string(field));
    }
    std::string_view name = field.substr(0, eq), value = field.substr(eq + 1);
    if (name == "id") {
      if (have_id) return base::Error::bad_data("MTA-STS record: more than one id");
      if (value.empty() || value.size() > 32 ||
          !std::all_of(value.begin(), value.end(), is_alnum)) {
        return base::Error::bad_data("MTA-STS record: id must be 1-32 letters or digits");
      }
      rec.id = std::string(value);
      have_id = true;
    } else {
      if (!is_ext_name(name)) {
        return base::Error::bad_data("MTA-STS record: bad field name: " + std::string(name));
      }
      if (value.empty() || !std::all_of(value.begin(), value.end(), [](char c) {
            auto u = static_cast<unsigned char>(c);
            return u >= 0x21 && u <= 0x7e && c != '=' && c != ';';
          })) {
        return base::Error::bad_data("MTA-STS record: bad value of " + std::string(name));
      }
    }
    ++fields;
    i = end;
  }
  if (fields == 0 || !have_id) return base::Error::bad_data("MTA-STS record without an id");
  return rec;
}

// RFC 8461 3.2:
//   sts-policy-record = sts-policy-field *WSP *(sts-policy-term sts-policy-field *WSP)
//                       [sts-policy-term];  sts-policy-term = LF / CRLF
//   sts-policy-field-delim = ":" *WSP
base::Result<Policy> parse_policy(std::string_view text) {
  Policy p;
  p.text = std::string(text);
  bool have_version = false, have_mode = false, have_max_age = false;
  size_t pos = 0;
  int line_no = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view line = text.substr(pos, nl == std::string_view::npos ? text.npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    line = trim_wsp(line);
    if (line.empty()) continue;  // blank lines (often a trailing one) are tolerated
    auto bad = [&](const std::string& what) {
      return base::Error::bad_data("MTA-STS policy line " + std::to_string(line_no) + ": " + what);
    };
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) return bad("no ':'");
    std::string_view key = line.substr(0, colon);
    std::string_view value = trim_wsp(line.substr(colon + 1));
    if (!is_ext_name(key)) return bad("bad key");
    if (key == "version") {
      if (have_version) continue;  // the first wins
      if (value != "STSv1") return bad("version must be STSv1");
      have_version = true;
    } else if (key == "mode") {
      if (have_mode) continue;
      if (value == "enforce")
        p.mode = Mode::kEnforce;
      else if (value == "testing")
        p.mode = Mode::kTesting;
      else if (value == "none")
        p.mode = Mode::kNone;
      else
        return bad("mode must be enforce, testing or none");
      have_mode = true;
    } else if (key == "max_age") {
      if (have_max_age) continue;
      // 1*10(DIGIT); values above the maximum are capped.
      if (value.empty() || value.size() > 10 ||
          !std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        return bad("max_age must be 1-10 digits");
      }
      p.max_age = std::min<int64_t>(std::stoll(std::string(value)), kMaxMaxAge);
      have_max_age = true;
    } else if (key == "mx") {
      // ["*."] Domain
      std::string pat = lower(value);
      if (!pat.empty() && pat.back() == '.') pat.pop_back();
      std::string_view dom = pat;
      if (dom.substr(0, 2) == "*.") dom.remove_prefix(2);
      if (!is_domain(dom)) return bad("bad mx pattern: " + std::string(value));
      if (std::find(p.mx.begin(), p.mx.end(), pat) == p.mx.end()) p.mx.push_back(pat);
    }
    // Unknown keys: ignored (RFC 8461 3.2).
  }
  if (!have_version) return base::Error::bad_data("MTA-STS policy without version");
  if (!have_mode) return base::Error::bad_data("MTA-STS policy without mode");
  if (!have_max_age) return base::Error::bad_data("MTA-STS policy without max_age");
  if (p.mode != Mode::kNone && p.mx.empty()) {
    return base::Error::bad_data("MTA-STS policy without mx (mode " +
                                 std::string(mode_name(p.mode)) + ")");
  }
  return p;
}

bool mx_matches(const Policy& policy, std::string_view mx_host) {
  std::string host = lower(mx_host);
  if (!host.empty() && host.back() == '.') host.pop_back();
  if (host.empty()) return false;
  for (const std::string& pat : policy.mx) {
    if (pat.size() > 2 && pat[0] == '*' && pat[1] == '.') {
      // RFC 8461 4.1: the wildcard stands for exactly one label (the leftmost).
      std::string_view suffix = std::string_view(pat).substr(1);  // ".example.net"
      if (host.size() > suffix.size() &&
          host.compare(host.size() - suffix.size(), suffix.size(), suffix) == 0) {
        std::string_view label = std::string_view(host).substr(0, host.size() - suffix.size());
        if (label.find('.') == std::string_view::npos) return true;
      }
    } else if (host == pat) {
      return true;
    }
  }
  return false;
}

std::vector<std::string> policy_strings(const Policy& policy) {
  std::vector<std::string> out;
  if (!policy.text.empty()) {
    std::string_view t = policy.text;
    size_t pos = 0;
    while (pos < t.size()) {
      size_t nl = t.find('\n', pos);
      std::string_view line = t.substr(pos, nl == std::string_view::npos ? t.npos : nl - pos);
      pos = nl == std::string_view::npos ? t.size() : nl + 1;
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      line = trim_wsp(line);
      if (!line.empty()) out.emplace_back(line);
    }
    return out;
  }
  out.push_back("version: STSv1");
  out.push_back("mode: " + std::string(mode_name(policy.mode)));
  for (const auto& m : policy.mx) out.push_back("mx: " + m);
  out.push_back("max_age: " + std::to_string(policy.max_age));
  return out;
}

// ---------------------------------------------------------------- cache

std::optional<CachedPolicy> MemoryPolicyCache::get(const std::string& domain) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(dns::normalize_name(domain));
  if (it == entries_.end()) return std::nullopt;
  return it->second;
}

void MemoryPolicyCache::put(const std::string& domain, CachedPolicy policy) {
  std::lock_guard lock(mu_);
  entries_[dns::normalize_name(domain)] = std::move(policy);
}

// ---------------------------------------------------------------- fetch

base::Result<std::string> fetch_policy(dns::Resolver& resolver, const std::string& domain,
                                       const FetchOptions& options) {
  // Names are resolved through lib/dns (DNSSEC, the configured servers, the test zone file),
  // never by libcurl's system resolver (dns/http_client.h).
  dns::http::Request rq;
  rq.host = "mta-sts." + dns::normalize_name(domain);
  rq.port = options.port;
  rq.path = "/.well-known/mta-sts.txt";
  rq.ca_file = options.ca_file;
  rq.timeout = options.timeout;
  rq.max_body = kMaxPolicySize;
  rq.user_agent = "postern-mta-sts";
  const std::string url = "https://" + rq.host + (options.port == 443 ? "" : ":" + std::to_string(options.port)) + rq.path;
  auto r = dns::http::perform(resolver, rq);
  if (!r) {
    const std::string& m = r.error().message();
    if (m.rfind("HTTPS host ", 0) == 0) {
      return base::Error::temporary("MTA-STS policy host " + m.substr(11));
    }
    if (m.find("response larger than") != std::string::npos) {
      return base::Error::temporary("fetching " + url + ": policy larger than " + std::to_string(kMaxPolicySize) +
                                    " bytes");
    }
    return r.error();
  }
  const std::string what = "fetching " + url + ": ";
  if (r->status != 200) {
    // RFC 8461 3.3: redirects (3xx) are not followed; only 200 is a policy.
    return base::Error::temporary(what + "HTTP status " + std::to_string(r->status));
  }
  std::string_view ctype = r->content_type;
  std::string media = lower(trim_wsp(ctype.substr(0, ctype.find(';'))));
  if (media != "text/plain") {
    return base::Error::temporary(what + "Content-Type " + (ctype.empty() ? std::string("(none)") : std::string(ctype)) +
                                  ", not text/plain");
  }
  return std::move(r->body);
}

// ---------------------------------------------------------------- policy discovery

base::Result<std::optional<Policy>> current_policy(dns::Resolver& resolver, PolicyCache& cache,
                                                   const std::string& domain_in,
                                                   const FetchOptions& options,
                                                   std::chrono::system_clock::time_point now_tp) {
  const std::string domain = dns::normalize_name(domain_in);
  const int64_t now = unix_seconds(now_tp);
  const std::string txt_name = "_mta-sts." + domain;

  // RFC 8461 3.1: records not starting with "v=STSv1" are discarded; anything but exactly
  // one valid record left means no policy is announced.
  auto lookup = [&]() -> base::Task<dns::Answer> {
    co_return co_await resolver.lookup(txt_name, dns::RrType::kTxt);
  };
  auto task = lookup();
  dns::Answer txt = dns::run(resolver, task);
  enum { kFound, kAbsent, kFailed } state = kAbsent;
  std::string id, why;
  if (!txt.definite()) {
    state = kFailed;
    why = "TXT lookup of " + txt_name + ": " + std::string(dns::status_name(txt.status));
  } else {
    std::vector<std::string> candidates;
    for (const auto& rec : txt.records) {
      if (rec.type != dns::RrType::kTxt) continue;
      std::string joined;
      for (const auto& s : rec.strings) joined += s;
      if (rec.strings.empty()) joined = rec.text;
      if (joined.rfind("v=STSv1", 0) == 0) candidates.push_back(std::move(joined));
    }
    if (candidates.size() == 1) {
      auto parsed = parse_txt(candidates[0]);
      if (parsed) {
        state = kFound;
        id = parsed->id;
      }
    }
  }

  // RFC 8461 5.1: an unexpired cached policy stays in force unless a valid TXT record
  // announces a different id (and even then while the new one cannot be fetched).
  std::optional<CachedPolicy> cached = cache.get(domain);
  bool fresh = cached && now < cached->expires();
  if (fresh && (state != kFound || id == cached->id)) return std::optional<Policy>(cached->policy);
  if (state == kAbsent) return std::optional<Policy>();
  if (state == kFailed) {
    return base::Error::temporary("MTA-STS policy of " + domain + " unknown: " + why);
  }

  const std::string host = "mta-sts." + domain;
  base::Result<std::string> body =
      options.fetcher ? options.fetcher(host) : fetch_policy(resolver, domain, options);
  base::Result<Policy> policy = body ? parse_policy(*body) : base::Result<Policy>(body.error());
  if (policy) {
    cache.put(domain, CachedPolicy{*policy, id, now});
    return std::optional<Policy>(std::move(*policy));
  }
  if (fresh) return std::optional<Policy>(cached->policy);
  // The words "is invalid" / "could not be fetched" tell TLS-RPT's sts-policy-invalid
  // from sts-policy-fetch-error (RFC 8460 4.3.2.2; policy_failure_is_invalid()).
  return base::Error::temporary("MTA-STS policy of " + domain + " (id " + id + ") " +
                                (body ? "is invalid: " : "could not be fetched: ") +
                                policy.error().message());
}

bool policy_failure_is_invalid(const base::Error& e) {
  return e.message().find(") is invalid: ") != std::string::npos;
}

}  // namespace postern::smtp::mta_sts
