// A child process, owned: killed and reaped if still running when the owner goes away.
//
//   auto child = Child::spawn({"/usr/sbin/sendmail", "-t"}, {.stdin_fd = pipe.read.get()});
//   if (!child) return child.error();
//   int status = child->wait();          // exit code, or 128 + signal
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "base/result.h"

namespace postern::base {

struct SpawnOptions {
  int stdin_fd = -1;   // -1: inherit
  int stdout_fd = -1;  // -1: inherit
  int stderr_fd = -1;  // -1: inherit
  // Extra "NAME=value" entries appended to the current environment.
  std::vector<std::string> env;
};

class Child {
 public:
  // argv[0] is looked up in PATH when it has no '/'.
  static Result<Child> spawn(const std::vector<std::string>& argv, const SpawnOptions& opts = {});

  Child(Child&& o) noexcept : pid_(o.pid_), status_(o.status_) { o.pid_ = -1; }
  Child& operator=(Child&& o) noexcept;
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child();

  pid_t pid() const { return pid_; }
  // Waits for exit; returns the exit code, or 128 + signal number.
  int wait();
  // Sends a signal if still running.
  void kill(int sig);

 private:
  explicit Child(pid_t pid) : pid_(pid) {}
  pid_t pid_ = -1;
  int status_ = -1;
};

}  // namespace postern::base
