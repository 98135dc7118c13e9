// Unit tests for lib/supervise: the restart state machine on a fake clock, log-line
// forwarding (logfmt, JSON, text, partial and long lines, a reader that does not keep
// up), the control protocol over a real Unix socket, the service table decided from
// configurations, and the sockets the supervisor binds.
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cstring>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include "base/clock.h"
#include "base/fd.h"
#include "config/config.h"
#include "supervise/control.h"
#include "supervise/logline.h"
#include "supervise/os.h"
#include "supervise/state.h"
#include "supervise/supervise.h"
#include "supervise/tools.h"

namespace postern::supervise {
namespace {

using std::chrono::minutes;
using std::chrono::seconds;

constexpr int kExit1 = 1 << 8;
constexpr int kExit78 = 78 << 8;
constexpr int kKilled = SIGKILL;  // a wait status: terminated by signal 9

// ---- the restart state machine ----

TEST(SuperviseState, BackoffDoublesToSixtySeconds) {
  base::FakeClock clock;
  ServiceState s;
  EXPECT_EQ(s.state(), State::kStopped);
  s.on_start(100, clock.monotonic());
  EXPECT_EQ(s.state(), State::kStarting);
  EXPECT_EQ(s.restarts(), 0);
  s.on_ready(clock.monotonic());
  EXPECT_EQ(s.state(), State::kReady);
  std::vector<int64_t> delays;
  for (int i = 0; i < 8; ++i) {
    clock.advance(seconds(2));
    ExitOutcome o = s.on_exit(kExit1, clock.monotonic());
    EXPECT_TRUE(o.restart);
    EXPECT_EQ(s.state(), State::kBackoff);
    EXPECT_EQ(s.pid(), 0);
    EXPECT_EQ(o.reason, "exit 1");
    delays.push_back(o.delay.count());
    clock.advance(o.delay);
    s.on_start(101 + i, clock.monotonic());
    // Spread the exits out so that no crash loop is declared here.
    clock.advance(minutes(1) - seconds(3));
  }
  EXPECT_EQ(delays, (std::vector<int64_t>{1, 2, 4, 8, 16, 32, 60, 60}));
  EXPECT_EQ(s.restarts(), 8);
  EXPECT_FALSE(s.crash_loop());
}

TEST(SuperviseState, RunningSixtySecondsResetsTheDelay) {
  base::FakeClock clock;
  ServiceState s;
  s.on_start(1, clock.monotonic());
  EXPECT_EQ(s.on_exit(kExit1, clock.monotonic()).delay, seconds(1));
  s.on_start(2, clock.monotonic());
  EXPECT_EQ(s.on_exit(kExit1, clock.monotonic()).delay, seconds(2));
  s.on_start(3, clock.monotonic());
  clock.advance(seconds(59));
  EXPECT_EQ(s.uptime(clock.monotonic()), 59);
  EXPECT_EQ(s.on_exit(kKilled, clock.monotonic()).delay, seconds(4));
  s.on_start(4, clock.monotonic());
  clock.advance(seconds(60));
  ExitOutcome o = s.on_exit(kKilled, clock.monotonic());
  EXPECT_EQ(o.delay, seconds(1));
  EXPECT_EQ(o.reason, "signal 9");
  EXPECT_EQ(s.last_wait_status(), kKilled);
  EXPECT_EQ(s.uptime(clock.monotonic()), 0);
}

TEST(SuperviseState, ExitSeventyEightFailsForGood) {
  base::FakeClock clock;
  ServiceState s;
  s.on_start(7, clock.monotonic());
  ExitOutcome o = s.on_exit(kExit78, clock.monotonic());
  EXPECT_FALSE(o.restart);
  EXPECT_EQ(o.reason, "bad configuration");
  EXPECT_EQ(s.state(), State::kFailed);
  EXPECT_EQ(s.reason(), "bad configuration");
  EXPECT_EQ(describe_wait_status(*s.last_wait_status()), "exit 78");
}

TEST(SuperviseState, CrashLoopIsReportedAndWaitsTheMaximum) {
  base::FakeClock clock;
  ServiceState s;
  std::vector<bool> loops;
  for (int i = 0; i < 7; ++i) {
    s.on_start(10 + i, clock.monotonic());
    clock.advance(seconds(1));
    ExitOutcome o = s.on_exit(kExit1, clock.monotonic());
    loops.push_back(o.crash_loop);
    if (o.crash_loop) {
      EXPECT_EQ(o.delay, ServiceState::kMaxDelay);
    }
    EXPECT_TRUE(o.restart);  // never given up, never a busy loop
    EXPECT_GE(o.delay, seconds(1));
    clock.advance(o.delay);
  }
  // The sixth exit within five minutes is the sixth restart: more than five.
  EXPECT_EQ(loops, (std::vector<bool>{false, false, false, false, false, true, true}));
  EXPECT_TRUE(s.crash_loop());
  // Quiet for longer than the window: no longer a loop.
  s.on_start(30, clock.monotonic());
  clock.advance(minutes(6));
  ExitOutcome o = s.on_exit(kExit1, clock.monotonic());
  EXPECT_FALSE(o.crash_loop);
  EXPECT_EQ(o.delay, seconds(1));
}

TEST(SuperviseState, StoppingIsNotARestart) {
  base::FakeClock clock;
  ServiceState s;
  s.on_start(5, clock.monotonic());
  s.on_ready(clock.monotonic());
  s.on_stop_requested();
  EXPECT_EQ(s.state(), State::kStopping);
  EXPECT_TRUE(s.running());
  ExitOutcome o = s.on_exit(SIGTERM, clock.monotonic());
  EXPECT_FALSE(o.restart);
  EXPECT_EQ(s.state(), State::kStopped);
  EXPECT_EQ(s.restarts(), 0);
  // A service in backoff stops at once.
  ServiceState b;
  b.on_start(6, clock.monotonic());
  (void)b.on_exit(kExit1, clock.monotonic());
  b.on_stop_requested();
  EXPECT_EQ(b.state(), State::kStopped);
}

TEST(SuperviseState, SpawnFailureBacksOff) {
  base::FakeClock clock;
  ServiceState s;
  ExitOutcome o = s.on_spawn_failed(clock.monotonic());
  EXPECT_TRUE(o.restart);
  EXPECT_EQ(o.delay, seconds(1));
  EXPECT_EQ(o.reason, "exit 127");
  EXPECT_EQ(state_name(s.state()), "backoff");
}

// ---- log lines ----

constexpr std::string_view kTs = "2026-11-29T10:00:00.000Z";

TEST(SuperviseLog, LogfmtGetsServiceAfterProg) {
  EXPECT_EQ(decorate_line("ts=x level=info prog=smtp-listen event=accept ip=1.2.3.4", "smtp-listen",
                          base::LogFormat::kLogfmt, kTs),
            "ts=x level=info prog=smtp-listen service=smtp-listen event=accept ip=1.2.3.4\n");
  EXPECT_EQ(decorate_line("prog=\"a b\" event=x\r", "queue-run", base::LogFormat::kLogfmt, kTs),
            "prog=\"a b\" service=queue-run event=x\n");
  EXPECT_EQ(decorate_line("level=info prog=q", "q", base::LogFormat::kLogfmt, kTs),
            "level=info prog=q service=q\n");
  // Not logfmt: wrapped into an event of its own, the line quoted.
  EXPECT_EQ(
      decorate_line("terminate called after throwing", "queue-run", base::LogFormat::kLogfmt, kTs),
      "ts=2026-11-29T10:00:00.000Z level=warn prog=postern event=output service=queue-run "
      "line=\"terminate called after throwing\"\n");
}

TEST(SuperviseLog, JsonGetsAServiceMember) {
  std::string out =
      decorate_line(R"({"ts":"t","level":"info","prog":"smtp-listen","event":"ready"})",
                    "smtp-listen", base::LogFormat::kJson, kTs);
  EXPECT_EQ(
      out,
      R"({"ts":"t","level":"info","prog":"smtp-listen","service":"smtp-listen","event":"ready"})"
      "\n");
  EXPECT_EQ(decorate_line(R"({"prog":"a\"b","x":1})", "s", base::LogFormat::kJson, kTs),
            R"({"prog":"a\"b","service":"s","x":1})"
            "\n");
  EXPECT_EQ(decorate_line("{}", "s", base::LogFormat::kJson, kTs), "{\"service\":\"s\"}\n");
  std::string wrapped = decorate_line("Segmentation fault \"x\"", "s", base::LogFormat::kJson, kTs);
  boost::json::value v = boost::json::parse(wrapped);
  EXPECT_EQ(v.at("service").as_string(), "s");
  EXPECT_EQ(v.at("line").as_string(), "Segmentation fault \"x\"");
  EXPECT_EQ(v.at("event").as_string(), "output");
  // Every decorated line is valid JSON.
  EXPECT_NO_THROW(boost::json::parse(out));
}

TEST(SuperviseLog, TextIsPrefixed) {
  EXPECT_EQ(decorate_line("ready", "smtp-listen", base::LogFormat::kText, kTs),
            "smtp-listen: ready\n");
  // The service's own program name already leads the line: not repeated.
  EXPECT_EQ(decorate_line("smtp-listen: ready", "smtp-listen", base::LogFormat::kText, kTs),
            "smtp-listen: ready\n");
  EXPECT_EQ(decorate_line("postern-sendmail: x", "smtp-listen", base::LogFormat::kText, kTs),
            "smtp-listen: postern-sendmail: x\n");
  EXPECT_EQ(decorate_line("abc", "q", base::LogFormat::kText, kTs, true), "q: abc [truncated]\n");
}

TEST(SuperviseLog, SplitterJoinsPartialLinesAndCutsLongOnes) {
  std::vector<std::pair<std::string, bool>> got;
  auto emit = [&](std::string_view l, bool t) { got.emplace_back(std::string(l), t); };
  LineSplitter split(10);
  split.feed("ab", emit);
  EXPECT_TRUE(got.empty());
  split.feed("c\nde", emit);
  split.feed("f\n\nghi", emit);
  EXPECT_EQ(got, (std::vector<std::pair<std::string, bool>>{
                     {"abc", false}, {"def", false}, {"", false}}));
  got.clear();
  // 25 bytes without a newline: cut at 10, the rest up to the newline skipped.
  split.feed("0123456789012345678901234", emit);
  split.feed("56789\nnext\nlast", emit);
  split.finish(emit);
  EXPECT_EQ(got, (std::vector<std::pair<std::string, bool>>{
                     {"ghi0123456", true}, {"next", false}, {"last", false}}));
}

TEST(SuperviseLog, SinkDropsWhatASlowReaderCannotTakeAndSaysSo) {
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  base::UniqueFd r(p[0]), w(p[1]);
  ::fcntl(w.get(), F_SETPIPE_SZ, 4096);
  LogSink sink(w.get(), 16 * 1024,
               [](uint64_t n) { return "dropped " + std::to_string(n) + "\n"; });
  std::string line(999, 'x');
  line += '\n';
  for (int i = 0; i < 100; ++i) sink.push(line);  // never blocks: the pipe holds 4 KiB
  EXPECT_GT(sink.dropped(), 0u);
  EXPECT_LE(sink.pending_bytes(), 16u * 1024);
  uint64_t dropped = sink.dropped();
  // The reader catches up: everything queued arrives whole, then the note.
  std::string all;
  for (int i = 0; i < 200 && !sink.flush(); ++i) {
    char buf[65536];
    ssize_t n = ::read(r.get(), buf, sizeof buf);
    if (n > 0) all.append(buf, n);
  }
  EXPECT_TRUE(sink.flush());
  w.reset();
  auto rest = base::read_all(r.get());
  ASSERT_TRUE(rest.ok());
  all += *rest;
  std::string note = "dropped " + std::to_string(dropped) + "\n";
  ASSERT_GE(all.size(), note.size());
  EXPECT_EQ(all.substr(all.size() - note.size()), note);
  std::string lines = all.substr(0, all.size() - note.size());
  EXPECT_EQ(lines.size() % 1000, 0u);
  EXPECT_EQ(lines.size() / 1000 + dropped, 100u);
  for (size_t at = 0; at < lines.size(); at += 1000) {
    EXPECT_EQ(lines.substr(at, 1000), line) << "torn at " << at;  // lines are never torn
  }
}

TEST(SuperviseLog, SinkSurvivesAReaderThatHasGone) {
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  ::close(p[0]);
  base::UniqueFd w(p[1]);
  ::signal(SIGPIPE, SIG_IGN);
  LogSink sink(w.get());
  sink.push("a\n");
  sink.push("b\n");
  EXPECT_TRUE(sink.flush());
  EXPECT_EQ(sink.dropped(), 2u);
}

// ---- the control protocol ----

TEST(SuperviseControl, StatusRoundTrips) {
  SupervisorStatus s;
  s.pid = 41;
  s.ready = false;
  s.services.push_back({.name = "smtp-listen",
                        .state = "ready",
                        .pid = 42,
                        .uptime = 120,
                        .restarts = 1,
                        .crash_loop = false,
                        .exit_code = std::nullopt,
                        .exit_signal = 9,
                        .reason = ""});
  s.services.push_back({.name = "queue-run",
                        .state = "failed",
                        .pid = 0,
                        .uptime = 0,
                        .restarts = 0,
                        .crash_loop = false,
                        .exit_code = 78,
                        .exit_signal = std::nullopt,
                        .reason = "bad configuration"});
  std::string line = encode_status(s);
  EXPECT_EQ(line.back(), '\n');
  EXPECT_EQ(std::count(line.begin(), line.end(), '\n'), 1);
  auto back = decode_status(line);
  ASSERT_TRUE(back.ok()) << back.error().message();
  EXPECT_EQ(back->pid, 41);
  ASSERT_EQ(back->services.size(), 2u);
  EXPECT_EQ(back->services[0].name, "smtp-listen");
  EXPECT_EQ(back->services[0].restarts, 1);
  EXPECT_EQ(back->services[0].exit_signal, 9);
  EXPECT_EQ(last_exit_text(back->services[0]), "signal 9");
  EXPECT_EQ(back->services[1].exit_code, 78);
  EXPECT_EQ(back->services[1].reason, "bad configuration");
  boost::json::value v = boost::json::parse(line);
  EXPECT_TRUE(v.at("services").at(1).at("last_exit").at("code").as_int64() == 78);
  std::string table = format_status_table(*back);
  EXPECT_NE(table.find("SERVICE"), std::string::npos);
  EXPECT_NE(table.find("smtp-listen  ready"), std::string::npos) << table;
  EXPECT_NE(table.find("failed (bad configuration)"), std::string::npos) << table;
  EXPECT_NE(table.find("120s"), std::string::npos);
}

TEST(SuperviseControl, RequestsAndErrors) {
  EXPECT_EQ(parse_request("status\n"), Request::kStatus);
  EXPECT_EQ(parse_request(" reload\r\n"), Request::kReload);
  EXPECT_EQ(parse_request("stop"), Request::kStop);
  EXPECT_FALSE(parse_request("stat"));
  EXPECT_FALSE(parse_request(""));
  EXPECT_TRUE(decode_ok(encode_ok()).ok());
  auto err = decode_ok(encode_error("unknown request"));
  ASSERT_FALSE(err.ok());
  EXPECT_NE(err.error().message().find("unknown request"), std::string::npos);
  EXPECT_FALSE(decode_status("not json").ok());
  EXPECT_FALSE(decode_status("{\"ok\":true}").ok());
}

TEST(SuperviseControl, ClientTalksToARealSocket) {
  base::TempDir dir("supervise-test");
  std::string path = dir.path() + "/postern.sock";
  // Nothing there: the supervisor is not running (exit 69).
  auto none = control_request(path, "status");
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().code(), base::ExitCode::kUnavailable);
  auto fd = listen_control(path);
  ASSERT_TRUE(fd.ok()) << fd.error().message();
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  std::string received;
  std::thread server([&] {
    int c = ::accept(fd->get(), nullptr, nullptr);
    char buf[256];
    ssize_t n = ::read(c, buf, sizeof buf);
    if (n > 0) received.assign(buf, n);
    std::string answer = encode_ok();
    (void)!::write(c, answer.data(), answer.size());
    ::close(c);
  });
  auto answer = control_request(path, "reload");
  server.join();
  ASSERT_TRUE(answer.ok()) << answer.error().message();
  EXPECT_EQ(received, "reload\n");
  EXPECT_EQ(*answer, "{\"ok\":true}");
  // A second supervisor on the same socket is refused while the first answers.
  auto second = listen_control(path);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().code(), base::ExitCode::kUnavailable);
  // Once the first is gone, its stale socket is replaced.
  fd->reset();
  auto third = listen_control(path);
  EXPECT_TRUE(third.ok());
  // A listener that never answers: a timeout, not a hang.
  std::thread mute([&] {
    int c = ::accept(third->get(), nullptr, nullptr);
    ::usleep(400 * 1000);
    ::close(c);
  });
  auto slow = control_request(path, "status", std::chrono::milliseconds(100));
  mute.join();
  ASSERT_FALSE(slow.ok());
  EXPECT_EQ(slow.error().code(), base::ExitCode::kTempFail);
}

// ---- which services run ----

std::vector<ListenerSpec> listeners_of(const std::string& yaml) {
  base::TempDir dir("supervise-test");
  std::string path = dir.path() + "/postern.yaml";
  std::ofstream(path) << yaml;
  auto cfg = config::load(path);
  EXPECT_TRUE(cfg.ok()) << cfg.error().message();
  std::vector<ListenerSpec> out;
  if (!cfg) return out;
  for (const config::Config& l : cfg->get_maps("listeners")) {
    out.push_back({l.get_string("name"), l.get_string("address"), l.get_string("mode")});
  }
  return out;
}

std::vector<std::string> names(const Plan& p) {
  std::vector<std::string> out;
  for (const auto& s : p.services) out.push_back(s.name);
  return out;
}

TEST(SupervisePlan, ServicesFollowTheListeners) {
  Plan none = plan_services(listeners_of("server:\n  hostname: a.example\n"));
  EXPECT_EQ(names(none), (std::vector<std::string>{"queue-run"}));
  EXPECT_TRUE(none.services[0].listeners.empty());

  Plan smtp = plan_services(
      listeners_of("listeners:\n"
                   "  - {name: mx, address: \"127.0.0.1:2525\", mode: mx}\n"
                   "  - {name: imap, address: \"127.0.0.1:2143\", mode: imap}\n"
                   "  - {name: sub, address: \"127.0.0.1:2587\", mode: submission}\n"
                   "  - {name: local, address: \"unix:/run/p/submit.sock\", mode: local}\n"));
  EXPECT_EQ(names(smtp), (std::vector<std::string>{"smtp-listen", "queue-run"}));
  ASSERT_EQ(smtp.services[0].listeners.size(), 3u);
  EXPECT_EQ(smtp.services[0].listeners[0].name, "mx");
  EXPECT_EQ(smtp.services[0].listeners[1].name, "sub");
  EXPECT_EQ(smtp.services[0].listeners[2].name, "local");
  EXPECT_LT(smtp.services[0].stop_order, smtp.services[1].stop_order);  // front door first
  ASSERT_EQ(smtp.unserved.size(), 1u);
  EXPECT_EQ(smtp.unserved[0].name, "imap");

  Plan lmtp_only = plan_services(
      listeners_of("listeners:\n  - {name: l, address: \"127.0.0.1:2424\", mode: lmtp}\n"));
  EXPECT_EQ(names(lmtp_only), (std::vector<std::string>{"smtp-listen", "queue-run"}));
  // The table is data: every row names a program and its modes.
  for (const ServiceSpec& s : service_table()) EXPECT_FALSE(s.name.empty());
}

TEST(SupervisePlan, NewKeysHaveDefaults) {
  config::Config c = config::defaults();
  EXPECT_EQ(c.get_string("server.control_socket"), "/var/lib/postern/postern.sock");
  EXPECT_EQ(c.get_duration("server.stop_timeout"), seconds(30));
  auto set = config::load("", {"server.data_dir=/srv/p"});
  ASSERT_TRUE(set.ok());
  EXPECT_EQ(set->get_string("server.control_socket"), "/srv/p/postern.sock");
}

// ---- sockets and programs ----

TEST(SuperviseOs, BindsTcpAndUnixListeners) {
  auto tcp = bind_listener({"mx", "127.0.0.1:0", "mx"});
  ASSERT_TRUE(tcp.ok()) << tcp.error().message();
  int acc = 0;
  socklen_t len = sizeof acc;
  ASSERT_EQ(::getsockopt(tcp->get(), SOL_SOCKET, SO_ACCEPTCONN, &acc, &len), 0);
  EXPECT_EQ(acc, 1);
  int reuse = 0;
  ASSERT_EQ(::getsockopt(tcp->get(), SOL_SOCKET, SO_REUSEADDR, &reuse, &len), 0);
  EXPECT_NE(reuse, 0);
  auto bad = bind_listener({"mx", "127.0.0.1", "mx"});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code(), base::ExitCode::kConfig);
  EXPECT_NE(bad.error().message().find("listener mx"), std::string::npos);

  base::TempDir dir("supervise-test");
  std::string path = dir.path() + "/submit.sock";
  auto first = bind_listener({"local", "unix:" + path, "local"});
  ASSERT_TRUE(first.ok()) << first.error().message();
  first->reset();
  // The stale socket of an earlier run is replaced; mode 0666 for postern-sendmail.
  auto local = bind_listener({"local", "unix:" + path, "local"});
  ASSERT_TRUE(local.ok()) << local.error().message();
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0666u);
  // Anything else at the path is left alone.
  std::string file = dir.path() + "/plain";
  std::ofstream(file) << "x";
  EXPECT_FALSE(bind_listener({"local", "unix:" + file, "local"}).ok());
}

TEST(SuperviseOs, UsersAndSystemdNotification) {
  auto root = lookup_user("root");
  ASSERT_FALSE(root.ok());
  EXPECT_EQ(root.error().code(), base::ExitCode::kConfig);
  auto missing = lookup_user("no-such-user-postern-test");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message().find("no-such-user-postern-test"), std::string::npos);
  auto nobody = lookup_user("nobody");
  if (nobody.ok()) {
    EXPECT_NE(nobody->uid, 0u);
  }

  base::TempDir dir("supervise-test");
  std::string path = dir.path() + "/notify";
  base::UniqueFd s(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strcpy(addr.sun_path, path.c_str());
  ASSERT_EQ(::bind(s.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ::setenv("NOTIFY_SOCKET", path.c_str(), 1);
  ASSERT_TRUE(notify_systemd("READY=1").ok());
  ::unsetenv("NOTIFY_SOCKET");
  char buf[64] = {};
  ASSERT_EQ(::recv(s.get(), buf, sizeof buf, MSG_DONTWAIT), 7);
  EXPECT_STREQ(buf, "READY=1");
  EXPECT_TRUE(notify_systemd("READY=1").ok());  // unset: nothing to do
}

TEST(SuperviseTools, FindsProgramsBesideThenOnPath) {
  base::TempDir dir("supervise-test");
  auto make = [&](const std::string& name, const std::string& body) {
    std::string p = dir.path() + "/" + name;
    std::ofstream(p) << body;
    ::chmod(p.c_str(), 0755);
    return p;
  };
  std::string direct = make("dkim-verify", "#!/bin/sh\necho 'verify things'\necho 'Usage: x'\n");
  std::string prefixed = make("postern-extra", "#!/bin/sh\necho\necho 'an extra tool'\n");
  make("unrelated", "#!/bin/sh\necho no\n");
  EXPECT_EQ(find_tool("dkim-verify", dir.path()), direct);
  EXPECT_EQ(find_tool("extra", dir.path()), prefixed);
  EXPECT_EQ(find_program("dkim-verify", dir.path()), direct);
  EXPECT_FALSE(find_tool("../etc/passwd", dir.path()));
  EXPECT_FALSE(find_tool("-x", dir.path()));
  EXPECT_FALSE(find_tool("no-such-tool-postern-test", dir.path()));
  EXPECT_EQ(find_program("sh", "/nonexistent").value_or(""), find_program("sh", "").value_or("x"));
  auto tools = list_tools(dir.path());
  ASSERT_EQ(tools.size(), 2u);
  EXPECT_EQ(tools[0].name, "dkim-verify");
  EXPECT_EQ(tools[0].summary, "verify things");
  EXPECT_EQ(tools[1].name, "postern-extra");
  EXPECT_EQ(tools[1].summary, "an extra tool");
}

}  // namespace
}  // namespace postern::supervise
