// The outbound SMTP/LMTP client as Asio coroutines (RFC 5321, 2920 PIPELINING, 3030
// CHUNKING, 3207 STARTTLS, 4954 AUTH, 7672 DANE, 2033 LMTP). Only *_asio.cpp files and
// tests include this header; the data types are in client.h.
//
//   auto o = co_await client::Connection::open(ex, "192.0.2.25", 25, "mx.example.net", options);
//   if (!o.connection) co_return defer(o.failure);          // nothing was sent
//   client::SendOutcome s = co_await o.connection->send(envelope, crlf_bytes);
//   if (s.result) for (size_t i = 0; ...) record(i, s.result->outcome(i));
//   co_await o.connection->quit();
//
// Every step has its own deadline (a watchdog per step: a peer trickling bytes does not
// extend it); a timeout, a lost connection or a garbled reply ends the connection and
// counts as transient.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "smtp/client.h"

namespace postern::smtp::client {

struct OpenOutcome;
struct SendOutcome;

class Connection {
 public:
  struct Impl;
  explicit Connection(std::shared_ptr<Impl> impl);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // TCP connect to ip:port (literal address; the caller resolved it), greeting, EHLO
  // (HELO fallback if EHLO is refused with 5xx), STARTTLS per the policy (re-EHLO after),
  // AUTH if set. Implicit TLS for kImplicit. `host` is the MX name (logs, SNI, names default).
  static boost::asio::awaitable<OpenOutcome> open(boost::asio::any_io_executor ex, std::string ip,
                                                  uint16_t port, std::string host, Options options);
  const Capabilities& caps() const;
  const TlsResult& tls() const;
  std::string peer() const;  // "host[ip]:port"
  // One transaction. PIPELINING when offered; BDAT when CHUNKING is offered and (body is
  // BINARYMIME or the chunking option is set); otherwise DATA with dot-stuffing (data is
  // CRLF). Refuses before sending (Failure, permanent) when the message needs
  // SMTPUTF8/BINARYMIME/8BITMIME and the peer lacks it, REQUIRETLS without verified TLS,
  // a message over the peer's SIZE, or a line over 998 octets (not BINARYMIME). After a
  // failed transaction the connection is RSET and reusable if still open.
  boost::asio::awaitable<SendOutcome> send(Envelope env, std::string_view data);
  boost::asio::awaitable<void> quit();  // QUIT, then close; never throws
  bool usable() const;                  // still connected, in a clean state

 private:
  std::shared_ptr<Impl> impl_;
};

struct OpenOutcome {
  std::unique_ptr<Connection> connection;  // null → failure
  Failure failure;
  TlsResult tls;  // also on a failure: how far TLS got and why it failed (TLS-RPT)
};
struct SendOutcome {
  std::optional<TransactionResult> result;  // empty → failure
  Failure failure;
};

}  // namespace postern::smtp::client
