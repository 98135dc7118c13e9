// DNS for Postern: one Resolver interface, two engines.
//
// - The network engine (libunbound, wrapped once in lib/dns): the system resolver by
//   default, or forwarders from `dns.servers` / --dns-server, DNSSEC validation with a
//   configured trust anchor, a cache honouring TTLs, timeouts.
// - The zone-file engine (`--resolver file:PATH`, ZoneResolver below) for hermetic tests:
//   records from a small text format, including entries that force SERVFAIL or a timeout.
//
// Lookups complete through a callback, or are awaited from a coroutine (base::Task):
//
//   base::Task<std::vector<std::string>> mail_hosts(dns::Resolver& r, std::string d) {
//     dns::Answer a = co_await r.lookup(d, dns::RrType::kMx);
//     if (a.status == dns::Status::kServFail || a.status == dns::Status::kTimeout) ...
//     ...
//   }
//   auto resolver = dns::make_resolver({.spec = "file:tests/fixtures/dns/example.zone"});
//   auto task = mail_hosts(**resolver, "example.org");
//   auto hosts = dns::run(**resolver, task);     // drives it to completion, blocking
//
// Status is what authentication results need (RFC 7208 2.6, RFC 7489): an answer or no
// data or NXDOMAIN (a definite answer) versus SERVFAIL / timeout (→ temperror).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "base/task.h"

namespace postern::dns {

enum class RrType : uint16_t {
  kA = 1,
  kNs = 2,
  kCname = 5,
  kSoa = 6,
  kPtr = 12,
  kMx = 15,
  kTxt = 16,
  kAaaa = 28,
  kTlsa = 52,
};

// "A", "MX", ...; and back (case-insensitive); nullopt for types we do not know.
std::string_view type_name(RrType t);
std::optional<RrType> parse_type(std::string_view s);

enum class Status {
  kOk,        // records present
  kNoData,    // the name exists, no records of that type
  kNxDomain,  // the name does not exist
  kServFail,  // the server failed (or validation failed: bogus)
  kTimeout,   // no answer in time
};
std::string_view status_name(Status s);

struct Record {
  std::string name;  // owner, lower-case, no trailing dot
  RrType type = RrType::kA;
  uint32_t ttl = 0;
  // Decoded data, by type:
  //   A, AAAA      text: the address ("192.0.2.1", "2001:db8::1")
  //   CNAME,NS,PTR text: the target name (lower-case, no trailing dot)
  //   MX           text: the exchange; preference
  //   TXT          strings: the character-strings in order (text: them joined, RFC 7208 3.3)
  //   TLSA         usage/selector/matching in tlsa[0..2], data: the association bytes
  //   anything     rdata: the raw RDATA bytes
  std::string text;
  uint16_t preference = 0;
  std::vector<std::string> strings;
  uint8_t tlsa[3] = {0, 0, 0};
  std::string data;
  std::string rdata;
};

struct Answer {
  Status status = Status::kServFail;
  bool secure = false;  // DNSSEC validated (AD); false for insecure and unsigned zones
  std::vector<Record> records;  // of the asked type, after CNAME chasing
  std::string why;              // for logs: the server's or validator's reason
  bool definite() const { return status != Status::kServFail && status != Status::kTimeout; }
};

class Resolver {
 public:
  virtual ~Resolver() = default;
  // Starts a lookup; `done` runs exactly once, on the thread that calls wait() (or inside
  // query() itself when the answer is known at once: cache, zone file).
  virtual void query(const std::string& name, RrType type, std::function<void(Answer)> done) = 0;
  // Blocks until at least one pending lookup has completed (its callback has run), or
  // returns at once when none is pending.
  virtual void wait() = 0;
  // A descriptor that becomes readable when wait() would not block (for event loops);
  // -1 when every answer is delivered inline.
  virtual int fd() const { return -1; }

  // The coroutine form of query().
  base::Callback<Answer> lookup(std::string name, RrType type);
};

struct ResolverOptions {
  // "" or "system": libunbound with /etc/resolv.conf (or `servers` when given);
  // "file:PATH": ZoneResolver over PATH.
  std::string spec;
  std::vector<std::string> servers;            // "127.0.0.1:5353", "[::1]:53", "192.0.2.1"
  std::chrono::milliseconds timeout{5000};     // per lookup
  std::string trust_anchor_file;               // DNSSEC trust anchors (DS/DNSKEY lines)
  bool cache = true;
};

base::Result<std::unique_ptr<Resolver>> make_resolver(const ResolverOptions& options);
// The libunbound engine alone (what make_resolver gives for "" and "system").
base::Result<std::unique_ptr<Resolver>> make_network_resolver(const ResolverOptions& options);

// Drives `task` to completion on `resolver`, blocking; returns its value.
template <typename T>
T run(Resolver& resolver, base::Task<T>& task) {
  return base::run_to_completion(task, [&] { resolver.wait(); });
}

}  // namespace postern::dns
