// AnswerCache: answers kept for their TTL, in front of any engine (RFC 1035 7.4,
// RFC 2308 for negative answers). Keyed by (name, type); the answers of a name that
// failed (SERVFAIL, timeout) are never stored, so the next lookup asks again.
//
//   AnswerCache cache(base::system_clock());
//   if (auto a = cache.get(name, type)) return *a;    // TTLs counted down
//   cache.put(name, type, answer, negative_ttl);
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>

#include "base/clock.h"
#include "dns/dns.h"

namespace postern::dns {

class AnswerCache {
 public:
  struct Limits {
    size_t max_entries = 10000;
    uint32_t max_ttl = 86400;           // positive answers: at most a day
    uint32_t max_negative_ttl = 10800;  // RFC 2308 5: 1-3 hours is the suggested cap
    uint32_t default_negative_ttl = 60; // NXDOMAIN/NODATA without an SOA
  };

  explicit AnswerCache(const base::Clock& clock) : AnswerCache(clock, Limits{}) {}
  AnswerCache(const base::Clock& clock, Limits limits) : clock_(clock), limits_(limits) {}

  // The cached answer, its record TTLs lowered by the time spent in the cache; nullopt
  // when absent or expired.
  std::optional<Answer> get(const std::string& name, RrType type);

  // Stores `answer`: kOk for the smallest TTL of its records; kNoData/kNxDomain for
  // `negative_ttl` (the SOA's, RFC 2308 5) or the default; kServFail/kTimeout not at all.
  // A TTL of 0 means "do not cache" (RFC 1035 3.2.1).
  void put(const std::string& name, RrType type, const Answer& answer,
           std::optional<uint32_t> negative_ttl = std::nullopt);

  size_t size() const { return entries_.size(); }
  void clear() { entries_.clear(); }

 private:
  struct Entry {
    Answer answer;
    base::Clock::MonoTime stored;
    base::Clock::MonoTime expires;
  };
  void evict();

  const base::Clock& clock_;
  Limits limits_;
  std::map<std::pair<std::string, uint16_t>, Entry> entries_;
};

}  // namespace postern::dns
