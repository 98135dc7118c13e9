// ARC: Authenticated Received Chain (RFC 8617).
//
// An ARC set is three header fields sharing one instance number i=1..50: the
// ARC-Authentication-Results (AAR, a copy of the sealer's Authentication-Results), the
// ARC-Message-Signature (AMS, a DKIM-like signature of the message) and the ARC-Seal (AS,
// a signature over all sets so far). The DKIM module supplies tag lists, canonicalization,
// keys and crypto; keys are looked up at selector._domainkey.domain through the resolver.
//
//   // Validating (RFC 8617 5.2)
//   auto task = arc::validate(message, resolver, {.now = 1700000000});
//   arc::ChainResult r = dns::run(resolver, task);        // r.cv: none / pass / fail
//
//   // Sealing (RFC 8617 5.1): prepend the returned fields to the message
//   arc::SealOptions o{.domain = "example.org", .selector = "s1", .key = &key,
//                      .authserv_id = "mx.example.org",
//                      .results = arc::collect_results(message, "mx.example.org"),
//                      .cv = r.cv};
//   auto set = arc::seal(message, o);                      // AS + AMS + AAR, CRLF ends
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/dkim.h"
#include "base/result.h"
#include "base/task.h"
#include "dns/dns.h"

namespace postern::auth::arc {

// The chain validation status (RFC 8617 4.4): the cv= tag values and the arc= result.
enum class ChainStatus { kNone, kPass, kFail };
std::string_view status_name(ChainStatus s);
std::optional<ChainStatus> parse_status(std::string_view s);  // exact, lower-case

inline constexpr int kMaxInstances = 50;  // RFC 8617 4.2.1

struct ValidateOptions {
  int64_t now = 0;  // Unix time for AMS x= (0: the system clock)
  // Accept rsa-sha1 and RSA keys under 1024 bits (off: RFC 8301 as RFC 8617 4.1 asks).
  bool legacy = false;
};

struct ChainResult {
  ChainStatus cv = ChainStatus::kNone;
  std::string reason;      // why it failed; empty on pass / none
  bool temperror = false;  // a key lookup failed temporarily (cv is kFail then)
  int instances = 0;       // N, the highest instance (0: no ARC fields)
  // RFC 8617 5.2 step 5: the lowest instance whose AMS (and every newer one) validates;
  // 0 when all of them do (and when the chain does not pass).
  int oldest_pass = 0;
  std::string ams_domain;  // d= of the newest AMS (for reports)
  std::string as_domain;   // d= of the newest AS
};

// RFC 8617 5.2. The message may use LF or CRLF line ends.
base::Task<ChainResult> validate(std::string message, dns::Resolver& resolver,
                                 ValidateOptions options);

// The highest ARC instance present (0: none); -1 when the ARC fields are malformed.
int highest_instance(std::string_view message);

// The results of every Authentication-Results field of `authserv_id` (RFC 8601), in order,
// each trimmed, as the "resinfo" list an AAR carries ("spf=pass smtp.mailfrom=a@b", ...).
// "none" results are dropped unless nothing else is present.
std::vector<std::string> collect_results(std::string_view message, std::string_view authserv_id);

struct SealOptions {
  std::string domain;    // d= of AMS and AS
  std::string selector;  // s=
  const dkim::PrivateKey* key = nullptr;
  std::string authserv_id;              // the AAR's authserv-id
  std::vector<std::string> results;     // the AAR's resinfo list (collect_results)
  ChainStatus cv = ChainStatus::kNone;  // for the new AS; kNone only when there is no chain
  // AMS h=; empty: the DKIM default list restricted to the fields present.
  std::vector<std::string> headers;
  dkim::Canon header_canon = dkim::Canon::kRelaxed;
  dkim::Canon body_canon = dkim::Canon::kRelaxed;
  int64_t timestamp = 0;  // t= of AMS and AS; 0: the system clock
};

// The new set "ARC-Seal: ...\r\nARC-Message-Signature: ...\r\nARC-Authentication-Results:
// ...\r\n" to prepend to `message`. Refuses (usage error) to extend a chain whose newest
// AS says cv=fail (RFC 8617 5.1.2) or that already has 50 sets.
base::Result<std::string> seal(std::string_view message, const SealOptions& options);

}  // namespace postern::auth::arc
