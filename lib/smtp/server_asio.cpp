// The event loop of smtp-listen: listeners, TLS, worker threads, group commit, signals,
// metrics and --stdio (see server.h).
#include <arpa/inet.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <algorithm>
#include <optional>

#include "base/log.h"
#include "smtp/internal_asio.h"
#include "smtp/service_asio.h"

namespace postern::smtp {
namespace {

using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
namespace q = store::queue;

class SocketStream : public Stream {
 public:
  explicit SocketStream(tcp::socket s) : sock_(std::move(s)) {}
  awaitable<size_t> read_some(char* buf, size_t n) override {
    if (tls_) co_return co_await tls_->async_read_some(asio::buffer(buf, n), use_awaitable);
    co_return co_await sock_.async_read_some(asio::buffer(buf, n), use_awaitable);
  }
  awaitable<void> write(std::string_view d) override {
    if (tls_) {
      co_await asio::async_write(*tls_, asio::buffer(d.data(), d.size()), use_awaitable);
    } else {
      co_await asio::async_write(sock_, asio::buffer(d.data(), d.size()), use_awaitable);
    }
  }
  bool can_tls() const override { return true; }
  awaitable<void> handshake(std::shared_ptr<asio::ssl::context> ctx) override {
    ctx_ = std::move(ctx);
    tls_ = std::make_unique<asio::ssl::stream<tcp::socket&>>(sock_, *ctx_);
    co_await tls_->async_handshake(asio::ssl::stream_base::server, use_awaitable);
    handshaken_ = true;
  }
  bool is_tls() const override { return handshaken_; }
  std::string tls_info() const override {
    if (!handshaken_) return {};
    SSL* ssl = const_cast<asio::ssl::stream<tcp::socket&>&>(*tls_).native_handle();
    return std::string(SSL_get_version(ssl)) + " with cipher " + SSL_get_cipher_name(ssl);
  }
  void close() override {
    boost::system::error_code ec;
    sock_.shutdown(tcp::socket::shutdown_both, ec);
    sock_.close(ec);
  }

 private:
  tcp::socket sock_;
  std::shared_ptr<asio::ssl::context> ctx_;
  std::unique_ptr<asio::ssl::stream<tcp::socket&>> tls_;
  bool handshaken_ = false;
};

using unix_socket = asio::local::stream_protocol;

// The uid and pid of the process at the other end of a Unix socket (Linux SO_PEERCRED:
// the credentials it had when it connected). The login name is looked up later, off the
// event loop.
LocalPeer peer_credentials(int fd) {
  LocalPeer p;
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
    p.uid = cred.uid;
    p.pid = cred.pid;
  }
  return p;
}

// A local listener's connection: plain bytes (no TLS), and who is calling.
class UnixStream : public Stream {
 public:
  explicit UnixStream(unix_socket::socket s)
      : sock_(std::move(s)), peer_(peer_credentials(sock_.native_handle())) {}
  awaitable<size_t> read_some(char* buf, size_t n) override {
    co_return co_await sock_.async_read_some(asio::buffer(buf, n), use_awaitable);
  }
  awaitable<void> write(std::string_view d) override {
    co_await asio::async_write(sock_, asio::buffer(d.data(), d.size()), use_awaitable);
  }
  LocalPeer* local_peer() override { return &peer_; }
  void close() override {
    boost::system::error_code ec;
    sock_.shutdown(unix_socket::socket::shutdown_both, ec);
    sock_.close(ec);
  }

 private:
  unix_socket::socket sock_;
  LocalPeer peer_;
};

// stdin/stdout, read and written directly: --stdio serves one session, so blocking is fine,
// and it works for pipes, files and terminals alike (epoll refuses regular files).
class StdioStream : public Stream {
 public:
  StdioStream(int in, int out, std::function<Clock::time_point()> deadline)
      : in_(in), out_(out), deadline_(std::move(deadline)) {}
  awaitable<size_t> read_some(char* buf, size_t n) override {
    for (;;) {
      if (closed_) throw boost::system::system_error(asio::error::operation_aborted);
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline_() - Clock::now());
      if (left.count() <= 0) throw boost::system::system_error(asio::error::timed_out);
      pollfd p{in_, POLLIN, 0};
      int rc = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 1000)));
      if (rc < 0 && errno != EINTR) throw boost::system::system_error(errno, boost::system::system_category());
      if (rc <= 0) continue;
      ssize_t got = ::read(in_, buf, n);
      if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (got < 0) throw boost::system::system_error(errno, boost::system::system_category());
      if (got == 0) throw boost::system::system_error(asio::error::eof);
      co_return static_cast<size_t>(got);
    }
  }
  awaitable<void> write(std::string_view d) override {
    if (closed_) throw boost::system::system_error(asio::error::operation_aborted);
    while (!d.empty()) {
      ssize_t w = ::write(out_, d.data(), d.size());
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) throw boost::system::system_error(errno, boost::system::system_category());
      d.remove_prefix(static_cast<size_t>(w));
    }
    co_return;
  }
  void close() override { closed_ = true; }
  // --stdio as a local listener: the caller is whoever runs smtp-listen.
  void set_local_peer(LocalPeer p) { local_ = std::move(p); }
  LocalPeer* local_peer() override { return local_ ? &*local_ : nullptr; }

 private:
  std::optional<LocalPeer> local_;
  int in_, out_;
  std::function<Clock::time_point()> deadline_;
  bool closed_ = false;
};

std::string peer_ip(const tcp::socket& s) {
  boost::system::error_code ec;
  auto ep = s.remote_endpoint(ec);
  if (ec) return "0.0.0.0";
  auto a = ep.address();
  if (a.is_v6() && a.to_v6().is_v4_mapped()) {
    return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6()).to_string();
  }
  return a.to_string();
}


// Binds a local listener's socket: "unix:/path". A socket left behind by an earlier run
// is removed first; anything else at the path is left alone and is an error. Mode 0666:
// any local user may connect, the directory's permissions are the access control.
base::Status bind_local(unix_socket::acceptor& a, const std::string& address) {
  if (!address.starts_with("unix:/")) {
    return base::Error::config("local listener address " + address + ": expected unix:/path");
  }
  std::string path = address.substr(5);
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return base::Error::config("local listener " + path + " exists and is not a socket");
    }
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      return base::Error::from_errno(errno, "removing the stale socket " + path);
    }
  }
  boost::system::error_code ec;
  a.open(unix_socket(), ec);
  if (!ec) a.bind(unix_socket::endpoint(path), ec);
  if (ec) return base::Error::config("local listener " + path + ": " + ec.message());
  if (::chmod(path.c_str(), 0666) != 0) return base::Error::from_errno(errno, "chmod " + path);
  a.listen(1024, ec);
  if (ec) return base::Error::config("local listener " + path + ": " + ec.message());
  return {};
}

// Best-effort one-line refusal on a socket we will not serve (connection limits).
template <typename Socket>
void refuse(Socket& sock, std::string_view line) {
  boost::system::error_code ec;
  sock.non_blocking(true, ec);
  asio::write(sock, asio::buffer(line.data(), line.size()), ec);
  sock.close(ec);
}

}  // namespace

std::string_view mode_name(Mode m) {
  switch (m) {
    case Mode::kMx: return "mx";
    case Mode::kSubmission: return "submission";
    case Mode::kSubmissions: return "submissions";
    case Mode::kLmtp: return "lmtp";
    case Mode::kLocal: return "local";
  }
  return "mx";
}

// ---- workers ----

store::Store* WorkerContext::get_store(const StoreOpener& open) {
  if (store) return store.get();
  auto s = open();
  if (!s) {
    store_error = s.error();
    return nullptr;
  }
  store = std::move(*s);
  store_error = {};
  return store.get();
}

void WorkerContext::use_settings(const Settings* s) {
  if (filters.settings == s) return;
  filters.settings = s;
  filters.resolver.reset();  // resolver options and the PSL path may have changed
  filters.psl = nullptr;
}

// ---- the server ----

Server::Impl::Impl(Settings s, StoreOpener open, Reloader r)
    : settings(std::make_shared<const Settings>(std::move(s))),
      open_store(std::move(open)),
      reload(std::move(r)) {}

base::Result<std::shared_ptr<asio::ssl::context>> Server::Impl::make_tls(const Settings& s) {
  if (s.tls_certificate.empty() && s.tls_key.empty()) return std::shared_ptr<asio::ssl::context>();
  if (s.tls_certificate.empty() || s.tls_key.empty()) {
    return base::Error::config("tls: both certificate and key are needed");
  }
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
  ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                   asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                   asio::ssl::context::no_tlsv1_1 | asio::ssl::context::single_dh_use);
  boost::system::error_code ec;
  ctx->use_certificate_chain_file(s.tls_certificate, ec);
  if (ec) return base::Error::config("tls certificate " + s.tls_certificate + ": " + ec.message());
  ctx->use_private_key_file(s.tls_key, asio::ssl::context::pem, ec);
  if (ec) return base::Error::config("tls key " + s.tls_key + ": " + ec.message());
  if (SSL_CTX_check_private_key(ctx->native_handle()) != 1) {
    return base::Error::config("tls key " + s.tls_key + " does not match the certificate");
  }
  return ctx;
}

base::Status Server::Impl::load_tls(const Settings& s) {
  auto ctx = make_tls(s);
  if (!ctx) return ctx.error();
  tls = std::move(*ctx);
  return {};
}

base::Status Server::Impl::start_workers() {
  auto st = open_store();
  if (!st) return st.error();
  auto checkpointer = open_store();
  if (!checkpointer) return checkpointer.error();
  committer = std::make_unique<q::GroupCommitter>(std::move(*st), q::GroupCommitter::Options{},
                                                  std::move(*checkpointer));
  workers = std::make_unique<ThreadPool<WorkerContext>>(8);
  return {};
}

awaitable<base::Status> Server::Impl::enqueue(q::NewMessage m, std::string data) {
  auto ex = co_await asio::this_coro::executor;
  // Named, not a temporary: GCC 12 destroys temporaries inside co_await twice.
  auto init = [this, ex, &m, &data](auto handler) mutable {
        auto h = std::make_shared<decltype(handler)>(std::move(handler));
        auto work = std::make_shared<asio::executor_work_guard<asio::io_context::executor_type>>(
            io.get_executor());
        committer->submit(std::move(m), std::move(data), [ex, h, work](base::Status result) {
          asio::post(ex, [h, work, result]() mutable {
            std::move (*h)(result);
            work->reset();
          });
        });
      };
  base::Status st = co_await asio::async_initiate<const asio::use_awaitable_t<>&, void(base::Status)>(
      std::move(init), use_awaitable);
  co_return st;
}

bool Server::Impl::recipient_cached(const std::string& key) {
  auto it = recipients.find(key);
  if (it == recipients.end()) return false;
  if (Clock::now() < it->second) return true;
  recipients.erase(it);
  return false;
}

void Server::Impl::cache_recipient(const std::string& key) {
  if (recipients.size() > 100000) recipients.clear();  // bounded under a dictionary attack
  recipients[key] = Clock::now() + kRecipientTtl;
}

bool Server::Impl::rate_ok(std::map<std::string, Rate>& table, const std::string& key,
                           int per_minute, bool count) {
  if (per_minute <= 0) return true;
  int64_t minute = std::chrono::duration_cast<std::chrono::minutes>(
                       std::chrono::steady_clock::now().time_since_epoch())
                       .count();
  if (table.size() > 100000) table.clear();  // bounded memory under a flood of keys
  Rate& r = table[key];
  if (r.minute != minute) r = {minute, 0};
  if (count) ++r.count;
  return r.count < per_minute || count;
}

std::string Server::Impl::metrics() const {
  std::string m;
  auto line = [&m](const std::string& name, const std::string& labels, uint64_t v) {
    m += name;
    if (!labels.empty()) m += "{" + labels + "}";
    m += " " + std::to_string(v) + "\n";
  };
  m += "# TYPE postern_smtp_connections_total counter\n";
  for (const auto& [l, v] : counters.connections) line("postern_smtp_connections_total", "listener=\"" + l + "\"", v);
  m += "# TYPE postern_smtp_connections_active gauge\n";
  line("postern_smtp_connections_active", "", static_cast<uint64_t>(counters.active));
  m += "# TYPE postern_smtp_messages_total counter\n";
  for (const auto& [l, v] : counters.messages) line("postern_smtp_messages_total", "listener=\"" + l + "\"", v);
  m += "# TYPE postern_smtp_rejects_total counter\n";
  for (const auto& [r, v] : counters.rejects) line("postern_smtp_rejects_total", "reason=\"" + r + "\"", v);
  m += "# TYPE postern_smtp_auth_total counter\n";
  line("postern_smtp_auth_total", "result=\"success\"", counters.auth_success);
  line("postern_smtp_auth_total", "result=\"failure\"", counters.auth_failure);
  m += "# TYPE postern_lmtp_delivered_total counter\n";
  line("postern_lmtp_delivered_total", "", counters.lmtp_delivered);
  if (committer) {
    auto st = committer->stats();
    m += "# TYPE postern_queue_commits_total counter\n";
    line("postern_queue_commits_total", "", st.batches);
    m += "# TYPE postern_queue_committed_messages_total counter\n";
    line("postern_queue_committed_messages_total", "", st.messages);
    m += "# TYPE postern_queue_commit_failures_total counter\n";
    line("postern_queue_commit_failures_total", "", st.failures);
    m += "# TYPE postern_queue_commit_seconds summary\n";
    m += "postern_queue_commit_seconds_sum " + std::to_string(st.total_commit_seconds) + "\n";
    m += "postern_queue_commit_seconds_count " + std::to_string(st.batches) + "\n";
    m += "# TYPE postern_queue_checkpoint_seconds summary\n";
    m += "postern_queue_checkpoint_seconds_sum " + std::to_string(st.checkpoint_seconds) + "\n";
    m += "postern_queue_checkpoint_seconds_count " + std::to_string(st.checkpoints) + "\n";
  }
  return m;
}


awaitable<void> Server::Impl::accept_loop(tcp::acceptor& a, ListenerSpec l) {
  for (;;) {
    boost::system::error_code ec;
    tcp::socket sock = co_await a.async_accept(asio::redirect_error(use_awaitable, ec));
    if (ec) {
      if (ec == asio::error::operation_aborted || draining) co_return;
      base::log_warn("accept_failed", {{"listener", l.name}, {"error", ec.message()}});
      asio::steady_timer t(io, std::chrono::milliseconds(100));  // EMFILE and friends
      co_await t.async_wait(asio::redirect_error(use_awaitable, ec));
      continue;
    }
    std::string ip = peer_ip(sock);
    const Limits& lim = settings->limits;
    if (lim.max_connections > 0 && counters.active >= lim.max_connections) {
      ++counters.rejects["too_many_connections"];
      refuse(sock, "421 4.7.0 too many connections; try later\r\n");
      continue;
    }
    int& mine = per_ip[ip];
    if (lim.max_connections_per_ip > 0 && mine >= lim.max_connections_per_ip) {
      ++counters.rejects["too_many_connections_ip"];
      refuse(sock, "421 4.7.0 too many connections from your address; try later\r\n");
      continue;
    }
    ++mine;
    boost::system::error_code nd;
    sock.set_option(tcp::no_delay(true), nd);
    auto session = std::make_shared<Session>(*this, l, std::make_unique<SocketStream>(std::move(sock)), ip);
    asio::co_spawn(io, [session]() -> awaitable<void> { co_await session->run(); }, asio::detached);
  }
}

// Local clients are counted against max_connections, not per address (they have none);
// the session learns who they are from the stream (SO_PEERCRED).
awaitable<void> Server::Impl::local_accept_loop(unix_socket::acceptor& a, ListenerSpec l) {
  for (;;) {
    boost::system::error_code ec;
    unix_socket::socket sock = co_await a.async_accept(asio::redirect_error(use_awaitable, ec));
    if (ec) {
      if (ec == asio::error::operation_aborted || draining) co_return;
      base::log_warn("accept_failed", {{"listener", l.name}, {"error", ec.message()}});
      asio::steady_timer t(io, std::chrono::milliseconds(100));
      co_await t.async_wait(asio::redirect_error(use_awaitable, ec));
      continue;
    }
    const Limits& lim = settings->limits;
    if (lim.max_connections > 0 && counters.active >= lim.max_connections) {
      ++counters.rejects["too_many_connections"];
      refuse(sock, "421 4.7.0 too many connections; try later\r\n");
      continue;
    }
    auto session =
        std::make_shared<Session>(*this, l, std::make_unique<UnixStream>(std::move(sock)), "local");
    asio::co_spawn(io, [session]() -> awaitable<void> { co_await session->run(); }, asio::detached);
  }
}

void Server::Impl::start_drain() {
  if (draining) return;
  draining = true;
  base::log_info("drain", {{"sessions", std::to_string(sessions.size())}});
  for (auto& a : acceptors) {
    boost::system::error_code ec;
    a->close(ec);
  }
  for (auto& a : local_acceptors) {
    boost::system::error_code ec;
    a->close(ec);
  }
  std::vector<Session*> now(sessions.begin(), sessions.end());
  for (Session* s : now) s->drain();
  // After the deadline, whatever is still connected is cut off.
  asio::co_spawn(io, [this]() -> awaitable<void> {
    auto until = Clock::now() + settings->limits.drain_timeout;
    asio::steady_timer t(io);
    while (!sessions.empty() && Clock::now() < until) {
      t.expires_after(std::chrono::milliseconds(50));
      co_await t.async_wait(use_awaitable);
    }
    if (!sessions.empty()) {
      base::log_warn("drain_timeout", {{"sessions", std::to_string(sessions.size())}});
      std::vector<Session*> left(sessions.begin(), sessions.end());
      for (Session* s : left) s->drain();
      io.stop();
    }
  }, asio::detached);
}

void Server::Impl::reload_settings() {
  if (!reload) return;
  reloads.request(
      io,
      [this]() -> awaitable<void> {
        auto r = co_await blocking<base::Result<Reloaded>>(
            [this](WorkerContext& w) { return prepare_reload(w); });
        if (r) {
          apply_reload(std::move(*r));
        } else {
          base::log_warn("reload_failed", {{"error", r.error().message()}});
        }
      },
      [this] { return !draining; });
}

base::Result<Server::Impl::Reloaded> Server::Impl::prepare_reload(WorkerContext& w) {
  auto next = reload();
  if (!next) return next.error();
  if (uses_spam_filter(*next)) {
    store::Store* st = w.get_store(open_store);
    if (st == nullptr) return w.store_error.error();
    if (auto ready = prepare_spam(*next, *st); !ready) return ready.error();
  }
  auto ctx = make_tls(*next);
  if (!ctx) return ctx.error();
  return Reloaded{std::move(*next), std::move(*ctx)};
}

void Server::Impl::apply_reload(Reloaded r) {
  tls = std::move(r.tls);
  old_settings.push_back(settings);
  recipients.clear();  // relay domains may have changed
  settings = std::make_shared<const Settings>(std::move(r.settings));
  base::log_info("reloaded", {{"filters", std::to_string(settings->filters.size())}});
}

Server::Server(Settings settings, StoreOpener open_store, Reloader reload)
    : impl_(std::make_unique<Impl>(std::move(settings), std::move(open_store), std::move(reload))) {}

Server::~Server() {
  if (impl_) {
    impl_->acceptors.clear();
    impl_->local_acceptors.clear();
    impl_->committer.reset();
    impl_->workers.reset();
  }
}

base::Status Server::prepare() {
  const Settings& s = *impl_->settings;
  if (auto st = impl_->load_tls(s); !st) return st;
  for (const auto& f : s.filters) {
    if (!f.builtin.empty() && !known_builtin(f.builtin)) {
      return base::Error::config("filter " + f.name + ": unknown builtin " + f.builtin);
    }
    if (f.builtin.empty() && f.exec.empty()) {
      return base::Error::config("filter " + f.name + ": needs builtin or exec");
    }
  }
  auto st = impl_->open_store();
  if (!st) return st.error().with_context("store");  // temporary: the supervisor retries
  if (s.spam && uses_spam_filter(s)) {
    Settings next = s;
    if (auto ready = prepare_spam(next, **st); !ready) return ready;
    impl_->settings = std::make_shared<const Settings>(std::move(next));
  } else if (uses_spam_filter(s)) {
    return base::Error::config("a spam-score or dnsbl filter needs the spam: section's settings");
  }
  return {};
}

base::Status Server::run(std::vector<base::InheritedSocket> inherited) {
  Impl& m = *impl_;
  // Before any thread starts, so every thread inherits the blocked signal mask.
  m.signals = std::make_unique<base::ServiceSignals>();
  asio::co_spawn(m.io,
                 watch_signals(m.io, *m.signals, [&m] { m.reload_settings(); }, [&m] { m.start_drain(); }),
                 asio::detached);
  for (const ListenerSpec& l : m.settings->listeners) {
    auto it = std::find_if(inherited.begin(), inherited.end(),
                           [&](const base::InheritedSocket& s) { return s.name == l.name; });
    if (l.mode == Mode::kLocal) {
      auto a = std::make_unique<unix_socket::acceptor>(m.io);
      if (it != inherited.end()) {
        sockaddr_storage ss{};
        socklen_t len = sizeof ss;
        ::getsockname(it->fd, reinterpret_cast<sockaddr*>(&ss), &len);
        if (ss.ss_family != AF_UNIX) {
          return base::Error::config("listener " + l.name + ": mode local needs a Unix socket");
        }
        boost::system::error_code ec;
        a->assign(unix_socket(), it->fd, ec);
        if (ec) return base::Error::config("listener " + l.name + ": " + ec.message());
      } else if (auto st = bind_local(*a, l.address); !st) {
        return st.error().with_context("listener " + l.name);
      }
      asio::co_spawn(m.io, m.local_accept_loop(*a, l), asio::detached);
      base::log_info("listening", {{"listener", l.name}, {"mode", mode_name(l.mode)},
                                   {"address", it != inherited.end() ? "inherited" : l.address}});
      m.local_acceptors.push_back(std::move(a));
      continue;
    }
    auto a = std::make_unique<tcp::acceptor>(m.io);
    boost::system::error_code ec;
    if (it != inherited.end()) {
      sockaddr_storage ss{};
      socklen_t len = sizeof ss;
      ::getsockname(it->fd, reinterpret_cast<sockaddr*>(&ss), &len);
      a->assign(ss.ss_family == AF_INET6 ? tcp::v6() : tcp::v4(), it->fd, ec);
    } else {
      auto ep = parse_endpoint(l.address);
      if (!ep) return ep.error();
      a->open(ep->protocol(), ec);
      if (!ec) a->set_option(tcp::acceptor::reuse_address(true), ec);
      if (!ec) a->bind(*ep, ec);
      if (!ec) a->listen(1024, ec);
    }
    if (ec) return base::Error::config("listener " + l.name + " (" + l.address + "): " + ec.message());
    asio::co_spawn(m.io, m.accept_loop(*a, l), asio::detached);
    base::log_info("listening", {{"listener", l.name}, {"mode", mode_name(l.mode)},
                                 {"address", it != inherited.end() ? "inherited" : l.address}});
    m.acceptors.push_back(std::move(a));
  }
  if (!m.settings->metrics_address.empty()) {
    auto a = listen_metrics(m.io, m.settings->metrics_address);
    if (!a) return a.error();
    asio::co_spawn(m.io, serve_metrics(**a, [&m] { return m.metrics(); }), asio::detached);
    m.acceptors.push_back(std::move(*a));
  }
  if (auto st = m.start_workers(); !st) return st.error();
  if (auto st = base::notify_ready(); !st) base::log_error(st.error());
  base::log_info("ready", {{"hostname", m.settings->hostname}});
  m.io.run();
  m.committer.reset();  // commits what was submitted
  m.workers.reset();
  base::log_info("stopped", {});
  return {};
}

base::Status Server::run_stdio(int in_fd, int out_fd, const std::string& peer_ip, const std::string& listener) {
  Impl& m = *impl_;
  ListenerSpec spec{.name = listener.empty() ? "stdio" : listener, .address = "", .mode = Mode::kMx};
  bool found = false;
  for (const auto& l : m.settings->listeners) {
    if (l.name == listener) {
      spec = l;
      found = true;
    }
  }
  if (!found && !listener.empty()) {
    return base::Error::usage("no listener named " + listener + " in the configuration");
  }
  if (auto st = m.start_workers(); !st) return st.error();
  std::shared_ptr<Session> session;
  // Each read may wait as long as the longer of the command and data timeouts.
  auto stream = std::make_unique<StdioStream>(in_fd, out_fd, [&m] {
    const Limits& l = m.settings->limits;
    return Clock::now() + std::max(l.command_timeout, l.data_timeout);
  });
  if (spec.mode == Mode::kLocal) stream->set_local_peer({.uid = ::getuid(), .pid = ::getpid()});
  session = std::make_shared<Session>(m, spec, std::move(stream),
                                      spec.mode == Mode::kLocal ? std::string("local") : peer_ip);
  asio::co_spawn(m.io, [session]() -> awaitable<void> { co_await session->run(); }, asio::detached);
  session.reset();
  m.io.run();
  m.committer.reset();
  m.workers.reset();
  return {};
}

}  // namespace postern::smtp
