#include "base/service.h"

#include <fcntl.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <string_view>

namespace postern::base {
namespace {

constexpr int kListenFdsStart = 3;  // SD_LISTEN_FDS_START
int g_notify_fd = -2;               // -2: not decided yet

sigset_t service_sigset() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGUSR1);
  return set;
}

std::optional<long> parse_long(const char* s) {
  if (!s || !*s) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  long v = std::strtol(s, &end, 10);
  if (errno != 0 || *end != '\0') return std::nullopt;
  return v;
}

}  // namespace

Result<std::vector<InheritedSocket>> inherited_sockets() {
  std::vector<InheritedSocket> out;
  auto pid = parse_long(std::getenv("LISTEN_PID"));
  auto n = parse_long(std::getenv("LISTEN_FDS"));
  const char* names_env = std::getenv("LISTEN_FDNAMES");
  std::string names = names_env ? names_env : "";
  ::unsetenv("LISTEN_PID");
  ::unsetenv("LISTEN_FDS");
  ::unsetenv("LISTEN_FDNAMES");
  if (!n) return out;
  if (pid && *pid != ::getpid()) return out;  // meant for another process
  if (*n < 0 || *n > 1024) return Error::config("LISTEN_FDS out of range");
  std::string_view rest = names;
  for (long i = 0; i < *n; ++i) {
    int fd = kListenFdsStart + static_cast<int>(i);
    if (::fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) {
      return Error::from_errno(errno, "LISTEN_FDS descriptor " + std::to_string(fd));
    }
    std::string name = "unknown";
    if (!rest.empty() || !names.empty()) {
      auto colon = rest.find(':');
      std::string_view part = rest.substr(0, colon);
      if (!part.empty()) name = std::string(part);
      rest = colon == std::string_view::npos ? std::string_view{} : rest.substr(colon + 1);
    }
    out.push_back({fd, std::move(name)});
  }
  return out;
}

void set_notify_fd(int fd) { g_notify_fd = fd; }

Status notify_ready() {
  if (g_notify_fd == -2) {
    auto v = parse_long(std::getenv("POSTERN_NOTIFY_FD"));
    g_notify_fd = v ? static_cast<int>(*v) : -1;
    ::unsetenv("POSTERN_NOTIFY_FD");
  }
  if (g_notify_fd < 0) return {};
  int fd = std::exchange(g_notify_fd, -1);
  auto st = write_all(fd, "\n");
  ::close(fd);
  return st;
}

ServiceSignals::ServiceSignals() {
  sigset_t set = service_sigset();
  // An ignored signal is dropped before signalfd could see it, and a shell starts
  // background jobs with SIGINT ignored (nohup: SIGHUP): back to the default, so Ctrl-C,
  // kill -INT and kill -HUP always reach the service.
  for (int sig : {SIGHUP, SIGTERM, SIGINT, SIGUSR1}) ::signal(sig, SIG_DFL);
  ::pthread_sigmask(SIG_BLOCK, &set, nullptr);
  fd_.reset(::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC));
}

ServiceSignals::~ServiceSignals() {
  sigset_t set = service_sigset();
  fd_.reset();
  ::pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
}

std::optional<ServiceEvent> ServiceSignals::next() {
  signalfd_siginfo info;
  for (;;) {
    ssize_t n = ::read(fd_.get(), &info, sizeof info);
    if (n == sizeof info) break;
    if (n < 0 && errno == EINTR) continue;
    return std::nullopt;
  }
  switch (info.ssi_signo) {
    case SIGHUP: return ServiceEvent::kReload;
    case SIGUSR1: return ServiceEvent::kReopenLogs;
    default: return ServiceEvent::kDrain;  // SIGTERM, SIGINT
  }
}

}  // namespace postern::base
