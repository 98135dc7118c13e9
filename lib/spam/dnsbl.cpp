// DNS blocklist lookups; see dnsbl.h. RFC 5782 (DNSBL/DNSWL conventions), Spamhaus's
// published return codes for ZEN and DBL.
#include "spam/dnsbl.h"

#include <arpa/inet.h>
#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <coroutine>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <utility>

#include "auth/psl.h"
#include "dns/zone_resolver.h"

namespace postern::spam {
namespace {

using Clock = std::chrono::steady_clock;

// ---------------------------------------------------------------- addresses

struct Address {
  bool v6 = false;
  unsigned char b[16] = {};
};

std::optional<Address> parse_address(std::string_view text) {
  std::string s(text);
  Address a;
  if (::inet_pton(AF_INET, s.c_str(), a.b) == 1) return a;
  if (::inet_pton(AF_INET6, s.c_str(), a.b) != 1) return std::nullopt;
  static constexpr unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::equal(kMapped, kMapped + 12, a.b)) {  // ::ffff:a.b.c.d is an IPv4 client
    std::copy(a.b + 12, a.b + 16, a.b);
    std::fill(a.b + 4, a.b + 16, 0);
    return a;
  }
  a.v6 = true;
  return a;
}

std::string address_text(const Address& a) {
  char out[INET6_ADDRSTRLEN];
  ::inet_ntop(a.v6 ? AF_INET6 : AF_INET, a.b, out, sizeof out);
  return out;
}

uint32_t v4_value(const unsigned char* b) {
  return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | b[3];
}

// Why an address is not worth a lookup: no public list holds it (see dnsbl.h).
std::optional<std::string> not_public(const Address& a) {
  if (!a.v6) {
    uint32_t v = v4_value(a.b);
    auto in = [v](uint32_t net, int bits) { return (v >> (32 - bits)) == (net >> (32 - bits)); };
    if (in(0x00000000, 8)) return "unspecified address";  // RFC 1122 3.2.1.3
    if (in(0x7f000000, 8)) return "loopback address";
    if (in(0x0a000000, 8) || in(0xac100000, 12) || in(0xc0a80000, 16)) {
      return "private address";  // RFC 1918
    }
    if (in(0x64400000, 10)) return "private address (shared, RFC 6598)";
    if (in(0xa9fe0000, 16)) return "link-local address";  // RFC 3927
    return std::nullopt;
  }
  bool zero = std::all_of(a.b, a.b + 15, [](unsigned char c) { return c == 0; });
  if (zero && a.b[15] == 0) return "unspecified address";  // RFC 4291 2.5.2
  if (zero && a.b[15] == 1) return "loopback address";     // RFC 4291 2.5.3
  if ((a.b[0] & 0xfe) == 0xfc) return "private address (unique local, RFC 4193)";
  if (a.b[0] == 0xfe && (a.b[1] & 0xc0) == 0x80) return "link-local address";
  return std::nullopt;
}

// RFC 5782 2.1 (IPv4: octets reversed) and 2.4 (IPv6: nibbles reversed, 32 labels).
std::string reversed(const Address& a) {
  std::string out;
  if (!a.v6) {
    for (int i = 3; i >= 0; --i) out += std::to_string(a.b[i]) + (i ? "." : "");
    return out;
  }
  static constexpr char kHex[] = "0123456789abcdef";
  for (int i = 15; i >= 0; --i) {
    out += kHex[a.b[i] & 0xf];
    out += '.';
    out += kHex[a.b[i] >> 4];
    if (i) out += '.';
  }
  return out;
}

// ---------------------------------------------------------------- names and codes

// LDH labels (and '_', which some zones use), 1-63 octets, 253 in all, two labels or more.
bool valid_host(std::string_view name) {
  if (name.empty() || name.size() > 253 || name.find('.') == std::string_view::npos) return false;
  size_t label = 0;
  for (size_t i = 0; i <= name.size(); ++i) {
    if (i == name.size() || name[i] == '.') {
      if (label == 0 || label > 63) return false;
      label = 0;
      continue;
    }
    char c = name[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    if (!ok) return false;
    ++label;
  }
  return true;
}

bool valid_rule_part(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

struct Range {
  uint32_t lo = 0, hi = 0;
  bool exact() const { return lo == hi; }
};

base::Result<Range> parse_match(std::string_view m) {
  if (m == "any") return Range{0x7f000000, 0x7fffffff};
  auto one = [](std::string_view s) -> std::optional<uint32_t> {
    unsigned char b[4];
    if (::inet_pton(AF_INET, std::string(s).c_str(), b) != 1) return std::nullopt;
    uint32_t v = v4_value(b);
    if ((v >> 24) != 127) return std::nullopt;
    return v;
  };
  size_t dash = m.find('-');
  auto lo = one(m.substr(0, dash));
  auto hi = dash == std::string_view::npos ? lo : one(m.substr(dash + 1));
  if (!lo || !hi || *hi < *lo) {
    return base::Error::config("DNSBL return code '" + std::string(m) +
                               "': expected 127.x.y.z, a range 127.x.y.z-127.x.y.z, or any");
  }
  return Range{*lo, *hi};
}

// What a list means by the answers it uses to refuse a query (not listings).
std::optional<std::string> refusal(uint32_t v) {
  if (v == 0x7f000001) return "query refused (127.0.0.1)";
  if ((v & 0xffffff00) != 0x7fffff00) return std::nullopt;
  switch (v & 0xff) {
    case 252:
      return "typing error in the DNSBL name";
    case 254:
      return "query refused (public or open resolver)";
    case 255:
      return "query refused (excessive number of queries)";
    default:
      return "error code";
  }
}

// ---------------------------------------------------------------- the plan

struct Item {
  std::string text;   // what hits and errors name
  std::string label;  // the part before the zone: reversed address or domain
  bool url = false;
};

struct Lookup {
  size_t zone;
  size_t item;  // in ips (IP zones) or domains (domain zones)
  bool ip;
  std::string qname;
};

struct Plan {
  std::vector<DnsblZone> zones;
  std::vector<std::vector<Range>> ranges;  // per zone, per code
  std::vector<Item> ips, domains;
  std::vector<Lookup> lookups;
  std::chrono::milliseconds timeout{0};
  DnsblResult early;  // errors and skips found while planning
};

Plan make_plan(const std::vector<DnsblZone>& zones, const std::vector<std::string>& ips,
               const std::vector<std::string>& domains, const DnsblOptions& options) {
  Plan p;
  p.timeout = options.timeout;
  for (const auto& z : zones) {
    if (auto st = validate_zone(z); !st) {
      p.early.errors.push_back(z.name + ": " + st.error().message());
      continue;
    }
    std::vector<Range> r;
    for (const auto& c : z.codes) r.push_back(*parse_match(c.match));
    p.zones.push_back(z);
    p.zones.back().zone = dns::normalize_name(z.zone);
    p.ranges.push_back(std::move(r));
  }

  std::set<std::string> seen_ips, seen_domains;
  auto add_ip = [&](const Address& a, bool url) {
    std::string text = address_text(a);
    if (auto why = not_public(a)) {
      p.early.skipped.push_back(text + ": " + *why);
      return;
    }
    if (seen_ips.insert(text).second) p.ips.push_back({text, reversed(a), url});
  };
  for (const auto& ip : ips) {
    if (auto a = parse_address(ip)) {
      add_ip(*a, false);
    } else {
      p.early.skipped.push_back(ip + ": not an IP address");
    }
  }

  const auth::PublicSuffixList* psl = options.psl;
  if (psl == nullptr && !domains.empty()) {
    auto shared = auth::PublicSuffixList::shared();
    if (shared) {
      psl = *shared;
    } else {
      p.early.errors.push_back("DNSBL: " + shared.error().message() +
                               " (host names looked up as given)");
    }
  }
  std::set<std::string> registrable;  // and IP literals: what max_domains counts
  for (const auto& given : domains) {
    std::string_view host = given;
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
      host = host.substr(1, host.size() - 2);
    }
    if (auto a = parse_address(host)) {
      std::string text = address_text(*a);
      if (!registrable.count(text) && registrable.size() >= options.max_domains) {
        p.early.skipped.push_back(given + ": more than " + std::to_string(options.max_domains) +
                                  " domains");
        continue;
      }
      registrable.insert(text);
      add_ip(*a, true);
      continue;
    }
    auto ascii = auth::to_ascii_domain(host);
    if (!ascii || !valid_host(*ascii)) {
      p.early.skipped.push_back(given + ": not a host name");
      continue;
    }
    std::string org = *ascii;
    if (psl != nullptr) {
      auto o = psl->organizational_domain(*ascii);
      if (!o) {
        p.early.skipped.push_back(given + ": a public suffix");
        continue;
      }
      org = *o;
    }
    if (!registrable.count(org) && registrable.size() >= options.max_domains) {
      p.early.skipped.push_back(given + ": more than " + std::to_string(options.max_domains) +
                                " domains");
      continue;
    }
    registrable.insert(org);
    for (const std::string& d : {org, *ascii}) {
      if (seen_domains.insert(d).second) p.domains.push_back({d, d, true});
    }
  }

  for (size_t z = 0; z < p.zones.size(); ++z) {
    bool ip = p.zones[z].kind == DnsblZone::Kind::kIp;
    const auto& items = ip ? p.ips : p.domains;
    for (size_t i = 0; i < items.size(); ++i) {
      std::string qname = items[i].label + "." + p.zones[z].zone;
      if (qname.size() > 253) {  // RFC 1035 2.3.4
        p.early.skipped.push_back(p.zones[z].name + ": " + items[i].text +
                                  ": name too long under " + p.zones[z].zone);
        continue;
      }
      p.lookups.push_back({z, i, ip, std::move(qname)});
    }
  }
  return p;
}

// ---------------------------------------------------------------- answers

void interpret(const Plan& p, const Lookup& l, const dns::Answer& a, DnsblResult* out,
               std::set<std::pair<std::string, std::string>>* seen) {
  const DnsblZone& zone = p.zones[l.zone];
  const Item& item = l.ip ? p.ips[l.item] : p.domains[l.item];
  auto error = [&](const std::string& what) {
    out->errors.push_back(zone.name + ": " + item.text + ": " + what);
  };
  switch (a.status) {
    case dns::Status::kNxDomain:
    case dns::Status::kNoData:
      return;  // not listed (RFC 5782 2.1)
    case dns::Status::kTimeout:
      out->timed_out = true;
      error("timeout" + (a.why.empty() ? "" : " (" + a.why + ")"));
      return;
    case dns::Status::kServFail:
      error("servfail" + (a.why.empty() ? "" : " (" + a.why + ")"));
      return;
    case dns::Status::kOk:
      break;
  }
  std::vector<uint32_t> codes;
  for (const auto& r : a.records) {
    if (r.type != dns::RrType::kA) continue;
    unsigned char b[4];
    if (::inet_pton(AF_INET, r.text.c_str(), b) == 1) codes.push_back(v4_value(b));
  }
  std::sort(codes.begin(), codes.end());
  codes.erase(std::unique(codes.begin(), codes.end()), codes.end());
  const auto& ranges = p.ranges[l.zone];
  for (uint32_t v : codes) {
    unsigned char b[4] = {static_cast<unsigned char>(v >> 24), static_cast<unsigned char>(v >> 16),
                          static_cast<unsigned char>(v >> 8), static_cast<unsigned char>(v)};
    char text[INET_ADDRSTRLEN];
    ::inet_ntop(AF_INET, b, text, sizeof text);
    if ((v >> 24) != 127) {
      error(std::string(text) + ": answer outside 127.0.0.0/8");
      continue;
    }
    std::optional<size_t> code;
    for (size_t c = 0; c < ranges.size() && !code; ++c) {
      if (ranges[c].exact() && ranges[c].lo == v) code = c;
    }
    if (!code) {
      if (auto why = refusal(v)) {
        error(std::string(text) + ": " + *why);
        continue;
      }
      for (size_t c = 0; c < ranges.size() && !code; ++c) {
        if (v >= ranges[c].lo && v <= ranges[c].hi) code = c;
      }
    }
    DnsblHit hit{.item = item.text, .answer = text, .url = item.url};
    if (code) {
      const DnsblCode& dc = zone.codes[*code];
      if (dc.client_only && item.url) continue;
      hit.rule = dc.name.empty() ? zone.name : zone.name + "_" + dc.name;
      hit.score = dc.score;
    } else if (zone.codes.empty()) {
      hit.rule = zone.name;
      hit.score = zone.score;
    } else {
      error(std::string(text) + ": unknown return code");
      continue;
    }
    if (seen->insert({hit.rule, hit.item}).second) out->hits.push_back(std::move(hit));
  }
}

// ---------------------------------------------------------------- concurrency

// Shared by the task and the callbacks of its lookups, which may outlive it (a lookup the
// deadline gave up on can still answer later, or never).
struct State {
  Clock::time_point deadline;
  std::vector<std::optional<dns::Answer>> answers;
  size_t left = 0;
  bool closed = false;  // deadline passed or task gone: answers are ignored
  std::coroutine_handle<> waiter;

  void wake() {
    if (waiter) std::exchange(waiter, {}).resume();
  }
  void expire() {
    closed = true;
    wake();
  }
  void deliver(size_t i, dns::Answer a) {
    if (closed) return;
    if (Clock::now() > deadline) {
      expire();
      return;
    }
    answers[i] = std::move(a);
    if (--left == 0) wake();
  }
};

struct AllAnswered {
  State* s;
  bool await_ready() const noexcept { return s->left == 0 || s->closed; }
  void await_suspend(std::coroutine_handle<> h) noexcept { s->waiter = h; }
  void await_resume() const noexcept {}
};

// Runs when the coroutine's body ends or its frame is destroyed while suspended: no
// late callback may resume it.
struct Detach {
  State* s;
  ~Detach() {
    s->closed = true;
    s->waiter = {};
  }
};

DnsblResult collect(Plan& p, State& st) {
  DnsblResult out = std::move(p.early);
  std::set<std::pair<std::string, std::string>> seen;
  for (size_t i = 0; i < p.lookups.size(); ++i) {
    if (st.answers[i]) {
      interpret(p, p.lookups[i], *st.answers[i], &out, &seen);
      continue;
    }
    const Lookup& l = p.lookups[i];
    const Item& item = l.ip ? p.ips[l.item] : p.domains[l.item];
    out.timed_out = true;
    out.errors.push_back(p.zones[l.zone].name + ": " + item.text + ": timeout (no answer within " +
                         std::to_string(p.timeout.count()) + " ms)");
  }
  return out;
}

base::Task<DnsblResult> run_plan(dns::Resolver& resolver, std::shared_ptr<State> st, Plan p) {
  Detach detach{st.get()};
  DnsblResult out;
  try {
    st->deadline = Clock::now() + p.timeout;
    st->answers.resize(p.lookups.size());
    st->left = p.lookups.size();
    for (size_t i = 0; i < p.lookups.size() && !st->closed; ++i) {
      resolver.query(p.lookups[i].qname, dns::RrType::kA,
                     [st, i](dns::Answer a) { st->deliver(i, std::move(a)); });
    }
    co_await AllAnswered{st.get()};
    st->closed = true;
    out = collect(p, *st);
  } catch (const std::exception& e) {
    out.errors.push_back(std::string("DNSBL: ") + e.what());
  } catch (...) {
    out.errors.push_back("DNSBL: unknown failure");
  }
  co_return out;
}

}  // namespace

double DnsblResult::score() const {
  std::map<std::string, double> best;
  for (const auto& h : hits) {
    auto [it, fresh] = best.emplace(h.rule, h.score);
    if (!fresh) it->second = std::max(it->second, h.score);
  }
  double sum = 0;
  for (const auto& [rule, s] : best) sum += s;
  return sum;
}

std::vector<DnsblZone> default_dnsbl_zones() {
  using Kind = DnsblZone::Kind;
  // https://www.spamhaus.org/faq/section/DNSBL%20Usage (return codes of zen and dbl)
  return {
      {.name = "SPAMHAUS_ZEN",
       .zone = "zen.spamhaus.org",
       .kind = Kind::kIp,
       .codes = {{"127.0.0.2", "SBL", 4.0},
                 {"127.0.0.3", "CSS", 2.0, true},
                 {"127.0.0.4-127.0.0.7", "XBL", 4.0, true},
                 {"127.0.0.9", "DROP", 6.0},
                 {"127.0.0.10-127.0.0.11", "PBL", 1.5, true}}},
      {.name = "SPAMHAUS_DBL",
       .zone = "dbl.spamhaus.org",
       .kind = Kind::kDomain,
       .codes = {{"127.0.1.2", "SPAM", 5.0},
                 {"127.0.1.4", "PHISH", 6.0},
                 {"127.0.1.5", "MALWARE", 6.0},
                 {"127.0.1.6", "BOTNET", 5.0},
                 {"127.0.1.102", "ABUSED_SPAM", 1.5},
                 {"127.0.1.103", "ABUSED_REDIRECTOR", 1.5},
                 {"127.0.1.104", "ABUSED_PHISH", 3.0},
                 {"127.0.1.105", "ABUSED_MALWARE", 3.0},
                 {"127.0.1.106", "ABUSED_BOTNET", 3.0}}},
  };
}

base::Status validate_zone(const DnsblZone& zone) {
  if (zone.name.empty() || !valid_rule_part(zone.name)) {
    return base::Error::config("DNSBL name '" + zone.name +
                               "': letters, digits and '_' only, not empty");
  }
  if (!valid_host(dns::normalize_name(zone.zone))) {
    return base::Error::config("DNSBL zone '" + zone.zone + "' is not a domain name");
  }
  for (const auto& c : zone.codes) {
    auto r = parse_match(c.match);
    if (!r) return r.error();
    if (!valid_rule_part(c.name)) {
      return base::Error::config("DNSBL code name '" + c.name + "': letters, digits and '_' only");
    }
  }
  return {};
}

base::Result<std::string> reverse_ip(std::string_view ip) {
  auto a = parse_address(ip);
  if (!a) return base::Error::bad_data("not an IP address: " + std::string(ip));
  return reversed(*a);
}

base::Task<DnsblResult> dnsbl_check(dns::Resolver& resolver, std::vector<DnsblZone> zones,
                                    std::vector<std::string> ips, std::vector<std::string> domains,
                                    DnsblOptions options) {
  DnsblResult failed;
  try {
    auto st = std::make_shared<State>();
    auto task = run_plan(resolver, st, make_plan(zones, ips, domains, options));
    co_return co_await task;
  } catch (const std::exception& e) {
    failed.errors.push_back(std::string("DNSBL: ") + e.what());
  }
  co_return failed;
}

DnsblResult dnsbl_check_sync(dns::Resolver& resolver, const std::vector<DnsblZone>& zones,
                             const std::vector<std::string>& ips,
                             const std::vector<std::string>& domains, const DnsblOptions& options) {
  try {
    auto st = std::make_shared<State>();
    auto task = run_plan(resolver, st, make_plan(zones, ips, domains, options));
    task.start();  // sets the deadline, starts every lookup
    while (!task.done()) {
      auto left = std::chrono::ceil<std::chrono::milliseconds>(st->deadline - Clock::now());
      if (left.count() <= 0) {
        st->expire();  // resumes the task: it collects what has arrived
        break;
      }
      int fd = resolver.fd();
      if (fd < 0) {  // an engine that answers inline (or cannot be polled)
        resolver.wait();
        continue;
      }
      struct pollfd pfd = {fd, POLLIN, 0};
      int n = ::poll(&pfd, 1, static_cast<int>(std::min<int64_t>(left.count(), 60000)));
      if (n > 0) {
        resolver.wait();  // answers are ready: hands them over without blocking
      } else if (n < 0 && errno != EINTR) {
        st->expire();
        break;
      }
    }
    return task.take();
  } catch (const std::exception& e) {
    DnsblResult out;
    out.errors.push_back(std::string("DNSBL: ") + e.what());
    return out;
  }
}

}  // namespace postern::spam
