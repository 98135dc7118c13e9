#include "supervise/state.h"

#include <sys/wait.h>

#include <algorithm>

#include "base/exit_code.h"

namespace postern::supervise {

std::string_view state_name(State s) {
  switch (s) {
    case State::kStarting:
      return "starting";
    case State::kReady:
      return "ready";
    case State::kBackoff:
      return "backoff";
    case State::kFailed:
      return "failed";
    case State::kStopping:
      return "stopping";
    case State::kStopped:
      return "stopped";
  }
  return "stopped";
}

std::string describe_wait_status(int st) {
  if (WIFEXITED(st)) return "exit " + std::to_string(WEXITSTATUS(st));
  if (WIFSIGNALED(st)) return "signal " + std::to_string(WTERMSIG(st));
  return "status " + std::to_string(st);
}

void ServiceState::on_start(pid_t pid, Time now) {
  if (started_once_) ++restarts_;
  started_once_ = true;
  state_ = State::kStarting;
  pid_ = pid;
  started_at_ = now;
  reason_.clear();
}

void ServiceState::on_ready(Time) {
  if (state_ == State::kStarting) state_ = State::kReady;
}

void ServiceState::on_stop_requested() {
  if (running()) {
    state_ = State::kStopping;
  } else {
    state_ = State::kStopped;
  }
}

void ServiceState::on_stopped() {
  state_ = State::kStopped;
  pid_ = 0;
}

ExitOutcome ServiceState::on_spawn_failed(Time now) {
  started_at_ = now;
  bool was_started = started_once_;
  started_once_ = true;
  if (was_started) ++restarts_;
  state_ = State::kStarting;
  return on_exit(127 << 8, now);
}

ExitOutcome ServiceState::on_exit(int wait_status, Time now) {
  ExitOutcome out;
  last_status_ = wait_status;
  out.reason = describe_wait_status(wait_status);
  pid_ = 0;
  if (state_ == State::kStopping || state_ == State::kStopped) {
    state_ = State::kStopped;
    return out;
  }
  if (WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == base::to_int(base::ExitCode::kConfig)) {
    state_ = State::kFailed;
    out.reason = "bad configuration";
    reason_ = out.reason;
    return out;
  }
  // A child that ran long enough starts over at the shortest delay.
  if (now - started_at_ >= kStableAfter) next_delay_ = kMinDelay;
  out.delay = next_delay_;
  next_delay_ = std::min(next_delay_ * 2, kMaxDelay);
  recent_exits_.push_back(now);
  while (!recent_exits_.empty() && now - recent_exits_.front() > kLoopWindow) {
    recent_exits_.pop_front();
  }
  crash_loop_ = static_cast<int>(recent_exits_.size()) > kLoopRestarts;
  if (crash_loop_) out.delay = kMaxDelay;
  out.crash_loop = crash_loop_;
  out.restart = true;
  state_ = State::kBackoff;
  return out;
}

int64_t ServiceState::uptime(Time now) const {
  if (!running() || pid_ == 0) return 0;
  return std::chrono::duration_cast<std::chrono::seconds>(now - started_at_).count();
}

}  // namespace postern::supervise
