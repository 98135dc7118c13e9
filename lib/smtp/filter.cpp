// Filter stages (see filter.h).
#include "smtp/filter.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>

#include "auth/check.h"
#include "auth/results.h"
#include "base/clock.h"
#include "base/fd.h"
#include "base/log.h"
#include "base/process.h"
#include "mail/header.h"
#include "mail/writer.h"
#include "spam/models.h"
#include "spam/scan.h"
#include "store/greylist.h"

namespace postern::smtp {
namespace {

using Clock = std::chrono::steady_clock;

Verdict failure(const FilterStage& stage, std::string detail) {
  if (stage.accept_on_error) return {Verdict::kAccept, "", stage.name + ": " + detail + " (on_error: accept)"};
  return {Verdict::kTempFail, "451 4.7.1 temporary failure in filter " + stage.name + ", try again later",
          stage.name + ": " + detail};
}

std::string last_line(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) {
    text.remove_suffix(1);
  }
  size_t nl = text.rfind('\n');
  std::string line(nl == std::string_view::npos ? text : text.substr(nl + 1));
  for (char& c : line) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  }
  if (line.size() > 200) line.resize(200);
  return line;
}

void set_nonblock(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

std::vector<std::string> environment(const FilterInput& in) {
  std::string rcpts;
  for (const auto& r : in.recipients) rcpts += r + "\n";
  return {"POSTERN_STAGE=" + std::string(filter_at_name(in.at)),
          "POSTERN_CLIENT_IP=" + in.client_ip,
          "POSTERN_HELO=" + in.helo,
          "POSTERN_SENDER=" + in.sender,
          "POSTERN_RECIPIENT=" + in.recipient,
          "POSTERN_RECIPIENTS=" + rcpts,
          "POSTERN_QUEUE_ID=" + in.queue_id,
          "POSTERN_AUTH_USER=" + in.auth_user,
          "POSTERN_LISTENER=" + in.listener};
}

// Runs the command with `input` on stdin, collecting stdout and stderr, within the
// stage's timeout. Returns the exit status (128 + signal), or nullopt on timeout.
struct ExecResult {
  std::optional<int> status;
  std::string out;
  std::string err;
  std::string problem;  // could not start
};

ExecResult exec_filter(const FilterStage& stage, std::string_view input,
                       const std::vector<std::string>& env) {
  ExecResult r;
  auto in = base::Pipe::create();
  auto out = base::Pipe::create();
  auto err = base::Pipe::create();
  if (!in || !out || !err) {
    r.problem = "cannot create pipes";
    return r;
  }
  auto child = base::Child::spawn(stage.exec, {.stdin_fd = in->read.get(),
                                               .stdout_fd = out->write.get(),
                                               .stderr_fd = err->write.get(),
                                               .env = env});
  if (!child) {
    r.problem = child.error().message();
    return r;
  }
  in->read.reset();
  out->write.reset();
  err->write.reset();
  base::UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, child->pid(), 0)));
  set_nonblock(in->write.get());
  set_nonblock(out->read.get());
  set_nonblock(err->read.get());
  size_t written = 0;
  if (input.empty()) in->write.reset();
  bool out_open = true, err_open = true, exited = false;
  auto deadline = Clock::now() + stage.timeout;
  char buf[65536];
  while (out_open || err_open || !exited) {
    pollfd fds[4];
    int n = 0;
    int i_in = -1, i_out = -1, i_err = -1, i_pid = -1;
    if (in->write) { fds[n] = {in->write.get(), POLLOUT, 0}; i_in = n++; }
    if (out_open) { fds[n] = {out->read.get(), POLLIN, 0}; i_out = n++; }
    if (err_open) { fds[n] = {err->read.get(), POLLIN, 0}; i_err = n++; }
    if (!exited && pidfd) { fds[n] = {pidfd.get(), POLLIN, 0}; i_pid = n++; }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      child->kill(SIGKILL);
      child->wait();
      return r;  // status unset: timeout
    }
    if (!pidfd && !out_open && !err_open) break;  // no pidfd: wait() below
    int rc = ::poll(fds, n, static_cast<int>(std::min<int64_t>(left.count(), 1000)));
    if (rc < 0 && errno != EINTR) break;
    if (rc <= 0) continue;
    if (i_in >= 0 && fds[i_in].revents) {
      if (fds[i_in].revents & (POLLERR | POLLHUP)) {
        in->write.reset();  // the filter does not read its input: fine
      } else {
        ssize_t w = ::write(in->write.get(), input.data() + written, input.size() - written);
        if (w > 0) written += static_cast<size_t>(w);
        if ((w < 0 && errno != EAGAIN && errno != EINTR) || written == input.size()) in->write.reset();
      }
    }
    auto drain = [&](int idx, base::UniqueFd& fd, std::string& to, bool& open) {
      if (idx < 0 || !fds[idx].revents) return;
      ssize_t got = ::read(fd.get(), buf, sizeof buf);
      if (got > 0) {
        to.append(buf, static_cast<size_t>(got));
      } else if (got == 0 || (errno != EAGAIN && errno != EINTR)) {
        open = false;
      }
    };
    drain(i_out, out->read, r.out, out_open);
    drain(i_err, err->read, r.err, err_open);
    if (i_pid >= 0 && fds[i_pid].revents) exited = true;
  }
  r.status = child->wait();
  return r;
}

Verdict run_exec(const FilterStage& stage, FilterInput& in) {
  bool data = in.at == FilterAt::kData && in.message != nullptr;
  ExecResult r = exec_filter(stage, data ? std::string_view(*in.message) : std::string_view(),
                             environment(in));
  if (!r.problem.empty()) return failure(stage, "cannot run: " + r.problem);
  if (!r.status) return failure(stage, "timed out after " + std::to_string(stage.timeout.count()) + " ms");
  int st = *r.status;
  if (st == 0) {
    if (data && !r.out.empty()) {
      *in.message = mail::find_bare_lf(r.out) == std::string::npos ? std::move(r.out)
                                                                   : mail::lf_to_crlf(r.out);
    }
    return {};
  }
  if (st == 1 && stage.check) {
    std::string reason = last_line(r.err);
    if (reason.empty()) reason = "rejected by " + stage.name;
    return {Verdict::kReject, "550 5.7.1 " + reason, stage.name + ": " + reason};
  }
  std::string why = st > 128 ? "killed by signal " + std::to_string(st - 128)
                             : "exit status " + std::to_string(st);
  std::string said = last_line(r.err);
  if (!said.empty()) why += ": " + said;
  return failure(stage, why);
}

// The worker's resolver, made on first use from the settings; an error text or "".
std::string ensure_resolver(FilterContext& ctx) {
  if (ctx.resolver) return "";
  auto r = dns::make_resolver(ctx.settings->resolver);
  if (!r) return r.error().message();
  ctx.resolver = std::move(*r);
  return "";
}

Verdict run_auth_check(const FilterStage& stage, FilterInput& in, FilterContext& ctx) {
  if (in.at != FilterAt::kData || in.message == nullptr) return {};
  // Mail from an authenticated user is ours, sent from wherever the user is: SPF and
  // DMARC judge mail arriving from other servers (OpenDMARC and rspamd skip it too).
  if (!in.auth_user.empty()) return {Verdict::kAccept, "", "skipped: authenticated"};
  const Settings& s = *ctx.settings;
  if (auto e = ensure_resolver(ctx); !e.empty()) return failure(stage, e);
  if (!ctx.psl) {
    auto p = auth::PublicSuffixList::shared(s.psl_file);
    if (!p) return failure(stage, p.error().message());
    ctx.psl = *p;
  }
  auth::CheckRequest req;
  auto ip = auth::IpAddress::parse(in.client_ip);
  if (!ip) return failure(stage, "client address " + in.client_ip + " is not an IP address");
  req.ip = *ip;
  req.helo = in.helo;
  req.mail_from = in.sender;
  req.rcpt_to = in.recipients.empty() ? std::string() : in.recipients.front();
  req.authserv_id = s.hostname;
  req.trusted_arc_sealers = s.trusted_arc_sealers;
  std::string msg = auth::strip_authentication_results(*in.message, req.authserv_id);
  auto task = auth::check_message(msg, *ctx.resolver, *ctx.psl, req);
  auth::CheckResult r = dns::run(*ctx.resolver, task);
  if (!s.dmarc_record.empty()) {
    base::UniqueFd fd(::open(s.dmarc_record.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640));
    int64_t now = base::unix_seconds(base::system_clock().now());
    // One write() per line on an O_APPEND descriptor: concurrent writers never interleave.
    if (!fd || !base::write_all(fd.get(), auth::record_to_json(auth::to_record(req, r, now)))) {
      base::log_warn("dmarc_record_failed", {{"file", s.dmarc_record}, {"error", std::strerror(errno)}});
    }
  }
  *in.message = auth::stamp(msg, req.authserv_id, auth::result_clauses(req, r));
  std::string words = auth::result_words(req, r);
  if (s.dmarc == DmarcMode::kEnforce) {
    if (r.disposition == auth::dmarc::Policy::kReject) {
      return {Verdict::kReject,
              "550 5.7.1 rejected by the DMARC policy of the From: domain (RFC 7489 6.6.2)",
              "dmarc reject: " + words};
    }
    if (r.disposition == auth::dmarc::Policy::kQuarantine) {
      return {Verdict::kJunk, "", "dmarc quarantine: " + words};
    }
  }
  return {Verdict::kAccept, "", words};
}

// The spam filter over the message, as `spam-score --rcpt R --ip IP` prints it: incoming
// X-Spam-* fields removed, ours prepended (above our Received: field, so local delivery
// trusts X-Spam-Flag). The global model: each recipient's own is applied at delivery.
Verdict run_spam_score(const FilterStage& stage, FilterInput& in, FilterContext& ctx) {
  if (in.at != FilterAt::kData || in.message == nullptr) return {};
  // Authenticated users' mail is scored by its destination, as rspamd and Stalwart leave
  // outbound mail alone by default.
  if (!in.auth_user.empty()) return {Verdict::kAccept, "", "skipped: authenticated"};
  const Settings& s = *ctx.settings;
  if (!s.spam_engine) return failure(stage, "the spam filter is not prepared");
  const spam::Engine& engine = *s.spam_engine;
  const spam::Settings& ss = engine.settings();
  if (ctx.spam_scratch_of != s.spam_engine) {
    ctx.spam_scratch = std::make_unique<spam::Engine::Scratch>(engine);
    ctx.spam_scratch_of = s.spam_engine;
  }
  if (!ss.dnsbl.empty() || ss.llm.enabled) {
    if (auto e = ensure_resolver(ctx); !e.empty()) return failure(stage, e);
  }
  spam::ScanContext sc{.resolver = ctx.resolver.get(),
                       .models = ctx.store ? s.spam_models.get() : nullptr,
                       .store = ctx.store,
                       .rcpt = in.recipients.empty() ? std::string() : in.recipients.front(),
                       .client_ip = in.client_ip,
                       .recipient_model = false};
  std::string clean = spam::strip_spam_headers(*in.message);
  auto v = spam::scan(engine, clean, sc, *ctx.spam_scratch);
  if (!v) return failure(stage, v.error().message());
  *in.message = spam::spam_headers(*v, ss.thresholds) + clean;
  std::string detail = "score=" + spam::format_score(v->score) + " action=" +
                       std::string(spam::action_name(v->action));
  if (v->action == spam::Action::kReject) {
    return {Verdict::kReject,
            "550 5.7.1 message rejected as spam (score " + spam::format_score(v->score) + ")", detail};
  }
  if (v->spam) return {Verdict::kJunk, "", detail};
  return {Verdict::kAccept, "", detail};
}

bool loopback_or_unknown(const std::optional<auth::IpAddress>& ip) {
  if (!ip) return true;
  if (!ip->v6) return ip->bytes[0] == 127;
  static const auth::IpAddress one = *auth::IpAddress::parse("::1");
  return *ip == one;
}

// The client address against the IP blocklists of spam.dnsbl.zones, as Postfix's
// reject_rbl_client does: listed is refused (554 at connect, 550 later). A lookup that
// fails or times out lets the client in.
Verdict run_dnsbl(const FilterStage& stage, FilterInput& in, FilterContext& ctx) {
  if (!in.auth_user.empty()) return {};
  auto ip = auth::IpAddress::parse(in.client_ip);
  if (loopback_or_unknown(ip)) return {};
  const Settings& s = *ctx.settings;
  if (!s.spam_engine) return failure(stage, "the spam filter is not prepared");
  const spam::Settings& ss = s.spam_engine->settings();
  std::vector<spam::DnsblZone> zones;
  for (const auto& z : ss.dnsbl) {
    if (z.kind == spam::DnsblZone::Kind::kIp) zones.push_back(z);
  }
  if (zones.empty()) return {};
  if (auto e = ensure_resolver(ctx); !e.empty()) return failure(stage, e);
  spam::DnsblResult r = spam::dnsbl_check_sync(*ctx.resolver, zones, {in.client_ip}, {},
                                               ss.dnsbl_options);
  for (const std::string& e : r.errors) base::log_warn("dnsbl", {{"error", e}});
  if (r.hits.empty()) return {};
  if (r.score() < ss.dnsbl_reject) {
    // Listed, but not enough to refuse: spam-score counts it with the message.
    std::string rules;
    for (const spam::DnsblHit& x : r.hits) rules += (rules.empty() ? "" : ",") + x.rule;
    base::log_info("dnsbl_listed", {{"client", ip->to_string()},
                                    {"rules", rules},
                                    {"score", spam::format_score(r.score())}});
    return {};
  }
  const spam::DnsblHit& h = r.hits.front();
  std::string zone = h.rule;
  for (const auto& z : zones) {
    if (h.rule.starts_with(z.name)) zone = z.zone;
  }
  return {Verdict::kReject,
          "550 5.7.1 Service unavailable; client host [" + ip->to_string() + "] blocked using " +
              zone,
          h.rule + " " + h.item + " " + h.answer};
}

// The client's network as text: the address with its host bits cleared, and the prefix.
std::string client_network(const auth::IpAddress& ip, const Greylist& g) {
  auth::IpAddress net = ip;
  int bits = ip.v6 ? g.ipv6_prefix : g.ipv4_prefix;
  int total = ip.v6 ? 128 : 32;
  bits = std::clamp(bits, 0, total);
  for (int i = bits; i < total; ++i) net.bytes[i / 8] &= static_cast<uint8_t>(~(0x80 >> (i % 8)));
  return net.to_string() + "/" + std::to_string(bits);
}

// RFC 6647 greylisting at RCPT: a new (network, sender, recipient) triplet is deferred.
Verdict run_greylist(const FilterStage& stage, FilterInput& in, FilterContext& ctx) {
  if (in.at != FilterAt::kRcpt || !in.auth_user.empty()) return {};
  auto ip = auth::IpAddress::parse(in.client_ip);
  if (loopback_or_unknown(ip)) return {};
  if (!ctx.store) return failure(stage, "the store is not available");
  const Greylist& g = ctx.settings->greylist;
  store::greylist::Policy p{.delay = g.delay.count(),
                            .retry_window = g.retry_window.count(),
                            .expire = g.expire.count(),
                            .auto_allow = g.auto_allow};
  std::string net = client_network(*ip, g);
  int64_t now = base::unix_seconds(base::system_clock().now());
  auto a = store::greylist::check(*ctx.store, net, mail::to_lower(in.sender),
                                  mail::to_lower(in.recipient), p, now);
  if (!a) return failure(stage, a.error().message());
  // Expired triplets go once an hour (per process; several processes only repeat it).
  static std::atomic<int64_t> last_sweep{0};
  int64_t last = last_sweep.load();
  if (now - last >= 3600 && last_sweep.compare_exchange_strong(last, now)) {
    auto gone = store::greylist::sweep(*ctx.store, p, now);
    if (!gone) base::log_warn("greylist_sweep", {{"error", gone.error().message()}});
  }
  if (a->pass) return {Verdict::kAccept, "", a->allowed_client ? "" : "passed " + net};
  return {Verdict::kTempFail,
          "451 4.7.1 greylisted: please try again in " + std::to_string(a->wait) + " seconds",
          "deferred " + net};
}

}  // namespace

std::string_view filter_at_name(FilterAt a) {
  switch (a) {
    case FilterAt::kConnect: return "connect";
    case FilterAt::kHelo: return "helo";
    case FilterAt::kMail: return "mail";
    case FilterAt::kRcpt: return "rcpt";
    case FilterAt::kData: return "data";
  }
  return "data";
}

bool known_builtin(std::string_view name) {
  return name == "auth-check" || name == "spam-score" || name == "dnsbl" || name == "greylist";
}

bool needs_store(const FilterStage& stage) {
  return stage.builtin == "spam-score" || stage.builtin == "greylist";
}

bool uses_spam_filter(const Settings& s) {
  return std::any_of(s.filters.begin(), s.filters.end(), [](const FilterStage& f) {
    return f.builtin == "spam-score" || f.builtin == "dnsbl";
  });
}

base::Status prepare_spam(Settings& s, store::Store& store) {
  if (!s.spam || !uses_spam_filter(s)) return {};
  // Models are re-read once a minute when spam-train has taught them since.
  auto f = spam::make_filter(*s.spam, store, std::chrono::seconds(60));
  if (!f) return f.error();
  s.spam_engine = f->engine;
  s.spam_models = f->models;
  return {};
}

Verdict run_stage(const FilterStage& stage, FilterInput& in, FilterContext& ctx) {
  if (!stage.builtin.empty()) {
    if (stage.builtin == "auth-check") return run_auth_check(stage, in, ctx);
    if (stage.builtin == "spam-score") return run_spam_score(stage, in, ctx);
    if (stage.builtin == "dnsbl") return run_dnsbl(stage, in, ctx);
    if (stage.builtin == "greylist") return run_greylist(stage, in, ctx);
    return failure(stage, "unknown builtin " + stage.builtin);
  }
  return run_exec(stage, in);
}

}  // namespace postern::smtp
