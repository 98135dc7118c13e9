// The service contract every Postern daemon follows (see DESIGN.md, "Services").
//
// - Listening sockets come from the supervisor systemd-style: LISTEN_PID, LISTEN_FDS and
//   LISTEN_FDNAMES, descriptors starting at 3 (sd_listen_fds(3)). Run alone, a daemon
//   binds its own.
// - Readiness: a single newline written to the notification fd (s6 style), named by
//   $POSTERN_NOTIFY_FD or --notify-fd, then the fd is closed.
// - Signals arrive as events on a descriptor the event loop polls: SIGHUP → reload,
//   SIGTERM/SIGINT → drain, SIGUSR1 → reopen logs.
// - Exit 78 (EX_CONFIG) for bad configuration: the supervisor does not restart those.
//
//   auto sockets = inherited_sockets();               // [{fd, "smtp"}, ...]
//   ServiceSignals signals;                           // blocks and routes the signals
//   notify_ready();
//   for (;;) { poll signals.fd() ...; switch (*signals.next()) { ... } }
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "base/fd.h"
#include "base/result.h"

namespace postern::base {

struct InheritedSocket {
  int fd;
  std::string name;  // from LISTEN_FDNAMES, or "unknown"
};

// Sockets passed by the supervisor. Validates LISTEN_PID against getpid(), marks the fds
// close-on-exec, and unsets the variables so grandchildren do not see them.
Result<std::vector<InheritedSocket>> inherited_sockets();

// Sets the readiness fd explicitly (from --notify-fd); otherwise $POSTERN_NOTIFY_FD is used.
void set_notify_fd(int fd);
// Writes "\n" to the notification fd once and closes it; no-op when none is configured.
Status notify_ready();

enum class ServiceEvent { kReload, kDrain, kReopenLogs };

// Blocks SIGHUP, SIGTERM, SIGINT, SIGUSR1 in this thread (call before starting threads)
// and delivers them through a signalfd.
class ServiceSignals {
 public:
  ServiceSignals();
  ~ServiceSignals();
  ServiceSignals(const ServiceSignals&) = delete;
  ServiceSignals& operator=(const ServiceSignals&) = delete;
  int fd() const { return fd_.get(); }
  // Reads one pending signal; nullopt when none is pending.
  std::optional<ServiceEvent> next();

 private:
  UniqueFd fd_;
};

}  // namespace postern::base
