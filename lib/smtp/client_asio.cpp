// The outbound SMTP/LMTP client on Asio coroutines (see client_asio.h), and the blocking
// send_one() facade of client.h.
#include "smtp/client_asio.h"

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <chrono>
#include <exception>
#include <stdexcept>

#include "smtp/command.h"

namespace postern::smtp::client {
namespace {

namespace asio = boost::asio;
using asio::awaitable;
using asio::use_awaitable;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

// A reply that is not one (garbled, too long): ends the connection.
struct ProtocolError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::string base64(std::string_view in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

bool is_ip_literal(const std::string& s) {
  boost::system::error_code ec;
  asio::ip::make_address(s, ec);
  return !ec;
}

// "_25._tcp.mx.example.org" → "mx.example.org" (RFC 7672 2.2.3: the TLSA base domain).
std::string tlsa_base(const std::string& owner) {
  std::string_view v = owner;
  for (int i = 0; i < 2; ++i) {
    if (v.empty() || v.front() != '_') return owner;
    size_t dot = v.find('.');
    if (dot == std::string_view::npos) return owner;
    v.remove_prefix(dot + 1);
  }
  return std::string(v);
}

// RFC 3461 4.1 NOTIFY.
std::string notify_param(unsigned bits) {
  if (bits & 1u) return "NEVER";
  std::string s;
  if (bits & 2u) s += "SUCCESS";
  if (bits & 4u) s += std::string(s.empty() ? "" : ",") + "FAILURE";
  if (bits & 8u) s += std::string(s.empty() ? "" : ",") + "DELAY";
  return s;
}

constexpr size_t kCommandLine = 512;  // RFC 5321 4.5.3.1.4, CRLF included
constexpr size_t kWriteChunk = 64 * 1024;
constexpr size_t kBdatChunk = 1024 * 1024;

}  // namespace

tls_rpt::ResultType rpt_result_of_verify_error(long v) {
  switch (v) {
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
      return tls_rpt::ResultType::kCertificateHostMismatch;
    case X509_V_ERR_CERT_HAS_EXPIRED:
    case X509_V_ERR_CERT_NOT_YET_VALID:
    case X509_V_ERR_ERROR_IN_CERT_NOT_BEFORE_FIELD:
    case X509_V_ERR_ERROR_IN_CERT_NOT_AFTER_FIELD:
      return tls_rpt::ResultType::kCertificateExpired;
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_CERT_UNTRUSTED:
    case X509_V_ERR_CERT_REJECTED:
    case X509_V_ERR_INVALID_CA:
      return tls_rpt::ResultType::kCertificateNotTrusted;
    default:
      return tls_rpt::ResultType::kValidationFailure;
  }
}

struct Connection::Impl : std::enable_shared_from_this<Connection::Impl> {
  Impl(asio::any_io_executor e, std::string i, uint16_t p, std::string h, Options opt)
      : ex(e), sock(e), timer(e), ip(std::move(i)), host(std::move(h)), port(p),
        o(std::move(opt)) {}

  asio::any_io_executor ex;
  tcp::socket sock;
  asio::steady_timer timer;
  std::unique_ptr<asio::ssl::context> ctx;
  std::unique_ptr<asio::ssl::stream<tcp::socket&>> ssl;
  std::string ip, host;
  uint16_t port;
  Options o;
  Capabilities caps;
  TlsResult tls;
  std::string in;
  bool connected = false, broken = false, timed_out = false;
  std::string step;  // what we were doing, for failures

  std::string peer() const { return host + "[" + ip + "]:" + std::to_string(port); }

  void close() {
    boost::system::error_code ec;
    sock.shutdown(tcp::socket::shutdown_both, ec);
    sock.close(ec);
    timer.cancel();
    broken = true;
  }

  // The watchdog of one step: when it fires the socket is closed, which fails whatever
  // is pending. Each arm() sets a fresh deadline; bytes arriving do not move it.
  void arm(std::chrono::seconds t, std::string what) {
    step = std::move(what);
    timer.expires_after(t);
    std::weak_ptr<Impl> weak = weak_from_this();
    timer.async_wait([weak](boost::system::error_code ec) {
      if (ec) return;
      if (auto self = weak.lock()) {
        self->timed_out = true;
        self->close();
      }
    });
  }
  void disarm() { timer.cancel(); }

  awaitable<void> write(std::string_view d) {
    if (ssl) {
      co_await asio::async_write(*ssl, asio::buffer(d.data(), d.size()), use_awaitable);
    } else {
      co_await asio::async_write(sock, asio::buffer(d.data(), d.size()), use_awaitable);
    }
  }

  awaitable<Reply> read_reply() {
    char buf[4096];
    for (;;) {
      ParsedReply p = parse_reply(in);
      if (p.status == ParsedReply::kOk) {
        in.erase(0, p.used);
        co_return std::move(p.reply);
      }
      if (p.status == ParsedReply::kBad) throw ProtocolError(p.error);
      if (in.size() > (1u << 20)) throw ProtocolError("reply too long");
      size_t n = ssl ? co_await ssl->async_read_some(asio::buffer(buf), use_awaitable)
                     : co_await sock.async_read_some(asio::buffer(buf), use_awaitable);
      in.append(buf, n);
    }
  }

  // Sends one command line (CRLF included) and reads its reply within `timeout`.
  awaitable<Reply> command(const std::string& line, std::chrono::seconds timeout) {
    arm(timeout, "after " + line.substr(0, std::min(line.find(' '), line.size() - 2)));
    co_await write(line);
    Reply r = co_await read_reply();
    disarm();
    co_return r;
  }

  // The failure for an exception out of a step: the connection is gone.
  Failure lost(const std::exception& e) {
    close();
    Failure f;
    if (timed_out) {
      f.reason = peer() + ": timeout " + step;
    } else if (dynamic_cast<const ProtocolError*>(&e)) {
      f.reason = peer() + ": bad reply " + step + ": " + e.what();
    } else {
      auto* se = dynamic_cast<const boost::system::system_error*>(&e);
      std::string what = se ? se->code().message() : e.what();
      f.reason = peer() + (connected ? ": connection lost " + step : ": cannot connect") + ": " + what;
    }
    f.reply.lines.push_back(f.reason);
    return f;
  }

  Failure refused(const Reply& r, const std::string& what) {
    Failure f;
    f.permanent = r.permanent();
    f.reply = r;
    f.reason = peer() + ": " + what + ": " + r.text();
    return f;
  }

  Failure local(bool permanent, const std::string& why) {
    Failure f;
    f.permanent = permanent;
    f.reason = peer() + ": " + why;
    return f;
  }

  // ---- TLS ----

  bool dane() const {
    for (const auto& r : o.tls.tlsa) {
      if (r.tlsa[0] == 2 || r.tlsa[0] == 3) return true;
    }
    return false;
  }
  bool tls_required() const {
    return o.tls.mode == TlsMode::kRequired || o.tls.mode == TlsMode::kImplicit ||
           (o.tls.mode != TlsMode::kNone && (!o.tls.tlsa.empty() || o.tls.verify_pkix));
  }

  // Makes the context and the TLS stream over the socket; "" or what went wrong.
  std::string prepare_tls() {
    ctx = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_client);
    ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                     asio::ssl::context::no_sslv3);
    SSL_CTX* c = ctx->native_handle();
    bool use_dane = dane(), pkix = (o.tls.verify_pkix || o.tls.audit_pkix) && !use_dane;
    if (use_dane || pkix) {
      if (!o.tls.ca_file.empty()) {
        if (SSL_CTX_load_verify_locations(c, o.tls.ca_file.c_str(), nullptr) != 1) {
          return "cannot load CA file " + o.tls.ca_file;
        }
      } else {
        SSL_CTX_set_default_verify_paths(c);
      }
    }
    if (use_dane && SSL_CTX_dane_enable(c) <= 0) return "DANE is not available";
    ssl = std::make_unique<asio::ssl::stream<tcp::socket&>>(sock, *ctx);
    SSL* s = ssl->native_handle();
    std::string sni = o.tls.sni.empty() ? host : o.tls.sni;
    if (!sni.empty() && !is_ip_literal(sni)) SSL_set_tlsext_host_name(s, sni.c_str());
    // Verified after the handshake (below), so an opportunistic session still gets TLS
    // and the result is reported as it is.
    SSL_set_verify(s, SSL_VERIFY_NONE, nullptr);
    if (use_dane) {
      // RFC 7672 3.2.2: DANE-TA(2) names are the MX host and the TLSA base domain;
      // DANE-EE(3) checks no name and no validity dates (3.1.1).
      std::string base = o.tls.tlsa.front().name.empty() ? host : tlsa_base(o.tls.tlsa.front().name);
      if (SSL_dane_enable(s, base.c_str()) <= 0) return "DANE setup failed";
      SSL_dane_set_flags(s, DANE_FLAG_NO_DANE_EE_NAMECHECKS);
      if (base != host) SSL_add1_host(s, host.c_str());
      for (const auto& n : o.tls.names) SSL_add1_host(s, n.c_str());
      int usable = 0;
      for (const auto& r : o.tls.tlsa) {
        if (r.tlsa[0] != 2 && r.tlsa[0] != 3) continue;  // RFC 7672 3.1.3: PKIX-TA/EE unusable
        int rc = SSL_dane_tlsa_add(s, r.tlsa[0], r.tlsa[1], r.tlsa[2],
                                   reinterpret_cast<const unsigned char*>(r.data.data()), r.data.size());
        if (rc > 0) ++usable;
      }
      if (usable == 0) return "no usable TLSA record";
    } else if (pkix) {
      std::vector<std::string> names = o.tls.names;
      if (names.empty()) names.push_back(host);
      SSL_set_hostflags(s, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      if (is_ip_literal(names.front())) {
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(s), names.front().c_str());
      } else {
        SSL_set1_host(s, names.front().c_str());
        for (size_t i = 1; i < names.size(); ++i) SSL_add1_host(s, names[i].c_str());
      }
    }
    return "";
  }

  void rpt(tls_rpt::ResultType t, std::string reason) {
    tls.rpt_failure = t;
    tls.rpt_reason = std::move(reason);
  }

  // The handshake, then the verification the policy asks for. A Failure (transient)
  // when either fails; the connection is then closed, nothing having been sent. In audit
  // mode (MTA-STS testing, RFC 8461 5.2) a failed verification is only reported.
  awaitable<std::optional<Failure>> start_tls() {
    std::string err = prepare_tls();
    if (!err.empty()) {
      close();
      tls.failure = err;
      // RFC 8460 4.3.2.1: TLSA records that cannot be used.
      rpt(err == "no usable TLSA record" ? tls_rpt::ResultType::kTlsaInvalid
                                         : tls_rpt::ResultType::kValidationFailure,
          err);
      co_return local(false, "tls: " + err);
    }
    std::string why;
    try {
      arm(o.command_timeout, "in the TLS handshake");
      co_await ssl->async_handshake(asio::ssl::stream_base::client, use_awaitable);
      disarm();
    } catch (const std::exception& e) {
      why = timed_out ? "timeout" : e.what();
    }
    if (!why.empty()) {
      close();
      tls.failure = "tls handshake failed: " + why;
      rpt(tls_rpt::ResultType::kValidationFailure, "handshake failed: " + why);
      co_return local(false, tls.failure);
    }
    SSL* s = ssl->native_handle();
    tls.used = true;
    tls.version = SSL_get_version(s);
    tls.cipher = SSL_get_cipher_name(s);
    tls.how = "none";
    long v = SSL_get_verify_result(s);
    if (dane()) {
      EVP_PKEY* spki = nullptr;
      X509* cert = nullptr;
      int depth = SSL_get0_dane_authority(s, &cert, &spki);
      uint8_t usage = 0, selector = 0, mtype = 0;
      const unsigned char* data = nullptr;
      size_t len = 0;
      if (v == X509_V_OK && depth >= 0 && SSL_get0_dane_tlsa(s, &usage, &selector, &mtype, &data, &len) >= 0) {
        tls.verified = true;
        tls.how = usage == 3 ? "dane-ee" : "dane-ta";
      } else {
        std::string why = v == X509_V_OK || v == X509_V_ERR_DANE_NO_MATCH ? "no TLSA record matched"
                                                                          : X509_verify_cert_error_string(v);
        tls.failure = std::string("DANE verification failed: ") +
                      (v == X509_V_OK ? "no TLSA record matched" : X509_verify_cert_error_string(v));
        // RFC 8460 4.3.2.1: DANE gave no match (or the chain DANE-TA names is broken).
        rpt(v == X509_V_OK || v == X509_V_ERR_DANE_NO_MATCH ? tls_rpt::ResultType::kValidationFailure
                                                            : rpt_result_of_verify_error(v),
            why);
      }
    } else if (!o.tls.tlsa.empty()) {
      // RFC 7672 2.2 / 3.1.3: TLSA records, none usable: TLS without authentication,
      // reported as tlsa-invalid (RFC 8460 4.3.2.1).
      rpt(tls_rpt::ResultType::kTlsaInvalid, "no usable TLSA record");
    } else if (o.tls.verify_pkix || o.tls.audit_pkix) {
      X509* cert = SSL_get0_peer_certificate(s);
      if (v == X509_V_OK && cert) {
        tls.verified = true;
        tls.how = "pkix";
      } else {
        std::string why = cert ? X509_verify_cert_error_string(v) : "no certificate";
        rpt(cert ? rpt_result_of_verify_error(v) : tls_rpt::ResultType::kValidationFailure, why);
        if (o.tls.verify_pkix) {
          tls.failure = "certificate verification failed: " + why;
        } else {
          // RFC 8461 5.2: testing mode reports and delivers anyway.
          tls.how = "audit-failed";
        }
      }
    }
    if (!tls.failure.empty()) {
      close();
      co_return local(false, tls.failure);
    }
    in.clear();
    co_return std::nullopt;
  }

  // ---- the session ----

  awaitable<std::optional<Failure>> hello() {
    std::string verb = o.lmtp ? "LHLO " : "EHLO ";
    std::string line = verb + o.helo_name + "\r\n";
    Reply r = co_await command(line, o.command_timeout);
    if (r.code == 250) {
      caps = parse_capabilities(r);
      co_return std::nullopt;
    }
    if (r.permanent() && !o.lmtp && r.code != 554) {
      // RFC 5321 4.1.4: a server that does not know EHLO; fall back to HELO.
      std::string helo = "HELO " + o.helo_name + "\r\n";
      Reply h = co_await command(helo, o.command_timeout);
      if (h.code == 250) {
        caps = Capabilities{};
        co_return std::nullopt;
      }
      co_return refused(h, "HELO refused");
    }
    co_return refused(r, verb.substr(0, 4) + " refused");
  }

  awaitable<std::optional<Failure>> authenticate() {
    if (!tls.used && o.tls.mode != TlsMode::kNone) {
      co_return local(false, "refusing to send a password without TLS");
    }
    bool plain = std::find(caps.auth.begin(), caps.auth.end(), "PLAIN") != caps.auth.end();
    bool login = std::find(caps.auth.begin(), caps.auth.end(), "LOGIN") != caps.auth.end();
    if (!plain && !login) co_return local(true, "the server offers neither AUTH PLAIN nor LOGIN");
    Reply r;
    if (plain) {  // RFC 4616
      std::string cred;
      cred += '\0';
      cred += o.auth_user;
      cred += '\0';
      cred += o.auth_password;
      std::string line = "AUTH PLAIN " + base64(cred) + "\r\n";
      r = co_await command(line, o.command_timeout);
    } else {
      std::string line = "AUTH LOGIN\r\n";
      r = co_await command(line, o.command_timeout);
      if (r.code == 334) {
        std::string user = base64(o.auth_user) + "\r\n";
        r = co_await command(user, o.command_timeout);
      }
      if (r.code == 334) {
        std::string pass = base64(o.auth_password) + "\r\n";
        r = co_await command(pass, o.command_timeout);
      }
    }
    if (r.code != 235) {
      if (r.code == 334) {  // a server still asking: cancel the exchange (RFC 4954 4)
        std::string cancel = "*\r\n";
        r = co_await command(cancel, o.command_timeout);
      }
      co_return refused(r, "AUTH failed");
    }
    co_return std::nullopt;
  }

  awaitable<std::optional<Failure>> start() {
    boost::system::error_code ec;
    auto addr = asio::ip::make_address(ip, ec);
    if (ec) co_return local(true, "not an IP address: " + ip);
    try {
      arm(o.connect_timeout, "connecting");
      tcp::endpoint ep(addr, port);
      co_await sock.async_connect(ep, use_awaitable);
      disarm();
      connected = true;
      sock.set_option(tcp::no_delay(true), ec);
    } catch (const std::exception& e) {
      co_return lost(e);
    }
    try {
      if (o.tls.mode == TlsMode::kImplicit) {
        if (auto f = co_await start_tls()) co_return f;
      }
      arm(o.greeting_timeout, "waiting for the greeting");
      Reply g = co_await read_reply();
      disarm();
      if (g.code != 220) {
        Failure f = refused(g, "greeting");
        co_await quit();
        co_return f;
      }
      if (auto f = co_await hello()) {
        co_await quit();
        co_return f;
      }
      bool want = o.tls.mode == TlsMode::kOpportunistic || o.tls.mode == TlsMode::kRequired;
      if (want && !tls.used) {
        if (caps.starttls) {
          std::string line = "STARTTLS\r\n";
          Reply r = co_await command(line, o.command_timeout);
          if (r.code == 220) {
            if (auto f = co_await start_tls()) co_return f;
            // RFC 3207 4.2: forget what was learnt before TLS, say hello again.
            caps = {};
            if (auto f = co_await hello()) {
              co_await quit();
              co_return f;
            }
          } else {
            rpt(tls_rpt::ResultType::kStarttlsNotSupported, "STARTTLS refused: " + r.text());
            if (tls_required()) {
              Failure f = refused(r, "STARTTLS refused");
              f.permanent = false;
              co_await quit();
              co_return f;
            }
          }
        } else {
          // RFC 8460 4.3.1; opportunistic and audit sessions go on in clear.
          rpt(tls_rpt::ResultType::kStarttlsNotSupported, "STARTTLS not offered");
          if (tls_required()) {
            co_await quit();
            co_return local(false, "STARTTLS not offered (TLS is required)");
          }
        }
      }
      if (!o.auth_user.empty()) {
        if (auto f = co_await authenticate()) {
          co_await quit();
          co_return f;
        }
      }
    } catch (const std::exception& e) {
      co_return lost(e);
    }
    co_return std::nullopt;
  }

  awaitable<void> quit() {
    if (!connected || broken) {
      close();
      co_return;
    }
    try {
      std::string line = "QUIT\r\n";
      (void)co_await command(line, std::min(o.command_timeout, std::chrono::seconds(30)));
    } catch (const std::exception&) {
    }
    close();
  }

  // ---- one transaction ----

  std::optional<Failure> precheck(const Envelope& env, std::string_view data) {
    if (!connected || broken) return local(false, "the connection is closed");
    if (env.recipients.empty()) return local(true, "no recipients");
    if (env.smtputf8 && !caps.smtputf8) {
      return local(true, "the message needs SMTPUTF8 (RFC 6531) and the server lacks it");
    }
    if (env.body == 2 && !(caps.binarymime && caps.chunking)) {
      return local(true, "the message needs BINARYMIME (RFC 3030) and the server lacks it");
    }
    if (env.body == 1 && !caps.eightbitmime) {
      return local(true, "the message needs 8BITMIME (RFC 6152) and the server lacks it");
    }
    if (env.requiretls && !(tls.used && tls.verified && caps.requiretls)) {
      Failure f = local(true, tls.used && tls.verified
                                  ? "REQUIRETLS (RFC 8689): the server does not offer REQUIRETLS"
                                  : "REQUIRETLS (RFC 8689): no verified TLS to this server");
      f.next_host = true;
      return f;
    }
    if (caps.size > 0 && data.size() > caps.size) {
      return local(true, "the message (" + std::to_string(data.size()) +
                             " octets) is over the server's SIZE limit " + std::to_string(caps.size));
    }
    if (auto st = check_message(data, env.body == 2 ? 2 : 1); !st) {
      return local(true, st.error().message());
    }
    return std::nullopt;
  }

  std::string mail_line(const Envelope& env, size_t size, bool with_envid) const {
    std::string l = "MAIL FROM:<" + env.sender + ">";
    if (caps.size > 0) l += " SIZE=" + std::to_string(size);  // RFC 1870 6
    if (env.body == 1) l += " BODY=8BITMIME";
    if (env.body == 2) l += " BODY=BINARYMIME";
    if (env.smtputf8) l += " SMTPUTF8";
    if (caps.dsn) {
      if (env.ret == 1) l += " RET=FULL";
      if (env.ret == 2) l += " RET=HDRS";
      if (with_envid && !env.envid.empty()) l += " ENVID=" + xtext_encode(env.envid);
    }
    if (env.requiretls) l += " REQUIRETLS";
    return l + "\r\n";
  }

  std::string rcpt_line(const Envelope::Rcpt& r, bool with_orcpt) const {
    std::string l = "RCPT TO:<" + r.address + ">";
    if (caps.dsn) {
      if (r.notify != 0) l += " NOTIFY=" + notify_param(r.notify);
      size_t semi = r.orcpt.find(';');
      if (with_orcpt && semi != std::string::npos) {
        l += " ORCPT=" + r.orcpt.substr(0, semi) + ";" + xtext_encode(r.orcpt.substr(semi + 1));
      }
    }
    return l + "\r\n";
  }

  // The body, `bytes` written within a data timeout per 64 KiB (RFC 5321 4.5.3.2.5).
  awaitable<void> write_body(std::string_view bytes) {
    while (!bytes.empty()) {
      size_t n = std::min(bytes.size(), kWriteChunk);
      arm(o.data_timeout, "sending the message");
      co_await write(bytes.substr(0, n));
      bytes.remove_prefix(n);
    }
    disarm();
  }

  // The final replies after the data: one, or (LMTP) one per accepted recipient.
  awaitable<void> final_replies(TransactionResult& t, size_t accepted) {
    size_t want = o.lmtp ? accepted : 1;
    arm(o.data_timeout, "waiting for the reply to the message data");
    while (t.data.size() < want) {
      Reply r = co_await read_reply();
      t.data.push_back(std::move(r));
      arm(o.data_timeout, "waiting for the reply to the message data");
    }
    disarm();
  }

  awaitable<SendOutcome> transaction(const Envelope& env, std::string_view data) {
    SendOutcome out;
    if (auto f = precheck(env, data)) {
      out.failure = *f;
      co_return out;
    }
    const bool pipelined = o.pipelining && caps.pipelining;
    const bool bdat = caps.chunking && (env.body == 2 || o.chunking);
    std::string mail = mail_line(env, data.size(), true);
    if (mail.size() > kCommandLine) mail = mail_line(env, data.size(), false);
    std::vector<std::string> rcpts;
    for (const auto& r : env.recipients) {
      std::string l = rcpt_line(r, true);
      if (l.size() > kCommandLine) l = rcpt_line(r, false);
      if (l.size() > kCommandLine) {
        out.failure = local(true, "recipient address too long: " + r.address.substr(0, 80));
        co_return out;
      }
      rcpts.push_back(std::move(l));
    }
    TransactionResult t;
    bool done = false;  // a final reply ended the transaction (no RSET needed)
    try {
      std::optional<Reply> data_reply;
      if (pipelined) {
        // RFC 2920 3.1: MAIL, RCPTs and DATA in one group; replies in order.
        std::string batch = mail;
        for (const auto& l : rcpts) batch += l;
        if (!bdat) batch += "DATA\r\n";
        arm(o.command_timeout, "after MAIL");
        co_await write(batch);
        t.mail = co_await read_reply();
        for (size_t i = 0; i < rcpts.size(); ++i) {
          arm(o.command_timeout, "after RCPT");
          t.rcpts.push_back(co_await read_reply());
        }
        if (!bdat) {
          arm(o.command_timeout, "after DATA");
          data_reply = co_await read_reply();
        }
        disarm();
      } else {
        t.mail = co_await command(mail, o.command_timeout);
        if (!t.mail.positive()) {
          t.rcpts.assign(rcpts.size(), t.mail);
        } else {
          for (const auto& l : rcpts) t.rcpts.push_back(co_await command(l, o.command_timeout));
        }
      }
      size_t accepted = 0;
      for (const auto& r : t.rcpts) accepted += r.positive() && t.mail.positive();
      if (!bdat) {
        if (!data_reply && accepted > 0) {
          std::string line = "DATA\r\n";
          data_reply = co_await command(line, o.command_timeout);
        }
        if (data_reply && data_reply->code == 354) {
          if (accepted == 0) {
            // RFC 2920 3.1: DATA accepted with no recipient: end it empty, ignore the reply.
            arm(o.data_timeout, "after an empty DATA");
            co_await write(".\r\n");
            (void)co_await read_reply();
            disarm();
            done = true;
          } else {
            std::string stuffed = dot_stuff(data);
            co_await write_body(stuffed);
            co_await final_replies(t, accepted);
            done = true;
          }
        } else if (data_reply && accepted > 0) {
          t.data.push_back(*data_reply);
        }
      } else if (accepted > 0) {
        // RFC 3030 2: BDAT chunks, the last one marked LAST.
        std::string_view rest = data;
        for (;;) {
          size_t n = std::min(rest.size(), kBdatChunk);
          bool last = n == rest.size();
          std::string head = "BDAT " + std::to_string(n) + (last ? " LAST" : "") + "\r\n";
          arm(o.data_timeout, "sending BDAT");
          co_await write(head);
          co_await write_body(rest.substr(0, n));
          rest.remove_prefix(n);
          if (last) {
            co_await final_replies(t, accepted);
            done = true;
            break;
          }
          arm(o.data_timeout, "after BDAT");
          Reply r = co_await read_reply();
          disarm();
          if (!r.positive()) {
            t.data.push_back(std::move(r));
            break;
          }
        }
      }
    } catch (const std::exception& e) {
      Failure f = lost(e);
      if (t.mail.code == 0) {
        out.failure = std::move(f);
        co_return out;
      }
      // Replies that never came: no reply (transient) for those recipients.
      Reply none;
      none.lines.push_back(f.reason);
      while (t.rcpts.size() < rcpts.size()) t.rcpts.push_back(none);
      size_t accepted = 0;
      for (const auto& r : t.rcpts) accepted += r.positive() && t.mail.positive();
      size_t want = o.lmtp ? accepted : (accepted > 0 ? 1 : 0);
      while (t.data.size() < want) t.data.push_back(none);
      out.result = std::move(t);
      co_return out;
    }
    if (!done && connected && !broken) {
      // RFC 5321 4.1.1.5: back to a clean state for the next transaction.
      try {
        std::string line = "RSET\r\n";
        Reply r = co_await command(line, o.command_timeout);
        if (r.code != 250) close();
      } catch (const std::exception&) {
        close();
      }
    }
    out.result = std::move(t);
    co_return out;
  }
};

Connection::Connection(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
Connection::~Connection() {
  if (impl_) impl_->close();
}

awaitable<OpenOutcome> Connection::open(asio::any_io_executor ex, std::string ip, uint16_t port,
                                        std::string host, Options options) {
  auto impl = std::make_shared<Impl>(ex, std::move(ip), port, std::move(host), std::move(options));
  OpenOutcome out;
  std::optional<Failure> f = co_await impl->start();
  out.tls = impl->tls;
  if (f) {
    impl->close();
    out.failure = std::move(*f);
    co_return out;
  }
  out.connection = std::make_unique<Connection>(std::move(impl));
  co_return out;
}

const Capabilities& Connection::caps() const { return impl_->caps; }
const TlsResult& Connection::tls() const { return impl_->tls; }
std::string Connection::peer() const { return impl_->peer(); }
bool Connection::usable() const { return impl_->connected && !impl_->broken; }

awaitable<SendOutcome> Connection::send(Envelope env, std::string_view data) {
  auto keep = impl_;
  SendOutcome out = co_await keep->transaction(env, data);
  co_return out;
}

awaitable<void> Connection::quit() {
  auto keep = impl_;
  try {
    co_await keep->quit();
  } catch (...) {
  }
}

Delivery send_one(const std::vector<Target>& targets, const Options& options,
                  const Envelope& envelope, std::string_view data) {
  Delivery d;
  d.recipients = envelope.recipients.size();
  if (targets.empty()) {
    d.failure.reason = "no host to deliver to";
    return d;
  }
  asio::io_context io(1);
  std::exception_ptr error;
  auto run = [&]() -> awaitable<void> {
    for (const Target& t : targets) {
      // Named, not temporaries: GCC 12 destroys class-type temporaries inside co_await twice.
      std::string ip = t.ip, host = t.host;
      Options o = options;
      asio::any_io_executor ex = io.get_executor();
      OpenOutcome oc = co_await Connection::open(ex, std::move(ip), t.port,
                                                 std::move(host), std::move(o));
      if (!oc.connection) {
        d.failure = std::move(oc.failure);
        d.tls = std::move(oc.tls);
        d.peer = t.host + "[" + t.ip + "]:" + std::to_string(t.port);
        if (d.failure.permanent) break;
        continue;
      }
      Connection& c = *oc.connection;
      d.caps = c.caps();
      d.tls = c.tls();
      d.peer = c.peer();
      Envelope env = envelope;
      SendOutcome so = co_await c.send(std::move(env), data);
      co_await c.quit();
      if (so.result) {
        d.result = std::move(so.result);
        break;
      }
      d.failure = std::move(so.failure);
      if (d.failure.permanent) break;
    }
  };
  asio::co_spawn(io, run, [&error](std::exception_ptr e) { error = e; });
  io.run();
  if (error) std::rethrow_exception(error);
  return d;
}

}  // namespace postern::smtp::client
