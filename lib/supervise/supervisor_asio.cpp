// The supervisor's event loop (see supervise.h): children started with Boost.Process v2,
// their stderr and readiness pipes, the control socket and the signals, all on one
// single-threaded io_context.
//
// Boost.Process v2 as in Boost 1.81: the default POSIX launcher with one custom
// initializer of our own (ChildSetup) that places the descriptors, sets LISTEN_PID and
// drops privileges in the child between fork and exec. (1.81's posix::bind_fd is not
// used: its on_setup returns no value.)
#define BOOST_PROCESS_USE_STD_FS 1

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio.hpp>
// Boost 1.81's Process v2 with BOOST_PROCESS_USE_STD_FS forgets these two.
#include <boost/optional.hpp>
#include <boost/process/v2/posix/default_launcher.hpp>
#include <boost/process/v2/process.hpp>
#include <cerrno>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "base/clock.h"
#include "base/fd.h"
#include "base/log.h"
#include "base/service.h"
#include "supervise/control.h"
#include "supervise/logline.h"
#include "supervise/os.h"
#include "supervise/state.h"
#include "supervise/supervise.h"
#include "supervise/tools.h"

extern char** environ;

namespace postern::supervise {
namespace {

namespace asio = boost::asio;
namespace bp = boost::process::v2;
using asio::awaitable;
using asio::use_awaitable;
using SteadyClock = std::chrono::steady_clock;
using unix_socket = asio::local::stream_protocol;

constexpr auto kReadyWarnAfter = std::chrono::seconds(60);
constexpr int kFirstListenFd = 3;  // SD_LISTEN_FDS_START

// Runs in the child between fork and exec: only async-signal-safe calls from here on.
struct ChildSetup {
  std::vector<int> listen_fds;  // become 3, 4, ...
  int notify_fd = -1;           // becomes 3 + listen_fds.size()
  int log_fd = -1;              // stdout and stderr
  int null_fd = -1;             // stdin
  char* pid_slot = nullptr;     // the digits of LISTEN_PID=, in the environment block
  const UserIds* user = nullptr;

  int notify_target() const { return kFirstListenFd + static_cast<int>(listen_fds.size()); }

  bp::error_code on_setup(bp::posix::default_launcher& launcher, const std::filesystem::path&,
                          const char* const*) {
    for (int fd = kFirstListenFd; fd <= notify_target(); ++fd) launcher.fd_whitelist.push_back(fd);
    return {};
  }

  bp::error_code on_exec_setup(bp::posix::default_launcher&, const std::filesystem::path&,
                               const char* const*) {
    auto fail = [] { return bp::error_code(errno, bp::system_category()); };
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    // A session of its own: a Ctrl-C at the terminal reaches the supervisor only, which
    // stops the services in order.
    ::setsid();
    // Every source first moves above the target range, so no dup2 overwrites a source.
    int base = notify_target() + 1;
    std::size_t n = listen_fds.size();
    int moved[1024 + 3];
    if (n > 1024) return bp::error_code(EMFILE, bp::system_category());
    for (std::size_t i = 0; i < n; ++i) {
      if ((moved[i] = ::fcntl(listen_fds[i], F_DUPFD, base)) < 0) return fail();
    }
    int notify = ::fcntl(notify_fd, F_DUPFD, base);
    int log = ::fcntl(log_fd, F_DUPFD, base);
    int null = ::fcntl(null_fd, F_DUPFD, base);
    if (notify < 0 || log < 0 || null < 0) return fail();
    if (::dup2(null, 0) < 0 || ::dup2(log, 1) < 0 || ::dup2(log, 2) < 0) return fail();
    for (std::size_t i = 0; i < n; ++i) {
      if (::dup2(moved[i], kFirstListenFd + static_cast<int>(i)) < 0) return fail();
    }
    if (::dup2(notify, notify_target()) < 0) return fail();
    // LISTEN_PID is this process: known only now.
    if (pid_slot) {
      char digits[24];
      int len = 0;
      for (long v = ::getpid(); v > 0 && len < 20; v /= 10)
        digits[len++] = static_cast<char>('0' + v % 10);
      for (int i = 0; i < len; ++i) pid_slot[i] = digits[len - 1 - i];
      pid_slot[len] = '\0';
    }
    if (user) {
      if (::setgroups(user->groups.size(), user->groups.data()) != 0) return fail();
      if (::setgid(user->gid) != 0) return fail();
      if (::setuid(user->uid) != 0) return fail();
      if (::setuid(0) == 0)
        return bp::error_code(EPERM, bp::system_category());  // must not regain root
    }
    // If the supervisor dies without stopping us, drain (set after setuid, which clears it).
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    return {};
  }
};

struct Service {
  ServicePlan plan;
  std::string program;
  ServiceState st;
  std::optional<bp::process> proc;
  asio::steady_timer timer;
  uint64_t generation = 0;

  Service(asio::io_context& io, ServicePlan p) : plan(std::move(p)), timer(io) {}
};

struct Bound {
  ListenerSpec spec;
  base::UniqueFd fd;
};

std::string format_name(base::LogFormat f) {
  switch (f) {
    case base::LogFormat::kText:
      return "text";
    case base::LogFormat::kLogfmt:
      return "logfmt";
    case base::LogFormat::kJson:
      return "json";
  }
  return "logfmt";
}

std::string seconds_text(std::chrono::seconds s) { return std::to_string(s.count()) + "s"; }

class Supervisor {
 public:
  Supervisor(const Settings& s, const Reloader& r, const RunOptions& o)
      : settings_(s),
        reload_(r),
        options_(o),
        sink_(STDERR_FILENO, 1 << 20,
              [this](uint64_t n) {
                return format_event(base::LogLevel::kWarn, "log_dropped",
                                    {{"lines", std::to_string(n)}});
              }),
        flush_timer_(io_) {}

  base::Status run();

 private:
  using Fields = std::initializer_list<base::LogField>;

  std::string format_event(base::LogLevel level, std::string_view event, Fields fields) {
    return base::format_log_line(base::log_options(), base::rfc3339(base::system_clock().now()),
                                 level, event,
                                 std::span<const base::LogField>(fields.begin(), fields.size()));
  }
  void log(base::LogLevel level, std::string_view event, Fields fields = {}) {
    if (level < base::log_options().level) return;
    push(format_event(level, event, fields));
  }
  void push(std::string line);
  void arm_flush();
  base::Status open_log_file(const std::string& path);
  void reopen_log();

  base::Status start();
  void cleanup_sockets();
  base::Result<std::vector<std::string>> child_env(const Service& s, std::string& pid_entry,
                                                   int notify_target);
  awaitable<void> supervise(Service& s);
  awaitable<void> read_log(Service& s, asio::posix::stream_descriptor sd);
  awaitable<void> read_notify(Service& s, uint64_t gen, asio::posix::stream_descriptor sd);
  awaitable<void> warn_not_ready(Service& s, uint64_t gen);
  awaitable<void> watch_signals(asio::posix::stream_descriptor sd);
  awaitable<void> accept_control(unix_socket::acceptor& a);
  awaitable<void> answer_control(std::shared_ptr<unix_socket::socket> sock);
  awaitable<void> stop_all();
  void begin_stop();
  void reload();
  void signal_children(int sig);
  void check_ready();
  SupervisorStatus status();

  // io_ first: destroyed last, after everything bound to it.
  asio::io_context io_;
  Settings settings_;
  Reloader reload_;
  RunOptions options_;
  LogSink sink_;
  asio::steady_timer flush_timer_;
  bool flush_armed_ = false;
  std::optional<UserIds> user_;
  std::vector<Bound> bound_;
  std::vector<std::unique_ptr<Service>> services_;
  std::unique_ptr<base::ServiceSignals> signals_;
  std::unique_ptr<unix_socket::acceptor> control_;
  base::UniqueFd null_fd_;
  bool stopping_ = false;
  bool all_ready_ = false;
  bool notified_ = false;
};

void Supervisor::push(std::string line) {
  sink_.push(std::move(line));
  if (sink_.pending_bytes() > 0) arm_flush();
}

void Supervisor::arm_flush() {
  if (flush_armed_) return;
  flush_armed_ = true;
  flush_timer_.expires_after(std::chrono::milliseconds(50));
  flush_timer_.async_wait([this](boost::system::error_code) {
    flush_armed_ = false;
    if (!sink_.flush()) arm_flush();
  });
}

// server.log_file: every line from now on goes to `path` ("" = stderr), the services'
// forwarded lines included (they keep writing to their pipes).
base::Status Supervisor::open_log_file(const std::string& path) {
  (void)sink_.flush();  // what was logged before goes where it was meant to
  if (auto st = base::log_to_file(path); !st) return st;
  sink_.set_fd(base::log_fd());
  return {};
}

// SIGUSR1: logrotate has moved the file away (or will copy and truncate it); the next
// line goes to a new file at the same path. If that cannot be opened, the log stays in
// the old one, which says why.
void Supervisor::reopen_log() {
  (void)sink_.flush();
  auto st = base::log_reopen();
  sink_.set_fd(base::log_fd());
  if (!st) {
    log(base::LogLevel::kError, "reopen_failed",
        {{"file", settings_.log_file}, {"error", st.error().message()}});
    return;
  }
  log(base::LogLevel::kInfo, "reopen_logs",
      {{"file", settings_.log_file.empty() ? "stderr" : settings_.log_file}});
}

base::Result<std::vector<std::string>> Supervisor::child_env(const Service& s,
                                                             std::string& pid_entry,
                                                             int notify_target) {
  std::vector<std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string_view v = *e;
    if (v.starts_with("LISTEN_PID=") || v.starts_with("LISTEN_FDS=") ||
        v.starts_with("LISTEN_FDNAMES=") || v.starts_with("POSTERN_NOTIFY_FD=") ||
        v.starts_with("NOTIFY_SOCKET=")) {
      continue;
    }
    env.emplace_back(v);
  }
  if (!s.plan.listeners.empty()) {
    std::string names;
    for (const ListenerSpec& l : s.plan.listeners) names += (names.empty() ? "" : ":") + l.name;
    env.push_back("LISTEN_FDS=" + std::to_string(s.plan.listeners.size()));
    env.push_back("LISTEN_FDNAMES=" + names);
    pid_entry = "LISTEN_PID=" + std::string(24, '\0');
  }
  env.push_back("POSTERN_NOTIFY_FD=" + std::to_string(notify_target));
  return env;
}

awaitable<void> Supervisor::supervise(Service& s) {
  for (;;) {
    if (stopping_) {
      s.st.on_stopped();
      co_return;
    }
    ExitOutcome outcome;
    auto log_pipe = base::Pipe::create();
    auto notify_pipe = base::Pipe::create();
    std::optional<base::Error> spawn_error;
    if (!log_pipe || !notify_pipe) {
      spawn_error = !log_pipe ? log_pipe.error() : notify_pipe.error();
    } else {
      ChildSetup setup;
      for (const ListenerSpec& l : s.plan.listeners) {
        for (const Bound& b : bound_) {
          if (b.spec.name == l.name) setup.listen_fds.push_back(b.fd.get());
        }
      }
      setup.notify_fd = notify_pipe->write.get();
      setup.log_fd = log_pipe->write.get();
      setup.null_fd = null_fd_.get();
      setup.user = user_ ? &*user_ : nullptr;
      std::string pid_entry;
      auto env = child_env(s, pid_entry, setup.notify_target());
      std::vector<const char*> envp;
      for (const std::string& e : *env) envp.push_back(e.c_str());
      if (!pid_entry.empty()) {
        envp.push_back(pid_entry.data());
        setup.pid_slot = pid_entry.data() + std::strlen("LISTEN_PID=");
      }
      envp.push_back(nullptr);
      std::vector<std::string> args = {"-c", settings_.config_file};
      for (const std::string& set : settings_.sets) {
        args.push_back("--set");
        args.push_back(set);
      }
      args.push_back("--log-format");
      args.push_back(format_name(settings_.log_format));
      bp::posix::default_launcher launcher;
      launcher.env = envp.data();
      bp::error_code ec;
      auto proc = launcher(io_.get_executor(), ec, std::filesystem::path(s.program), args, setup);
      log_pipe->write.reset();
      notify_pipe->write.reset();
      if (ec || proc.id() <= 0) {
        spawn_error = base::Error::unavailable("cannot start " + s.program + ": " + ec.message());
      } else {
        s.proc.emplace(std::move(proc));
        uint64_t gen = ++s.generation;
        s.st.on_start(s.proc->id(), SteadyClock::now());
        log(base::LogLevel::kInfo, "started",
            {{"service", s.plan.name},
             {"pid", std::to_string(s.proc->id())},
             {"restarts", std::to_string(s.st.restarts())}});
        asio::co_spawn(io_,
                       read_log(s, asio::posix::stream_descriptor(io_, log_pipe->read.release())),
                       asio::detached);
        asio::co_spawn(
            io_,
            read_notify(s, gen, asio::posix::stream_descriptor(io_, notify_pipe->read.release())),
            asio::detached);
        asio::co_spawn(io_, warn_not_ready(s, gen), asio::detached);
        auto [wait_ec, code] = co_await s.proc->async_wait(asio::as_tuple(use_awaitable));
        int wait_status = s.proc->native_exit_code();
        if (wait_ec) {
          log(base::LogLevel::kWarn, "wait_failed",
              {{"service", s.plan.name}, {"error", wait_ec.message()}});
          wait_status = 0;
        }
        (void)s.proc->detach();  // reaped: its pid may belong to someone else from now on
        s.proc.reset();
        ++s.generation;
        outcome = s.st.on_exit(wait_status, SteadyClock::now());
        if (all_ready_) all_ready_ = false;
      }
    }
    if (spawn_error) {
      outcome = s.st.on_spawn_failed(SteadyClock::now());
      log(base::LogLevel::kError, "spawn_failed",
          {{"service", s.plan.name}, {"error", spawn_error->message()}});
    }
    if (s.st.state() == State::kStopped) {
      log(base::LogLevel::kInfo, "exited", {{"service", s.plan.name}, {"status", outcome.reason}});
      co_return;
    }
    if (s.st.state() == State::kFailed) {
      log(base::LogLevel::kError, "failed",
          {{"service", s.plan.name},
           {"reason", outcome.reason},
           {"status", describe_wait_status(*s.st.last_wait_status())},
           {"msg", "exit 78: the service rejected its configuration; not restarted"}});
      co_return;
    }
    log(outcome.crash_loop ? base::LogLevel::kError : base::LogLevel::kWarn,
        outcome.crash_loop ? "crash_loop" : "exited",
        {{"service", s.plan.name},
         {"status", outcome.reason},
         {"restart_in", seconds_text(outcome.delay)},
         {"restarts", std::to_string(s.st.restarts())}});
    s.timer.expires_after(outcome.delay);
    auto [ec] = co_await s.timer.async_wait(asio::as_tuple(use_awaitable));
    (void)ec;  // cancelled: stopping, checked above
  }
}

awaitable<void> Supervisor::read_log(Service& s, asio::posix::stream_descriptor sd) {
  LineSplitter split;
  std::string name = s.plan.name;
  auto emit = [&](std::string_view line, bool truncated) {
    push(decorate_line(line, name, settings_.log_format, base::rfc3339(base::system_clock().now()),
                       truncated));
  };
  char buf[8192];
  for (;;) {
    auto [ec, n] = co_await sd.async_read_some(asio::buffer(buf), asio::as_tuple(use_awaitable));
    if (n > 0) split.feed(std::string_view(buf, n), emit);
    if (ec) break;
  }
  split.finish(emit);
}

awaitable<void> Supervisor::read_notify(Service& s, uint64_t gen,
                                        asio::posix::stream_descriptor sd) {
  char buf[64];
  for (;;) {
    auto [ec, n] = co_await sd.async_read_some(asio::buffer(buf), asio::as_tuple(use_awaitable));
    if (n > 0 && std::memchr(buf, '\n', n)) {
      if (s.generation == gen && s.st.state() == State::kStarting) {
        s.st.on_ready(SteadyClock::now());
        log(base::LogLevel::kInfo, "service_ready",
            {{"service", s.plan.name}, {"pid", std::to_string(s.st.pid())}});
        check_ready();
      }
      co_return;
    }
    if (ec) co_return;
  }
}

awaitable<void> Supervisor::warn_not_ready(Service& s, uint64_t gen) {
  asio::steady_timer t(io_);
  t.expires_after(kReadyWarnAfter);
  co_await t.async_wait(asio::as_tuple(use_awaitable));
  if (s.generation == gen && s.st.state() == State::kStarting && !stopping_) {
    log(base::LogLevel::kWarn, "not_ready",
        {{"service", s.plan.name},
         {"pid", std::to_string(s.st.pid())},
         {"waited", seconds_text(kReadyWarnAfter)}});
  }
}

void Supervisor::check_ready() {
  if (stopping_ || all_ready_) return;
  for (const auto& s : services_) {
    if (s->st.state() != State::kReady) return;
  }
  all_ready_ = true;
  log(base::LogLevel::kInfo, "ready", {{"services", std::to_string(services_.size())}});
  if (!notified_) {
    notified_ = true;
    if (auto st = base::notify_ready(); !st) {
      log(base::LogLevel::kWarn, "notify_failed", {{"error", st.error().message()}});
    }
    if (auto st = notify_systemd("READY=1"); !st) {
      log(base::LogLevel::kWarn, "notify_failed", {{"error", st.error().message()}});
    }
  }
}

void Supervisor::signal_children(int sig) {
  for (const auto& s : services_) {
    if (s->proc && s->st.pid() > 0) ::kill(s->st.pid(), sig);
  }
}

void Supervisor::reload() {
  log(base::LogLevel::kInfo, "reload", {{"config", settings_.config_file}});
  if (!reload_) return;
  auto next = reload_();
  if (!next) {
    std::string_view rest = next.error().message();
    while (!rest.empty()) {
      size_t nl = rest.find('\n');
      std::string_view line = rest.substr(0, nl);
      if (!line.empty()) log(base::LogLevel::kError, "config_error", {{"diagnostic", line}});
      if (nl == std::string_view::npos) break;
      rest.remove_prefix(nl + 1);
    }
    log(base::LogLevel::kError, "reload_failed",
        {{"config", settings_.config_file}, {"msg", "keeping the running configuration"}});
    return;
  }
  if (next->listeners != settings_.listeners) {
    log(base::LogLevel::kWarn, "needs_restart",
        {{"what", "listeners"}, {"msg", "the listener set changed; restart postern to apply it"}});
  }
  if (next->user != settings_.user || next->control_socket != settings_.control_socket ||
      next->data_dir != settings_.data_dir) {
    log(base::LogLevel::kWarn, "needs_restart",
        {{"what", "server"},
         {"msg", "server.user, data_dir or control_socket changed; restart postern"}});
  }
  settings_.stop_timeout = next->stop_timeout;
  if (next->log_file != settings_.log_file) {
    std::string to = next->log_file.empty() ? "stderr" : next->log_file;
    log(base::LogLevel::kInfo, "log_file", {{"to", to}});
    if (auto st = open_log_file(next->log_file); !st) {
      log(base::LogLevel::kError, "log_file_failed",
          {{"to", to}, {"error", st.error().message()}, {"msg", "logging on here"}});
    } else {
      log(base::LogLevel::kInfo, "log_file",
          {{"from", settings_.log_file.empty() ? "stderr" : settings_.log_file}});
      settings_.log_file = next->log_file;
    }
  }
  signal_children(SIGHUP);
  log(base::LogLevel::kInfo, "reloaded", {{"signalled", std::to_string(services_.size())}});
}

awaitable<void> Supervisor::watch_signals(asio::posix::stream_descriptor sd) {
  for (;;) {
    auto [ec] = co_await sd.async_wait(asio::posix::stream_descriptor::wait_read,
                                       asio::as_tuple(use_awaitable));
    if (ec) co_return;
    while (auto ev = signals_->next()) {
      switch (*ev) {
        case base::ServiceEvent::kReload:
          reload();
          break;
        case base::ServiceEvent::kDrain:
          begin_stop();
          break;
        case base::ServiceEvent::kReopenLogs:
          reopen_log();
          signal_children(SIGUSR1);
          break;
      }
    }
    if (stopping_) co_return;
  }
}

SupervisorStatus Supervisor::status() {
  SupervisorStatus out;
  out.pid = ::getpid();
  out.ready = !services_.empty();
  auto now = SteadyClock::now();
  for (const auto& s : services_) {
    ServiceStatus v;
    v.name = s->plan.name;
    v.state = std::string(state_name(s->st.state()));
    v.pid = s->st.pid();
    v.uptime = s->st.uptime(now);
    v.restarts = s->st.restarts();
    v.crash_loop = s->st.crash_loop();
    if (auto w = s->st.last_wait_status()) {
      if (WIFEXITED(*w)) v.exit_code = WEXITSTATUS(*w);
      if (WIFSIGNALED(*w)) v.exit_signal = WTERMSIG(*w);
    }
    v.reason = s->st.reason();
    if (s->st.state() != State::kReady) out.ready = false;
    out.services.push_back(std::move(v));
  }
  return out;
}

awaitable<void> Supervisor::accept_control(unix_socket::acceptor& a) {
  for (;;) {
    auto sock = std::make_shared<unix_socket::socket>(io_);
    auto [ec] = co_await a.async_accept(*sock, asio::as_tuple(use_awaitable));
    if (ec) {
      if (ec == asio::error::operation_aborted || stopping_) co_return;
      // EMFILE and the like: try again a little later, never in a busy loop.
      asio::steady_timer pause(io_);
      pause.expires_after(std::chrono::milliseconds(100));
      co_await pause.async_wait(asio::as_tuple(use_awaitable));
      continue;
    }
    asio::co_spawn(io_, answer_control(sock), asio::detached);
  }
}

awaitable<void> Supervisor::answer_control(std::shared_ptr<unix_socket::socket> sock) {
  // A client that never sends its line is cut off.
  asio::steady_timer deadline(io_);
  deadline.expires_after(std::chrono::seconds(5));
  deadline.async_wait([sock](boost::system::error_code ec) {
    if (!ec) {
      boost::system::error_code ignored;
      sock->close(ignored);
    }
  });
  std::string in;
  auto [ec, n] = co_await asio::async_read_until(*sock, asio::dynamic_buffer(in, 1024), '\n',
                                                 asio::as_tuple(use_awaitable));
  if (ec && in.empty()) co_return;
  std::string line = n > 0 ? in.substr(0, n) : in;
  auto req = parse_request(line);
  std::string answer;
  if (!req) {
    answer = encode_error("unknown request (status, reload or stop)");
  } else if (*req == Request::kStatus) {
    answer = encode_status(status());
  } else {
    answer = encode_ok();
  }
  auto [wec, wn] =
      co_await asio::async_write(*sock, asio::buffer(answer), asio::as_tuple(use_awaitable));
  (void)wec;
  (void)wn;
  deadline.cancel();
  boost::system::error_code ignored;
  sock->shutdown(unix_socket::socket::shutdown_both, ignored);
  sock->close(ignored);
  if (req == Request::kReload) reload();
  if (req == Request::kStop) begin_stop();
}

void Supervisor::begin_stop() {
  if (stopping_) return;
  asio::co_spawn(io_, stop_all(), asio::detached);
}

awaitable<void> Supervisor::stop_all() {
  stopping_ = true;
  log(base::LogLevel::kInfo, "stopping", {{"timeout", seconds_text(settings_.stop_timeout)}});
  (void)notify_systemd("STOPPING=1");
  if (control_) {
    boost::system::error_code ignored;
    control_->close(ignored);
  }
  std::map<int, std::vector<Service*>> groups;
  for (auto& s : services_) {
    s->timer.cancel();
    groups[s->plan.stop_order].push_back(s.get());
  }
  asio::steady_timer tick(io_);
  for (auto& entry : groups) {
    std::vector<Service*>& group = entry.second;  // a plain reference: lambdas below capture it
    for (Service* s : group) {
      if (s->proc && s->st.pid() > 0) {
        s->st.on_stop_requested();
        ::kill(s->st.pid(), SIGTERM);
        log(base::LogLevel::kInfo, "stop",
            {{"service", s->plan.name}, {"pid", std::to_string(s->st.pid())}});
      } else {
        s->st.on_stop_requested();
      }
    }
    auto running = [&] {
      for (Service* s : group) {
        if (s->proc) return true;
      }
      return false;
    };
    auto until = SteadyClock::now() + settings_.stop_timeout;
    while (running() && SteadyClock::now() < until) {
      tick.expires_after(std::chrono::milliseconds(50));
      co_await tick.async_wait(asio::as_tuple(use_awaitable));
    }
    for (Service* s : group) {
      if (s->proc && s->st.pid() > 0) {
        log(base::LogLevel::kWarn, "kill",
            {{"service", s->plan.name},
             {"pid", std::to_string(s->st.pid())},
             {"msg", "did not stop within server.stop_timeout"}});
        ::kill(s->st.pid(), SIGKILL);
      }
    }
    auto hard = SteadyClock::now() + std::chrono::seconds(10);
    while (running() && SteadyClock::now() < hard) {
      tick.expires_after(std::chrono::milliseconds(20));
      co_await tick.async_wait(asio::as_tuple(use_awaitable));
    }
  }
  // The child's last log lines arrive just after its exit.
  tick.expires_after(std::chrono::milliseconds(100));
  co_await tick.async_wait(asio::as_tuple(use_awaitable));
  cleanup_sockets();
  log(base::LogLevel::kInfo, "stopped", {});
  sink_.drain(2000);
  io_.stop();
}

void Supervisor::cleanup_sockets() {
  ::unlink(settings_.control_socket.c_str());
  for (const Bound& b : bound_) {
    if (b.spec.address.starts_with("unix:")) ::unlink(b.spec.address.substr(5).c_str());
  }
}

base::Status Supervisor::start() {
  ::signal(SIGPIPE, SIG_IGN);
  ::signal(SIGCHLD, SIG_DFL);  // children must stay waitable
  if (options_.notify_fd >= 0) base::set_notify_fd(options_.notify_fd);
  Plan plan = plan_services(settings_.listeners);
  for (const ListenerSpec& l : plan.unserved) {
    log(base::LogLevel::kWarn, "listener_unserved",
        {{"listener", l.name},
         {"mode", l.mode},
         {"msg", "no service for this mode yet; not bound"}});
  }
  if (::geteuid() == 0) {
    auto u = lookup_user(settings_.user);
    if (!u) return u.error();
    user_ = std::move(*u);
  } else {
    log(base::LogLevel::kWarn, "unprivileged",
        {{"user", std::to_string(::geteuid())},
         {"msg", "not running as root: services run as this user, server.user is not used"}});
  }
  if (auto st = prepare_data_dir(settings_.data_dir, user_); !st) return st;
  std::string dir = options_.program_dir.empty() ? self_dir() : options_.program_dir;
  for (const ServicePlan& p : plan.services) {
    auto program = find_program(p.name, dir);
    if (!program) {
      return base::Error::unavailable(p.name + ": program not found beside postern (" + dir +
                                      ") or on PATH");
    }
    auto s = std::make_unique<Service>(io_, p);
    s->program = *program;
    services_.push_back(std::move(s));
  }
  null_fd_.reset(::open("/dev/null", O_RDWR | O_CLOEXEC));
  if (!null_fd_) return base::Error::from_errno(errno, "/dev/null");
  for (const ServicePlan& p : plan.services) {
    for (const ListenerSpec& l : p.listeners) {
      auto fd = bind_listener(l);
      if (!fd) return fd.error();
      log(base::LogLevel::kInfo, "listening",
          {{"listener", l.name}, {"mode", l.mode}, {"address", l.address}});
      bound_.push_back({l, std::move(*fd)});
    }
  }
  auto control = listen_control(settings_.control_socket);
  if (!control) return control.error();
  control_ = std::make_unique<unix_socket::acceptor>(io_);
  boost::system::error_code ec;
  control_->assign(unix_socket(), control->release(), ec);
  if (ec) return base::Error::internal("control socket: " + ec.message());
  return {};
}

base::Status Supervisor::run() {
  // Before anything else: signals wait for the loop instead of killing us.
  signals_ = std::make_unique<base::ServiceSignals>();
  if (!settings_.log_file.empty()) {
    if (auto st = open_log_file(settings_.log_file); !st) {
      return base::Error::config("server.log_file: " + st.error().message());
    }
  }
  auto st = start();
  if (!st) {
    cleanup_sockets();
    sink_.drain(1000);
    return st;
  }
  log(base::LogLevel::kInfo, "start",
      {{"config", settings_.config_file},
       {"services", std::to_string(services_.size())},
       {"user", user_ ? user_->name : std::to_string(::geteuid())},
       {"control_socket", settings_.control_socket}});
  asio::co_spawn(io_, watch_signals(asio::posix::stream_descriptor(io_, ::dup(signals_->fd()))),
                 asio::detached);
  asio::co_spawn(io_, accept_control(*control_), asio::detached);
  for (auto& s : services_) asio::co_spawn(io_, supervise(*s), asio::detached);
  io_.run();
  sink_.drain(2000);
  return {};
}

}  // namespace

base::Status run(const Settings& settings, const Reloader& reload, const RunOptions& options) {
  Supervisor sup(settings, reload, options);
  return sup.run();
}

}  // namespace postern::supervise
