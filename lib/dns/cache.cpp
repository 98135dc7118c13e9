#include "dns/cache.h"

#include <algorithm>

#include "dns/zone_resolver.h"

namespace postern::dns {

std::optional<Answer> AnswerCache::get(const std::string& name, RrType type) {
  auto it = entries_.find({normalize_name(name), static_cast<uint16_t>(type)});
  if (it == entries_.end()) return std::nullopt;
  auto now = clock_.monotonic();
  if (now >= it->second.expires) {
    entries_.erase(it);
    return std::nullopt;
  }
  Answer a = it->second.answer;
  auto spent = std::chrono::duration_cast<std::chrono::seconds>(now - it->second.stored).count();
  for (auto& r : a.records) {
    r.ttl = r.ttl > spent ? r.ttl - static_cast<uint32_t>(spent) : 0;
  }
  return a;
}

void AnswerCache::put(const std::string& name, RrType type, const Answer& answer,
                      std::optional<uint32_t> negative_ttl) {
  uint32_t ttl = 0;
  switch (answer.status) {
    case Status::kOk:
      if (answer.records.empty()) return;
      ttl = limits_.max_ttl;
      for (const auto& r : answer.records) ttl = std::min(ttl, r.ttl);
      break;
    case Status::kNoData:
    case Status::kNxDomain:
      ttl = std::min(negative_ttl.value_or(limits_.default_negative_ttl),
                     limits_.max_negative_ttl);
      break;
    case Status::kServFail:
    case Status::kTimeout:
      return;
  }
  if (ttl == 0 || limits_.max_entries == 0) return;
  if (entries_.size() >= limits_.max_entries) evict();
  auto now = clock_.monotonic();
  entries_[{normalize_name(name), static_cast<uint16_t>(type)}] =
      Entry{answer, now, now + std::chrono::seconds(ttl)};
}

// Drops what has expired; when everything is still live, drops the entry closest to
// expiry, so a full cache keeps its longest-lived answers.
void AnswerCache::evict() {
  auto now = clock_.monotonic();
  std::erase_if(entries_, [&](const auto& e) { return now >= e.second.expires; });
  while (entries_.size() >= limits_.max_entries) {
    auto soonest = std::min_element(entries_.begin(), entries_.end(), [](const auto& a, const auto& b) {
      return a.second.expires < b.second.expires;
    });
    entries_.erase(soonest);
  }
}

}  // namespace postern::dns
