// The service contract of lib/base for daemons on Boost.Asio (smtp-listen, queue-run): the
// signals (SIGHUP reload, SIGTERM drain, SIGUSR1 reopen the log) on the event loop, and
// the Prometheus endpoint: GET /metrics (or /) on a loopback address answers the text
// exposition format, anything else 404. Only *_asio.cpp files include this.
//
//   asio::co_spawn(io, smtp::watch_signals(io, signals, on_reload, on_drain), asio::detached);
//   auto a = smtp::listen_metrics(io, "127.0.0.1:9125");   // Error::config when it cannot bind
//   asio::co_spawn(io, smtp::serve_metrics(**a, [&] { return render(); }), asio::detached);
#pragma once

#include <boost/asio.hpp>

#include <functional>
#include <memory>
#include <string>

#include "base/result.h"
#include "base/service.h"

namespace postern::smtp {

// Runs on_reload for SIGHUP and reopens the log for SIGUSR1, until SIGTERM/SIGINT: then
// on_drain runs and the coroutine ends.
boost::asio::awaitable<void> watch_signals(boost::asio::io_context& io, base::ServiceSignals& signals,
                                           std::function<void()> on_reload,
                                           std::function<void()> on_drain);

// SIGHUP reloads, one at a time and off the signal handler's back: request() logs
// "reloading" and spawns `once` on the event loop, unless a reload is running; then that
// one runs `once` again when it ends (several requests meanwhile make one more run), while
// go_on() holds (false when the service drains).
class Reloads {
 public:
  void request(boost::asio::io_context& io, std::function<boost::asio::awaitable<void>()> once,
               std::function<bool()> go_on);

 private:
  bool running_ = false, again_ = false;
};

// "host:port" or "[v6]:port" → an endpoint (Error::config otherwise).
base::Result<boost::asio::ip::tcp::endpoint> parse_endpoint(const std::string& address);

// A listening acceptor on `address`.
base::Result<std::unique_ptr<boost::asio::ip::tcp::acceptor>> listen_metrics(
    boost::asio::io_context& io, const std::string& address);

// Serves until the acceptor is closed. `render` runs on the event loop for each request.
boost::asio::awaitable<void> serve_metrics(boost::asio::ip::tcp::acceptor& a,
                                           std::function<std::string()> render);

}  // namespace postern::smtp
