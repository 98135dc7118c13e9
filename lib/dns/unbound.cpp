// The network engine: libunbound (wrapped here once; its header stays in this file).
//
// One ub_ctx per Resolver, in threaded async mode: ub_resolve_async() hands the lookup to
// libunbound's worker thread, whose answers make ub_fd() readable; wait() polls that
// descriptor with the time left before the nearest deadline, then ub_process() runs our
// C callback, which queues the decoded Answer. Callbacks are delivered after ub_process()
// returns, so a callback may start new lookups. Deadlines are ours (ResolverOptions::
// timeout): an expired lookup is cancelled with ub_cancel() and answered kTimeout; a late
// answer is dropped. An event loop watches fd() and calls wait() when it is readable, and
// also once the nearest lookup deadline has passed (a timeout makes no descriptor ready).
//
// Upstream: ResolverOptions::servers are forwarders (ub_ctx_set_fwd, "IP@port"); without
// them, the name servers of /etc/resolv.conf; without a usable resolv.conf, full
// recursion from the root hints. Forwarding to an authoritative-only server (NSD, Knot)
// works for the zones it serves: it answers queries with RD set authoritatively.
// DNSSEC: trust anchors (DS or DNSKEY lines, RFC 4033) from trust_anchor_file; with one,
// answers below it are validated: secure → Answer::secure, bogus → kServFail.
#include <poll.h>
#include <unbound.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <chrono>
#include <map>
#include <utility>

#include "dns/cache.h"
#include "dns/dns.h"
#include "dns/rdata.h"
#include "dns/zone_resolver.h"

namespace postern::dns {
namespace {

using SteadyTime = std::chrono::steady_clock::time_point;

// "192.0.2.1", "192.0.2.1:5353", "[2001:db8::1]:53", "2001:db8::1" → "IP@port" (libunbound
// syntax), or an error for anything that is not an IP address.
base::Result<std::string> forwarder_spec(const std::string& server) {
  std::string host = server, port;
  if (server.starts_with('[')) {
    size_t close = server.find(']');
    if (close == std::string::npos) return base::Error::usage("bad DNS server " + server);
    host = server.substr(1, close - 1);
    std::string rest = server.substr(close + 1);
    if (!rest.empty()) {
      if (rest[0] != ':') return base::Error::usage("bad DNS server " + server);
      port = rest.substr(1);
    }
  } else if (std::count(server.begin(), server.end(), ':') == 1) {
    size_t colon = server.find(':');
    host = server.substr(0, colon);
    port = server.substr(colon + 1);
  }
  unsigned char buf[16];
  if (::inet_pton(AF_INET, host.c_str(), buf) != 1 && ::inet_pton(AF_INET6, host.c_str(), buf) != 1) {
    return base::Error::usage("DNS server must be an IP address (with an optional port): " +
                              server);
  }
  if (!port.empty()) {
    bool digits = port.size() <= 5 && port.find_first_not_of("0123456789") == std::string::npos;
    if (!digits || std::stoi(port) < 1 || std::stoi(port) > 65535) {
      return base::Error::usage("bad port in DNS server " + server);
    }
    return host + "@" + port;
  }
  return host;
}

Answer failure(Status status, std::string why) {
  Answer a;
  a.status = status;
  a.why = std::move(why);
  return a;
}

std::string rcode_name(int rcode) {
  switch (rcode) {  // RFC 1035 4.1.1, RFC 6895 2.3
    case 1: return "FORMERR";
    case 2: return "SERVFAIL";
    case 4: return "NOTIMP";
    case 5: return "REFUSED";
    default: return "RCODE " + std::to_string(rcode);
  }
}

// A libunbound result as an Answer; *neg_ttl gets the negative-caching TTL.
Answer to_answer(RrType type, int err, ub_result* r, std::optional<uint32_t>* neg_ttl) {
  if (err != 0 || r == nullptr) return failure(Status::kServFail, ub_strerror(err));
  if (r->bogus) {
    // RFC 4035 5.5: a bogus answer must not be used; the caller sees a server failure.
    return failure(Status::kServFail, std::string("DNSSEC validation failed: ") +
                                          (r->why_bogus ? r->why_bogus : "bogus"));
  }
  Answer a;
  a.secure = r->secure != 0;
  if (r->rcode == 3 || r->nxdomain) {  // NXDOMAIN, RFC 8020
    a.status = Status::kNxDomain;
  } else if (r->rcode != 0) {
    return failure(Status::kServFail, "server answered " + rcode_name(r->rcode));
  } else if (!r->havedata) {
    a.status = Status::kNoData;  // RFC 2308 2.2
  } else {
    a.status = Status::kOk;
  }
  if (a.status != Status::kOk) {
    if (r->answer_packet != nullptr && r->answer_len > 0) {
      *neg_ttl = negative_ttl(
          std::string_view(static_cast<const char*>(r->answer_packet), r->answer_len));
    }
    return a;
  }
  // After CNAME chasing the records belong to the canonical name.
  std::string owner = normalize_name(r->canonname ? r->canonname : r->qname);
  for (int i = 0; r->data[i] != nullptr; ++i) {
    Record rec;
    rec.name = owner;
    // libunbound reports one TTL for the answer: the smallest in it (RFC 2181 5.2 wants
    // one TTL per RRset anyway), already counted down when it came from its cache.
    rec.ttl = r->ttl < 0 ? 0 : static_cast<uint32_t>(r->ttl);
    auto st = decode_rdata(type, std::string_view(r->data[i], r->len[i]), &rec);
    if (!st) return failure(Status::kServFail, st.error().message());
    a.records.push_back(std::move(rec));
  }
  return a;
}

class UnboundResolver final : public Resolver {
 public:
  UnboundResolver(ub_ctx* ctx, const ResolverOptions& options)
      : ctx_(ctx), timeout_(options.timeout), use_cache_(options.cache),
        cache_(base::system_clock()) {}

  ~UnboundResolver() override {
    ub_ctx_delete(ctx_);  // stops the worker: no callback runs after this
  }

  void query(const std::string& name, RrType type, std::function<void(Answer)> done) override {
    std::string key = normalize_name(name);
    if (use_cache_) {
      if (auto hit = cache_.get(key, type)) {
        done(std::move(*hit));
        return;
      }
    }
    auto p = std::make_unique<Pending>();
    p->self = this;
    p->serial = ++serial_;
    p->name = key;
    p->type = type;
    p->deadline = std::chrono::steady_clock::now() + timeout_;
    p->done = std::move(done);
    Pending* raw = p.get();
    int err = ub_resolve_async(ctx_, key.empty() ? "." : key.c_str(), static_cast<int>(type),
                               1 /* IN */, raw, &UnboundResolver::on_result, &raw->async_id);
    if (err != 0) {
      raw->done(failure(Status::kServFail, std::string("cannot start lookup: ") + ub_strerror(err)));
      return;
    }
    pending_.emplace(raw->serial, std::move(p));
  }

  void wait() override {
    while (ready_.empty() && !pending_.empty()) {
      auto now = std::chrono::steady_clock::now();
      SteadyTime nearest = SteadyTime::max();
      for (const auto& [serial, p] : pending_) nearest = std::min(nearest, p->deadline);
      auto left = std::chrono::ceil<std::chrono::milliseconds>(nearest - now).count();
      struct pollfd pfd = {ub_fd(ctx_), POLLIN, 0};
      int n = ::poll(&pfd, 1, static_cast<int>(std::max<int64_t>(0, std::min<int64_t>(left, 60000))));
      if (n > 0) {
        ub_process(ctx_);
      } else if (n < 0 && errno != EINTR) {
        fail_all("poll: " + std::string(std::strerror(errno)));
      }
      expire(std::chrono::steady_clock::now());
    }
    deliver();
  }

  int fd() const override { return ub_fd(ctx_); }

 private:
  struct Pending {
    UnboundResolver* self = nullptr;
    uint64_t serial = 0;
    int async_id = 0;
    std::string name;
    RrType type = RrType::kA;
    SteadyTime deadline;
    std::function<void(Answer)> done;
    bool dead = false;  // timed out; a late answer is dropped
  };

  static void on_result(void* arg, int err, ub_result* result) {
    auto* p = static_cast<Pending*>(arg);
    if (!p->dead) p->self->complete(p, err, result);
    if (result != nullptr) ub_resolve_free(result);
  }

  void complete(Pending* p, int err, ub_result* result) {
    std::optional<uint32_t> neg_ttl;
    Answer a = to_answer(p->type, err, result, &neg_ttl);
    if (use_cache_) cache_.put(p->name, p->type, a, neg_ttl);
    ready_.emplace_back(std::move(p->done), std::move(a));
    pending_.erase(p->serial);  // destroys *p
  }

  void expire(SteadyTime now) {
    for (auto it = pending_.begin(); it != pending_.end();) {
      Pending& p = *it->second;
      if (p.deadline > now) {
        ++it;
        continue;
      }
      ready_.emplace_back(std::move(p.done),
                          failure(Status::kTimeout, "no answer within " +
                                                        std::to_string(timeout_.count()) + " ms"));
      p.dead = true;
      // ub_cancel() promises the callback will not run; if it cannot find the query (its
      // answer is already on the way), keep the dead entry until the context is gone.
      if (ub_cancel(ctx_, p.async_id) != 0) orphans_.push_back(std::move(it->second));
      it = pending_.erase(it);
    }
  }

  void fail_all(const std::string& why) {
    for (auto& [serial, p] : pending_) p->deadline = SteadyTime::min();
    expire(std::chrono::steady_clock::now());
    for (auto& r : ready_) r.second = failure(Status::kServFail, why);
  }

  void deliver() {
    auto ready = std::exchange(ready_, {});
    for (auto& [done, answer] : ready) done(std::move(answer));
  }

  ub_ctx* ctx_;
  std::chrono::milliseconds timeout_;
  bool use_cache_;
  AnswerCache cache_;
  uint64_t serial_ = 0;
  std::map<uint64_t, std::unique_ptr<Pending>> pending_;
  std::vector<std::unique_ptr<Pending>> orphans_;
  std::vector<std::pair<std::function<void(Answer)>, Answer>> ready_;
};

// Owns a ub_ctx until it is handed to the resolver.
struct CtxGuard {
  ub_ctx* ctx;
  ~CtxGuard() {
    if (ctx != nullptr) ub_ctx_delete(ctx);
  }
};

base::Error setup_error(const std::string& what, int err) {
  return base::Error::config(what + ": " + ub_strerror(err));
}

}  // namespace

base::Result<std::unique_ptr<Resolver>> make_network_resolver(const ResolverOptions& options) {
  CtxGuard guard{ub_ctx_create()};
  ub_ctx* ctx = guard.ctx;
  if (ctx == nullptr) return base::Error::unavailable("cannot create the libunbound context");
  if (int err = ub_ctx_async(ctx, 1); err != 0) return setup_error("libunbound threads", err);
  // Resolvers and test servers on loopback are legitimate upstreams here (unbound's
  // default refuses to query 127.0.0.0/8 and ::1).
  if (int err = ub_ctx_set_option(ctx, "do-not-query-localhost:", "no"); err != 0) {
    return setup_error("do-not-query-localhost", err);
  }
  // Unbound answers some names itself (RFC 6761 special-use, RFC 6303 private reverse
  // zones). Postern is a client of its upstream: let the upstream decide about "test."
  // (test zones served by a configured server) and the reverse zones of private
  // networks (a site resolver may serve PTR records for them).
  for (auto [opt, val] : {std::pair{"local-zone:", "test. transparent"},
                          std::pair{"unblock-lan-zones:", "yes"},
                          std::pair{"insecure-lan-zones:", "yes"}}) {
    if (int err = ub_ctx_set_option(ctx, opt, val); err != 0) {
      return setup_error(std::string(opt) + " " + val, err);
    }
  }
  // /etc/hosts is never consulted (no ub_ctx_hosts): mail names come from the DNS only.
  if (!options.servers.empty()) {
    for (const auto& server : options.servers) {
      auto spec = forwarder_spec(server);
      if (!spec) return spec.error();
      if (int err = ub_ctx_set_fwd(ctx, spec->c_str()); err != 0) {
        return setup_error("DNS server " + server, err);
      }
    }
  } else if (::access("/etc/resolv.conf", R_OK) == 0) {
    if (int err = ub_ctx_resolvconf(ctx, nullptr); err != 0) {
      return setup_error("/etc/resolv.conf", err);
    }
  }  // else: recursion from the root hints
  if (!options.trust_anchor_file.empty()) {
    // libunbound reads the file at the first lookup; check it now so the admin sees a
    // configuration error rather than every lookup failing.
    int fd = ::open(options.trust_anchor_file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      return base::Error::config("trust anchor " + options.trust_anchor_file + ": " +
                                 std::strerror(errno));
    }
    ::close(fd);
    if (int err = ub_ctx_add_ta_file(ctx, options.trust_anchor_file.c_str()); err != 0) {
      return setup_error("trust anchor " + options.trust_anchor_file, err);
    }
  }
  auto r = std::make_unique<UnboundResolver>(ctx, options);
  guard.ctx = nullptr;
  return std::unique_ptr<Resolver>(std::move(r));
}

}  // namespace postern::dns
