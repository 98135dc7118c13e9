// The service contract on Asio, shared by the daemons (service_asio.h).
#include "smtp/service_asio.h"

#include <unistd.h>

#include <chrono>

#include "base/log.h"

namespace postern::smtp {

namespace asio = boost::asio;
using asio::awaitable;
using asio::use_awaitable;
using tcp = asio::ip::tcp;

awaitable<void> watch_signals(asio::io_context& io, base::ServiceSignals& signals,
                              std::function<void()> on_reload, std::function<void()> on_drain) {
  asio::posix::stream_descriptor sd(io, ::dup(signals.fd()));
  for (;;) {
    boost::system::error_code ec;
    co_await sd.async_wait(asio::posix::stream_descriptor::wait_read, asio::redirect_error(use_awaitable, ec));
    if (ec) co_return;
    while (auto ev = signals.next()) {
      switch (*ev) {
        case base::ServiceEvent::kReload:
          if (on_reload) on_reload();
          break;
        case base::ServiceEvent::kDrain:
          if (on_drain) on_drain();
          co_return;
        case base::ServiceEvent::kReopenLogs:
          (void)base::log_reopen();
          break;
      }
    }
  }
}

void Reloads::request(asio::io_context& io, std::function<awaitable<void>()> once,
                      std::function<bool()> go_on) {
  if (running_) {
    again_ = true;
    return;
  }
  running_ = true;
  base::log_info("reloading", {});
  asio::co_spawn(io, [this, once = std::move(once), go_on = std::move(go_on)]() -> awaitable<void> {
    do {
      again_ = false;
      co_await once();
    } while (again_ && go_on());
    running_ = false;
  }, asio::detached);
}

base::Result<tcp::endpoint> parse_endpoint(const std::string& address) {
  std::string host, port;
  if (!address.empty() && address.front() == '[') {
    size_t close = address.find(']');
    if (close == std::string::npos || close + 1 >= address.size() || address[close + 1] != ':') {
      return base::Error::config("bad listener address " + address);
    }
    host = address.substr(1, close - 1);
    port = address.substr(close + 2);
  } else {
    size_t colon = address.rfind(':');
    if (colon == std::string::npos) return base::Error::config("bad listener address " + address);
    host = address.substr(0, colon);
    port = address.substr(colon + 1);
  }
  boost::system::error_code ec;
  auto ip = asio::ip::make_address(host.empty() ? "0.0.0.0" : host, ec);
  if (ec) return base::Error::config("listener address " + address + ": not an IP address");
  int p = 0;
  for (char c : port) {
    if (c < '0' || c > '9') return base::Error::config("listener address " + address + ": bad port");
    p = p * 10 + (c - '0');
    if (p > 65535) return base::Error::config("listener address " + address + ": bad port");
  }
  return tcp::endpoint(ip, static_cast<unsigned short>(p));
}

base::Result<std::unique_ptr<tcp::acceptor>> listen_metrics(asio::io_context& io,
                                                            const std::string& address) {
  auto ep = parse_endpoint(address);
  if (!ep) return ep.error();
  auto a = std::make_unique<tcp::acceptor>(io);
  boost::system::error_code ec;
  a->open(ep->protocol(), ec);
  if (!ec) a->set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) a->bind(*ep, ec);
  if (!ec) a->listen(64, ec);
  if (ec) return base::Error::config("metrics " + address + ": " + ec.message());
  return a;
}

awaitable<void> serve_metrics(tcp::acceptor& a, std::function<std::string()> render) {
  for (;;) {
    boost::system::error_code ec;
    tcp::socket sock = co_await a.async_accept(asio::redirect_error(use_awaitable, ec));
    if (ec) {
      if (ec == asio::error::operation_aborted || !a.is_open()) co_return;
      continue;
    }
    // co_spawn keeps this function object (and its captures) alive while it runs.
    auto one = [render, sock = std::move(sock)]() mutable -> awaitable<void> {
      std::string req;
      char buf[2048];
      boost::system::error_code e;
      asio::steady_timer t(sock.get_executor(), std::chrono::seconds(5));
      t.async_wait([&sock](boost::system::error_code c) {
        if (!c) sock.close();
      });
      while (req.find("\r\n\r\n") == std::string::npos && req.size() < 8192) {
        size_t n = co_await sock.async_read_some(asio::buffer(buf), asio::redirect_error(use_awaitable, e));
        if (e) co_return;
        req.append(buf, n);
      }
      t.cancel();
      std::string body, status = "200 OK";
      if (req.starts_with("GET /metrics ") || req.starts_with("GET / ")) {
        body = render();
      } else {
        status = "404 Not Found";
        body = "not found\n";
      }
      std::string resp = "HTTP/1.1 " + status +
                         "\r\nContent-Type: text/plain; version=0.0.4\r\nConnection: close\r\n"
                         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
      co_await asio::async_write(sock, asio::buffer(resp), asio::redirect_error(use_awaitable, e));
      sock.close(e);
    };
    asio::co_spawn(a.get_executor(), std::move(one), asio::detached);
  }
}

}  // namespace postern::smtp
