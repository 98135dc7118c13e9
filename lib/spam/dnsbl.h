// DNS blocklists (RFC 5782): is the client's IP address, or a domain named in a URL of
// the message, listed in a DNSBL zone? One lookup of type A per (zone, item), all started
// at once through lib/dns, one deadline for all of them: what has not answered by then
// is reported as an error and never holds the message up.
//
//   std::vector<spam::DnsblZone> zones = spam::default_dnsbl_zones();  // Spamhaus ZEN + DBL
//   spam::DnsblResult r = spam::dnsbl_check_sync(resolver, zones, {"192.0.2.99"},
//                                                {"www.example.co.uk"}, {.timeout = 2s});
//   for (const auto& h : r.hits) log(h.rule, h.item, h.answer);   // SPAMHAUS_ZEN_SBL ...
//   double points = r.score();
//
// What is looked up (RFC 5782 2.1, 2.4, 3):
// - IP zones (Kind::kIp): IPv4 as reversed octets ("2.0.0.192.zen.spamhaus.org"), IPv6
//   as 32 reversed nibbles; an IPv4-mapped IPv6 address is looked up as IPv4. Addresses
//   that no public list can hold are not looked up (DnsblResult::skipped): unspecified
//   (0.0.0.0/8, ::), loopback (127/8, ::1), private (10/8, 172.16/12, 192.168/16, the
//   RFC 6598 shared 100.64/10, fc00::/7) and link-local (169.254/16, fe80::/10).
//   Documentation ranges (192.0.2/24, 198.51.100/24, 203.0.113/24, 2001:db8::/32) are
//   looked up like any other address.
// - Domain zones (Kind::kDomain): each URL host lower-cased, without a trailing dot, as
//   an A-label (IDNA); its registrable domain (Public Suffix List) is looked up and, when
//   the host differs, the host too. A host that is itself a public suffix, or not a
//   valid host name, is skipped. At most DnsblOptions::max_domains distinct registrable
//   domains per call (first come); the rest are skipped.
// - A URL host that is an IP literal ("192.0.2.7", "[2001:db8::7]") goes to the IP zones,
//   marked `url`; codes marked `client_only` (PBL, XBL, CSS: they describe senders, not
//   web hosts) do not count for it. An address given both ways counts as the client's.
// - Every item is de-duplicated after normalisation.
//
// What an answer means:
// - NXDOMAIN or NODATA: not listed. SERVFAIL, a timeout, or no answer by the deadline:
//   an error (DnsblResult::errors; timed_out for the last two).
// - A records in 127.0.0.0/8 are return codes, matched against the zone's codes: a code
//   naming that exact address first, else the first range (or "any") that holds it;
//   a zone without codes counts any of them as one listing. An answer outside 127/8 is an error (a
//   resolver that rewrites NXDOMAIN), as are 127.0.0.1 and 127.255.255.0/24, the codes lists use to
//   refuse a query (Spamhaus: .252 typing error in the zone name, .254 query through a
//   public/open resolver, .255 excessive number of queries; SURBL: 127.0.0.1) — unless
//   a code of the zone names that exact address. A code that no DnsblCode matches is
//   reported as an error too, so that the admin can extend the table.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "base/result.h"
#include "base/task.h"
#include "dns/dns.h"

namespace postern::auth {
class PublicSuffixList;
}

namespace postern::spam {

struct DnsblCode {
  std::string match;  // "127.0.0.2", a range "127.0.0.4-127.0.0.7", or "any" (127/8)
  std::string name;   // rule name suffix: "SBL", "XBL", "PBL"; "" → the zone's name alone
  double score = 0;
  bool client_only = false;  // not counted for IP literals found in URLs
};

struct DnsblZone {
  std::string name;  // rule name prefix: "SPAMHAUS_ZEN", "SPAMHAUS_DBL", "SURBL"
  std::string zone;  // "zen.spamhaus.org"
  enum class Kind { kIp, kDomain } kind = Kind::kIp;
  std::vector<DnsblCode> codes;  // empty: any 127.0.0.0/8 answer counts with `score`
  double score = 0;
};

struct DnsblHit {
  std::string rule;    // name + "_" + code name, e.g. "SPAMHAUS_ZEN_SBL"
  std::string item;    // the IP address (canonical text) or domain looked up
  std::string answer;  // the A record, "127.0.0.2"
  double score = 0;
  bool url = false;  // the item came from a URL (a domain, or an IP literal host)
};

struct DnsblResult {
  std::vector<DnsblHit> hits;        // in zone order, then item order
  std::vector<std::string> errors;   // "SPAMHAUS_ZEN: 192.0.2.1: timeout", ...
  std::vector<std::string> skipped;  // "10.0.0.1: private address", ...
  bool timed_out = false;            // a lookup timed out or the deadline cut it off
  // The sum of the hits' scores, each rule counted once (its highest score): the same
  // listing reached through two domains of one message does not count twice.
  double score() const;
};

struct DnsblOptions {
  std::chrono::milliseconds timeout{2000};  // for all lookups together
  size_t max_domains = 20;                  // registrable domains looked up per call
  // The Public Suffix List; nullptr: auth::PublicSuffixList::shared() (Debian's). When
  // it cannot be loaded, hosts are looked up as given and the reason is an error.
  const auth::PublicSuffixList* psl = nullptr;
};

// Spamhaus ZEN (IP) and DBL (domains), with their return codes. Off unless the
// configuration names them: the public mirrors refuse queries that come through public
// resolvers, and large sites need a data feed.
std::vector<DnsblZone> default_dnsbl_zones();

// Checks a zone definition (its zone name and every code's `match`); the config layer
// reports the error with the key's position.
base::Status validate_zone(const DnsblZone& zone);

// The reversed form of an IP address under RFC 5782 2.1/2.4, without the zone:
// "192.0.2.1" → "1.2.0.192"; IPv6 → 32 nibbles. An error for anything else.
base::Result<std::string> reverse_ip(std::string_view ip);

// All lookups at once, one deadline for all; never throws. The deadline runs from the
// first resumption of the task. Answers that arrive after the deadline are ignored; the
// task ends when every lookup has answered, or at the first answer after the deadline.
// A driver that only calls resolver.wait() therefore waits at most the resolver's own
// per-lookup timeout (dns::ResolverOptions::timeout); dnsbl_check_sync() polls
// resolver.fd() itself and so returns by the deadline whatever that timeout is.
base::Task<DnsblResult> dnsbl_check(dns::Resolver& resolver, std::vector<DnsblZone> zones,
                                    std::vector<std::string> ips, std::vector<std::string> domains,
                                    DnsblOptions options = {});

// The same, blocking: drives the lookups on `resolver` and returns by the deadline
// (plus the time the resolver takes to hand over answers already received).
DnsblResult dnsbl_check_sync(dns::Resolver& resolver, const std::vector<DnsblZone>& zones,
                             const std::vector<std::string>& ips,
                             const std::vector<std::string>& domains,
                             const DnsblOptions& options = {});

}  // namespace postern::spam
