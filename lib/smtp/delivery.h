// queue-run's engine: works the durable queue (store/queue.h) — local recipients into the
// store, remote ones over SMTP to their MX hosts or a configured transport — with
// leases, retries, DSNs, DKIM signing, forwarding with SRS and an ARC seal, MTA-STS and
// DANE. This header carries no Asio: cmd/queue-run and lib/config see plain structs.
//
//   delivery::Settings s = ...;                   // lib/config/delivery.h builds it
//   delivery::Runner runner(std::move(s), store_opener);
//   runner.run_once();                            // what is due now, then return (cron, tests)
//   runner.run(inherited);                        // a daemon: until SIGTERM has drained
//
// Threads: one event-loop thread runs every attempt (outbound SMTP is asynchronous);
// a few worker threads, each with its own Store and DNS resolver, do what blocks (the
// store, DNS, MTA-STS fetches, local delivery). postern-queue(7) tells the whole story.
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
#include "smtp/routing.h"
#include "store/store.h"

namespace postern::spam {
struct Settings;
class Engine;
class Models;
}  // namespace postern::spam

namespace postern::smtp::delivery {

struct DkimKey {
  std::string domain;    // signs mail whose From: is in this domain (d=)
  std::string selector;  // s=
  std::string key_pem;   // the private key (PEM text)
};

// SMTP TLS Reporting (RFC 8460): counting outcomes and sending the daily reports.
struct TlsRpt {
  bool enabled = true;
  std::string organization;  // organization-name ("" = the hostname)
  std::string contact;       // contact-info ("" = postmaster@hostname)
  std::string from;          // sender of mailed reports ("" = noreply-tlsrpt@hostname)
};

struct Settings {
  std::string hostname;  // EHLO name, DSN Reporting-MTA, lease owner prefix
  routing::RetryPolicy retry;
  std::vector<routing::TransportRule> transports;
  int max_connections = 100;          // outbound connections at once, in total
  int max_per_destination = 10;       // ... to one destination (route key)
  int max_recipients = 100;           // per transaction (RFC 5321 4.5.3.1.8 minimum)
  size_t batch = 100;                 // messages claimed at once
  std::chrono::seconds lease{600};    // renewed while an attempt runs
  std::chrono::milliseconds poll{1000};
  std::chrono::seconds connection_idle{5};  // a delivered-to connection is kept for reuse
  bool mta_sts = true;
  bool dane = true;
  std::string tls_ca_file;  // extra trust anchors (PKIX: MTA-STS, verify transports)
  std::chrono::seconds connect_timeout{30}, command_timeout{300}, data_timeout{600};
  dns::ResolverOptions resolver;
  std::vector<DkimKey> dkim;
  mail::srs::Options srs;  // forwarded senders are rewritten into srs.domain ("" = off)
  std::string metrics_address;  // host:port of the Prometheus endpoint ("" none)
  TlsRpt tls_rpt;
  // The spam filter, when smtp-listen runs its spam-score stage: local recipients whose
  // own classifier model has learned enough get their own verdict (spam/recipient.h).
  // prepare() and reloads make the engine and the models.
  std::shared_ptr<const spam::Settings> spam;
  std::shared_ptr<const spam::Engine> spam_engine;
  std::shared_ptr<spam::Models> spam_models;
};

using StoreOpener = std::function<base::Result<std::unique_ptr<store::Store>>()>;
using Reloader = std::function<base::Result<Settings>()>;

struct RunStats {
  uint64_t attempts = 0;    // message attempts finished
  uint64_t delivered = 0;   // recipients
  uint64_t deferred = 0;
  uint64_t failed = 0;
  uint64_t dsns = 0;        // DSN messages queued
  uint64_t forwarded = 0;   // messages re-queued for outside addresses of aliases
};

class Runner {
 public:
  Runner(Settings settings, StoreOpener open_store, Reloader reload = {});
  ~Runner();
  Runner(const Runner&) = delete;
  Runner& operator=(const Runner&) = delete;

  // Checks what can be checked first (the store opens, DKIM keys load, transports parse):
  // Error::config naming the problem.
  base::Status prepare();
  // One pass: every message due now is attempted once (repeating while claims find
  // more), then returns. For cron and tests.
  base::Result<RunStats> run_once();
  // The daemon under the service contract: readiness on the notify fd, SIGHUP reloads,
  // SIGTERM stops claiming and lets attempts finish, SIGUSR1 reopens the log.
  base::Status run(std::vector<base::InheritedSocket> inherited);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace postern::smtp::delivery
