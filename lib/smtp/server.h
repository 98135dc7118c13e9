// smtp-listen's engine: SMTP (RFC 5321) for MX, submission (RFC 6409), submissions
// (RFC 8314) and LMTP (RFC 2033) on Boost.Asio coroutines, with the filter pipeline and
// the durable queue. This header carries no Asio: cmd/smtp-listen and lib/config see only
// plain option structs.
//
//   smtp::Settings s = ...;                          // lib/config/smtp.h builds it
//   smtp::Server server(std::move(s), store_opener);
//   return server.run(listen_sockets);                // until SIGTERM drained
//   return server.run_stdio(0, 1, "192.0.2.1");       // one session, --stdio
//
// A `local` listener is a Unix socket (postern-sendmail connects to it): the client is
// known by SO_PEERCRED, may send anywhere, and uses the senders local_may_send_as allows.
//
// Threads: one event-loop thread runs every session; a pool of worker threads (each with
// its own Store) does what may block — recipient lookups, password checks, LMTP
// delivery, builtin filters — and one GroupCommitter thread commits queued messages.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/result.h"
#include "base/service.h"
#include "dns/dns.h"
#include "mail/srs.h"
#include "smtp/data.h"
#include "store/store.h"

namespace postern::spam {
struct Settings;
class Engine;
class Models;
}  // namespace postern::spam

namespace postern::smtp {

enum class Mode { kMx, kSubmission, kSubmissions, kLmtp, kLocal };
std::string_view mode_name(Mode m);

struct ListenerSpec {
  std::string name;     // LISTEN_FDNAMES entry and the `listener` of queued mail
  std::string address;  // host:port to bind when no socket is inherited ("unix:PATH": kLocal)
  Mode mode = Mode::kMx;
};

// The process at the other end of a `local` listener's socket (SO_PEERCRED), and its login
// name (getpwuid_r; "" when the uid has none).
struct LocalPeer {
  int64_t uid = -1;
  int64_t pid = 0;
  std::string user;
};

enum class FilterAt { kConnect, kHelo, kMail, kRcpt, kData };
std::string_view filter_at_name(FilterAt a);

struct FilterStage {
  std::string name;                // for logs and replies
  FilterAt at = FilterAt::kData;
  std::string builtin;             // "auth-check", or empty for exec
  std::vector<std::string> exec;   // argv of an external filter
  std::chrono::milliseconds timeout{30000};
  bool accept_on_error = false;    // on_error: accept (else 451)
  bool check = true;               // exit 1 means reject (550)
  std::vector<std::string> listeners;  // names of the listeners it runs on; empty: all
};

enum class DmarcMode { kOff, kTag, kEnforce };

// The greylist builtin (RFC 6647): a first attempt from a (client network, sender,
// recipient) triplet is deferred with 451 4.7.1; a retry after `delay` and within
// `retry_window` passes, and the triplet then passes until it has not been seen for
// `expire`. A client network whose triplets passed `auto_allow` times passes from then on
// (0: never), as postgrey's --auto-whitelist-clients does.
struct Greylist {
  std::chrono::seconds delay{300};
  std::chrono::seconds retry_window{2 * 86400};
  std::chrono::seconds expire{35 * 86400};
  int auto_allow = 5;
  int ipv4_prefix = 24;  // the client network: /24 and /64 (RFC 6647 4.1.1)
  int ipv6_prefix = 64;
};

struct Limits {
  uint64_t max_message_size = 35ull << 20;
  int max_recipients = 100;
  int max_connections = 1000;
  int max_connections_per_ip = 50;
  int max_commands = 1000;          // per session (Postfix smtpd_junk_command_limit-like)
  int max_errors = 10;              // protocol errors before 421
  size_t max_line = 4096;           // command line length (RFC 5321 4.5.3.1.4 asks 512)
  std::chrono::seconds command_timeout{300};  // RFC 5321 4.5.3.2.7
  std::chrono::seconds data_timeout{600};     // a DATA/BDAT block (4.5.3.2.6 asks 3 min)
  std::chrono::seconds greeting_delay{0};
  int auth_failures_delay = 3;      // failures per IP after which each answer is slowed
  int auth_failures_max = 10;       // failures per IP after which AUTH is refused
  std::chrono::seconds auth_failures_window{3600};
  int messages_per_ip_per_minute = 0;      // 0: no limit
  int messages_per_sender_per_minute = 0;  // 0: no limit
  std::chrono::seconds drain_timeout{30};
};

struct SendAs {
  std::string login;                  // account address
  std::vector<std::string> addresses; // addresses or "@domain" it may also send as
};

struct Settings {
  std::string hostname;
  std::vector<ListenerSpec> listeners;
  Limits limits;
  std::vector<FilterStage> filters;
  std::string tls_certificate;  // PEM chain; empty: no TLS (no STARTTLS offered)
  std::string tls_key;
  bool auth_requires_tls = true;
  std::vector<std::string> relay_domains;  // accepted without AUTH besides local domains
  // delivery.srs: a recipient SRS0=/SRS1= at srs.domain whose signature and date verify
  // is accepted from anyone and queued for the address it reverses to (bounces of mail
  // queue-run forwarded find their way back); one that does not verify is refused.
  mail::srs::Options srs;
  BareLf bare_lf = BareLf::kNormalize;
  DmarcMode dmarc = DmarcMode::kTag;
  std::string dmarc_record;     // append DMARC report records here ("" none)
  std::vector<SendAs> send_as;
  // Local listeners: users that may use any MAIL FROM and From: (uid 0 always may), and
  // what the others may use besides <user>@hostname (SendAs::login is the user name).
  std::vector<std::string> local_trusted_users{"root"};
  std::vector<SendAs> local_senders;
  std::string metrics_address;  // host:port of the Prometheus endpoint ("" none)
  dns::ResolverOptions resolver;  // for the auth-check stage
  std::string psl_file;
  std::vector<std::string> trusted_arc_sealers;
  // The spam filter of the spam-score and dnsbl builtins (set when a stage uses one); its
  // engine and models are made by prepare_spam() (smtp/filter.h).
  std::shared_ptr<const spam::Settings> spam;
  std::shared_ptr<const spam::Engine> spam_engine;
  std::shared_ptr<spam::Models> spam_models;
  Greylist greylist;
};

// Opens a Store for one thread (the workers and the committer each call it once).
using StoreOpener = std::function<base::Result<std::unique_ptr<store::Store>>()>;
// Re-reads the configuration for SIGHUP (an Error keeps the old settings).
using Reloader = std::function<base::Result<Settings>()>;

class Server {
 public:
  Server(Settings settings, StoreOpener open_store, Reloader reload = {});
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Checks what can be checked before serving (TLS files load, the store opens, filters'
  // programs exist): Error::config naming the problem.
  base::Status prepare();
  // Serves the inherited sockets (matched to listeners by name) or binds the listeners'
  // addresses itself; notifies readiness; runs until SIGTERM/SIGINT has drained. Returns
  // ok after a clean stop, or the Error that prevented serving.
  base::Status run(std::vector<base::InheritedSocket> inherited);
  // One session on two descriptors (qmail-smtpd under tcpserver style), as `listener`.
  base::Status run_stdio(int in_fd, int out_fd, const std::string& peer_ip, const std::string& listener);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace postern::smtp
