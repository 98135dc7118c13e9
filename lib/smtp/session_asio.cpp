// One SMTP (RFC 5321) or LMTP (RFC 2033) session as a coroutine (see server.h).
#include <openssl/rand.h>
#include <pwd.h>

#include <algorithm>
#include <chrono>

#include "auth/dkim.h"
#include "auth/sasl.h"
#include "base/clock.h"
#include "base/log.h"
#include "mail/header.h"
#include "smtp/command.h"
#include "smtp/data.h"
#include "smtp/internal_asio.h"
#include "smtp/policy.h"
#include "store/account_admin.h"
#include "spam/recipient.h"
#include "store/local_delivery.h"

namespace postern::smtp {
namespace {

namespace q = store::queue;
using Clock = std::chrono::steady_clock;
using base::Error;
using base::ExitCode;

std::string lower(std::string_view s) { return mail::to_lower(s); }

std::string session_id() {
  static const char kDigits[] = "0123456789abcdefghijklmnopqrstuv";
  unsigned char raw[8];
  RAND_bytes(raw, sizeof raw);
  std::string id;
  for (unsigned char c : raw) id += kDigits[c & 31];
  return id;
}

int64_t unix_now() { return base::unix_seconds(base::system_clock().now()); }

// The login name of a uid ("" when it has none). May read /etc/passwd or ask NSS: run it
// on a worker.
std::string login_name(int64_t uid) {
  if (uid < 0) return {};
  std::vector<char> buf(16384);
  passwd pw{}, *found = nullptr;
  if (::getpwuid_r(static_cast<uid_t>(uid), &pw, buf.data(), buf.size(), &found) != 0 || !found) {
    return {};
  }
  return found->pw_name;
}

}  // namespace

struct Session::State {
  Server::Impl& srv;
  std::shared_ptr<const Settings> settings;
  ListenerSpec listener;
  std::unique_ptr<Stream> stream;
  std::string ip;
  std::string sid = session_id();

  std::string in;
  size_t in_pos = 0;
  static constexpr size_t kReadChunk = 16384;
  std::unique_ptr<char[]> read_buf;  // made at the first read
  std::string out;
  asio::steady_timer watchdog;
  Clock::time_point deadline;
  bool idle = false;
  bool closed = false;
  bool quit = false;

  std::string helo;
  bool esmtp = false;
  std::string auth_user;  // the login, or a local listener's user name
  LocalPeer* local = nullptr;  // set on local listeners (the stream's SO_PEERCRED)
  LocalPeer unknown_peer;
  int errors = 0;
  int commands = 0;

  struct Tx {
    bool active = false;
    std::string id;
    MailParams mail;
    std::vector<RcptParams> rcpts;
    std::string bdat;
    bool bdat_started = false;
    bool bdat_failed = false;
    uint64_t bdat_size = 0;
  } tx;

  State(Server::Impl& s, ListenerSpec l, std::unique_ptr<Stream> st, std::string peer)
      : srv(s), settings(s.settings), listener(std::move(l)), stream(std::move(st)),
        ip(std::move(peer)), watchdog(s.io),
        deadline(Clock::now() + settings->limits.command_timeout) {
    if (listener.mode == Mode::kLocal) {
      local = stream->local_peer();
      if (!local) local = &unknown_peer;  // uid -1: may send nothing
    }
  }

  const Settings& cfg() const { return *settings; }
  const Limits& limits() const { return settings->limits; }
  bool lmtp() const { return listener.mode == Mode::kLmtp; }
  bool submission() const {
    return listener.mode == Mode::kSubmission || listener.mode == Mode::kSubmissions;
  }
  bool tls() const { return stream->is_tls(); }
  bool auth_offered() const {
    return !lmtp() && !local && auth_user.empty() && (tls() || !cfg().auth_requires_tls);
  }
  // Rate limits count per client address; local clients per uid.
  std::string rate_key() const { return local ? "uid:" + std::to_string(local->uid) : ip; }
  bool starttls_offered() const { return srv.tls && !tls() && stream->can_tls(); }

  Offered offered() const {
    Offered o;
    if (!esmtp) return o;
    o.size = o.eightbitmime = o.binarymime = o.smtputf8 = o.dsn = true;
    o.requiretls = tls();
    o.auth = true;
    o.max_size = limits().max_message_size;
    return o;
  }

  void reply(std::string_view text) {
    out += text;
    out += "\r\n";
  }
  void reply(int code, std::string_view enhanced, std::string_view text) {
    out += format_reply(code, enhanced, text);
  }
  void reply(const Error& e) { out += format_reply(e); }
  void reject(std::string_view line, std::string_view reason) {
    reply(line);
    ++srv.counters.rejects[std::string(reason)];
  }
  void reset() { tx = Tx{}; }
};

namespace {

// ---- reading and writing ----

awaitable<void> flush(Session::State& s) {
  if (s.out.empty()) co_return;
  std::string o;
  o.swap(s.out);
  s.deadline = Clock::now() + s.limits().command_timeout;
  co_await s.stream->write(o);
}

// Reads more input (flushing pending replies first: RFC 2920 lets a server buffer its
// replies while more pipelined commands are waiting). False on EOF, error or timeout.
// The deadline is the caller's: a whole command line must arrive within the command
// timeout (a client trickling one byte at a time does not extend it); each block of
// message data within the data timeout (RFC 5321 4.5.3.2.6).
awaitable<bool> fill(Session::State& s, Clock::time_point deadline) {
  if (!s.out.empty()) co_await flush(s);
  if (s.in_pos == s.in.size()) {
    s.in.clear();
    s.in_pos = 0;
  } else if (s.in_pos > 16384) {
    s.in.erase(0, s.in_pos);
    s.in_pos = 0;
  }
  s.deadline = deadline;
  // Into a buffer of its own, then appended: growing `in` by the chunk would zero 16 KB
  // for every command line of a few bytes.
  if (!s.read_buf) s.read_buf = std::make_unique_for_overwrite<char[]>(Session::State::kReadChunk);
  size_t n = 0;
  try {
    n = co_await s.stream->read_some(s.read_buf.get(), Session::State::kReadChunk);
  } catch (const std::exception&) {
    co_return false;
  }
  s.in.append(s.read_buf.get(), n);
  co_return n > 0;
}

struct Line {
  enum Kind { kOk, kEof, kTooLong } kind = kEof;
  std::string text;
};

// A command line; LF alone also ends one (commands carry no content to smuggle).
awaitable<Line> read_line(Session::State& s, size_t max, std::chrono::seconds timeout) {
  bool too_long = false;
  Clock::time_point deadline = Clock::now() + timeout;
  for (;;) {
    size_t nl = s.in.find('\n', s.in_pos);
    if (nl != std::string::npos) {
      size_t end = nl;
      if (end > s.in_pos && s.in[end - 1] == '\r') --end;
      Line l;
      if (too_long || end - s.in_pos > max) {
        l.kind = Line::kTooLong;
      } else {
        l.kind = Line::kOk;
        l.text.assign(s.in, s.in_pos, end - s.in_pos);
      }
      s.in_pos = nl + 1;
      co_return l;
    }
    if (s.in.size() - s.in_pos > max + 2) {  // discard the overlong line as it comes
      too_long = true;
      s.in_pos = s.in.size();
    }
    if (!co_await fill(s, deadline)) co_return Line{};
  }
}

awaitable<void> watch(std::shared_ptr<Session> keep, Session::State& s) {
  while (!s.closed) {
    s.watchdog.expires_at(s.deadline);
    boost::system::error_code ec;
    co_await s.watchdog.async_wait(asio::redirect_error(use_awaitable, ec));
    if (s.closed) break;
    if (Clock::now() >= s.deadline) {
      base::log_info("timeout", {{"session", s.sid}, {"client", s.ip}});
      ++s.srv.counters.rejects["timeout"];
      s.stream->close();
      break;
    }
  }
}

// RFC 5321 4.4 trace field for the current transaction (policy.h).
std::string received_field(const Session::State& s) {
  return smtp::received_field({.helo = s.helo,
                               .ip = s.ip,
                               .tls = s.tls() ? s.stream->tls_info() : std::string(),
                               .hostname = s.cfg().hostname,
                               .lmtp = s.lmtp(),
                               .esmtp = s.esmtp,
                               .smtputf8 = s.tx.mail.smtputf8,
                               .authenticated = !s.auth_user.empty() && !s.local,
                               .queue_id = s.tx.id,
                               .recipient = s.tx.rcpts.size() == 1 ? s.tx.rcpts.front().address
                                                                   : std::string(),
                               .time = unix_now(),
                               .local = s.local});
}

q::Envelope envelope(const Session::State& s) {
  q::Envelope e;
  e.sender = s.tx.mail.sender;
  for (const auto& r : s.tx.rcpts) {
    e.recipients.push_back({.address = r.address, .orcpt = r.orcpt, .notify = r.notify});
  }
  e.envid = s.tx.mail.envid;
  e.ret = s.tx.mail.ret;
  e.body = s.tx.mail.body;
  e.smtputf8 = s.tx.mail.smtputf8;
  e.requiretls = s.tx.mail.requiretls;
  e.client_ip = s.ip;
  e.helo = s.helo;
  e.auth_user = s.auth_user;
  e.listener = s.listener.name;
  return e;
}

FilterInput filter_input(const Session::State& s, FilterAt at) {
  FilterInput in;
  in.at = at;
  in.client_ip = s.ip;
  in.helo = s.helo;
  in.sender = s.tx.mail.sender;
  for (const auto& r : s.tx.rcpts) in.recipients.push_back(r.address);
  in.queue_id = s.tx.id;
  in.auth_user = s.auth_user;
  in.listener = s.listener.name;
  return in;
}

bool applies(const FilterStage& f, FilterAt at, const std::string& listener) {
  return f.at == at && (f.listeners.empty() || std::find(f.listeners.begin(), f.listeners.end(),
                                                         listener) != f.listeners.end());
}

// Runs the stages of one step; returns the verdict that stopped it (kAccept when none did,
// kJunk when one asked to file the message as junk).
// (Arguments are references or scalars: GCC 12 may destroy a class-type temporary passed
// by value to a coroutine twice.)
awaitable<Verdict> run_filters(Session::State& s, FilterAt at, const std::string* recipient = nullptr,
                               std::string* message = nullptr) {
  Verdict result;
  FilterInput in = filter_input(s, at);
  if (recipient) in.recipient = *recipient;
  auto settings = s.settings;
  for (const FilterStage& f : settings->filters) {
    if (!applies(f, at, s.listener.name)) continue;
    struct Out {
      Verdict v;
      std::string message;
    };
    std::string msg = message ? std::move(*message) : std::string();
    // The stage's own timeout bounds it; the session must not time out meanwhile.
    s.deadline = Clock::now() + f.timeout + s.limits().command_timeout;
    // Named, not a temporary: GCC 12 mishandles temporaries inside co_await.
    std::function<Out(WorkerContext&)> job =
        [&f, in, msg = std::move(msg), settings, message, opener = s.srv.open_store](WorkerContext& w) mutable {
          w.use_settings(settings.get());  // the session's own (it may predate a reload)
          w.filters.store = needs_store(f) ? w.get_store(opener) : nullptr;
          if (message) in.message = &msg;
          Verdict v = run_stage(f, in, w.filters);
          return Out{std::move(v), std::move(msg)};
        };
    Out o = co_await s.srv.blocking<Out>(std::move(job));
    if (message) *message = std::move(o.message);
    if (!o.v.detail.empty()) {
      base::log_info("filter", {{"session", s.sid}, {"queue_id", s.tx.id}, {"stage", f.name},
                                {"at", filter_at_name(at)}, {"result", o.v.detail}});
    }
    if (o.v.kind == Verdict::kJunk) {
      result.kind = Verdict::kJunk;
      continue;
    }
    if (o.v.kind != Verdict::kAccept) {
      ++s.srv.counters.rejects[o.v.kind == Verdict::kReject ? "filter" : "filter_tempfail"];
      co_return o.v;
    }
  }
  co_return result;
}

// ---- commands ----

awaitable<void> do_helo(Session::State& s, const Command& c) {
  bool lhlo = c.verb == Verb::kLhlo;
  if (s.lmtp() != lhlo) {
    s.reply(500, "5.5.1", s.lmtp() ? "this is LMTP: use LHLO" : "LHLO is for LMTP: use EHLO");
    ++s.errors;
    co_return;
  }
  std::string name = c.arg.substr(0, c.arg.find(' '));
  if (name.empty()) {
    s.reply(501, "5.5.4", "syntax: " + c.name + " hostname");
    ++s.errors;
    co_return;
  }
  s.reset();
  s.helo = name;
  s.esmtp = c.verb != Verb::kHelo;
  Verdict v = co_await run_filters(s, FilterAt::kHelo);
  if (v.kind == Verdict::kReject || v.kind == Verdict::kTempFail) {
    s.helo.clear();
    s.reply(v.reply);
    co_return;
  }
  if (!s.esmtp) {
    s.reply(250, "", s.cfg().hostname);
    co_return;
  }
  std::string lines = s.cfg().hostname + " greets " + name;
  lines += "\nPIPELINING\nSIZE " + std::to_string(s.limits().max_message_size);
  lines += "\n8BITMIME\nSMTPUTF8\nCHUNKING\nBINARYMIME\nDSN\nENHANCEDSTATUSCODES";
  if (s.starttls_offered()) lines += "\nSTARTTLS";
  if (s.tls() && !s.lmtp()) lines += "\nREQUIRETLS";
  if (s.auth_offered()) lines += "\nAUTH PLAIN LOGIN SCRAM-SHA-256";
  s.reply(250, "", lines);
}

awaitable<void> do_starttls(Session::State& s, const Command& c) {
  if (!c.arg.empty()) {
    s.reply(501, "5.5.4", "STARTTLS takes no arguments");
    co_return;
  }
  if (s.tls()) {
    s.reply(503, "5.5.1", "TLS already active");
    co_return;
  }
  if (!s.starttls_offered()) {
    s.reply(454, "4.7.0", "TLS not available");
    co_return;
  }
  s.reply(220, "2.0.0", "ready to start TLS");
  co_await flush(s);
  // RFC 3207 4.2 / CVE-2011-0411: anything the client pipelined after STARTTLS was sent
  // in the clear and must not be taken as coming over TLS.
  s.in.clear();
  s.in_pos = 0;
  s.deadline = Clock::now() + s.limits().command_timeout;
  auto tls = s.srv.tls;
  try {
    co_await s.stream->handshake(tls);
  } catch (const std::exception& e) {
    base::log_info("tls_failed", {{"session", s.sid}, {"client", s.ip}, {"error", e.what()}});
    ++s.srv.counters.rejects["tls_failed"];
    s.quit = true;
    co_return;
  }
  // RFC 3207 4.2: the session starts over.
  s.reset();
  s.helo.clear();
  s.esmtp = false;
}

awaitable<void> do_auth(Session::State& s, const Command& c) {
  if (s.lmtp() || s.local) {
    s.reply(502, "5.5.1", "AUTH is not available here");
    co_return;
  }
  if (!s.esmtp) {
    s.reply(503, "5.5.1", "send EHLO first");
    co_return;
  }
  if (!s.auth_user.empty()) {
    s.reply(503, "5.5.1", "already authenticated");
    co_return;
  }
  if (s.tx.active) {
    s.reply(503, "5.5.1", "AUTH is not allowed during a mail transaction");
    co_return;
  }
  if (!s.tls() && s.cfg().auth_requires_tls) {
    s.reply(538, "5.7.11", "encryption required for authentication (use STARTTLS)");  // RFC 4954 6
    co_return;
  }
  auto& fails = s.srv.auth_failures[s.ip];
  if (fails.count > 0 && Clock::now() - fails.first > s.limits().auth_failures_window) fails = {};
  if (s.limits().auth_failures_max > 0 && fails.count >= s.limits().auth_failures_max) {
    ++s.srv.counters.rejects["auth_blocked"];
    s.reply(454, "4.7.0", "too many failed authentications from your address; try later");
    co_return;
  }
  std::string_view arg = c.arg;
  std::string mech_name(arg.substr(0, arg.find(' ')));
  auto mech = auth::sasl::parse_mechanism(mech_name);
  if (!mech) {
    s.reply(504, "5.5.4", "unrecognized authentication type");
    co_return;
  }
  std::optional<std::string> initial;
  if (size_t sp = arg.find(' '); sp != std::string_view::npos) {
    std::string_view ir = arg.substr(sp + 1);
    if (ir == "=") {
      initial = std::string();
    } else {
      auto d = auth::dkim::base64_decode(ir);
      if (!d) {
        s.reply(501, "5.5.2", "cannot decode the initial response (base64)");
        co_return;
      }
      initial = std::move(*d);
    }
  }
  // The backend runs on whichever worker takes each step.
  auto slot = std::make_shared<WorkerContext*>(nullptr);
  auto opener = s.srv.open_store;
  auth::sasl::Backend backend;
  backend.check_password = [slot, opener](std::string_view user, std::string_view password)
      -> base::Result<std::optional<auth::sasl::Backend::Match>> {
    store::Store* st = (*slot)->get_store(opener);
    if (!st) return (*slot)->store_error.error();
    std::string address = lower(user);
    auto acct = st->find_account(address);
    if (!acct) return acct.error();
    if (!*acct || !(*acct)->enabled) return std::optional<auth::sasl::Backend::Match>();
    auto via = store::admin::verify(*st, address, password);
    if (!via) return via.error();
    if (!*via) return std::optional<auth::sasl::Backend::Match>();
    return std::optional<auth::sasl::Backend::Match>(auth::sasl::Backend::Match{address, **via});
  };
  backend.scram = [slot, opener](std::string_view user)
      -> base::Result<std::optional<auth::sasl::ScramCredentials>> {
    store::Store* st = (*slot)->get_store(opener);
    if (!st) return (*slot)->store_error.error();
    auto acct = st->find_account(lower(user));
    if (!acct) return acct.error();
    if (!*acct || !(*acct)->enabled || !(*acct)->scram) {
      return std::optional<auth::sasl::ScramCredentials>();
    }
    const auto& v = *(*acct)->scram;
    return std::optional<auth::sasl::ScramCredentials>(
        auth::sasl::ScramCredentials{v.iterations, v.salt, v.stored_key, v.server_key});
  };
  auto ex = std::make_shared<auth::sasl::Exchange>(*mech, std::move(backend));
  // Named, not a temporary: GCC 12 mishandles temporaries inside co_await.
  std::function<auth::sasl::Step(WorkerContext&)> job =
      [ex, slot, initial](WorkerContext& w) {
        *slot = &w;
        return initial ? ex->start(std::string_view(*initial)) : ex->start(std::nullopt);
      };
  auth::sasl::Step step = co_await s.srv.blocking<auth::sasl::Step>(std::move(job));
  while (step.kind == auth::sasl::Step::kChallenge) {
    s.reply("334 " + auth::dkim::base64_encode(step.data));
    Line l = co_await read_line(s, 12288, s.limits().command_timeout);
    if (l.kind == Line::kEof) {
      s.quit = true;
      co_return;
    }
    if (l.kind == Line::kTooLong) {
      s.reply(500, "5.5.6", "authentication exchange line too long");
      co_return;
    }
    if (l.text == "*") {
      s.reply(501, "5.0.0", "authentication cancelled");  // RFC 4954 4
      co_return;
    }
    auto d = auth::dkim::base64_decode(l.text);
    if (!d) {
      s.reply(501, "5.5.2", "cannot decode the response (base64)");
      co_return;
    }
    std::string resp = std::move(*d);
    // Named, not a temporary: GCC 12 mishandles temporaries inside co_await.
    std::function<auth::sasl::Step(WorkerContext&)> job =
        [ex, slot, resp](WorkerContext& w) {
      *slot = &w;
      return ex->next(resp);
    };
    step = co_await s.srv.blocking<auth::sasl::Step>(std::move(job));
  }
  switch (step.kind) {
    case auth::sasl::Step::kSuccess:
      s.auth_user = step.user;
      ++s.srv.counters.auth_success;
      base::log_info("auth", {{"session", s.sid}, {"client", s.ip}, {"user", step.user},
                              {"via", step.via}, {"mechanism", mech_name}});
      s.reply(235, "2.7.0", "authentication successful");
      break;
    case auth::sasl::Step::kFailure: {
      ++s.srv.counters.auth_failure;
      auto& f = s.srv.auth_failures[s.ip];
      if (f.count == 0) f.first = Clock::now();
      ++f.count;
      base::log_info("auth_failed", {{"session", s.sid}, {"client", s.ip},
                                     {"mechanism", mech_name}, {"failures", std::to_string(f.count)}});
      int over = f.count - s.limits().auth_failures_delay;
      if (over > 0) {  // slow down guessing
        co_await flush(s);
        asio::steady_timer t(s.srv.io, std::chrono::seconds(std::min(over, 10)));
        s.deadline = Clock::now() + s.limits().command_timeout + std::chrono::seconds(10);
        co_await t.async_wait(use_awaitable);
      }
      s.reply(535, "5.7.8", "authentication credentials invalid");
      break;
    }
    case auth::sasl::Step::kMalformed:
      s.reply(501, "5.5.2", "malformed authentication response");
      break;
    default:
      base::log_info("auth_error", {{"session", s.sid}, {"detail", step.detail}});
      s.reply(454, "4.7.0", "temporary authentication failure");
  }
}

awaitable<void> do_mail(Session::State& s, const Command& c) {
  if (s.helo.empty()) {
    s.reply(503, "5.5.1", "send HELO/EHLO first");
    co_return;
  }
  if (s.tx.active) {
    s.reply(503, "5.5.1", "nested MAIL command");
    co_return;
  }
  if (s.submission() && s.auth_user.empty()) {
    s.reject("530 5.7.0 authentication required", "auth_required");  // RFC 4954 6
    co_return;
  }
  auto p = parse_mail(c.arg, s.offered());
  if (!p) {
    s.reply(p.error());
    ++s.errors;
    co_return;
  }
  const Limits& lim = s.limits();
  if (!s.srv.rate_ok(s.srv.rate_ip, s.rate_key(), lim.messages_per_ip_per_minute, false)) {
    s.reject("450 4.7.1 too many messages from your address; slow down", "rate_ip");
    co_return;
  }
  std::string sender_key = p->sender.empty() ? "<>" : lower(p->sender);
  if (!s.srv.rate_ok(s.srv.rate_sender, sender_key, lim.messages_per_sender_per_minute, false)) {
    s.reject("450 4.7.1 too many messages from this sender; slow down", "rate_sender");
    co_return;
  }
  if (s.local && !local_may_send_as(s.cfg(), *s.local, p->sender)) {
    std::string who = s.local->user.empty() ? "uid " + std::to_string(s.local->uid)
                                            : "user " + s.local->user;
    s.reject(p->sender.empty()
                 ? "553 5.7.1 the null sender is not allowed for " + who
                 : "553 5.7.1 <" + p->sender + ">: sender address not allowed for " + who,
             "sender_not_owned");
    co_return;
  }
  if (s.submission()) {
    if (p->sender.empty()) {
      s.reject("553 5.7.1 the null sender is not allowed on submission", "sender_not_owned");
      co_return;
    }
    auto settings = s.settings;
    std::string login = s.auth_user, sender = p->sender;
    // Named, not a temporary: GCC 12 mishandles temporaries inside co_await.
    std::function<base::Result<bool>(WorkerContext&)> job =
        [settings, login, sender, opener = s.srv.open_store](WorkerContext& w) -> base::Result<bool> {
          store::Store* st = w.get_store(opener);
          if (!st) return w.store_error.error();
          return may_send_as(*st, *settings, login, sender);
        };
    auto owned = co_await s.srv.blocking<base::Result<bool>>(std::move(job));
    if (!owned) {
      s.reply(451, "4.3.0", "temporary failure checking the sender");
      co_return;
    }
    if (!*owned) {
      s.reject("553 5.7.1 <" + p->sender + ">: sender address not owned by " + s.auth_user,
               "sender_not_owned");
      co_return;
    }
  }
  s.tx = {};
  s.tx.active = true;
  s.tx.id = q::make_queue_id();
  s.tx.mail = std::move(*p);
  Verdict v = co_await run_filters(s, FilterAt::kMail);
  if (v.kind == Verdict::kReject || v.kind == Verdict::kTempFail) {
    s.reset();
    s.reply(v.reply);
    co_return;
  }
  base::log_info("mail", {{"queue_id", s.tx.id}, {"session", s.sid}, {"client", s.ip},
                          {"from", s.tx.mail.sender}});
  s.reply(250, "2.1.0", "sender ok");
}

awaitable<void> do_rcpt(Session::State& s, const Command& c) {
  if (!s.tx.active) {
    s.reply(503, "5.5.1", "need MAIL command");
    co_return;
  }
  Offered offered = s.offered();
  offered.smtputf8 = s.tx.mail.smtputf8;  // RFC 6531 3.4: UTF-8 recipients need it on MAIL
  auto p = parse_rcpt(c.arg, offered);
  if (!p) {
    s.reply(p.error());
    ++s.errors;
    co_return;
  }
  if (static_cast<int>(s.tx.rcpts.size()) >= s.limits().max_recipients) {
    s.reject("452 4.5.3 too many recipients", "too_many_recipients");  // RFC 5321 4.5.3.1.10
    co_return;
  }
  std::string address = p->address;
  // A recipient accepted moments ago is accepted again without a trip to the store (a
  // worker thread and back costs more than the rest of RCPT); refusals are never cached.
  bool authenticated = !s.auth_user.empty() || s.local;  // local users may send out
  std::string key = std::string(s.lmtp() ? "L" : authenticated ? "A" : "M") + lower(address);
  if (!s.srv.recipient_cached(key)) {
    auto settings = s.settings;
    bool lmtp = s.lmtp();
    // Named, not a temporary: GCC 12 mishandles temporaries inside co_await.
    std::function<RecipientCheck(WorkerContext&)> job =
        [settings, lmtp, authenticated, address, opener = s.srv.open_store](WorkerContext& w) -> RecipientCheck {
          store::Store* st = w.get_store(opener);
          if (!st) return {"451 4.3.0 temporary failure looking up the recipient", "lookup"};
          return check_recipient(*st, *settings, {.lmtp = lmtp, .authenticated = authenticated},
                                 address);
        };
    RecipientCheck chk = co_await s.srv.blocking<RecipientCheck>(std::move(job));
    if (!chk.reply.empty()) {
      base::log_info("reject", {{"queue_id", s.tx.id}, {"session", s.sid}, {"to", address},
                                {"reply", chk.reply}});
      s.reject(chk.reply, chk.reason);
      co_return;
    }
    if (!chk.rewritten.empty()) {
      // An SRS address (never cached: each one is checked): queued for the address it
      // reverses to, logged with both.
      base::log_info("srs_reversed", {{"queue_id", s.tx.id}, {"session", s.sid}, {"to", address},
                                      {"orig_to", chk.rewritten}});
      address = chk.rewritten;
      p->address = chk.rewritten;
    } else {
      s.srv.cache_recipient(key);
    }
  }
  Verdict v = co_await run_filters(s, FilterAt::kRcpt, &address);
  if (v.kind == Verdict::kReject || v.kind == Verdict::kTempFail) {
    s.reply(v.reply);
    co_return;
  }
  s.tx.rcpts.push_back(std::move(*p));
  s.reply(250, "2.1.5", "recipient ok");
}

// After the content arrived: Received, submission checks, DATA filters, then the queue
// (or, for LMTP, delivery per recipient).
awaitable<void> finish(Session::State& s, std::string content) {
  auto settings = s.settings;
  if (s.local) {
    LocalPeer peer = *s.local;
    struct Out {
      std::string refusal;
      std::string message;
    };
    // Named, not a temporary: GCC 12 mishandles temporaries inside co_await.
    std::function<Out(WorkerContext&)> job =
        [settings, peer, msg = std::move(content)](WorkerContext&) mutable {
          std::string r = local_fixups(*settings, peer, msg, unix_now());
          return Out{std::move(r), std::move(msg)};
        };
    Out o = co_await s.srv.blocking<Out>(std::move(job));
    if (!o.refusal.empty()) {
      base::log_info("reject", {{"queue_id", s.tx.id}, {"session", s.sid}, {"reply", o.refusal}});
      s.reject(o.refusal, "from_not_owned");
      s.reset();
      co_return;
    }
    content = std::move(o.message);
  }
  if (s.submission()) {
    std::string login = s.auth_user;
    struct Out {
      std::string refusal;
      std::string message;
    };
    // Named, not a temporary: GCC 12 mishandles temporaries inside co_await.
    std::function<Out(WorkerContext&)> job =
        [settings, login, msg = std::move(content), opener = s.srv.open_store](WorkerContext& w) mutable {
          store::Store* st = w.get_store(opener);
          if (!st) return Out{"451 4.3.0 temporary failure checking the message", std::move(msg)};
          std::string r = submission_fixups(*st, *settings, login, msg, unix_now());
          return Out{std::move(r), std::move(msg)};
        };
    Out o = co_await s.srv.blocking<Out>(std::move(job));
    if (!o.refusal.empty()) {
      s.reject(o.refusal, "from_not_owned");
      s.reset();
      co_return;
    }
    content = std::move(o.message);
  }
  std::string message = received_field(s);
  message += content;
  content.clear();
  content.shrink_to_fit();
  Verdict v = co_await run_filters(s, FilterAt::kData, nullptr, &message);
  if (v.kind == Verdict::kReject || v.kind == Verdict::kTempFail) {
    base::log_info("reject", {{"queue_id", s.tx.id}, {"session", s.sid}, {"reply", v.reply}});
    s.reply(v.reply);
    s.reset();
    co_return;
  }
  bool junk = v.kind == Verdict::kJunk;
  // Above our Received: field, so local delivery trusts it (store/local_delivery.h).
  if (junk && !store::trusted_spam_flag(message)) message.insert(0, "X-Spam-Flag: YES\r\n");
  if (s.lmtp()) {
    std::string sender = s.tx.mail.sender.empty() ? "<>" : s.tx.mail.sender;
    std::vector<std::string> rcpts;
    for (const auto& r : s.tx.rcpts) rcpts.push_back(r.address);
    // Named, not a temporary: GCC 12 mishandles temporaries inside co_await.
    std::function<std::vector<std::string>(WorkerContext&)> job =
        [rcpts, sender, junk, settings, msg = std::move(message), opener = s.srv.open_store](WorkerContext& w) {
          std::vector<std::string> out;
          store::Store* st = w.get_store(opener);
          store::DeliveryOptions options{.sender = sender, .junk = junk, .quota_tempfail = true};
          // Each account with a spam model of its own gets its own verdict.
          std::optional<spam::RecipientVerdicts> own;
          if (st && settings->spam_engine) {
            own.emplace(settings->spam_engine, settings->spam_models);
            options.judge = [&](store::Id account, std::string_view m) { return own->junk(*st, account, m); };
          }
          for (const auto& r : rcpts) {
            if (!st) {
              out.push_back("451 4.3.0 <" + r + ">: temporary failure: " + w.store_error.error().message());
              continue;
            }
            auto d = store::deliver_local(*st, r, msg, options);
            if (d) {
              out.push_back("250 2.0.0 <" + r + "> delivered");
            } else {
              const Error& e = d.error();
              out.push_back(std::to_string(e.smtp_code()) + " " + e.enhanced() + " <" + r + "> " + e.message());
            }
          }
          return out;
        };
    auto replies = co_await s.srv.blocking<std::vector<std::string>>(std::move(job));
    // RFC 2033 4.2: one reply per accepted recipient, in RCPT order.
    for (size_t i = 0; i < replies.size(); ++i) {
      base::log_info("lmtp", {{"queue_id", s.tx.id}, {"session", s.sid},
                              {"to", s.tx.rcpts[i].address}, {"reply", replies[i]}});
      if (replies[i].starts_with("250")) ++s.srv.counters.lmtp_delivered;
      s.reply(replies[i]);
    }
    ++s.srv.counters.messages[s.listener.name];
    s.reset();
    co_return;
  }
  q::NewMessage nm;
  nm.id = s.tx.id;
  nm.envelope = envelope(s);
  size_t size = message.size();
  base::Status st = co_await s.srv.enqueue(std::move(nm), std::move(message));
  if (!st) {
    base::log_error(st.error(), {{"queue_id", s.tx.id}, {"session", s.sid}});
    ++s.srv.counters.rejects["queue_error"];
    s.reply(451, "4.3.0", "temporary failure queueing the message; try again later");
    s.reset();
    co_return;
  }
  ++s.srv.counters.messages[s.listener.name];
  s.srv.rate_ok(s.srv.rate_ip, s.rate_key(), s.limits().messages_per_ip_per_minute, true);
  s.srv.rate_ok(s.srv.rate_sender, s.tx.mail.sender.empty() ? "<>" : lower(s.tx.mail.sender),
                s.limits().messages_per_sender_per_minute, true);
  base::log_info("queued", {{"queue_id", s.tx.id}, {"session", s.sid}, {"from", s.tx.mail.sender},
                            {"recipients", std::to_string(s.tx.rcpts.size())},
                            {"size", std::to_string(size)}, {"listener", s.listener.name}});
  s.reply(250, "2.0.0", "ok: queued as " + s.tx.id);
  s.reset();
}

awaitable<void> do_data(Session::State& s, const Command& c) {
  if (!c.arg.empty()) {
    s.reply(501, "5.5.4", "DATA takes no arguments");
    co_return;
  }
  if (!s.tx.active) {
    s.reply(503, "5.5.1", "need MAIL command");
    co_return;
  }
  if (s.tx.rcpts.empty()) {
    s.reply(554, "5.5.1", "no valid recipients");
    co_return;
  }
  if (s.tx.bdat_started) {
    s.reply(503, "5.5.1", "DATA after BDAT");  // RFC 3030 2
    co_return;
  }
  if (s.tx.mail.body == q::Body::kBinaryMime) {
    s.reply(503, "5.5.1", "BODY=BINARYMIME requires BDAT");  // RFC 3030 3
    co_return;
  }
  s.reply(354, "", "end data with <CR><LF>.<CR><LF>");
  DotReader reader({.bare_lf = s.cfg().bare_lf, .max_size = s.limits().max_message_size});
  for (;;) {
    size_t used = reader.feed(std::string_view(s.in).substr(s.in_pos));
    s.in_pos += used;
    if (reader.done()) break;
    if (!co_await fill(s, Clock::now() + s.limits().data_timeout)) {
      base::log_info("lost", {{"queue_id", s.tx.id}, {"session", s.sid}, {"in", "DATA"}});
      s.quit = true;
      co_return;
    }
  }
  if (auto e = reader.problem()) {
    base::log_info("reject", {{"queue_id", s.tx.id}, {"session", s.sid}, {"reply", e->smtp_reply()}});
    ++s.srv.counters.rejects[e->smtp_code() == 552 ? "size" : "content"];
    s.reply(*e);
    s.reset();
    co_return;
  }
  std::string content = reader.take();
  co_await finish(s, std::move(content));
}

awaitable<void> do_bdat(Session::State& s, const Command& c) {
  // RFC 3030 2: BDAT <size> [LAST]
  std::string_view arg = c.arg;
  size_t sp = arg.find(' ');
  std::string_view num = arg.substr(0, sp);
  std::string_view rest = sp == std::string_view::npos ? std::string_view() : arg.substr(sp + 1);
  while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
  bool last = mail::iequals(rest, "LAST");
  uint64_t size = 0;
  bool ok = !num.empty() && num.size() <= 15 && (rest.empty() || last);
  for (char ch : num) {
    if (ch < '0' || ch > '9') ok = false;
    else size = size * 10 + static_cast<uint64_t>(ch - '0');
  }
  if (!ok) {
    // The chunk size is unknown, so the stream cannot be resynchronized.
    s.reply(501, "5.5.4", "syntax: BDAT size [LAST]; closing");
    s.quit = true;
    co_return;
  }
  uint64_t max = s.limits().max_message_size;
  bool keep = s.tx.active && !s.tx.rcpts.empty() && !s.tx.bdat_failed;
  uint64_t left = size;
  while (left > 0) {
    if (s.in_pos == s.in.size() && !co_await fill(s, Clock::now() + s.limits().data_timeout)) {
      s.quit = true;
      co_return;
    }
    size_t take = static_cast<size_t>(std::min<uint64_t>(left, s.in.size() - s.in_pos));
    if (keep && s.tx.bdat.size() + take <= max) s.tx.bdat.append(s.in, s.in_pos, take);
    s.in_pos += take;
    left -= take;
  }
  if (!s.tx.active) {
    s.reply(503, "5.5.1", "need MAIL command");
    co_return;
  }
  if (s.tx.rcpts.empty()) {
    s.reply(554, "5.5.1", "no valid recipients");
    co_return;
  }
  s.tx.bdat_started = true;
  s.tx.bdat_size += size;
  if (s.tx.bdat_failed) {
    s.reply(554, "5.5.0", "an earlier BDAT failed; send RSET");
    co_return;
  }
  if (s.tx.bdat_size > max) {
    s.tx.bdat_failed = true;
    s.tx.bdat.clear();
    ++s.srv.counters.rejects["size"];
    s.reply(too_big(max));
    co_return;
  }
  if (!last) {
    s.reply(250, "2.0.0", std::to_string(size) + " octets received");
    co_return;
  }
  std::string message = std::move(s.tx.bdat);
  ContentPolicy policy{.bare_lf = s.cfg().bare_lf,
                       .binary = s.tx.mail.body == q::Body::kBinaryMime,
                       .max_size = max};
  if (auto e = check_content(message, policy)) {
    ++s.srv.counters.rejects["content"];
    s.reply(*e);
    s.reset();
    co_return;
  }
  co_await finish(s, std::move(message));
}

awaitable<void> serve(Session::State& s) {
  if (s.listener.mode == Mode::kSubmissions) {
    if (!s.srv.tls) co_return;
    s.deadline = Clock::now() + s.limits().command_timeout;
    try {
      co_await s.stream->handshake(s.srv.tls);
    } catch (const std::exception& e) {
      base::log_info("tls_failed", {{"session", s.sid}, {"client", s.ip}, {"error", e.what()}});
      ++s.srv.counters.rejects["tls_failed"];
      co_return;
    }
  }
  Verdict v = co_await run_filters(s, FilterAt::kConnect);
  if (v.kind == Verdict::kReject || v.kind == Verdict::kTempFail) {
    // RFC 5321 3.1: a server may refuse at the greeting with 554 (or 421 for temporary).
    s.reply(v.kind == Verdict::kReject ? "554 5.7.1 " + v.reply.substr(std::min<size_t>(10, v.reply.size()))
                                       : "421 4.7.1 " + v.reply.substr(std::min<size_t>(10, v.reply.size())));
    co_await flush(s);
    co_return;
  }
  s.reply(220, "", s.cfg().hostname + (s.lmtp() ? " LMTP" : " ESMTP") + " Postern");
  for (;;) {
    if (s.srv.draining && !s.tx.active) {
      s.reply(421, "4.3.2", "service shutting down");
      co_await flush(s);
      co_return;
    }
    s.idle = true;
    Line l = co_await read_line(s, s.limits().max_line, s.limits().command_timeout);
    s.idle = false;
    if (l.kind == Line::kEof) co_return;
    if (++s.commands > s.limits().max_commands && s.limits().max_commands > 0) {
      ++s.srv.counters.rejects["too_many_commands"];
      s.reply(421, "4.7.0", "too many commands; closing");
      co_await flush(s);
      co_return;
    }
    if (l.kind == Line::kTooLong) {
      s.reply(500, "5.5.6", "line too long");  // RFC 5321 4.5.3.1.4, RFC 3463 5.5.6
      ++s.errors;
    } else {
      Command c = parse_command(l.text);
      switch (c.verb) {
        case Verb::kHelo:
        case Verb::kEhlo:
        case Verb::kLhlo: co_await do_helo(s, c); break;
        case Verb::kStarttls: co_await do_starttls(s, c); break;
        case Verb::kAuth: co_await do_auth(s, c); break;
        case Verb::kMail: co_await do_mail(s, c); break;
        case Verb::kRcpt: co_await do_rcpt(s, c); break;
        case Verb::kData: co_await do_data(s, c); break;
        case Verb::kBdat: co_await do_bdat(s, c); break;
        case Verb::kRset:
          s.reset();
          s.reply(250, "2.0.0", "ok");
          break;
        case Verb::kNoop: s.reply(250, "2.0.0", "ok"); break;
        case Verb::kQuit:
          s.reply(221, "2.0.0", s.cfg().hostname + " closing connection");
          s.quit = true;
          break;
        case Verb::kVrfy:
          s.reply(252, "2.5.0", "cannot VRFY user, but will accept the message");  // 3.5.3
          break;
        case Verb::kExpn: s.reply(502, "5.5.1", "EXPN not available"); break;
        case Verb::kHelp:
          s.reply(214, "2.0.0", "see https://www.rfc-editor.org/rfc/rfc5321");
          break;
        default:
          s.reply(500, "5.5.2", "command not recognized");
          ++s.errors;
      }
    }
    if (s.quit) {
      co_await flush(s);
      co_return;
    }
    if (s.limits().max_errors > 0 && s.errors >= s.limits().max_errors) {
      ++s.srv.counters.rejects["too_many_errors"];
      s.reply(421, "4.7.0", "too many errors; closing");
      co_await flush(s);
      co_return;
    }
  }
}

}  // namespace

Session::Session(Server::Impl& server, ListenerSpec listener, std::unique_ptr<Stream> stream,
                 std::string peer_ip)
    : s_(std::make_unique<State>(server, std::move(listener), std::move(stream), std::move(peer_ip))) {
  s_->srv.sessions.insert(this);
  ++s_->srv.counters.active;
  ++s_->srv.counters.connections[s_->listener.name];
}

Session::~Session() {
  s_->srv.sessions.erase(this);
  --s_->srv.counters.active;
  auto it = s_->srv.per_ip.find(s_->ip);
  if (it != s_->srv.per_ip.end() && --it->second <= 0) s_->srv.per_ip.erase(it);
}

void Session::drain() {
  State& s = *s_;
  if (!s.idle) return;  // busy: it says 421 when its transaction is done
  s.closed = true;
  auto stream = s.stream.get();
  asio::co_spawn(s.srv.io, [stream, keep = shared_from_this()]() -> awaitable<void> {
    try {
      co_await stream->write("421 4.3.2 service shutting down\r\n");
    } catch (const std::exception&) {
    }
    stream->close();
  }, asio::detached);
}

awaitable<void> Session::run() {
  auto self = shared_from_this();
  State& s = *s_;
  if (s.local) {
    int64_t uid = s.local->uid;
    // Named, not a temporary: GCC 12 mishandles temporaries inside co_await.
    std::function<std::string(WorkerContext&)> job = [uid](WorkerContext&) {
      return login_name(uid);
    };
    s.local->user = co_await s.srv.blocking<std::string>(std::move(job));
    s.auth_user = s.local->user;
    base::log_info("connect", {{"session", s.sid}, {"client", s.ip}, {"listener", s.listener.name},
                               {"uid", std::to_string(s.local->uid)},
                               {"pid", std::to_string(s.local->pid)}, {"user", s.local->user}});
  } else {
    base::log_info("connect",
                   {{"session", s.sid}, {"client", s.ip}, {"listener", s.listener.name}});
  }
  asio::co_spawn(s.srv.io, watch(self, s), asio::detached);
  try {
    co_await serve(s);
  } catch (const std::exception& e) {
    base::log_debug("session_error", {{"session", s.sid}, {"error", e.what()}});
  }
  s.closed = true;
  s.watchdog.cancel();
  s.stream->close();
  base::log_info("disconnect", {{"session", s.sid}, {"client", s.ip},
                                {"commands", std::to_string(s.commands)}});
}

}  // namespace postern::smtp
