// MTA-STS (RFC 8461): whether a destination domain requires authenticated TLS, and for
// which MX hosts. The `_mta-sts.<domain>` TXT record announces a policy and its id; the
// policy itself is fetched over HTTPS from mta-sts.<domain>, cached, and re-fetched when
// the id changes (RFC 8461 5.1).
//
// current_policy() blocks (DNS through dns::run, HTTPS through libcurl), so queue-run calls
// it from a worker thread, with a Resolver that thread owns (the cache may be shared):
//
//   static smtp::mta_sts::MemoryPolicyCache cache;     // thread-safe
//   auto p = smtp::mta_sts::current_policy(resolver, cache, "example.org", {}, clock.now());
//   if (!p) {
//     // could not be known (DNS failure, or the policy could not be fetched) and nothing
//     // cached: RFC 8461 5.1/10.2 proceed as without a policy; a strict sender defers
//   } else if (*p && (*p)->mode == Mode::kEnforce) {
//     for (host : mx.hosts) if (!mx_matches(**p, host.name)) skip;   // RFC 8461 4.1
//     ... and require STARTTLS with a PKIX-valid certificate for the host (RFC 8461 4.2)
//   }
//
// Name resolution of mta-sts.<domain> goes through the given Resolver, never through the
// system resolver: its addresses are handed to libcurl (CURLOPT_RESOLVE). No redirects are
// followed (RFC 8461 3.3), the body is limited to 64 KiB and must be text/plain.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "dns/dns.h"

namespace postern::store {
class Store;
}

namespace postern::smtp::mta_sts {

enum class Mode { kEnforce, kTesting, kNone };
std::string_view mode_name(Mode m);  // "enforce", "testing", "none"

// RFC 8461 3.2: max_age has at most this value; larger values are capped to it.
inline constexpr int64_t kMaxMaxAge = 31557600;
// RFC 8461 3.3: policy bodies larger than this are refused.
inline constexpr size_t kMaxPolicySize = 64 * 1024;

// ---- the TXT record (RFC 8461 3.1): "v=STSv1; id=20160831085700Z;"
struct TxtRecord {
  std::string id;  // 1-32 letters and digits
};
// Strict: "v=STSv1" first, exactly one id, extension fields by their grammar, ";"
// separators with optional white space. bad_data names what is wrong.
base::Result<TxtRecord> parse_txt(std::string_view text);

// ---- the policy (RFC 8461 3.2)
struct Policy {
  Mode mode = Mode::kNone;
  std::vector<std::string> mx;  // patterns, lower-case: "mail.example.com", "*.example.net"
  int64_t max_age = 0;          // seconds, ≤ kMaxMaxAge
  std::string text;             // the policy as fetched (TLS-RPT reports quote its lines)
};
// "key: value" lines (CRLF or LF). version must be STSv1; mode enforce|testing|none;
// max_age a non-negative integer; at least one mx unless mode is none. The first of a
// repeated key wins (mx repeats by design); unknown keys are ignored.
base::Result<Policy> parse_policy(std::string_view text);

// RFC 8461 4.1: the MX host matches a pattern exactly or, for "*.suffix", with exactly one
// label before the suffix. Case-insensitive; a trailing dot on the host is ignored.
bool mx_matches(const Policy& policy, std::string_view mx_host);

// The policy's lines in the form TLS-RPT reports quote them (RFC 8460 4.4 policy-string).
std::vector<std::string> policy_strings(const Policy& policy);

// ---- the cache (RFC 8461 5.1)
struct CachedPolicy {
  Policy policy;
  std::string id;       // the TXT id it was fetched under
  int64_t fetched = 0;  // Unix seconds
  int64_t expires() const { return fetched + policy.max_age; }
};

class PolicyCache {
 public:
  virtual ~PolicyCache() = default;
  virtual std::optional<CachedPolicy> get(const std::string& domain) = 0;
  virtual void put(const std::string& domain, CachedPolicy policy) = 0;
};

// In memory, thread-safe (queue-run's workers share one).
class MemoryPolicyCache final : public PolicyCache {
 public:
  std::optional<CachedPolicy> get(const std::string& domain) override;
  void put(const std::string& domain, CachedPolicy policy) override;

 private:
  std::mutex mu_;
  std::map<std::string, CachedPolicy> entries_;
};

// The store's mta_sts_policy table behind a shared memory cache, so policies outlive a
// restart and every queue-run on one database shares them (RFC 8461 5.1: a policy is kept
// until max_age even when the TXT record or the policy host goes away, which is what
// protects against a downgrade by an attacker who blocks them). One per worker thread (it
// uses that worker's Store); `front` may be shared. Store errors make it a plain memory
// cache for that call: a policy is never unavailable because the database was busy.
class StorePolicyCache final : public PolicyCache {
 public:
  StorePolicyCache(store::Store& store, PolicyCache& front) : store_(store), front_(front) {}
  std::optional<CachedPolicy> get(const std::string& domain) override;
  void put(const std::string& domain, CachedPolicy policy) override;

 private:
  store::Store& store_;
  PolicyCache& front_;
};

// ---- fetching (RFC 8461 3.3)
struct FetchOptions {
  std::chrono::milliseconds timeout{20000};  // whole transfer, connect included
  std::string ca_file;                       // "" = the system's trust store
  uint16_t port = 443;                       // tests only: the HTTPS port
  // Tests only: replaces the HTTPS fetch. Gets the policy host ("mta-sts.<domain>") and
  // returns the body, as fetch_policy would.
  std::function<base::Result<std::string>(const std::string& policy_host)> fetcher;
};

// The body of https://mta-sts.<domain>/.well-known/mta-sts.txt. The host's A/AAAA come
// from `resolver`. Errors are temporary: DNS failure or no address, connection or TLS
// failure (certificate not PKIX-valid for the host), a status other than 200 (redirects
// included), a Content-Type other than text/plain, a body beyond kMaxPolicySize, timeout.
base::Result<std::string> fetch_policy(dns::Resolver& resolver, const std::string& domain,
                                       const FetchOptions& options);

// ---- putting it together (RFC 8461 3.1, 5.1)
// nullopt: the domain has no MTA-STS (no valid TXT record and nothing unexpired cached).
// A Policy (mode none included) when one applies: a fresh or cached one. A cached,
// unexpired policy is used as it is while the TXT id equals its id, when the TXT record
// is missing or unreadable, and when re-fetching after an id change fails. A fetched
// policy is cached under the TXT id. Error (temporary) when it cannot be known and
// nothing is cached: the TXT lookup failed (SERVFAIL, timeout), or the TXT record is valid
// but the policy could not be fetched or parsed.
base::Result<std::optional<Policy>> current_policy(dns::Resolver& resolver, PolicyCache& cache,
                                                   const std::string& domain,
                                                   const FetchOptions& options,
                                                   std::chrono::system_clock::time_point now);

// For an error of current_policy(): true when a policy was fetched but is not valid
// (TLS-RPT sts-policy-invalid), false when it could not be known or fetched
// (sts-policy-fetch-error), RFC 8460 4.3.2.2.
bool policy_failure_is_invalid(const base::Error& e);

}  // namespace postern::smtp::mta_sts
