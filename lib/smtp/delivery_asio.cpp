// queue-run's engine on Boost.Asio (delivery.h): claims due messages under a lease,
// delivers each recipient (local store, or SMTP to the MX / a transport), and records
// the attempt, its DSNs and forwarded copies in one transaction.
//
// GCC 12: a class-type temporary passed by value into a coroutine inside co_await is
// destroyed twice; every such argument is named first (see lib/smtp/session_asio.cpp).
#include <boost/asio.hpp>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <thread>

#include "auth/arc.h"
#include "auth/dkim.h"
#include "base/batch.h"
#include "base/clock.h"
#include "base/log.h"
#include "mail/downconvert.h"
#include "mail/dsn.h"
#include "mail/header.h"
#include "mail/message.h"
#include "mail/srs.h"
#include "smtp/client_asio.h"
#include "smtp/delivery.h"
#include "smtp/mta_sts.h"
#include "smtp/mx.h"
#include "smtp/pool_asio.h"
#include "smtp/service_asio.h"
#include "spam/recipient.h"
#include "spam/scan.h"
#include "store/local_delivery.h"
#include "store/queue.h"
#include "store/tls_results.h"
#include "smtp/tls_report.h"

namespace postern::smtp::delivery {

namespace asio = boost::asio;
using asio::awaitable;
using asio::use_awaitable;
using base::Error;
namespace q = store::queue;

namespace {

// The spam filter's engine and models from Settings::spam (nothing without it).
base::Status prepare_spam(Settings& s, store::Store& store) {
  if (!s.spam) return {};
  auto f = spam::make_filter(*s.spam, store, std::chrono::seconds(60));
  if (!f) return f.error();
  s.spam_engine = f->engine;
  s.spam_models = f->models;
  return {};
}


int64_t unix_now() { return base::unix_seconds(base::system_clock().now()); }

// What a worker thread owns: a Store and a DNS resolver, opened on first use.
struct Worker {
  std::unique_ptr<store::Store> store;
  std::unique_ptr<dns::Resolver> resolver;
  std::string error;
};

// A counting gate for coroutines (connections in total, per destination): acquire waits
// while `limit` holders are inside; release hands the slot to the longest waiter.
class Gate {
 public:
  explicit Gate(int limit) : limit_(limit) {}
  awaitable<void> acquire() {
    if (inside_ < limit_) {
      ++inside_;
      co_return;
    }
    auto ex = co_await asio::this_coro::executor;
    auto t = std::make_shared<asio::steady_timer>(ex, asio::steady_timer::time_point::max());
    waiters_.push_back(t);
    boost::system::error_code ec;
    co_await t->async_wait(asio::redirect_error(use_awaitable, ec));
    // Woken by release(): the slot was handed over, inside_ unchanged.
  }
  void release() {
    if (!waiters_.empty()) {
      auto t = waiters_.front();
      waiters_.pop_front();
      t->cancel();
      return;
    }
    --inside_;
  }
  bool idle() const { return inside_ == 0 && waiters_.empty(); }

 private:
  int limit_;
  int inside_ = 0;
  std::deque<std::shared_ptr<asio::steady_timer>> waiters_;
};

// Group commit of attempts' final records: attempts that end while a commit runs go into
// the next one together (one fsync), on a thread with its own Store.
class Finisher {
 public:
  using Done = std::function<void(base::Status)>;
  explicit Finisher(std::function<base::Result<std::unique_ptr<store::Store>>()> open)
      : open_(std::move(open)), batches_([this](std::vector<Item>& batch) { finish(batch); }) {}
  // `attempt` and the strings stay valid until `done` has run.
  void submit(q::Queue::Finish f, Done done) { batches_.submit({f, std::move(done)}); }

 private:
  struct Item {
    q::Queue::Finish finish;
    Done done;
  };
  void finish(std::vector<Item>& batch) {
    std::vector<base::Status> out;
    if (!store_) {
      auto s = open_();
      if (s) store_ = std::move(*s);
      else out.assign(batch.size(), base::Status(s.error()));
    }
    if (store_) {
      std::vector<q::Queue::Finish> items;
      for (const Item& i : batch) items.push_back(i.finish);
      out = q::Queue(*store_).finish_many(items);
    }
    for (size_t i = 0; i < batch.size(); ++i) batch[i].done(out[i]);
  }
  std::function<base::Result<std::unique_ptr<store::Store>>()> open_;
  std::unique_ptr<store::Store> store_;  // opened on first use, on the batch thread
  base::BatchThread<Item> batches_;      // last: stops first
};

// The one-line reply recorded for a recipient when no server reply says it better (the
// client's reasons name the peer already).
std::string failure_text(const client::Failure& f, const std::string& where) {
  if (f.reply.code != 0) return where + ": " + f.reply.text();
  return std::string(f.permanent ? "554 5.4.0 " : "451 4.4.1 ") + f.reason;
}

// The RFC 3463 status a DSN gives for a recorded reply ("451 4.4.1 text" → "4.4.1"). Not
// client::parse_reply: that one keeps an enhanced code only when its class matches the
// reply code (RFC 2034), and the reply recorded for an expired message is "554 4.4.7 …"
// (failed, with the status of why), as Postfix reports it.
std::string status_of(std::string_view reply, bool failed) {
  int code = 0;
  size_t i = 0;
  while (i < reply.size() && i < 3 && reply[i] >= '0' && reply[i] <= '9') code = code * 10 + (reply[i++] - '0');
  if (i != 3) code = 0;
  std::string_view rest = code ? reply.substr(3) : std::string_view();
  while (!rest.empty() && (rest[0] == ' ' || rest[0] == '-')) rest.remove_prefix(1);
  std::string_view first = rest.substr(0, rest.find(' '));
  if (first.size() >= 5 && first[1] == '.' && (first[0] == '2' || first[0] == '4' || first[0] == '5')) {
    return std::string(first);
  }
  if (code >= 500 || (failed && code == 0)) return "5.0.0";
  if (code >= 400 || code == 0) return "4.0.0";
  return "2.0.0";
}

std::string one_line(std::string s) {
  for (char& c : s) {
    if (c == '\r' || c == '\n' || c == '\0') c = ' ';
  }
  if (s.size() > 900) s.resize(900);
  return s;
}

// The domain of the first From: address, lower-case ("" when there is none).
std::string from_domain(const std::string& message) {
  auto m = mail::Message::parse(message);
  if (!m) return {};
  auto from = m->header(m->root(), "From");
  if (!from) return {};
  for (const auto& a : mail::parse_address_list(*from).flatten()) {
    if (a.address) return routing::domain_of(*a.address);
  }
  return {};
}

struct LoadedKey {
  std::string selector;
  std::shared_ptr<auth::dkim::PrivateKey> key;
};

}  // namespace

struct Runner::Impl {
  std::shared_ptr<const Settings> settings;
  StoreOpener open_store;
  Reloader reload;
  asio::io_context io;
  std::unique_ptr<ThreadPool<Worker>> pool;
  std::unique_ptr<Finisher> finisher;
  std::string owner;
  std::shared_ptr<mta_sts::MemoryPolicyCache> sts_cache = std::make_shared<mta_sts::MemoryPolicyCache>();
  std::map<std::string, LoadedKey> dkim;  // by domain
  RunStats stats;
  // For /metrics: outcomes by destination domain and status, the queue's size.
  std::map<std::pair<std::string, std::string>, uint64_t> outcomes_by_domain;
  uint64_t connections = 0, connection_failures = 0;
  q::Queue::Counts queue_counts;
  std::unique_ptr<asio::ip::tcp::acceptor> metrics_acceptor;
  std::unique_ptr<asio::steady_timer> count_timer;
  bool stopping = false;
  std::set<std::string> inflight;
  std::unique_ptr<asio::steady_timer> wake;
  std::unique_ptr<asio::steady_timer> renew_timer;
  std::unique_ptr<Gate> total;
  std::map<std::string, std::unique_ptr<Gate>> per_destination;
  struct Idle {
    std::unique_ptr<client::Connection> connection;
    std::chrono::steady_clock::time_point since;
  };
  std::multimap<std::string, Idle> idle;  // by destination key + "|" + ip

  Impl(Settings s, StoreOpener o, Reloader r)
      : settings(std::make_shared<const Settings>(std::move(s))), open_store(std::move(o)), reload(std::move(r)) {
    std::random_device rd;
    owner = settings->hostname + ":" + std::to_string(::getpid()) + ":" + std::to_string(rd() % 1000000);
  }

  store::Store* store_of(Worker& w) {
    if (!w.store) {
      auto s = open_store();
      if (!s) {
        w.error = s.error().message();
        return nullptr;
      }
      w.store = std::move(*s);
    }
    return w.store.get();
  }
  dns::Resolver* resolver_of(Worker& w) {
    if (!w.resolver) {
      auto r = dns::make_resolver(settings->resolver);
      if (!r) {
        w.error = r.error().message();
        return nullptr;
      }
      w.resolver = std::move(*r);
    }
    return w.resolver.get();
  }

  template <typename R>
  awaitable<R> blocking(std::function<R(Worker&)> f) {
    co_return co_await run_blocking<R, Worker>(io, *pool, std::move(f));
  }

  // The DKIM keys of `s` by domain, its transports checked.
  static base::Result<std::map<std::string, LoadedKey>> keys_of(const Settings& s) {
    std::map<std::string, LoadedKey> out;
    for (const DkimKey& k : s.dkim) {
      auto key = auth::dkim::load_private_key(k.key_pem);
      if (!key) return Error::config("DKIM key for " + k.domain + ": " + key.error().message());
      out[mail::to_lower(k.domain)] = {k.selector, std::make_shared<auth::dkim::PrivateKey>(std::move(*key))};
    }
    for (const routing::TransportRule& t : s.transports) {
      if (auto r = routing::parse_via(t.via); !r) return r.error();
    }
    return out;
  }
  base::Status load_keys() {
    auto keys = keys_of(*settings);
    if (!keys) return keys.error();
    dkim = std::move(*keys);
    return {};
  }

  Gate& gate_for(const std::string& key) {
    auto& g = per_destination[key];
    if (!g) g = std::make_unique<Gate>(std::max(1, settings->max_per_destination));
    return *g;
  }

  // ---- one message ----
  // (On a worker.) The copy of `m` for outside addresses an alias forwards to: SRS
  // sender, an ARC set sealed with the key of the SRS domain (or the first key). `body`
  // holds the bytes the returned message's view points into.
  q::NewMessage forward_copy(Worker& w, const Settings& s, const q::Message& m, const std::string& data,
                             const std::vector<std::string>& to, int64_t now,
                             const std::optional<std::pair<std::string, LoadedKey>>& seal, std::string& body);
  // The key forwarded copies are sealed with (chosen on the event loop: reloads swap keys).
  std::optional<std::pair<std::string, LoadedKey>> seal_key(const Settings& s) const {
    std::string d = !s.srs.domain.empty() ? mail::to_lower(s.srs.domain) : std::string();
    auto k = d.empty() ? dkim.begin() : dkim.find(d);
    if (k == dkim.end()) return std::nullopt;
    return *k;
  }
  awaitable<void> attempt(q::Message m);
  awaitable<std::vector<q::Queue::Outcome>> deliver_remote(const routing::Route& route,
                                                            const q::Message& m,
                                                            std::vector<size_t> indexes,
                                                            std::shared_ptr<const std::string> data,
                                                            std::map<size_t, std::string>& tls_notes);
  awaitable<void> work(bool once);
  awaitable<void> renew_leases();
  awaitable<void> reap_idle(bool all);
  // SIGHUP: the configuration is read, the spam rules compiled and the keys loaded on a
  // worker, so deliveries go on meanwhile; a SIGHUP during a reload runs one more after it.
  void reload_settings();
  Reloads reloads;
  void start_drain();
  awaitable<void> count_queue();
  // ---- TLS-RPT (RFC 8460): session counts, kept here, written every 60 s ----
  std::mutex rpt_mu;
  std::map<std::string, store::tls_results::Row> rpt_tally;  // by the row's key
  std::unique_ptr<asio::steady_timer> rpt_timer, report_timer;
  void tally(store::tls_results::Row row);
  awaitable<void> flush_tally();
  awaitable<void> tally_writer();
  awaitable<void> report_sender();
  std::string metrics() const;
  void record(const q::Message& m, const q::Queue::Outcome& o, const std::string& tls);
};

void Runner::Impl::record(const q::Message& m, const q::Queue::Outcome& o, const std::string& tls) {
  const std::string& to = m.envelope.recipients[o.index].address;
  std::string_view event = o.status == q::RecipientStatus::kDelivered ? "delivered"
                           : o.status == q::RecipientStatus::kFailed  ? "bounced"
                                                                      : "deferred";
  (o.status == q::RecipientStatus::kDelivered ? stats.delivered
   : o.status == q::RecipientStatus::kFailed  ? stats.failed
                                              : stats.deferred)++;
  ++outcomes_by_domain[{routing::domain_of(to), std::string(event)}];
  base::log_info(event, {{"queue_id", m.id}, {"to", to}, {"relay", o.remote_mta.empty() ? "local" : o.remote_mta},
                         {"attempt", std::to_string(m.attempts + 1)}, {"tls", tls}, {"reply", o.reply}});
}

// TLS-RPT (RFC 8460 4.4): what a connection to a hop is counted under (MX routes only).
struct HopRpt {
  bool count = false;
  std::string type = "no-policy-found";  // "sts", "tlsa", "no-policy-found"
  std::string policy;                    // its policy strings, "\n"-joined
  std::string skip_result;               // a skipped hop's result type (dnssec-invalid)
  std::string skip_reason;
};
// What the next hops for a route are, with the TLS each one needs (blocking: DNS, MTA-STS).
struct Hop {
  client::Target target;
  client::TlsPolicy tls;
  std::string skip;  // non-empty: do not try this host; the reason (a TLSA lookup failed)
  HopRpt rpt;
};
struct Plan {
  std::vector<Hop> hops;
  std::string reply;  // non-empty: no hop at all; the recipients' reply
  bool permanent = false;
  std::string policy;  // "dane", "mta-sts", "" for logs
  std::vector<store::tls_results::Row> rpt;  // failures of the plan itself (policy fetch)
};

// TLSA records as TLS-RPT policy strings: "3 1 1 <hex>" (RFC 8460 4.4).
static std::string tlsa_policy(const std::vector<dns::Record>& records) {
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (const dns::Record& r : records) {
    if (!out.empty()) out += '\n';
    out += std::to_string(r.tlsa[0]) + " " + std::to_string(r.tlsa[1]) + " " + std::to_string(r.tlsa[2]) + " ";
    for (unsigned char c : r.data) {
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

static std::string joined_lines(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& l : v) out += (out.empty() ? "" : "\n") + l;
  return out;
}

awaitable<std::vector<q::Queue::Outcome>> Runner::Impl::deliver_remote(
    const routing::Route& route, const q::Message& m, std::vector<size_t> indexes,
    std::shared_ptr<const std::string> data, std::map<size_t, std::string>& tls_notes) {
  auto s = settings;
  std::function<Plan(Worker&)> plan_job = [this, s, route](Worker& w) -> Plan {
    Plan p;
    dns::Resolver* r = resolver_of(w);
    if (!r) return Plan{{}, "451 4.4.3 DNS resolver unavailable: " + w.error, false, ""};
    client::TlsPolicy base;
    base.ca_file = s->tls_ca_file;
    switch (route.tls) {
      case routing::TlsRequirement::kNone: base.mode = client::TlsMode::kNone; break;
      case routing::TlsRequirement::kOpportunistic: base.mode = client::TlsMode::kOpportunistic; break;
      case routing::TlsRequirement::kRequired: base.mode = client::TlsMode::kRequired; break;
      case routing::TlsRequirement::kVerify:
        base.mode = client::TlsMode::kRequired;
        base.verify_pkix = true;
        break;
      case routing::TlsRequirement::kImplicit:
        base.mode = client::TlsMode::kImplicit;
        base.verify_pkix = true;
        break;
    }
    // RFC 7672 2.2/3: TLSA records of a host, from a validated answer, make TLS mandatory
    // and authenticate it; a lookup that fails leaves the host out (a downgrade otherwise).
    // Applies to MX hosts from a secure MX answer and to a transport's configured host
    // (its name is ours, not from DNS), so a transport override keeps the DANE check.
    auto apply_dane = [&](Hop& proto, const std::string& host, uint16_t port) {
      auto tt = lookup_tlsa(*r, host, port);
      dns::Answer a = dns::run(*r, tt);
      if (a.status == dns::Status::kServFail || a.status == dns::Status::kTimeout) {
        proto.skip = "TLSA lookup for " + host + " failed (" + a.why + ")";
        // RFC 8460 4.3.2.1: the signed zone's TLSA answer could not be validated.
        proto.rpt.type = "tlsa";
        proto.rpt.skip_result = "dnssec-invalid";
        proto.rpt.skip_reason = a.why.empty() ? std::string(dns::status_name(a.status)) : a.why;
        return false;
      }
      if (a.status != dns::Status::kOk) return false;
      // Usable records authenticate; none usable (all filtered): encryption only.
      proto.tls.mode = client::TlsMode::kRequired;
      proto.tls.tlsa = a.records;
      proto.tls.verify_pkix = false;
      p.policy = "dane";
      proto.rpt.type = "tlsa";
      proto.rpt.policy = tlsa_policy(a.records);
      return true;
    };
    if (route.kind == routing::Route::kHost && !route.mx_lookup) {
      auto t = client::host_targets(*r, route.host, route.port);
      if (!t) {
        return Plan{{}, std::string(t.error().temporary() ? "451 4.4.3 " : "550 5.1.2 ") + route.host + ": " + t.error().message(),
                    !t.error().temporary(), ""};
      }
      Hop proto{{}, base, ""};
      proto.tls.names = {route.host};
      // An address literal has no TLSA records; nor does a route with TLS off.
      bool named = t->front().host != t->front().ip;
      if (s->dane && named && route.tls != routing::TlsRequirement::kNone &&
          route.tls != routing::TlsRequirement::kImplicit) {
        apply_dane(proto, t->front().host, route.port);
      }
      for (auto& target : *t) {
        Hop h = proto;
        h.target = target;
        p.hops.push_back(std::move(h));
      }
      return p;
    }
    std::string domain = route.kind == routing::Route::kMx ? route.domain : route.host;
    uint16_t port = route.kind == routing::Route::kMx ? 25 : route.port;  // RFC 5321 5.1
    auto task = resolve_mx(*r, domain);
    MxResult mx = dns::run(*r, task);
    switch (mx.kind) {
      case MxResult::kNullMx:
        return Plan{{}, "556 5.1.10 " + domain + " accepts no mail (null MX, RFC 7505)", true, ""};
      case MxResult::kNoSuchDomain:
        return Plan{{}, "550 5.1.2 " + domain + ": no mail host (" + mx.why + ")", true, ""};
      case MxResult::kTempFail:
        return Plan{{}, "451 4.4.3 " + domain + ": DNS lookup failed (" + mx.why + ")", false, ""};
      case MxResult::kHosts:
        break;
    }
    if (drop_self(mx, s->hostname) && mx.hosts.empty()) {
      return Plan{{}, "554 5.4.6 mail for " + domain + " loops back to myself (" + s->hostname + " is its best MX)", true, ""};
    }
    std::optional<mta_sts::Policy> sts;
    if (s->mta_sts && route.kind == routing::Route::kMx) {
      mta_sts::FetchOptions fo;
      fo.ca_file = s->tls_ca_file;
      store::Store* st = store_of(w);
      std::optional<mta_sts::StorePolicyCache> kept;
      if (st) kept.emplace(*st, *sts_cache);
      mta_sts::PolicyCache& cache = kept ? static_cast<mta_sts::PolicyCache&>(*kept) : *sts_cache;
      auto pol = mta_sts::current_policy(*r, cache, domain, fo, std::chrono::system_clock::now());
      // RFC 8461 5.1: a policy that cannot be fetched with nothing cached is as none.
      if (pol && *pol && (*pol)->mode != mta_sts::Mode::kNone) sts = **pol;
      if (!pol && s->tls_rpt.enabled) {
        // RFC 8460 4.3.2.2: counted once per attempt at this destination.
        store::tls_results::Row row;
        row.policy_domain = domain;
        row.policy_type = "sts";
        row.result_type = mta_sts::policy_failure_is_invalid(pol.error()) ? "sts-policy-invalid"
                                                                          : "sts-policy-fetch-error";
        row.reason = pol.error().message();
        row.sessions = 1;
        p.rpt.push_back(std::move(row));
      }
    }
    bool enforce = sts && sts->mode == mta_sts::Mode::kEnforce;
    for (const MxHost& host : mx.hosts) {
      Hop proto{{host.name, "", port}, base, ""};
      proto.tls.names = {host.name};
      bool dane = s->dane && mx.mx_secure && host.secure && apply_dane(proto, host.name, port);
      if (!dane && sts) {
        // RFC 8461 4.1/4.2: in enforce mode only matching hosts, with PKIX-valid TLS.
        if (!mta_sts::mx_matches(*sts, host.name)) {
          if (enforce) continue;
        } else if (enforce) {
          proto.tls.mode = client::TlsMode::kRequired;
          proto.tls.verify_pkix = true;
          p.policy = "mta-sts";
        }
        if (!enforce) {
          // RFC 8461 5.2 testing mode: checked and reported (TLS-RPT), never enforced.
          proto.tls.audit_pkix = true;
        }
        proto.rpt.type = "sts";
        proto.rpt.policy = joined_lines(mta_sts::policy_strings(*sts));
      }
      proto.rpt.count = s->tls_rpt.enabled && route.kind == routing::Route::kMx;
      for (const std::string& ip : host.addresses) {
        Hop h = proto;
        h.target.ip = ip;
        p.hops.push_back(std::move(h));
      }
    }
    if (p.hops.empty()) {
      return Plan{{}, "451 4.7.5 " + domain + ": no MX host matches its MTA-STS policy", false, "mta-sts"};
    }
    return p;
  };
  Plan plan = co_await blocking<Plan>(std::move(plan_job));
  if (m.envelope.requiretls) {
    // RFC 8689 4.2.1: TLS with a certificate verified by DANE or else PKIX, whatever the
    // domain's or the route's policy says.
    for (Hop& h : plan.hops) {
      if (h.tls.mode != client::TlsMode::kImplicit) h.tls.mode = client::TlsMode::kRequired;
      if (h.tls.tlsa.empty()) h.tls.verify_pkix = true;
      h.tls.audit_pkix = false;
    }
  }
  for (auto& row : plan.rpt) tally(std::move(row));
  std::vector<q::Queue::Outcome> out;
  if (!plan.reply.empty()) {
    for (size_t i : indexes) {
      out.push_back({i, plan.permanent ? q::RecipientStatus::kFailed : q::RecipientStatus::kPending, plan.reply, ""});
    }
    co_return out;
  }
  const std::string key = route.key();
  std::string last_failure = "451 4.4.1 " + route.domain + ": no host could be reached";
  std::string last_host;  // named in the queue row and DSN of what stays undelivered
  bool all_permanent = true;
  std::vector<size_t> todo = std::move(indexes);
  for (const Hop& hop : plan.hops) {
    if (todo.empty()) break;
    if (!hop.skip.empty()) {
      if (hop.rpt.count && !hop.rpt.skip_result.empty()) {
        tally({.policy_domain = route.domain, .policy_type = hop.rpt.type, .policy = hop.rpt.policy,
               .mx_host = hop.target.host, .receiving_ip = hop.target.ip,
               .result_type = hop.rpt.skip_result, .reason = hop.rpt.skip_reason, .sessions = 1});
      }
      last_failure = "451 4.7.5 " + hop.skip;
      all_permanent = false;
      continue;
    }
    const std::string slot = key + "|" + hop.target.ip;
    last_host = hop.target.host;
    co_await total->acquire();
    Gate& gate = gate_for(key);
    co_await gate.acquire();
    std::unique_ptr<client::Connection> conn;
    if (auto it = idle.find(slot); it != idle.end()) {
      conn = std::move(it->second.connection);
      idle.erase(it);
      if (!conn->usable()) conn.reset();
    }
    if (!conn) {
      client::Options o;
      o.helo_name = settings->hostname;
      o.lmtp = route.lmtp;
      o.tls = hop.tls;
      o.auth_user = route.auth_user;
      o.auth_password = route.auth_password;
      o.connect_timeout = settings->connect_timeout;
      o.command_timeout = settings->command_timeout;
      o.data_timeout = settings->data_timeout;
      auto ex = co_await asio::this_coro::executor;
      std::string ip = hop.target.ip, host = hop.target.host;
      client::OpenOutcome opened = co_await client::Connection::open(ex, ip, hop.target.port, host, o);
      ++connections;
      if (hop.rpt.count && opened.tls.decided()) {
        // RFC 8460 4: one session per connection that got as far as deciding on TLS.
        const client::TlsResult& t = opened.tls;
        tally({.policy_domain = route.domain, .policy_type = hop.rpt.type, .policy = hop.rpt.policy,
               .mx_host = host, .receiving_ip = ip,
               .result_type = t.rpt_failure ? std::string(tls_rpt::result_type_name(*t.rpt_failure)) : "",
               .reason = t.rpt_failure ? t.rpt_reason : "", .sessions = 1});
      }
      if (!opened.connection) {
        ++connection_failures;
        gate.release();
        total->release();
        last_failure = failure_text(opened.failure, host + "[" + ip + "]");
        all_permanent = all_permanent && opened.failure.permanent;
        base::log_info("connect_failed", {{"queue_id", m.id}, {"relay", host + "[" + ip + "]"},
                                          {"reason", last_failure}});
        continue;
      }
      conn = std::move(opened.connection);
    }
    // In chunks of max_recipients (RFC 5321 4.5.3.1.8), on the same connection.
    std::vector<size_t> retry_elsewhere;
    for (size_t start = 0; start < todo.size() && conn && conn->usable();) {
      size_t end = std::min(todo.size(), start + static_cast<size_t>(std::max(1, settings->max_recipients)));
      client::Envelope env;
      env.sender = m.envelope.sender;
      env.envid = m.envelope.envid;
      env.ret = m.envelope.ret == q::Ret::kFull ? 1 : m.envelope.ret == q::Ret::kHeaders ? 2 : 0;
      env.body = m.envelope.body == q::Body::k8BitMime ? 1 : m.envelope.body == q::Body::kBinaryMime ? 2 : 0;
      env.smtputf8 = m.envelope.smtputf8;
      env.requiretls = m.envelope.requiretls;
      for (size_t k = start; k < end; ++k) {
        const q::Recipient& r = m.envelope.recipients[todo[k]];
        env.recipients.push_back({r.address, r.orcpt, r.notify});
      }
      std::shared_ptr<const std::string> payload = data;
      if (env.body == 1 && !conn->caps().eightbitmime) {
        // RFC 6152 3: a next hop without 8BITMIME gets the body converted to 7 bit.
        auto converted = mail::downconvert_8bit(*data);
        if (!converted) {
          for (size_t k = start; k < end; ++k) {
            out.push_back({todo[k], q::RecipientStatus::kFailed,
                           "554 5.6.3 " + conn->peer() + " lacks 8BITMIME and the message cannot be converted: " +
                               converted.error().message(),
                           hop.target.host});
          }
          start = end;
          continue;
        }
        payload = std::make_shared<const std::string>(std::move(*converted));
        env.body = 0;
      }
      std::string_view bytes = *payload;
      client::SendOutcome sent = co_await conn->send(env, bytes);
      if (!sent.result) {
        std::string reply = failure_text(sent.failure, conn->peer());
        if (sent.failure.next_host) {
          // RFC 8689 4.2.1: not this host; returned (5.7.30) only when no host can take it.
          last_failure = "550 5.7.30 " + sent.failure.reason;
          for (size_t k = start; k < end; ++k) retry_elsewhere.push_back(todo[k]);
          start = end;
          continue;
        }
        if (sent.failure.permanent) {
          for (size_t k = start; k < end; ++k) out.push_back({todo[k], q::RecipientStatus::kFailed, one_line(reply), hop.target.host});
        } else {
          last_failure = reply;
          all_permanent = false;
          for (size_t k = start; k < end; ++k) retry_elsewhere.push_back(todo[k]);
        }
        start = end;
        continue;
      }
      const client::TransactionResult& tr = *sent.result;
      if (tr.mail.transient()) {
        // RFC 5321 5.1: a temporary refusal of the transaction: the next MX may take it.
        last_failure = one_line(conn->peer() + ": " + tr.mail.text());
        all_permanent = false;
        for (size_t k = start; k < end; ++k) retry_elsewhere.push_back(todo[k]);
        start = end;
        continue;
      }
      const client::TlsResult& t = conn->tls();
      std::string note = t.used ? t.version + " " + (t.verified ? t.how : "unverified") : "none";
      for (size_t k = start; k < end; ++k) {
        const client::Reply& r = tr.outcome(k - start);
        out.push_back({todo[k], routing::status_for_code(r.code), one_line(r.text()), hop.target.host});
        tls_notes[todo[k]] = note;
      }
      start = end;
    }
    if (conn && conn->usable()) {
      idle.emplace(slot, Idle{std::move(conn), std::chrono::steady_clock::now()});
    } else if (conn) {
      co_await conn->quit();
    }
    gate.release();
    total->release();
    todo = std::move(retry_elsewhere);
  }
  for (size_t i : todo) {
    out.push_back({i, all_permanent ? q::RecipientStatus::kFailed : q::RecipientStatus::kPending,
                   one_line(last_failure), last_host});
  }
  co_return out;
}

q::NewMessage Runner::Impl::forward_copy(Worker& w, const Settings& s, const q::Message& m,
                                        const std::string& data, const std::vector<std::string>& to,
                                        int64_t now,
                                        const std::optional<std::pair<std::string, LoadedKey>>& seal,
                                        std::string& body) {
  std::string sender = m.envelope.sender;
  if (!s.srs.domain.empty() && !s.srs.secrets.empty() && !sender.empty()) {
    if (auto rewritten = mail::srs::forward(sender, s.srs, now)) sender = *rewritten;
  }
  body = data;
  if (seal) {
    dns::Resolver* r = resolver_of(w);
    auth::arc::ChainStatus cv = auth::arc::ChainStatus::kNone;
    if (r && auth::arc::highest_instance(data) > 0) {
      auto t = auth::arc::validate(data, *r, {});
      cv = dns::run(*r, t).cv;
    }
    auth::arc::SealOptions so{.domain = seal->first, .selector = seal->second.selector, .key = seal->second.key.get(),
                              .authserv_id = s.hostname,
                              .results = auth::arc::collect_results(data, s.hostname), .cv = cv};
    auto set = auth::arc::seal(data, so);
    if (set) {
      body = *set + data;
    } else {
      base::log_warn("arc_seal_failed", {{"queue_id", m.id}, {"error", set.error().message()}});
    }
  }
  q::NewMessage n;
  n.id = q::make_queue_id();
  n.envelope.sender = sender;
  for (const std::string& f : to) n.envelope.recipients.push_back({.address = f});
  n.envelope.body = m.envelope.body;
  n.envelope.smtputf8 = m.envelope.smtputf8;
  n.envelope.listener = "forward";
  n.data = body;
  return n;
}

awaitable<void> Runner::Impl::attempt(q::Message m) {
  auto s = settings;
  const std::string id = m.id;
  std::function<base::Result<std::string>(Worker&)> read_job = [this, id](Worker& w) -> base::Result<std::string> {
    store::Store* st = store_of(w);
    if (!st) return Error::temporary(w.error);
    return q::Queue(*st).read(id);
  };
  auto read = co_await blocking<base::Result<std::string>>(std::move(read_job));
  if (!read) {
    base::log_error(read.error(), {{"queue_id", id}});
    std::function<int(Worker&)> give_back = [this, id](Worker& w) {
      if (store::Store* st = store_of(w)) (void)q::Queue(*st).unlease(id, owner);
      return 0;
    };
    (void)co_await blocking<int>(std::move(give_back));
    co_return;
  }
  auto data = std::make_shared<const std::string>(std::move(*read));
  const int64_t now = unix_now();
  std::vector<size_t> pending;
  for (size_t i = 0; i < m.envelope.recipients.size(); ++i) {
    if (m.envelope.recipients[i].status == q::RecipientStatus::kPending) pending.push_back(i);
  }
  std::vector<q::Queue::Outcome> outcomes;
  std::string stop;  // a reason that settles every pending recipient without trying
  if (m.bounce) {
    stop = "550 5.0.0 returned to the sender by the postmaster";
  } else if (routing::hop_count(*data) > routing::kMaxHops) {
    stop = "554 5.4.6 mail loop: more than " + std::to_string(routing::kMaxHops) + " Received: fields";
  }
  std::map<size_t, std::string> tls_notes;  // per recipient index, for the log
  if (!stop.empty()) {
    for (size_t i : pending) outcomes.push_back({i, q::RecipientStatus::kFailed, stop, ""});
  } else {
    // Group by route: local domains first (one job), then each outside destination.
    std::set<std::string> domains;
    for (size_t i : pending) domains.insert(routing::domain_of(m.envelope.recipients[i].address));
    std::function<base::Result<std::set<std::string>>(Worker&)> local_job =
        [this, domains](Worker& w) -> base::Result<std::set<std::string>> {
      store::Store* st = store_of(w);
      if (!st) return Error::temporary(w.error);
      std::set<std::string> local;
      for (const std::string& d : domains) {
        auto yes = st->is_local_domain(d);
        if (!yes) return yes.error();
        if (*yes) local.insert(d);
      }
      return local;
    };
    auto local = co_await blocking<base::Result<std::set<std::string>>>(std::move(local_job));
    if (!local) {
      for (size_t i : pending) {
        outcomes.push_back({i, q::RecipientStatus::kPending, "451 4.3.0 store unavailable: " + one_line(local.error().message()), ""});
      }
    } else {
      std::map<std::string, std::pair<routing::Route, std::vector<size_t>>> groups;
      std::vector<size_t> local_rcpts;
      for (size_t i : pending) {
        std::string d = routing::domain_of(m.envelope.recipients[i].address);
        routing::Route r = routing::route_for(d, s->transports, local->count(d) > 0);
        if (r.kind == routing::Route::kLocal) {
          local_rcpts.push_back(i);
          continue;
        }
        auto& g = groups[r.key()];
        g.first = r;
        g.second.push_back(i);
      }
      if (!local_rcpts.empty()) {
        struct LocalOut {
          std::vector<q::Queue::Outcome> outcomes;
          std::vector<std::string> forwards;
          std::string forward_id;  // the re-queued copy, "" if none
        };
        std::string sender = m.envelope.sender.empty() ? "<>" : m.envelope.sender;
        std::vector<std::string> addresses;
        for (size_t i : local_rcpts) addresses.push_back(m.envelope.recipients[i].address);
        const q::Message* msg = &m;
        auto seal = seal_key(*s);
        std::function<LocalOut(Worker&)> deliver_job = [this, s, data, sender, addresses, local_rcpts, msg, now, seal](Worker& w) {
          LocalOut lo;
          store::Store* st = store_of(w);
          store::DeliveryOptions options{.sender = sender, .quota_tempfail = true};
          // Each account with a spam model of its own gets its own verdict.
          std::optional<spam::RecipientVerdicts> own;
          if (st && s->spam_engine) {
            own.emplace(s->spam_engine, s->spam_models);
            options.judge = [&](store::Id account, std::string_view bytes) { return own->junk(*st, account, bytes); };
          }
          for (size_t k = 0; k < addresses.size(); ++k) {
            if (!st) {
              lo.outcomes.push_back({local_rcpts[k], q::RecipientStatus::kPending, "451 4.3.0 store unavailable: " + one_line(w.error), ""});
              continue;
            }
            auto d = store::deliver_local(*st, addresses[k], *data, options);
            if (d) {
              lo.outcomes.push_back({local_rcpts[k], q::RecipientStatus::kDelivered, "250 2.0.0 delivered to the store", ""});
              for (auto& f : d->forward) lo.forwards.push_back(f);
            } else {
              const Error& e = d.error();
              std::string reply = std::to_string(e.smtp_code()) + " " + e.enhanced() + " " + one_line(e.message());
              lo.outcomes.push_back({local_rcpts[k], routing::status_for_code(e.smtp_code()), reply, ""});
            }
          }
          if (!st) return lo;
          // Recorded at once, with the copy for outside addresses of aliases, in the same
          // job: a crash later in the attempt must not store these again (postern-queue(7)).
          std::vector<q::Queue::Outcome> done;
          for (const auto& o : lo.outcomes) {
            if (o.status == q::RecipientStatus::kDelivered &&
                !routing::wants_success_dsn(msg->envelope, msg->envelope.recipients[o.index])) {
              done.push_back(o);
            }
          }
          std::string body;
          std::vector<q::NewMessage> copies;
          if (!lo.forwards.empty()) {
            copies.push_back(forward_copy(w, *s, *msg, *data, lo.forwards, now, seal, body));
            lo.forward_id = copies.back().id;
          }
          if (!done.empty() || !copies.empty()) {
            auto rec = q::Queue(*st).record(msg->id, owner, done, copies);
            if (!rec) {
              base::log_error(rec.error(), {{"queue_id", msg->id}, {"event", "record_failed"}});
              lo.forward_id.clear();
            }
          }
          return lo;
        };
        LocalOut lo = co_await blocking<LocalOut>(std::move(deliver_job));
        for (auto& o : lo.outcomes) outcomes.push_back(std::move(o));
        if (!lo.forward_id.empty()) {
          ++stats.forwarded;
          base::log_info("forwarded", {{"queue_id", id}, {"new_id", lo.forward_id},
                                       {"recipients", std::to_string(lo.forwards.size())}});
        }
      }
      // DKIM: our users' mail and our own reports, signed for the From: domain.
      std::shared_ptr<const std::string> outgoing = data;
      if (!groups.empty() && (!m.envelope.auth_user.empty() || m.envelope.listener == "dsn" ||
                              m.envelope.listener == "tlsrpt")) {
        // The key of the From: domain, or of a parent domain (relaxed DMARC alignment: our
        // reports come from the host name, mx.example.org, signed for example.org).
        std::string d = from_domain(*data);
        auto k = dkim.find(d);
        for (size_t dot = d.find('.'); k == dkim.end() && dot != std::string::npos; dot = d.find('.')) {
          d.erase(0, dot + 1);
          k = dkim.find(d);
        }
        if (k != dkim.end()) {
          auth::dkim::SignOptions so{.domain = d, .selector = k->second.selector, .key = k->second.key.get()};
          so.timestamp = now;
          auto field = auth::dkim::sign(*data, so);
          if (field) {
            outgoing = std::make_shared<const std::string>(*field + *data);
          } else {
            base::log_warn("dkim_sign_failed", {{"queue_id", id}, {"error", field.error().message()}});
          }
        }
      }
      size_t left = groups.size();
      for (auto& [key, g] : groups) {
        routing::Route route = g.first;
        std::vector<size_t> idx = g.second;
        auto got = co_await deliver_remote(route, m, std::move(idx), outgoing, tls_notes);
        if (--left > 0) {
          // More destinations follow: what this one took is recorded now, so a crash
          // during the next does not send it here again (postern-queue(7)).
          std::vector<q::Queue::Outcome> done;
          for (const auto& o : got) {
            if (o.status == q::RecipientStatus::kDelivered &&
                !routing::wants_success_dsn(m.envelope, m.envelope.recipients[o.index])) {
              done.push_back(o);
            }
          }
          if (!done.empty()) {
            std::string who = owner;
            std::function<base::Status(Worker&)> rec = [this, id, who, done](Worker& w) -> base::Status {
              store::Store* st = store_of(w);
              if (!st) return Error::temporary(w.error);
              return q::Queue(*st).record(id, who, done);
            };
            if (auto r = co_await blocking<base::Status>(std::move(rec)); !r) {
              base::log_error(r.error(), {{"queue_id", id}, {"event", "record_failed"}});
            }
          }
        }
        for (auto& o : got) outcomes.push_back(std::move(o));
      }
    }
  }
  // Expiry: what is still pending after this attempt and has outlived its time fails.
  const bool expired = routing::expired(s->retry, m.created_at, now);
  for (auto& o : outcomes) {
    if (o.status == q::RecipientStatus::kPending && expired) {
      o.reply = "554 4.4.7 message expired; last reply: " + o.reply;
      o.status = q::RecipientStatus::kFailed;
    }
    auto note = tls_notes.find(o.index);
    record(m, o, note == tls_notes.end() ? std::string() : note->second);
  }
  // DSNs.
  q::Queue::Attempt a;
  // The wait runs from the end of this attempt, however long its deliveries took.
  a.next_attempt = routing::next_attempt(s->retry, m.attempts + 1, unix_now());
  std::deque<std::string> bodies;  // the views in a.enqueue point here
  auto report = [&](std::vector<mail::dsn::RecipientReport> rr, const char* what) {
    mail::dsn::Report rep;
    rep.reporting_mta = s->hostname;
    rep.envid = m.envelope.envid;
    rep.sender = m.envelope.sender;
    rep.arrival = m.created_at;
    rep.queue_id = m.id;
    rep.full_message = m.envelope.ret == q::Ret::kFull;
    rep.recipients = std::move(rr);
    bodies.push_back(mail::dsn::build(rep, *data, now));
    q::NewMessage n;
    n.id = q::make_queue_id();
    n.envelope.sender = "";
    n.envelope.recipients.push_back({.address = m.envelope.sender});
    n.envelope.listener = "dsn";
    n.data = bodies.back();
    a.enqueue.push_back(std::move(n));
    ++stats.dsns;
    base::log_info("dsn", {{"queue_id", m.id}, {"dsn_id", a.enqueue.back().id}, {"kind", what},
                           {"to", m.envelope.sender}});
  };
  std::vector<mail::dsn::RecipientReport> failed, delivered, delayed;
  for (const auto& o : outcomes) {
    const q::Recipient& r = m.envelope.recipients[o.index];
    mail::dsn::RecipientReport rr{.final_recipient = r.address, .original_recipient = r.orcpt,
                                  .status = status_of(o.reply, o.status == q::RecipientStatus::kFailed),
                                  .remote_mta = o.remote_mta, .diagnostic = o.reply, .last_attempt = now};
    if (o.status == q::RecipientStatus::kFailed && routing::wants_failure_dsn(m.envelope, r)) {
      rr.action = mail::dsn::Action::kFailed;
      failed.push_back(rr);
    } else if (o.status == q::RecipientStatus::kDelivered && routing::wants_success_dsn(m.envelope, r)) {
      rr.action = o.remote_mta.empty() ? mail::dsn::Action::kDelivered : mail::dsn::Action::kRelayed;
      delivered.push_back(rr);
    } else if (o.status == q::RecipientStatus::kPending && !m.delay_warned &&
               routing::delay_due(s->retry, m.created_at, now) && routing::wants_delay_dsn(m.envelope, r)) {
      rr.action = mail::dsn::Action::kDelayed;
      rr.will_retry_until = m.created_at + s->retry.max_lifetime.count();
      delayed.push_back(rr);
    }
  }
  // Never a DSN about a DSN (RFC 3461 6.2 / RFC 5321 6.1: their sender is null anyway).
  if (!m.envelope.sender.empty()) {
    if (!failed.empty()) report(std::move(failed), "failure");
    if (!delivered.empty()) report(std::move(delivered), "success");
    if (!delayed.empty()) {
      report(std::move(delayed), "delay");
      a.delay_warned = true;
    }
  }
  a.outcomes = std::move(outcomes);
  std::string who = owner;
  q::Queue::Finish item{id, who, now, &a};
  auto ex = co_await asio::this_coro::executor;
  // Named, not a temporary: GCC 12 destroys temporaries inside co_await twice.
  auto init = [this, ex, item](auto handler) mutable {
    auto h = std::make_shared<decltype(handler)>(std::move(handler));
    auto work = std::make_shared<asio::executor_work_guard<asio::io_context::executor_type>>(io.get_executor());
    finisher->submit(item, [ex, h, work](base::Status st) {
      asio::post(ex, [h, work, st]() mutable {
        std::move(*h)(st);
        work->reset();
      });
    });
  };
  base::Status fin = co_await asio::async_initiate<const asio::use_awaitable_t<>&, void(base::Status)>(
      std::move(init), use_awaitable);
  if (!fin) {
    // The outcomes are not recorded: a delivered recipient will be tried again (the
    // window postern-queue(7) documents), nothing is lost.
    base::log_error(fin.error(), {{"queue_id", id}, {"event", "finish_failed"}});
  }
  ++stats.attempts;
}

awaitable<void> Runner::Impl::reap_idle(bool all) {
  auto now = std::chrono::steady_clock::now();
  std::vector<std::unique_ptr<client::Connection>> old;
  for (auto it = idle.begin(); it != idle.end();) {
    if (all || now - it->second.since >= settings->connection_idle || !it->second.connection->usable()) {
      old.push_back(std::move(it->second.connection));
      it = idle.erase(it);
    } else {
      ++it;
    }
  }
  for (auto& c : old) co_await c->quit();
}

awaitable<void> Runner::Impl::renew_leases() {
  renew_timer = std::make_unique<asio::steady_timer>(io);
  for (;;) {
    // A third of the lease, in milliseconds (a lease of 2s must not renew in a busy loop).
    auto every = std::chrono::duration_cast<std::chrono::milliseconds>(settings->lease) / 3;
    renew_timer->expires_after(std::max(every, std::chrono::milliseconds(200)));
    boost::system::error_code ec;
    co_await renew_timer->async_wait(asio::redirect_error(use_awaitable, ec));
    if (stopping && inflight.empty()) co_return;
    std::vector<std::string> ids(inflight.begin(), inflight.end());
    if (ids.empty()) continue;
    int64_t until = unix_now() + settings->lease.count();
    std::string who = owner;
    std::function<int(Worker&)> job = [this, ids, who, until](Worker& w) {
      if (store::Store* st = store_of(w)) {
        q::Queue queue(*st);
        for (const auto& id : ids) (void)queue.renew(id, who, until);
      }
      return 0;
    };
    (void)co_await blocking<int>(std::move(job));
  }
}

awaitable<void> Runner::Impl::work(bool once) {
  wake = std::make_unique<asio::steady_timer>(io);
  std::set<std::string> attempted;  // --once: each message at most once per pass
  for (;;) {
    if (stopping) break;
    size_t room = settings->batch > inflight.size() ? settings->batch - inflight.size() : 0;
    std::vector<q::Message> claimed;
    if (room > 0) {
      const int64_t now = unix_now();
      const int64_t until = now + settings->lease.count();
      std::string who = owner;
      std::function<base::Result<std::vector<q::Message>>(Worker&)> job =
          [this, who, now, until, room](Worker& w) -> base::Result<std::vector<q::Message>> {
        store::Store* st = store_of(w);
        if (!st) return Error::temporary(w.error);
        return q::Queue(*st).claim(who, now, until, room);
      };
      auto got = co_await blocking<base::Result<std::vector<q::Message>>>(std::move(job));
      if (!got) {
        base::log_error(got.error(), {{"event", "claim_failed"}});
      } else {
        claimed = std::move(*got);
      }
    }
    if (once) {
      // A message deferred earlier in this pass may be due again already (a short retry
      // step): it goes back untouched, and the pass ends when nothing new is due.
      std::vector<std::string> again;
      std::vector<q::Message> fresh;
      for (q::Message& m : claimed) {
        if (attempted.insert(m.id).second) {
          fresh.push_back(std::move(m));
        } else {
          again.push_back(m.id);
        }
      }
      if (!again.empty()) {
        std::string who = owner;
        std::function<int(Worker&)> give_back = [this, who, again](Worker& w) {
          if (store::Store* st = store_of(w)) {
            q::Queue queue(*st);
            for (const auto& id : again) (void)queue.unlease(id, who);
          }
          return 0;
        };
        (void)co_await blocking<int>(std::move(give_back));
      }
      bool only_repeats = fresh.empty() && !claimed.empty();
      claimed = std::move(fresh);
      if (only_repeats && inflight.empty()) break;
    }
    for (q::Message& m : claimed) {
      inflight.insert(m.id);
      std::string mid = m.id;
      // No captures: the lambda object dies at the end of this iteration while the
      // coroutine runs on, so what it needs travels as parameters (kept in its frame).
      auto run = [](Impl* self, std::string id, q::Message msg) -> awaitable<void> {
        co_await self->attempt(std::move(msg));
        self->inflight.erase(id);
        if (self->wake) self->wake->cancel();
      };
      asio::co_spawn(io, run(this, mid, std::move(m)), asio::detached);
    }
    co_await reap_idle(false);
    if (claimed.empty() && once && inflight.empty()) break;
    if (!claimed.empty() && room == claimed.size()) continue;  // there may be more due now
    wake->expires_after(claimed.empty() && !inflight.empty() && once ? std::chrono::milliseconds(200)
                                                                     : settings->poll);
    boost::system::error_code ec;
    co_await wake->async_wait(asio::redirect_error(use_awaitable, ec));
  }
  // Drain: let running attempts finish.
  while (!inflight.empty()) {
    wake->expires_after(std::chrono::milliseconds(100));
    boost::system::error_code ec;
    co_await wake->async_wait(asio::redirect_error(use_awaitable, ec));
  }
  co_await reap_idle(true);
  // What was counted for TLS-RPT since the last write (run_once: all of it).
  if (rpt_timer) rpt_timer->cancel();
  if (report_timer) report_timer->cancel();
  co_await flush_tally();
  stopping = true;
  wake.reset();
  if (renew_timer) renew_timer->cancel();
  if (metrics_acceptor) {
    boost::system::error_code ec;
    metrics_acceptor->close(ec);
  }
  if (count_timer) count_timer->cancel();
}

void Runner::Impl::reload_settings() {
  if (!reload) return;
  struct Reloaded {
    Settings settings;
    std::map<std::string, LoadedKey> keys;
  };
  reloads.request(
      io,
      [this]() -> awaitable<void> {
        std::function<base::Result<Reloaded>(Worker&)> job = [this](Worker& w) -> base::Result<Reloaded> {
          auto next = reload();
          if (!next) return next.error();
          store::Store* st = store_of(w);
          if (st == nullptr) return Error::temporary(w.error);
          if (auto ready = prepare_spam(*next, *st); !ready) return ready.error();
          auto keys = keys_of(*next);
          if (!keys) return keys.error();
          return Reloaded{std::move(*next), std::move(*keys)};
        };
        auto r = co_await blocking<base::Result<Reloaded>>(std::move(job));
        if (r) {
          settings = std::make_shared<const Settings>(std::move(r->settings));
          dkim = std::move(r->keys);
          base::log_info("reloaded", {{"transports", std::to_string(settings->transports.size())}});
        } else {
          base::log_warn("reload_failed", {{"error", r.error().message()}});
        }
      },
      [this] { return !stopping; });
}

void Runner::Impl::start_drain() {
  stopping = true;
  if (wake) wake->cancel();
  base::log_info("draining", {{"attempts", std::to_string(inflight.size())}});
}

std::string Runner::Impl::metrics() const {
  std::string m;
  auto line = [&m](std::string_view name, const std::string& labels, uint64_t v) {
    m += std::string(name) + (labels.empty() ? "" : "{" + labels + "}") + " " + std::to_string(v) + "\n";
  };
  m += "# TYPE postern_queue_messages gauge\n";
  line("postern_queue_messages", "state=\"active\"", queue_counts.active);
  line("postern_queue_messages", "state=\"hold\"", queue_counts.hold);
  m += "# TYPE postern_queue_bytes gauge\n";
  line("postern_queue_bytes", "", queue_counts.bytes);
  m += "# TYPE postern_delivery_inflight gauge\n";
  line("postern_delivery_inflight", "", inflight.size());
  m += "# TYPE postern_delivery_attempts_total counter\n";
  line("postern_delivery_attempts_total", "", stats.attempts);
  m += "# TYPE postern_delivery_recipients_total counter\n";
  for (const auto& [k, v] : outcomes_by_domain) {
    line("postern_delivery_recipients_total", "domain=\"" + k.first + "\",outcome=\"" + k.second + "\"", v);
  }
  m += "# TYPE postern_delivery_dsns_total counter\n";
  line("postern_delivery_dsns_total", "", stats.dsns);
  m += "# TYPE postern_delivery_forwarded_total counter\n";
  line("postern_delivery_forwarded_total", "", stats.forwarded);
  m += "# TYPE postern_delivery_connections_total counter\n";
  line("postern_delivery_connections_total", "result=\"ok\"", connections - connection_failures);
  line("postern_delivery_connections_total", "result=\"failed\"", connection_failures);
  return m;
}

// The queue's size for /metrics, every few seconds (one query, on a worker).
awaitable<void> Runner::Impl::count_queue() {
  count_timer = std::make_unique<asio::steady_timer>(io);
  while (!stopping) {
    std::function<std::optional<q::Queue::Counts>(Worker&)> job = [this](Worker& w) -> std::optional<q::Queue::Counts> {
      store::Store* st = store_of(w);
      if (!st) return std::nullopt;
      auto c = q::Queue(*st).counts();
      if (!c) return std::nullopt;
      return *c;
    };
    auto c = co_await blocking<std::optional<q::Queue::Counts>>(std::move(job));
    if (c) queue_counts = *c;
    if (stopping) break;
    count_timer->expires_after(std::chrono::seconds(5));
    boost::system::error_code ec;
    co_await count_timer->async_wait(asio::redirect_error(use_awaitable, ec));
  }
}

// ---- TLS-RPT ----

void Runner::Impl::tally(store::tls_results::Row row) {
  row.day = store::tls_results::day_of(unix_now());
  row.policy_domain = mail::to_lower(row.policy_domain);
  if (row.reason.size() > 200) {  // a code, not a story (it is part of the key)
    size_t n = 200;
    while (n > 0 && (static_cast<unsigned char>(row.reason[n]) & 0xC0) == 0x80) --n;  // whole UTF-8
    row.reason.resize(n);
  }
  std::string key = std::to_string(row.day);
  for (const std::string* f : {&row.policy_domain, &row.policy_type, &row.policy, &row.mx_host,
                               &row.receiving_ip, &row.result_type, &row.reason}) {
    key += '\x1f';
    key += *f;
  }
  std::lock_guard<std::mutex> lock(rpt_mu);
  auto [it, fresh] = rpt_tally.try_emplace(std::move(key), row);
  if (!fresh) it->second.sessions += row.sessions;
}

// Writes the tally (on a worker); on failure the counts go back to be written next time.
// A crash loses what was counted since the last write (at most a minute, postern-queue(7)).
awaitable<void> Runner::Impl::flush_tally() {
  std::vector<store::tls_results::Row> rows;
  {
    std::lock_guard<std::mutex> lock(rpt_mu);
    for (auto& [k, r] : rpt_tally) rows.push_back(std::move(r));
    rpt_tally.clear();
  }
  if (rows.empty()) co_return;
  std::function<base::Status(Worker&)> job = [this, rows](Worker& w) -> base::Status {
    store::Store* st = store_of(w);
    if (!st) return Error::temporary(w.error);
    return store::tls_results::add(*st, rows);
  };
  base::Status st = co_await blocking<base::Status>(std::move(job));
  if (!st) {
    base::log_error(st.error(), {{"event", "tlsrpt_tally_failed"}, {"rows", std::to_string(rows.size())}});
    for (auto& r : rows) tally(std::move(r));
  }
}

awaitable<void> Runner::Impl::tally_writer() {
  rpt_timer = std::make_unique<asio::steady_timer>(io);
  while (!stopping) {
    rpt_timer->expires_after(std::chrono::seconds(60));
    boost::system::error_code ec;
    co_await rpt_timer->async_wait(asio::redirect_error(use_awaitable, ec));
    if (stopping) break;
    co_await flush_tally();
  }
}

// The daily reports (smtp/tls_report.h): a few minutes after start, then every hour.
awaitable<void> Runner::Impl::report_sender() {
  report_timer = std::make_unique<asio::steady_timer>(io);
  auto wait = std::chrono::seconds(180);
  while (!stopping) {
    report_timer->expires_after(wait);
    wait = std::chrono::hours(1);
    boost::system::error_code ec;
    co_await report_timer->async_wait(asio::redirect_error(use_awaitable, ec));
    if (stopping) break;
    auto s = settings;
    if (!s->tls_rpt.enabled) continue;
    tls_report::Options o{.organization = s->tls_rpt.organization, .contact = s->tls_rpt.contact,
                          .from = s->tls_rpt.from, .submitter = s->hostname, .ca_file = s->tls_ca_file};
    std::function<int(Worker&)> job = [this, o](Worker& w) {
      store::Store* st = store_of(w);
      dns::Resolver* r = resolver_of(w);
      if (!st || !r) {
        base::log_warn("tlsrpt_run_failed", {{"error", w.error}});
        return 0;
      }
      auto res = tls_report::send_due(*st, *r, o, std::nullopt, unix_now());
      if (!res) base::log_error(res.error(), {{"event", "tlsrpt_run_failed"}});
      return 0;
    };
    (void)co_await blocking<int>(std::move(job));
  }
}

Runner::Runner(Settings settings, StoreOpener open_store, Reloader reload)
    : impl_(std::make_unique<Impl>(std::move(settings), std::move(open_store), std::move(reload))) {}

Runner::~Runner() = default;

base::Status Runner::prepare() {
  auto st = impl_->open_store();
  if (!st) return st.error();
  if (impl_->settings->spam) {
    Settings next = *impl_->settings;
    if (auto ready = prepare_spam(next, **st); !ready) return ready;
    impl_->settings = std::make_shared<const Settings>(std::move(next));
  }
  return impl_->load_keys();
}

base::Result<RunStats> Runner::run_once() {
  Impl& m = *impl_;
  if (auto st = m.load_keys(); !st) return st.error();
  m.pool = std::make_unique<ThreadPool<Worker>>(4);
  m.finisher = std::make_unique<Finisher>(m.open_store);
  m.total = std::make_unique<Gate>(std::max(1, m.settings->max_connections));
  asio::co_spawn(m.io, m.work(true), asio::detached);
  asio::co_spawn(m.io, m.renew_leases(), asio::detached);
  m.io.run();
  m.finisher.reset();
  m.pool.reset();
  return m.stats;
}

base::Status Runner::run(std::vector<base::InheritedSocket> inherited) {
  (void)inherited;  // queue-run listens on nothing yet (metrics come with the supervisor)
  Impl& m = *impl_;
  if (auto st = m.load_keys(); !st) return st;
  base::ServiceSignals signals;  // before any thread starts: they inherit the mask
  m.pool = std::make_unique<ThreadPool<Worker>>(4);
  m.finisher = std::make_unique<Finisher>(m.open_store);
  m.total = std::make_unique<Gate>(std::max(1, m.settings->max_connections));
  if (!m.settings->metrics_address.empty()) {
    auto a = listen_metrics(m.io, m.settings->metrics_address);
    if (!a) return a.error();
    m.metrics_acceptor = std::move(*a);
    asio::co_spawn(m.io, serve_metrics(*m.metrics_acceptor, [&m] { return m.metrics(); }), asio::detached);
    asio::co_spawn(m.io, m.count_queue(), asio::detached);
  }
  asio::co_spawn(m.io,
                 watch_signals(m.io, signals, [&m] { m.reload_settings(); }, [&m] { m.start_drain(); }),
                 asio::detached);
  asio::co_spawn(m.io, m.work(false), asio::detached);
  asio::co_spawn(m.io, m.renew_leases(), asio::detached);
  asio::co_spawn(m.io, m.tally_writer(), asio::detached);
  asio::co_spawn(m.io, m.report_sender(), asio::detached);
  if (auto st = base::notify_ready(); !st) base::log_warn("notify_failed", {{"error", st.error().message()}});
  base::log_info("started", {{"owner", m.owner}});
  m.io.run();
  m.finisher.reset();
  m.pool.reset();
  base::log_info("stopped", {{"attempts", std::to_string(m.stats.attempts)}});
  return {};
}

}  // namespace postern::smtp::delivery
