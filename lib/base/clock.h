// The clock seam: code that schedules retries, expires leases or stamps headers asks a
// Clock, so tests can move time by hand.
//
//   FakeClock clock(std::chrono::sys_seconds{std::chrono::seconds{1700000000}});
//   clock.advance(std::chrono::hours(4));
//   queue.run_due(clock);
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace postern::base {

class Clock {
 public:
  using WallTime = std::chrono::system_clock::time_point;
  using MonoTime = std::chrono::steady_clock::time_point;
  virtual ~Clock() = default;
  virtual WallTime now() const = 0;        // wall-clock time (headers, expiry dates)
  virtual MonoTime monotonic() const = 0;  // for timeouts and durations
};

// The process-wide real clock.
const Clock& system_clock();

class FakeClock final : public Clock {
 public:
  explicit FakeClock(WallTime start = WallTime{}) : wall_(start) {}
  WallTime now() const override { return wall_; }
  MonoTime monotonic() const override { return MonoTime{} + (wall_ - WallTime{}); }
  void advance(std::chrono::system_clock::duration d) { wall_ += d; }
  void set(WallTime t) { wall_ = t; }

 private:
  WallTime wall_;
};

// RFC 3339 UTC with milliseconds: "2026-11-28T17:42:12.123Z".
std::string rfc3339(Clock::WallTime t);
// Whole Unix seconds of a wall time (for rows, records and Date: fields).
inline int64_t unix_seconds(Clock::WallTime t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}
// Unix seconds as UTC for people: "2026-11-28 17:42:12".
std::string utc_datetime(int64_t unix_seconds);

}  // namespace postern::base
