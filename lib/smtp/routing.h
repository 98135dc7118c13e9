// queue-run's decisions that need no network: where a recipient's mail goes (local
// store, the domain's MX, or a configured transport such as a smart host), when a
// message is tried again, when it expires, what an SMTP reply means for a recipient,
// and which DSNs the sender asked for (RFC 3461). Plain functions, unit-tested.
//
//   auto route = routing::route_for("example.net", settings.transports, /*local=*/false);
//   int64_t next = routing::next_attempt(settings.retry, message.attempts + 1, now);
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "store/queue.h"

namespace postern::smtp::routing {

// How hard TLS is insisted on towards a destination (before MTA-STS and DANE, which can
// only raise it).
enum class TlsRequirement {
  kNone,           // never STARTTLS (a broken peer; a loopback LMTP)
  kOpportunistic,  // STARTTLS when offered, unverified; clear text otherwise (RFC 3207)
  kRequired,       // STARTTLS must succeed (any certificate), else defer
  kVerify,         // STARTTLS with a PKIX-valid certificate for the host name, else defer
  kImplicit,       // TLS from the first byte (RFC 8314; a smart host on 465), verified
};
std::string_view tls_name(TlsRequirement t);
std::optional<TlsRequirement> parse_tls(std::string_view s);  // "none", "opportunistic", ...

// A configured transport (delivery.transports in the YAML).
struct TransportRule {
  // "example.net" (that domain), ".example.net" (its subdomains), "*" (everything not
  // local: a smart host).
  std::string domain;
  // "smtp:[host]:port" (no MX lookup: that host), "smtp:host:port" (MX lookup of host),
  // "lmtp:[host]:port", or "mx" (the normal MX route, e.g. to exempt a domain from "*").
  std::string via;
  TlsRequirement tls = TlsRequirement::kOpportunistic;
  std::string auth_user;
  std::string auth_password;
};

struct Route {
  enum Kind { kLocal, kMx, kHost } kind = kMx;
  std::string domain;    // the recipient domain (kMx: whose MX is looked up)
  std::string host;      // kHost: the host to connect to ("[..]" removed)
  bool mx_lookup = false;  // kHost: look up MX records of host first ("smtp:host")
  uint16_t port = 25;
  bool lmtp = false;
  TlsRequirement tls = TlsRequirement::kOpportunistic;
  std::string auth_user;
  std::string auth_password;
  bool transport = false;  // from a configured rule (logs say which)
  // Recipients sharing a key can share one connection and one transaction.
  std::string key() const;
};

// Parses a rule's `via`; Error::config for anything else.
base::Result<Route> parse_via(std::string_view via);
// The route for a recipient domain: local domains go to the store; otherwise the most
// specific rule (exact domain, then the longest ".suffix", then "*"), else the MX.
// Rules are validated by the caller (parse_via) first; a bad one here means kMx.
Route route_for(std::string_view domain, const std::vector<TransportRule>& rules, bool local);

// The domain of an address ("ann@Example.ORG" -> "example.org"); "" without '@'.
std::string domain_of(std::string_view address);

struct RetryPolicy {
  // The wait after the 1st, 2nd, ... failed attempt; after the last, its value repeats.
  std::vector<std::chrono::seconds> schedule = {
      std::chrono::minutes(5),  std::chrono::minutes(10), std::chrono::minutes(20),
      std::chrono::minutes(40), std::chrono::minutes(80), std::chrono::minutes(160),
      std::chrono::hours(4)};
  std::chrono::seconds max_lifetime = std::chrono::hours(24 * 5);  // then bounce
  std::chrono::seconds delay_warning = std::chrono::hours(4);      // 0: never warn
};
// When a message that has now had `attempts` attempts (>= 1) is due again.
int64_t next_attempt(const RetryPolicy& p, int attempts, int64_t now);
// Whether a message queued at `created_at` has outlived max_lifetime.
bool expired(const RetryPolicy& p, int64_t created_at, int64_t now);
// Whether it has waited long enough for the delay DSN.
bool delay_due(const RetryPolicy& p, int64_t created_at, int64_t now);

// What a reply means for a recipient: 2xx delivered, 4xx pending (tried again), 5xx
// failed. Code 0 (no reply: the connection broke) is pending.
store::queue::RecipientStatus status_for_code(int code);

// RFC 3461 4.1: NOTIFY absent means FAILURE (and DELAY at our choice: we warn).
bool wants_failure_dsn(const store::queue::Envelope& e, const store::queue::Recipient& r);
bool wants_delay_dsn(const store::queue::Envelope& e, const store::queue::Recipient& r);
bool wants_success_dsn(const store::queue::Envelope& e, const store::queue::Recipient& r);

// The Received: fields of a message's header (RFC 5321 6.3: a count over the limit is a
// loop; 554 5.4.6).
int hop_count(std::string_view message);
constexpr int kMaxHops = 50;  // as Postfix's hopcount_limit

}  // namespace postern::smtp::routing
