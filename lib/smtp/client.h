// The outbound SMTP client (RFC 5321), the Asio-free part: what a delivery attempt is
// made of (options, envelope, replies, capabilities, TLS policy and outcome), the reply
// parser, checks on a message before it is sent, next-hop lookup (MX, RFC 5321 5.1), and
// a blocking facade that runs one delivery on an io_context of its own.
//
// The coroutine client itself (smtp::client::Connection) lives in client_asio.h, for
// code that already runs on an Asio event loop (queue-run). Tools and tests use send_one:
//
//   client::Options o{.helo_name = "mx.example.org"};
//   client::Envelope env{.sender = "ann@example.org", .recipients = {{.address = "bob@example.net"}}};
//   auto targets = client::mail_targets(resolver, "example.net", 25);  // MX hosts' addresses
//   client::Delivery d = client::send_one(*targets, o, env, crlf_bytes);
//   if (d.result) for (size_t i = 0; ...) log(d.result->outcome(i).text());
//   else log(d.failure.reason);        // nothing was delivered
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "dns/dns.h"
#include "smtp/tls_rpt.h"

namespace postern::smtp::client {

// One SMTP reply (RFC 5321 4.2), with the RFC 3463 enhanced status code when the server
// gave one (RFC 2034).
struct Reply {
  int code = 0;                    // 250; 0 when no reply (connection lost)
  std::string enhanced;            // "2.0.0" or "" if the server gave none
  std::vector<std::string> lines;  // text of each line, without code/enhanced
  std::string text() const;        // one line: "250 2.0.0 first; second" (for logs, queue rows)
  bool positive() const;           // 2xx/3xx
  bool transient() const;          // 4xx (and code 0)
  bool permanent() const;          // 5xx
};

enum class TlsMode { kNone, kOpportunistic, kRequired, kImplicit };
std::string_view tls_mode_name(TlsMode m);  // "none", "opportunistic", "required", "implicit"
std::optional<TlsMode> parse_tls_mode(std::string_view s);

struct TlsPolicy {
  TlsMode mode = TlsMode::kOpportunistic;
  bool verify_pkix = false;         // chain to a trusted CA and name match (MTA-STS, smart hosts)
  std::vector<std::string> names;   // reference identifiers for the name check (RFC 6125; "*.x" wildcards in certs)
  std::vector<dns::Record> tlsa;    // DANE (RFC 7672): usable TLSA records; non-empty = DANE applies
  std::string ca_file;              // extra trust anchors (tests); else the system store
  std::string sni;                  // server name to send (default: the MX host name)
  // MTA-STS testing mode (RFC 8461 5.2): check as verify_pkix does and report the result
  // in TlsResult (rpt_failure), but go on with the session whatever it is — an
  // unverifiable certificate, or no STARTTLS at all (then in clear).
  bool audit_pkix = false;
};

struct TlsResult {
  bool used = false;
  std::string version, cipher;
  bool verified = false;
  std::string how;  // "dane-ee", "dane-ta", "pkix", "none"
  std::string failure;
  // TLS-RPT (RFC 8460 4.3): why the session failed (or, audit_pkix / opportunistic, would
  // have), with the failure-reason-code (an OpenSSL verify error string, "no TLSA record
  // matched", ...). Empty when TLS went as the policy asked. Set on every path that
  // reached the TLS decision: STARTTLS not offered or refused (starttls-not-supported),
  // name mismatch, expired or not yet valid, untrusted chain, DANE no match
  // (validation-failure), no usable TLSA (tlsa-invalid), a failed handshake
  // (validation-failure).
  std::optional<tls_rpt::ResultType> rpt_failure;
  std::string rpt_reason;
  // Whether the session got to the point where TLS was decided (STARTTLS offered or not,
  // handshake tried): what TLS-RPT counts as one session.
  bool decided() const { return used || rpt_failure.has_value(); }
};

// The TLS-RPT result type of an OpenSSL X509_V_ERR_* verify result (RFC 8460 4.3.1).
tls_rpt::ResultType rpt_result_of_verify_error(long verify_error);

struct Options {
  std::string helo_name;  // our host name for EHLO/LHLO
  bool lmtp = false;      // LHLO, one final reply per recipient (RFC 2033)
  TlsPolicy tls;
  std::string auth_user, auth_password;  // AUTH PLAIN (or LOGIN) after TLS when set
  std::chrono::seconds connect_timeout{30}, greeting_timeout{300}, command_timeout{300},
      data_timeout{600};  // RFC 5321 4.5.3.2 defaults, configurable
  bool pipelining = true, chunking = true;
};

struct Envelope {
  std::string sender;  // "" = null reverse-path
  struct Rcpt {
    std::string address;
    std::string orcpt;    // "rfc822;addr", decoded (sent xtext-encoded)
    unsigned notify = 0;  // store::queue::Notify bits
  };
  std::vector<Rcpt> recipients;
  std::string envid;
  int ret = 0;   // 0 none, 1 FULL, 2 HDRS
  int body = 0;  // 0 7bit, 1 8BITMIME, 2 BINARYMIME
  bool smtputf8 = false, requiretls = false;
};

// What the server announced in its EHLO reply (RFC 5321 4.1.1.1).
struct Capabilities {
  bool esmtp = false, pipelining = false, chunking = false, binarymime = false,
       eightbitmime = false, smtputf8 = false, dsn = false, starttls = false,
       requiretls = false, enhanced = false;
  uint64_t size = 0;              // SIZE limit; 0: none announced
  std::vector<std::string> auth;  // mechanisms, upper-case
};
// From an EHLO reply's lines (the first is the greeting line, the rest keywords).
Capabilities parse_capabilities(const Reply& ehlo);

struct TransactionResult {
  Reply mail;
  std::vector<Reply> rcpts;  // one per recipient, in order
  std::vector<Reply> data;   // SMTP: one reply (the final); LMTP: one per accepted recipient
  // The final outcome for recipient i (its RCPT reply if that failed, else the data reply
  // for it; a failed MAIL is every recipient's outcome).
  const Reply& outcome(size_t i) const;
};

// Why a connection or transaction could not go on, without a usable SMTP reply (or with
// the reply that stopped it: a 5xx greeting, a refused EHLO, STARTTLS or AUTH).
struct Failure {
  bool permanent = false;
  // This server cannot take the message (REQUIRETLS, RFC 8689 4.2.1) but another MX host
  // may: the caller tries the next one, and returns the message only when none can.
  bool next_host = false;
  Reply reply;
  std::string reason;
};

// ---- the reply parser ----

struct ParsedReply {
  enum Status { kOk, kNeedMore, kBad } status = kNeedMore;
  Reply reply;
  size_t used = 0;    // bytes of the input the reply took (kOk)
  std::string error;  // kBad: what was wrong
};
// Parses the complete reply at the start of `in` (lines end in CRLF; a bare LF is taken
// too). kNeedMore when its last line has not arrived; kBad for a line that is not
// "ddd", "ddd text" or "ddd-text", for lines of one reply with different codes, and for
// a line longer than `max_line` (RFC 5321 4.5.3.1.5 asks 512; servers exceed it).
ParsedReply parse_reply(std::string_view in, size_t max_line = 4096);

// ---- the message ----

// The bytes sent after DATA (RFC 5321 4.5.2): every line ending made CRLF (a bare LF or
// bare CR too, so no next hop can be smuggled a different end of data), lines starting
// with "." doubled, a final CRLF added when missing, then ".\r\n".
std::string dot_stuff(std::string_view data);
// Whether `data` can go as `body` (0 7bit, 1 8BITMIME, 2 BINARYMIME): Error::bad_data for
// a NUL or a line over 998 octets (RFC 5321 4.5.3.1.6) unless BINARYMIME, for 8-bit
// bytes in a 7bit body. The message is expected CRLF already.
base::Status check_message(std::string_view data, int body);
// LF or CRLF line endings → CRLF (a lone CR is kept; dot_stuff deals with it).
std::string to_crlf(std::string_view data);

// ---- next hops ----

struct Target {
  std::string host;  // MX host name (or the address literal, without brackets)
  std::string ip;    // literal address to connect to
  uint16_t port = 25;
};

// Where mail for `domain` goes (RFC 5321 5.1, through smtp/mx.h resolve_mx): its MX
// hosts by preference, each host's addresses, A then AAAA; the domain itself when it has
// no MX (implicit MX); an address literal is its own target. Errors: a null MX (RFC 7505,
// 556 5.1.10) or no mail host (550 5.1.2) → Error::unavailable; a DNS failure → temporary.
// (DANE: the caller looks up TLSA per host, smtp/mx.h lookup_tlsa, and sets TlsPolicy.)
base::Result<std::vector<Target>> mail_targets(dns::Resolver& resolver, const std::string& domain,
                                               uint16_t port);

// The addresses of one host (A, then AAAA), or the host itself when it is an address
// literal (brackets allowed): for a smart host given as HOST:PORT. Errors as above.
base::Result<std::vector<Target>> host_targets(dns::Resolver& resolver, const std::string& host,
                                               uint16_t port);

// ---- the blocking facade (body in client_asio.cpp) ----

struct Delivery {
  std::optional<TransactionResult> result;  // empty: nothing delivered, see failure
  Failure failure;
  Capabilities caps;  // of the host that answered last
  TlsResult tls;
  std::string peer;   // "host[ip]:port" of the host that answered last
  size_t recipients = 0;  // of the envelope
  // Recipients whose outcome is 2xx, 4xx or no reply, 5xx (all of them on a failure).
  size_t accepted() const;
  size_t temporary() const;
  size_t permanent() const;
};

// Delivers one message over the first target that takes a transaction: a connection
// that fails transiently (connect error, 4xx greeting, TLS failure, timeout) moves on to
// the next target; a transaction result or a permanent failure ends the attempt. Runs
// its own io_context; blocks until done. The data is CRLF.
Delivery send_one(const std::vector<Target>& targets, const Options& options,
                  const Envelope& envelope, std::string_view data);

}  // namespace postern::smtp::client
