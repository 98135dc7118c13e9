// Where mail for a domain goes: MX resolution (RFC 5321 5.1, null MX RFC 7505) and the
// TLSA records DANE authenticates the chosen host with (RFC 7672 2.2, 3).
//
// Both are coroutines over the lib/dns Resolver, so they run on an event loop or, in a
// queue-run worker thread, blocking through dns::run:
//
//   auto task = smtp::resolve_mx(resolver, "example.org");
//   smtp::MxResult mx = dns::run(resolver, task);
//   switch (mx.kind) {
//     case MxResult::kNullMx:       bounce 5.1.10; break;        // RFC 7505 3
//     case MxResult::kNoSuchDomain: bounce 5.1.2; break;
//     case MxResult::kTempFail:     defer (mx.why); break;
//     case MxResult::kHosts:
//       for (const MxHost& h : mx.hosts) {                       // preference order
//         if (mx.mx_secure && h.secure) {
//           auto t = smtp::lookup_tlsa(resolver, h.name);
//           dns::Answer tlsa = dns::run(resolver, t);         // usable records only
//           ...
//         }
//         for (const std::string& ip : h.addresses) try_connect(ip);
//       }
//   }
//
// Not done here (the caller knows its own names): RFC 5321 5.1's rule that an MTA drops
// MX hosts that are itself and every host of equal or lower preference.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/task.h"
#include "dns/dns.h"

namespace postern::smtp {

struct MxHost {
  std::string name;  // lower-case, no trailing dot
  uint16_t preference = 0;
  std::vector<std::string> addresses;  // A then AAAA
  bool secure = false;                 // MX and address answers DNSSEC-validated
};

struct MxResult {
  enum Kind { kHosts, kNullMx, kNoSuchDomain, kTempFail } kind = kTempFail;
  std::vector<MxHost> hosts;  // by preference; equal preferences shuffled (RFC 5321 5.1)
  bool mx_secure = false;     // the MX RRset (or, when implicit, its denial) validated
  bool implicit = false;      // no MX: the domain's own A/AAAA (RFC 5321 5.1)
  std::string why;            // for logs and DSNs
};

// At most this many MX records are looked at (a bound on the address lookups one hostile
// domain can cause); the lowest preferences are kept.
inline constexpr size_t kMaxMxHosts = 16;

// RFC 5321 5.1 + RFC 7505:
// - null MX ("." preference 0 as the only record) → kNullMx (bounce at once, 5.1.10); a "."
//   next to real MX records is ignored;
// - NXDOMAIN → kNoSuchDomain (5.1.2); SERVFAIL/timeout → kTempFail;
// - no MX records → the domain itself as the only host (implicit = true); no address either
//   → kNoSuchDomain (kTempFail when an address lookup failed);
// - an MX host without addresses is skipped; if none is left: kTempFail when some lookup
//   failed, else kNoSuchDomain;
// - CNAME targets are followed by the resolver; a host named twice is kept once, at its
//   lowest preference;
// - an address literal "[192.0.2.1]" or "[IPv6:2001:db8::1]" (RFC 5321 4.1.3) gives one
//   host with that address and no lookup; a malformed literal → kNoSuchDomain.
base::Task<MxResult> resolve_mx(dns::Resolver& r, std::string domain);

// RFC 5321 5.1: a host that finds itself (`own_name`, its EHLO name) among the MX hosts
// keeps only the hosts preferred to it (a backup MX relays to the primary, never to
// itself or its peers). True when it was found; `mx.hosts` may then be empty: the mail
// would loop back to this host.
bool drop_self(MxResult& mx, std::string_view own_name);

// TLSA records for host:port (RFC 7672 3): "_PORT._tcp.HOST". Call it only when the MX
// host's address lookup was secure (RFC 7672 2.2.1). The Answer's status tells temporary
// failures (kServFail for bogus answers, kTimeout) apart; then:
// - kNoData / kNxDomain, or an answer that is not DNSSEC-validated (turned into kNoData,
//   RFC 7672 2.2): no DANE for this host;
// - kOk with records: the usable ones only — usages 2 (DANE-TA) and 3 (DANE-EE), selectors
//   0 and 1, matching types 0, 1 (32-byte SHA-256) and 2 (64-byte SHA-512), RFC 7672 3.1;
// - kOk with no records left: a TLSA RRset with no usable record (RFC 7672 2.2: TLS is
//   still mandatory, authentication is not).
base::Task<dns::Answer> lookup_tlsa(dns::Resolver& r, std::string host, uint16_t port = 25);

}  // namespace postern::smtp
