// The life of one supervised service, as a state machine with the clock passed in, so
// the restart policy can be tested without waiting: starting → ready → (exit) → backoff →
// starting …, failed for a child that said its configuration is bad (exit 78), stopping →
// stopped when the supervisor shuts it down.
//
// Restart policy: the first restart waits 1 s, each further one twice as long, at most
// 60 s; a child that ran 60 s or more before exiting starts again after 1 s. More than 5
// restarts within 5 minutes is a crash loop: reported (crash_loop()), and every further
// restart waits the maximum — never a busy loop.
//
//   ServiceState s;
//   s.on_start(pid, clock.monotonic());
//   s.on_ready(clock.monotonic());
//   ExitOutcome o = s.on_exit(wait_status, clock.monotonic());
//   if (o.restart) timer.expires_after(o.delay);
#pragma once

#include <sys/types.h>

#include <chrono>
#include <deque>
#include <optional>
#include <string>
#include <string_view>

namespace postern::supervise {

enum class State { kStarting, kReady, kBackoff, kFailed, kStopping, kStopped };

// "starting", "ready", "backoff", "failed", "stopping", "stopped".
std::string_view state_name(State s);

// What a child's wait status says: "exit 1", "signal 9".
std::string describe_wait_status(int wait_status);

struct ExitOutcome {
  bool restart = false;           // false: failed (exit 78) or stopped on purpose
  std::chrono::seconds delay{0};  // wait before the restart
  bool crash_loop = false;        // more than kLoopRestarts restarts within kLoopWindow
  std::string reason;             // "exit 1", "signal 9", "bad configuration"
};

class ServiceState {
 public:
  using Time = std::chrono::steady_clock::time_point;

  static constexpr std::chrono::seconds kMinDelay{1};
  static constexpr std::chrono::seconds kMaxDelay{60};
  static constexpr std::chrono::seconds kStableAfter{60};
  static constexpr std::chrono::seconds kLoopWindow{300};
  static constexpr int kLoopRestarts = 5;

  // A child was started (the first time, or again after a backoff: counted as a restart).
  void on_start(pid_t pid, Time now);
  // The child wrote its readiness line.
  void on_ready(Time now);
  // The supervisor is stopping the child (SIGTERM sent).
  void on_stop_requested();
  // The child was never started again and will not be (stop during a backoff).
  void on_stopped();
  // A child could not be started at all (exec failed): handled like an exit with
  // `wait_status` 127 << 8.
  ExitOutcome on_spawn_failed(Time now);
  // The child exited with a waitpid() status.
  ExitOutcome on_exit(int wait_status, Time now);

  State state() const { return state_; }
  pid_t pid() const { return pid_; }
  int restarts() const { return restarts_; }
  bool crash_loop() const { return crash_loop_; }
  bool running() const {
    return state_ == State::kStarting || state_ == State::kReady || state_ == State::kStopping;
  }
  // Seconds since the current child started (0 when none runs).
  int64_t uptime(Time now) const;
  // The last exit: nullopt before any; otherwise a waitpid() status.
  std::optional<int> last_wait_status() const { return last_status_; }
  // Why the service is failed ("bad configuration"), empty otherwise.
  const std::string& reason() const { return reason_; }
  // When the current child started (to report a slow readiness).
  Time started_at() const { return started_at_; }

 private:
  State state_ = State::kStopped;
  pid_t pid_ = 0;
  bool started_once_ = false;
  int restarts_ = 0;
  bool crash_loop_ = false;
  Time started_at_{};
  std::chrono::seconds next_delay_ = kMinDelay;
  std::deque<Time> recent_exits_;
  std::optional<int> last_status_;
  std::string reason_;
};

}  // namespace postern::supervise
