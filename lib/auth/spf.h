// SPF (RFC 7208): may this client IP send mail for this domain?
//
// check_host() is the RFC 7208 4 function, written as a coroutine over dns::Resolver so
// the same code runs under a blocking pump (spf-check) and inside an event loop
// (smtp-listen). The record parser and the macro expander are public too, for tests and
// the fuzzer. Received-SPF (RFC 7208 9.1) and the Authentication-Results `spf=` clause
// (RFC 8601 2.7.2) are formatted from a request and its result.
//
//   auth::SpfRequest req;
//   req.ip = *auth::IpAddress::parse("192.0.2.1");
//   req.helo = "mail.example.org";
//   req.mail_from = "alice@example.org";
//   req.receiver = "mx.example.net";
//   auto task = auth::check_host(*resolver, req);
//   auth::SpfResult res = dns::run(*resolver, task);
//   // res.code == SpfCode::kPass, res.mechanism == "ip4:192.0.2.0/24"
//   std::string field = auth::format_received_spf(req, res);
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/results.h"
#include "base/result.h"
#include "base/task.h"
#include "dns/dns.h"

namespace postern::auth {

// RFC 7208 2.6.
enum class SpfCode { kNone, kNeutral, kPass, kFail, kSoftFail, kTempError, kPermError };
// "none", "neutral", "pass", "fail", "softfail", "temperror", "permerror".
std::string_view spf_code_name(SpfCode code);

// A client address. IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are held as IPv4
// (RFC 7208 5: they are evaluated as IPv4 addresses).
struct IpAddress {
  bool v6 = false;
  std::array<uint8_t, 16> bytes{};  // IPv4: the first 4 bytes

  static std::optional<IpAddress> parse(std::string_view text);
  std::string to_string() const;  // "192.0.2.1", "2001:db8::1"
  // The first `bits` bits of both are equal (same family only).
  bool in_network(const IpAddress& net, int bits) const;
  bool operator==(const IpAddress&) const = default;
};

// Which identity is checked (RFC 7208 2.3, 2.4).
enum class SpfIdentity { kMailFrom, kHelo };

struct SpfRequest {
  IpAddress ip;
  std::string helo;
  std::string mail_from;  // "" (null reverse-path) → postmaster@HELO (RFC 7208 2.4)
  SpfIdentity identity = SpfIdentity::kMailFrom;
  std::string receiver = "unknown";  // %{r} (RFC 7208 7.3), and the Received-SPF receiver
  int64_t now = 0;                   // %{t}: seconds since the epoch
};

struct SpfResult {
  SpfCode code = SpfCode::kNone;
  std::string mechanism;    // the directive that matched ("-all", "ip4:192.0.2.0/24"), or
                            // "default" when none did; empty on none/errors
  std::string explanation;  // fail only: the expanded exp= text (RFC 7208 6.2), else empty
  std::string domain;       // the domain check_host() began with
  std::string sender;       // the <sender> checked (postmaster@HELO for an empty MAIL FROM)
  std::string problem;      // why: a syntax error, a DNS failure, a limit reached
  int dns_mechanisms = 0;   // terms that caused DNS lookups (RFC 7208 4.6.4; limit 10)
  int void_lookups = 0;     // lookups with no answer (RFC 7208 4.6.4; limit 2)
};

// RFC 7208 4: the whole evaluation, with its DNS limits. Never fails: DNS trouble is
// temperror, bad records are permerror.
base::Task<SpfResult> check_host(dns::Resolver& resolver, const SpfRequest& request);

// ---- the record and macro grammar (RFC 7208 4.6, 7), public for tests and fuzzing ----

enum class SpfMechanismKind { kAll, kInclude, kA, kMx, kPtr, kIp4, kIp6, kExists };

struct SpfMechanism {
  char qualifier = '+';  // '+', '-', '~', '?'
  SpfMechanismKind kind = SpfMechanismKind::kAll;
  std::string domain_spec;  // include, a, mx, ptr, exists: "" means the current domain
  IpAddress network;        // ip4, ip6
  int cidr4 = 32;           // a, mx, ip4
  int cidr6 = 128;          // a, mx, ip6
  std::string text;         // the term as written
};

struct SpfRecord {
  std::vector<SpfMechanism> mechanisms;
  std::optional<std::string> redirect;  // domain-spec
  std::optional<std::string> exp;       // domain-spec
};

// Is this TXT text an SPF record: "v=spf1" followed by a space or the end (RFC 7208 4.5)?
bool is_spf_record(std::string_view txt);
// Parses a record ("v=spf1 ..."); any syntax error is an Error (→ permerror, RFC 7208 4.6).
base::Result<SpfRecord> parse_spf_record(std::string_view text);
// A domain-spec's syntax (RFC 7208 7.1): a macro-string ending in a macro or a top label.
base::Status check_domain_spec(std::string_view spec);

// The values the macro letters stand for (RFC 7208 7.3).
struct MacroValues {
  std::string sender;                // s
  std::string local;                 // l
  std::string sender_domain;         // o
  std::string domain;                // d
  IpAddress ip;                      // i, c, v
  std::string ptr = "unknown";       // p: the validated name, computed by the caller
  std::string helo;                  // h
  std::string receiver = "unknown";  // r
  int64_t now = 0;                   // t
};

// Expands a macro-string. `exp_text`: the c, r and t letters are allowed (RFC 7208 7.2),
// and the result is not truncated as a domain name. Otherwise a result longer than 253
// characters loses labels from the left (RFC 7208 7.3).
base::Result<std::string> expand_macros(std::string_view macro_string, const MacroValues& values,
                                        bool exp_text);
// Does the macro-string use %{p} (which needs DNS to compute)?
bool uses_ptr_macro(std::string_view macro_string);

// ---- reporting ----

// "Received-SPF: pass (mx.example.net: domain of a@example.org designates 192.0.2.1 as
// permitted sender)\r\n\tclient-ip=192.0.2.1; envelope-from=\"a@example.org\"; ...\r\n"
// (RFC 7208 9.1), ending in CRLF.
std::string format_received_spf(const SpfRequest& request, const SpfResult& result);

// The Authentication-Results clause (RFC 8601 2.7.2): spf=RESULT smtp.mailfrom=SENDER, or
// smtp.helo=HELO when the HELO identity was checked.
ResultClause spf_result_clause(const SpfRequest& request, const SpfResult& result);

}  // namespace postern::auth
