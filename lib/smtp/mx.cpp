// MX resolution (RFC 5321 5.1, RFC 7505) and TLSA look-ups for DANE (RFC 7672).
#include "smtp/mx.h"

#include <arpa/inet.h>

#include <algorithm>
#include <random>
#include <utility>

#include "dns/zone_resolver.h"

namespace postern::smtp {

namespace {

using dns::Answer;
using dns::RrType;
using dns::Status;

bool failed(const Answer& a) { return !a.definite(); }

// The address of a literal "[192.0.2.1]" / "[IPv6:2001:db8::1]" (RFC 5321 4.1.3), or "".
std::string literal_address(const std::string& domain, bool* bad) {
  *bad = false;
  if (domain.size() < 2 || domain.front() != '[' || domain.back() != ']') return {};
  std::string inner = domain.substr(1, domain.size() - 2);
  unsigned char buf[16];
  if (inner.size() > 5 && std::equal(inner.begin(), inner.begin() + 5,
                                     "ipv6:", [](char a, char b) { return (a | 0x20) == b; })) {
    std::string v6 = inner.substr(5);
    if (inet_pton(AF_INET6, v6.c_str(), buf) == 1) {
      char out[INET6_ADDRSTRLEN];
      inet_ntop(AF_INET6, buf, out, sizeof out);
      return out;
    }
  } else if (inet_pton(AF_INET, inner.c_str(), buf) == 1) {
    return inner;
  }
  *bad = true;
  return {};
}

// The A then AAAA addresses of `name`; `*temp` when a lookup failed, `*secure` false unless
// both answers validated.
base::Task<std::vector<std::string>> addresses_of(dns::Resolver& r, std::string name, bool* temp,
                                                  bool* secure, std::string* why) {
  std::vector<std::string> out;
  bool all_secure = true;
  for (RrType t : {RrType::kA, RrType::kAaaa}) {
    Answer a = co_await r.lookup(name, t);
    if (failed(a)) {
      *temp = true;
      all_secure = false;
      if (why->empty()) {
        *why = std::string(dns::type_name(t)) + " lookup of " + name + ": " +
               std::string(dns::status_name(a.status)) + (a.why.empty() ? "" : " (" + a.why + ")");
      }
      continue;
    }
    if (!a.secure) all_secure = false;
    for (const auto& rec : a.records) {
      if (rec.type == t && std::find(out.begin(), out.end(), rec.text) == out.end()) {
        out.push_back(rec.text);
      }
    }
  }
  *secure = all_secure;
  co_return out;
}

std::mt19937& rng() {
  thread_local std::mt19937 gen{std::random_device{}()};
  return gen;
}

}  // namespace

base::Task<MxResult> resolve_mx(dns::Resolver& r, std::string domain) {
  MxResult res;
  domain = dns::normalize_name(domain);
  if (domain.empty()) {
    res.kind = MxResult::kNoSuchDomain;
    res.why = "empty domain";
    co_return res;
  }
  // RFC 5321 4.1.3: an address literal names the host directly.
  if (domain.front() == '[') {
    bool bad = false;
    std::string addr = literal_address(domain, &bad);
    if (bad) {
      res.kind = MxResult::kNoSuchDomain;
      res.why = "malformed address literal " + domain;
      co_return res;
    }
    res.kind = MxResult::kHosts;
    res.hosts.push_back({domain, 0, {addr}, false});
    co_return res;
  }

  Answer mx = co_await r.lookup(domain, RrType::kMx);
  if (mx.status == Status::kNxDomain) {
    res.kind = MxResult::kNoSuchDomain;
    res.why = domain + ": no such domain";
    co_return res;
  }
  if (failed(mx)) {
    res.kind = MxResult::kTempFail;
    res.why = "MX lookup of " + domain + ": " + std::string(dns::status_name(mx.status)) +
              (mx.why.empty() ? "" : " (" + mx.why + ")");
    co_return res;
  }
  res.mx_secure = mx.secure;

  std::vector<const dns::Record*> records;
  for (const auto& rec : mx.records) {
    if (rec.type == RrType::kMx) records.push_back(&rec);
  }

  if (records.empty()) {
    // RFC 5321 5.1: no MX → the domain is treated as the single host, preference 0.
    res.implicit = true;
    bool temp = false, secure = false;
    std::string why;
    auto addrs = co_await addresses_of(r, domain, &temp, &secure, &why);
    if (addrs.empty()) {
      res.kind = temp ? MxResult::kTempFail : MxResult::kNoSuchDomain;
      res.why = temp ? why : domain + ": no MX and no address records";
      co_return res;
    }
    res.kind = MxResult::kHosts;
    res.hosts.push_back({domain, 0, std::move(addrs), res.mx_secure && secure});
    co_return res;
  }

  // RFC 7505 3: a null MX is a single record whose exchange is the root (".").
  auto is_root = [](const dns::Record* rec) { return rec->text.empty() || rec->text == "."; };
  if (std::all_of(records.begin(), records.end(), is_root)) {
    res.kind = MxResult::kNullMx;
    res.why = domain + " accepts no mail (null MX, RFC 7505)";
    co_return res;
  }
  // A "." next to real exchanges is a misconfiguration: it is skipped (RFC 7505 3).
  std::erase_if(records, is_root);

  // RFC 5321 5.1: lowest preference first; equal preferences in random order.
  std::shuffle(records.begin(), records.end(), rng());
  std::stable_sort(records.begin(), records.end(), [](const dns::Record* a, const dns::Record* b) {
    return a->preference < b->preference;
  });

  std::vector<std::pair<std::string, uint16_t>> names;
  for (const dns::Record* rec : records) {
    std::string name = dns::normalize_name(rec->text);
    bool seen =
        std::any_of(names.begin(), names.end(), [&](const auto& n) { return n.first == name; });
    if (!seen) names.emplace_back(std::move(name), rec->preference);
    if (names.size() == kMaxMxHosts) break;
  }

  bool any_temp = false;
  std::string first_why;
  for (auto& [name, pref] : names) {
    bool temp = false, secure = false;
    std::string why;
    auto addrs = co_await addresses_of(r, name, &temp, &secure, &why);
    if (temp) {
      any_temp = true;
      if (first_why.empty()) first_why = why;
    }
    if (addrs.empty()) continue;  // RFC 5321 5.1: try the next host
    res.hosts.push_back({name, pref, std::move(addrs), res.mx_secure && secure && !temp});
  }
  if (res.hosts.empty()) {
    res.kind = any_temp ? MxResult::kTempFail : MxResult::kNoSuchDomain;
    res.why = any_temp ? first_why : "no MX host of " + domain + " has an address";
    co_return res;
  }
  res.kind = MxResult::kHosts;
  co_return res;
}

base::Task<dns::Answer> lookup_tlsa(dns::Resolver& r, std::string host, uint16_t port) {
  std::string name = "_" + std::to_string(port) + "._tcp." + dns::normalize_name(host);
  Answer a = co_await r.lookup(name, RrType::kTlsa);
  if (a.status != Status::kOk) co_return a;
  if (!a.secure) {
    // RFC 7672 2.2: TLSA records obtained insecurely are not used.
    a.status = Status::kNoData;
    a.records.clear();
    a.why = "TLSA records of " + name + " are not DNSSEC-validated: ignored";
    co_return a;
  }
  size_t before = a.records.size();
  std::erase_if(a.records, [](const dns::Record& rec) {
    if (rec.type != RrType::kTlsa) return true;
    uint8_t usage = rec.tlsa[0], selector = rec.tlsa[1], matching = rec.tlsa[2];
    // RFC 7672 3.1: PKIX usages 0 and 1 are not for SMTP.
    if (usage != 2 && usage != 3) return true;
    if (selector > 1) return true;
    switch (matching) {
      case 0:
        return rec.data.empty();
      case 1:
        return rec.data.size() != 32;
      case 2:
        return rec.data.size() != 64;
      default:
        return true;
    }
  });
  if (a.records.empty() && before > 0) {
    a.why = name + ": no usable TLSA record among " + std::to_string(before);
  }
  co_return a;
}

bool drop_self(MxResult& mx, std::string_view own_name) {
  std::string own;
  for (char c : own_name) own += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  while (!own.empty() && own.back() == '.') own.pop_back();
  if (own.empty() || mx.kind != MxResult::kHosts) return false;
  auto self = std::find_if(mx.hosts.begin(), mx.hosts.end(), [&](const MxHost& h) { return h.name == own; });
  if (self == mx.hosts.end()) return false;
  uint16_t mine = self->preference;
  std::erase_if(mx.hosts, [&](const MxHost& h) { return h.preference >= mine; });
  return true;
}

}  // namespace postern::smtp
