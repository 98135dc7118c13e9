// Internal to lib/smtp: the Asio side of the server (server_asio.cpp, session_asio.cpp).
// Only *_asio.cpp files include this (they share a precompiled Boost.Asio header).
#pragma once

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "smtp/filter.h"
#include "smtp/pool_asio.h"
#include "smtp/server.h"
#include "smtp/service_asio.h"
#include "store/queue.h"
#include "store/store.h"

namespace postern::smtp {

namespace asio = boost::asio;
using asio::awaitable;
using asio::use_awaitable;

// A byte stream a session speaks over: a TCP socket (optionally under TLS), or stdin and
// stdout. read_some/write throw boost::system::system_error on failure and on EOF.
class Stream {
 public:
  virtual ~Stream() = default;
  virtual awaitable<size_t> read_some(char* buf, size_t n) = 0;
  virtual awaitable<void> write(std::string_view data) = 0;
  virtual bool can_tls() const { return false; }
  // Server-side TLS handshake (STARTTLS or implicit TLS); throws on failure.
  virtual awaitable<void> handshake(std::shared_ptr<asio::ssl::context>) { co_return; }
  virtual bool is_tls() const { return false; }
  virtual std::string tls_info() const { return {}; }  // "TLSv1.3 with cipher X"
  // The peer of a local listener's Unix socket (or of --stdio as a local listener).
  virtual LocalPeer* local_peer() { return nullptr; }
  virtual void close() = 0;  // cancels what is pending (timeouts, drain)
};

// Threads for work that may block, each with its own Store (opened on first use) and
// filter context. Jobs run in submission order per thread, any thread.
struct WorkerContext {
  std::unique_ptr<store::Store> store;
  base::Status store_error;
  FilterContext filters;
  // The store, opened on first use; nullptr with store_error set when it cannot be.
  store::Store* get_store(const StoreOpener& open);
  // Before each job: the settings it runs under (a reload changes them; the resolver and
  // the PSL are made again from the new ones).
  void use_settings(const Settings* s);
};

struct Counters {
  std::map<std::string, uint64_t> connections;  // by listener
  std::map<std::string, uint64_t> messages;     // by listener
  std::map<std::string, uint64_t> rejects;      // by reason
  uint64_t auth_success = 0, auth_failure = 0;
  uint64_t lmtp_delivered = 0;
  int active = 0;
};

class Session;

struct Server::Impl {
  Impl(Settings s, StoreOpener open, Reloader reload);

  asio::io_context io{1};
  std::shared_ptr<const Settings> settings;
  std::shared_ptr<asio::ssl::context> tls;  // null: no TLS configured
  StoreOpener open_store;
  Reloader reload;
  std::unique_ptr<ThreadPool<WorkerContext>> workers;
  std::unique_ptr<store::queue::GroupCommitter> committer;
  std::vector<std::shared_ptr<const Settings>> old_settings;  // kept alive for workers

  bool draining = false;
  std::set<Session*> sessions;
  std::map<std::string, int> per_ip;
  struct AuthFailures {
    int count = 0;
    std::chrono::steady_clock::time_point first;
  };
  std::map<std::string, AuthFailures> auth_failures;
  struct Rate {
    int64_t minute = 0;
    int count = 0;
  };
  std::map<std::string, Rate> rate_ip, rate_sender;
  Counters counters;
  // Recipients accepted recently (key: mode letter + address), so RCPT does not go to a
  // worker for every message; cleared on reload, entries live kRecipientTtl.
  std::map<std::string, std::chrono::steady_clock::time_point> recipients;
  static constexpr std::chrono::seconds kRecipientTtl{10};
  bool recipient_cached(const std::string& key);
  void cache_recipient(const std::string& key);
  std::vector<std::unique_ptr<asio::ip::tcp::acceptor>> acceptors;
  std::vector<std::unique_ptr<asio::local::stream_protocol::acceptor>> local_acceptors;
  std::unique_ptr<base::ServiceSignals> signals;  // made before any thread starts

  base::Status load_tls(const Settings& s);
  // The TLS context of `s`; nullptr when it configures none.
  static base::Result<std::shared_ptr<asio::ssl::context>> make_tls(const Settings& s);
  base::Status start_workers();
  // Runs `f` on a worker thread; resumes the caller on the event loop with its result.
  template <typename R>
  awaitable<R> blocking(std::function<R(WorkerContext&)> f);
  // Commits the message to the queue (group commit); resumes with the outcome.
  awaitable<base::Status> enqueue(store::queue::NewMessage m, std::string data);

  bool rate_ok(std::map<std::string, Rate>& table, const std::string& key, int per_minute, bool count);
  std::string metrics() const;
  awaitable<void> accept_loop(asio::ip::tcp::acceptor& a, ListenerSpec l);
  awaitable<void> local_accept_loop(asio::local::stream_protocol::acceptor& a, ListenerSpec l);
  // SIGHUP: the new settings, or a warning and the old ones. The configuration is read
  // and the spam filter's rules compiled on a worker thread, so sessions go on meanwhile;
  // a SIGHUP during a reload runs one more after it.
  void reload_settings();
  struct Reloaded {
    Settings settings;
    std::shared_ptr<asio::ssl::context> tls;
  };
  base::Result<Reloaded> prepare_reload(WorkerContext& w);  // on a worker thread
  void apply_reload(Reloaded r);                            // on the event loop
  Reloads reloads;
  void start_drain();
};

template <typename R>
awaitable<R> Server::Impl::blocking(std::function<R(WorkerContext&)> f) {
  std::function<R(WorkerContext&)> job = [s = settings.get(), f = std::move(f)](WorkerContext& w) {
    w.use_settings(s);
    return f(w);
  };
  co_return co_await run_blocking<R, WorkerContext>(io, *workers, std::move(job));
}

// One SMTP/LMTP session (session_asio.cpp).
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Server::Impl& server, ListenerSpec listener, std::unique_ptr<Stream> stream,
          std::string peer_ip);
  ~Session();
  awaitable<void> run();
  // Drain: an idle session says 421 and closes; a busy one finishes its transaction.
  void drain();

  struct State;

 private:
  std::unique_ptr<State> s_;
};

}  // namespace postern::smtp
