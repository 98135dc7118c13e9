// Unit tests for lib/base: errors, exit codes, the file-system seam, logging, the
// service contract, child processes and run_main.
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <future>
#include <mutex>
#include <vector>

#include <gtest/gtest.h>

#include "base/batch.h"
#include "base/cli.h"
#include "base/clock.h"
#include "base/exit_code.h"
#include "base/fd.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/process.h"
#include "base/result.h"
#include "base/service.h"

using namespace postern::base;

TEST(ExitCode, TableCoversEveryCodeWithSmtpPairing) {
  EXPECT_EQ(exit_table().size(), 10u);
  EXPECT_EQ(exit_info(ExitCode::kTempFail).smtp_code, 451);
  EXPECT_EQ(exit_info(ExitCode::kTempFail).enhanced, "4.3.0");
  EXPECT_TRUE(exit_info(ExitCode::kTempFail).temporary);
  EXPECT_EQ(exit_info(ExitCode::kNoUser).enhanced, "5.1.1");
  EXPECT_FALSE(exit_info(ExitCode::kDataErr).temporary);
  int prev = -1;
  for (const auto& e : exit_table()) {
    EXPECT_GT(to_int(e.code), prev);
    prev = to_int(e.code);
    EXPECT_EQ(e.temporary, e.smtp_code / 100 == 4) << e.name;
  }
}

TEST(Result, HoldsValueOrError) {
  Result<int> ok = 42;
  ASSERT_TRUE(ok);
  EXPECT_EQ(*ok, 42);
  Result<int> bad = Error::bad_data("broken");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), ExitCode::kDataErr);
  EXPECT_EQ(bad.error().smtp_reply(), "554 5.6.0 broken");
  EXPECT_EQ(bad.value_or(7), 7);
  Status st;
  EXPECT_TRUE(st);
  Status err = Error(ExitCode::kTempFail, 452, "4.2.2", "over quota");
  EXPECT_TRUE(err.error().temporary());
  EXPECT_EQ(err.error().smtp_reply(), "452 4.2.2 over quota");
}

TEST(Result, ErrnoClassification) {
  EXPECT_EQ(Error::from_errno(ENOSPC, "write").code(), ExitCode::kTempFail);
  EXPECT_EQ(Error::from_errno(EACCES, "open").code(), ExitCode::kNoPerm);
  EXPECT_EQ(Error::from_errno(ENOENT, "open").code(), ExitCode::kUnavailable);
  EXPECT_NE(Error::from_errno(EIO, "x").message().find("x: "), std::string::npos);
}

TEST(Fs, AtomicWriteOnRealFileSystem) {
  TempDir dir;
  std::string p = dir.path() + "/f";
  ASSERT_TRUE(write_file_atomic(real_fs(), p, "one"));
  ASSERT_TRUE(write_file_atomic(real_fs(), p, "two"));
  EXPECT_EQ(*read_file(p), "two");
  auto names = real_fs().list(dir.path());
  ASSERT_TRUE(names);
  EXPECT_EQ(*names, std::vector<std::string>{"f"});  // no temp files left behind
}

TEST(Fs, CrashDropsUnsyncedData) {
  MemoryFileSystem fs;
  ASSERT_TRUE(fs.make_dir("/q"));
  ASSERT_TRUE(write_file_atomic(fs, "/q/a", "durable"));
  auto f = fs.create("/q/b", true);
  ASSERT_TRUE(f);
  ASSERT_TRUE((*f)->append("lost"));
  EXPECT_TRUE(fs.exists("/q/b"));
  fs.crash();
  EXPECT_EQ(*fs.read("/q/a"), "durable");
  EXPECT_FALSE(fs.exists("/q/b"));
}

TEST(Fs, SyncedFileWithoutDirSyncIsLost) {
  MemoryFileSystem fs;
  ASSERT_TRUE(fs.make_dir("/q"));
  auto f = fs.create("/q/c", true);
  ASSERT_TRUE((*f)->append("data"));
  ASSERT_TRUE((*f)->sync());
  fs.crash();  // the directory entry was never synced
  EXPECT_FALSE(fs.exists("/q/c"));
}

TEST(Fs, InjectedFsyncFailureLeavesOldContents) {
  MemoryFileSystem fs;
  ASSERT_TRUE(fs.make_dir("/q"));
  ASSERT_TRUE(write_file_atomic(fs, "/q/a", "old"));
  fs.fail(FsOp::kSync, EIO);
  auto st = write_file_atomic(fs, "/q/a", "new");
  ASSERT_FALSE(st);
  EXPECT_TRUE(st.error().temporary());
  EXPECT_EQ(*fs.read("/q/a"), "old");
  EXPECT_EQ(fs.paths(), std::vector<std::string>{"/q/a"});  // temp file cleaned up
  fs.fail(FsOp::kRename, EIO, 1, "/q/a");
  EXPECT_FALSE(write_file_atomic(fs, "/q/a", "new"));
  fs.crash();
  EXPECT_EQ(*fs.read("/q/a"), "old");
}

TEST(Clock, FakeClockAdvances) {
  FakeClock c(Clock::WallTime{} + std::chrono::seconds(1700000000));
  EXPECT_EQ(rfc3339(c.now()), "2023-11-14T22:13:20.000Z");
  c.advance(std::chrono::hours(4));
  EXPECT_EQ(rfc3339(c.now()), "2023-11-15T02:13:20.000Z");
}

TEST(Log, FormatsLogfmtAndJson) {
  LogOptions o{.format = LogFormat::kLogfmt, .program = "smtp-listen"};
  std::vector<LogField> f = {{"queue_id", "Q1"}, {"to", "a b@c"}};
  EXPECT_EQ(format_log_line(o, "T", LogLevel::kInfo, "accept", f),
            "ts=T level=info prog=smtp-listen event=accept queue_id=Q1 to=\"a b@c\"\n");
  o.format = LogFormat::kJson;
  EXPECT_EQ(format_log_line(o, "T", LogLevel::kWarn, "x\"y", f),
            "{\"ts\":\"T\",\"level\":\"warn\",\"prog\":\"smtp-listen\",\"event\":\"x\\\"y\","
            "\"queue_id\":\"Q1\",\"to\":\"a b@c\"}\n");
  o.format = LogFormat::kText;
  EXPECT_EQ(format_log_line(o, "T", LogLevel::kError, "bad input", {}),
            "smtp-listen: error: bad input\n");
  EXPECT_EQ(json_escape(std::string("a\x01\n", 3)), "a\\u0001\\n");
}

TEST(Service, InheritedSocketsFromEnvironment) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  // Put the socket at fd 3 as a supervisor would.
  int saved = ::dup(3);
  ASSERT_EQ(::dup2(sv[0], 3), 3);
  ::setenv("LISTEN_PID", std::to_string(::getpid()).c_str(), 1);
  ::setenv("LISTEN_FDS", "1", 1);
  ::setenv("LISTEN_FDNAMES", "smtp", 1);
  auto socks = inherited_sockets();
  ASSERT_TRUE(socks);
  ASSERT_EQ(socks->size(), 1u);
  EXPECT_EQ((*socks)[0].fd, 3);
  EXPECT_EQ((*socks)[0].name, "smtp");
  EXPECT_EQ(::getenv("LISTEN_FDS"), nullptr);
  EXPECT_EQ(::fcntl(3, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
  // Another process's sockets are ignored.
  ::setenv("LISTEN_PID", "1", 1);
  ::setenv("LISTEN_FDS", "1", 1);
  EXPECT_TRUE(inherited_sockets()->empty());
  if (saved >= 0) {
    ::dup2(saved, 3);
    ::close(saved);
  } else {
    ::close(3);
  }
  ::close(sv[0]);
  ::close(sv[1]);
}

TEST(Service, NotifyReadyWritesOneNewline) {
  auto p = Pipe::create();
  ASSERT_TRUE(p);
  set_notify_fd(p->write.release());
  ASSERT_TRUE(notify_ready());
  ASSERT_TRUE(notify_ready());  // second call is a no-op
  EXPECT_EQ(*read_all(p->read.get()), "\n");
}

TEST(Service, SignalsBecomeEvents) {
  ServiceSignals sig;
  EXPECT_FALSE(sig.next());
  ::kill(::getpid(), SIGHUP);
  EXPECT_EQ(sig.next(), ServiceEvent::kReload);
  ::kill(::getpid(), SIGUSR1);
  EXPECT_EQ(sig.next(), ServiceEvent::kReopenLogs);
  ::kill(::getpid(), SIGTERM);
  EXPECT_EQ(sig.next(), ServiceEvent::kDrain);
}

TEST(Process, SpawnWaitAndPipes) {
  auto out = Pipe::create();
  ASSERT_TRUE(out);
  auto child = Child::spawn({"sh", "-c", "printf hi; exit 3"}, {.stdout_fd = out->write.get()});
  ASSERT_TRUE(child);
  out->write.reset();
  EXPECT_EQ(*read_all(out->read.get()), "hi");
  EXPECT_EQ(child->wait(), 3);
  auto sleeper = Child::spawn({"sleep", "30"});
  ASSERT_TRUE(sleeper);
  sleeper->kill(SIGTERM);
  EXPECT_EQ(sleeper->wait(), 128 + SIGTERM);
  EXPECT_FALSE(Child::spawn({"/nonexistent/prog"}));
}

namespace {
int run(std::vector<std::string> args, const ToolSpec& spec, const ToolBody& body,
        const ConfigLoader& loader = {}) {
  CLI::App app{"test tool"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  ::testing::internal::CaptureStdout();
  ::testing::internal::CaptureStderr();
  int rc = run_main(static_cast<int>(argv.size()), argv.data(), app, spec, body, loader);
  ::testing::internal::GetCapturedStdout();
  ::testing::internal::GetCapturedStderr();
  return rc;
}
}  // namespace

TEST(RunMain, MapsOutcomesToExitCodes) {
  ToolSpec admin{.name = "t"};
  ToolSpec filter{.name = "t", .delivery_path = true};
  EXPECT_EQ(run({"t"}, admin, [] { return 0; }), 0);
  EXPECT_EQ(run({"t", "--no-such-flag"}, admin, [] { return 0; }), 64);
  EXPECT_EQ(run({"t", "--help"}, admin, [] { return 5; }), 0);
  EXPECT_EQ(run({"t"}, admin, []() -> int { throw std::runtime_error("boom"); }), 70);
  EXPECT_EQ(run({"t"}, filter, []() -> int { throw std::runtime_error("boom"); }), 75);
  EXPECT_EQ(run({"t"}, filter, [] { return 65; }), 65);
  auto bad_config = [](const CommonOptions&) -> Status { return Error::config("bad"); };
  EXPECT_EQ(run({"t"}, admin, [] { return 0; }, bad_config), 78);
  EXPECT_EQ(run({"t"}, filter, [] { return 0; }, bad_config), 75);
  std::vector<std::string> seen;
  auto record = [&](const CommonOptions& c) -> Status {
    seen = c.sets;
    seen.push_back(c.config_file);
    return {};
  };
  EXPECT_EQ(run({"t", "-c", "x.yaml", "--set", "a=1", "--set", "b=2"}, admin,
                [] { return 0; }, record),
            0);
  EXPECT_EQ(seen, (std::vector<std::string>{"a=1", "b=2", "x.yaml"}));
}

TEST(Completion, ScriptsDescribeOptions) {
  CLI::App app{"demo"};
  std::string h, d;
  app.add_option("--header", h, "print a header")->type_name("NAME");
  app.add_option("--attachments", d, "save attachments")->type_name("DIR");
  app.add_option("--mode", h, "mode")->check(CLI::IsMember({"fast", "slow"}));
  bool text = false, force = false;
  app.add_flag("--text", text, "print text");
  auto sub = app.add_subcommand("add", "add a thing");
  sub->add_flag("--force", force, "overwrite");
  auto bash = completion_script(app, "demo", "bash");
  ASSERT_TRUE(bash);
  EXPECT_NE(bash->find("--header"), std::string::npos);
  EXPECT_NE(bash->find("compgen -d"), std::string::npos);
  EXPECT_NE(bash->find("'fast slow'"), std::string::npos);
  EXPECT_NE(bash->find("complete -F _postern_demo demo"), std::string::npos);
  // Flags take no value: completing after --text offers options again, not nothing.
  EXPECT_EQ(bash->find("--text)"), std::string::npos);
  EXPECT_EQ(bash->find("--help|-h)"), std::string::npos);
  EXPECT_NE(bash->find("--header)"), std::string::npos);
  auto zsh = completion_script(app, "demo", "zsh");
  ASSERT_TRUE(zsh);
  EXPECT_EQ(zsh->rfind("#compdef demo", 0), 0u);
  EXPECT_NE(zsh->find("'add:add a thing'"), std::string::npos);
  auto fish = completion_script(app, "demo", "fish");
  ASSERT_TRUE(fish);
  EXPECT_NE(fish->find("__fish_seen_subcommand_from add' -l force"), std::string::npos);
  EXPECT_FALSE(completion_script(app, "demo", "tcsh"));
}

TEST(RunMain, CompletionWorksWithRequiredArguments) {
  CLI::App app{"needs a name"};
  std::string name;
  app.add_option("name", name, "required")->required();
  std::vector<std::string> args = {"t", "--completion", "bash"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  ::testing::internal::CaptureStdout();
  int rc = run_main(static_cast<int>(argv.size()), argv.data(), app, {.name = "t"},
                    [] { return 9; });
  std::string out = ::testing::internal::GetCapturedStdout();
  EXPECT_EQ(rc, 0);
  EXPECT_NE(out.find("complete -F _postern_t t"), std::string::npos);
}

TEST(BatchThread, WhatWaitsGoesTogetherWithinTheLimits) {
  std::promise<void> taken, release;
  std::shared_future<void> gate = release.get_future().share();
  std::mutex mu;
  std::vector<std::vector<int>> seen;
  {
    postern::base::BatchThread<int> bt(
        [&](std::vector<int>& batch) {
          if (batch.front() == 0) {  // the first batch holds the thread while the rest queue
            taken.set_value();
            gate.wait();
          }
          std::lock_guard lock(mu);
          seen.push_back(batch);
        },
        {.max_items = 3, .max_weight = 10, .weight = [](const int& i) -> uint64_t { return i == 7 ? 20 : 1; }});
    bt.submit(0);
    taken.get_future().wait();
    for (int i : {1, 2, 3, 4, 7, 8}) bt.submit(i);
    release.set_value();
  }  // the destructor processes everything submitted, then joins
  std::vector<std::vector<int>> want = {{0}, {1, 2, 3}, {4}, {7}, {8}};
  EXPECT_EQ(seen, want);  // 3 items at most; 7 outweighs the rest, so it goes alone
}
