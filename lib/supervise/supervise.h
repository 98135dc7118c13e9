// The supervisor: `postern run` starts Postern's services from one configuration, as
// children under an unprivileged user, passes them their listening sockets
// systemd-style, forwards their logs with the service name added, restarts them with
// backoff, and answers `postern status|reload|stop` on a control socket. See postern(8).
//
// Which services run is decided by a table (service_table()): smtp-listen when any
// listener has an SMTP mode, queue-run always; later servers (imap-serve, jmap-serve,
// dav-serve) are rows keyed by their listener modes.
//
//   supervise::Settings s = ...;                       // built from the Config by the caller
//   supervise::Reloader reload = [&] { return settings_from(config::load(file)); };
//   base::Status st = supervise::run(s, reload, {.notify_fd = 3});
//
// The module never reads YAML: the caller turns a Config into Settings (and, for SIGHUP,
// supplies a Reloader doing the same with a fresh load).
#pragma once

#include <chrono>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/log.h"
#include "base/result.h"

namespace postern::supervise {

struct ListenerSpec {
  std::string name;
  std::string address;  // host:port, [v6]:port, or unix:/path
  std::string mode;     // mx, submission, submissions, lmtp, local, imap, ...
  bool operator==(const ListenerSpec&) const = default;
};

struct Settings {
  std::string config_file;        // absolute; passed to every child as -c FILE
  std::vector<std::string> sets;  // --set overrides, passed on too
  std::string user = "postern";   // server.user
  std::string data_dir;           // server.data_dir
  std::string control_socket;     // server.control_socket
  std::chrono::seconds stop_timeout{30};
  base::LogFormat log_format = base::LogFormat::kLogfmt;
  // server.log_file: where every line goes (the supervisor's and each service's), appended
  // to and reopened on SIGUSR1; "" = stderr.
  std::string log_file;
  std::vector<ListenerSpec> listeners;
};

// A fresh Settings from the configuration on disk (SIGHUP). Its Error's message holds
// every diagnostic, one per line.
using Reloader = std::function<base::Result<Settings>()>;

// One row of the service table.
struct ServiceSpec {
  std::string_view name;                    // the program, found beside postern or on PATH
  std::span<const std::string_view> modes;  // the listener modes it serves
  bool always = false;                      // runs even without listeners
  int stop_order = 0;                       // lower stops first (the front door)
};

std::span<const ServiceSpec> service_table();

struct ServicePlan {
  std::string name;
  std::vector<ListenerSpec> listeners;  // in configuration order
  int stop_order = 0;
};

struct Plan {
  std::vector<ServicePlan> services;   // in table order
  std::vector<ListenerSpec> unserved;  // listeners no service takes (yet)
};

// Which services run, and which listener goes to which.
Plan plan_services(const std::vector<ListenerSpec>& listeners);

struct RunOptions {
  int notify_fd = -1;       // written "\n" once every service is ready (-1: $POSTERN_NOTIFY_FD)
  std::string program_dir;  // where to look for the services first (default: self_dir())
};

// Runs the supervisor until SIGTERM/SIGINT or a `stop` request; returns after every child
// has exited and the sockets are removed. Error::config (exit 78) for a configuration it
// cannot start with (a bad listener address, server.user missing or root).
base::Status run(const Settings& settings, const Reloader& reload, const RunOptions& options);

}  // namespace postern::supervise
