// Unit tests for the fault-injecting SQLite VFS (store/sqlite_fault.h), through SQLite's
// own C API: WAL mode with synchronous=FULL keeps every committed transaction across a
// simulated power cut; a failed fsync, an unsynced commit and an uncommitted transaction
// leave nothing behind; the database passes integrity_check afterwards.
#include "store/sqlite_fault.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace {

using postern::store::SqliteFaultVfs;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "sqlite-fault.XXXXXX").string();
    path_ = mkdtemp(tmpl.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// One raw connection through the fault VFS.
class Conn {
 public:
  Conn(const std::string& path, SqliteFaultVfs& vfs) {
    rc_ = sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                          vfs.name());
  }
  ~Conn() { close(); }
  void close() {
    if (db_) sqlite3_close_v2(db_);
    db_ = nullptr;
  }
  bool ok() const { return rc_ == SQLITE_OK; }
  int exec(const std::string& sql) { return sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr); }
  std::string errmsg() const { return db_ ? sqlite3_errmsg(db_) : "closed"; }
  // The first column of the first row as text ("" when there is none).
  std::string scalar(const std::string& sql) {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) return "prepare: " + errmsg();
    std::string out;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && sqlite3_column_text(st, 0)) {
      out = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    } else if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
      out = "step: " + errmsg();
    }
    sqlite3_finalize(st);
    return out;
  }

 private:
  sqlite3* db_ = nullptr;
  int rc_ = SQLITE_ERROR;
};

class SqliteFaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    vfs_.reset();
    path_ = dir_.path() + "/store.db";
  }
  void TearDown() override { vfs_.reset(); }

  // A connection in WAL mode with synchronous=FULL and a table t(id, body).
  std::unique_ptr<Conn> open_conn() {
    auto c = std::make_unique<Conn>(path_, vfs_);
    EXPECT_TRUE(c->ok());
    EXPECT_EQ(c->scalar("PRAGMA journal_mode=WAL"), "wal");
    EXPECT_EQ(c->exec("PRAGMA synchronous=FULL; PRAGMA wal_autocheckpoint=0;"), SQLITE_OK);
    EXPECT_EQ(c->exec("CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, body TEXT)"),
              SQLITE_OK);
    return c;
  }

  static std::string insert(int from, int to) {
    std::string sql = "BEGIN;";
    for (int i = from; i <= to; ++i) {
      sql += "INSERT INTO t VALUES(" + std::to_string(i) + ", printf('%.*c', 300, 'x'));";
    }
    return sql + "COMMIT;";
  }

  // After a crash: a fresh connection sees exactly rows 1..n and a sound database.
  void expect_rows(int n) {
    Conn c(path_, vfs_);
    ASSERT_TRUE(c.ok());
    EXPECT_EQ(c.scalar("PRAGMA integrity_check"), "ok");
    EXPECT_EQ(c.scalar("SELECT count(*) FROM t"), std::to_string(n));
    EXPECT_EQ(c.scalar("SELECT coalesce(max(id), 0) FROM t"), std::to_string(n));
  }

  SqliteFaultVfs& vfs_ = SqliteFaultVfs::install();
  TempDir dir_;
  std::string path_;
};

TEST_F(SqliteFaultTest, RegistersUnderItsName) {
  EXPECT_STREQ(vfs_.name(), "postern-fault");
  EXPECT_NE(sqlite3_vfs_find("postern-fault"), nullptr);
  EXPECT_EQ(&SqliteFaultVfs::install(), &vfs_);
}

TEST_F(SqliteFaultTest, CommittedRowsSurviveACrash) {
  auto c = open_conn();
  ASSERT_EQ(c->exec(insert(1, 20)), SQLITE_OK) << c->errmsg();
  ASSERT_EQ(c->exec(insert(21, 40)), SQLITE_OK) << c->errmsg();
  vfs_.crash();
  c->close();
  expect_rows(40);
}

TEST_F(SqliteFaultTest, FailedWalSyncFailsTheCommitAndLeavesNothing) {
  auto c = open_conn();
  ASSERT_EQ(c->exec(insert(1, 10)), SQLITE_OK) << c->errmsg();
  vfs_.fail_sync(1, "-wal");
  int rc = c->exec(insert(11, 20));
  EXPECT_NE(rc, SQLITE_OK);
  c->exec("ROLLBACK");
  vfs_.crash();
  c->close();
  expect_rows(10);
}

TEST_F(SqliteFaultTest, FailureIsConsumedAndTheNextCommitSticks) {
  auto c = open_conn();
  ASSERT_EQ(c->exec(insert(1, 5)), SQLITE_OK);
  vfs_.fail_sync(1, "-wal");
  EXPECT_NE(c->exec(insert(6, 8)), SQLITE_OK);
  c->exec("ROLLBACK");
  c->close();
  // A new connection (the old one's pager is in its error state) commits normally.
  c = open_conn();
  EXPECT_EQ(c->scalar("SELECT count(*) FROM t"), "5");
  ASSERT_EQ(c->exec(insert(6, 12)), SQLITE_OK) << c->errmsg();
  vfs_.crash();
  c->close();
  expect_rows(12);
}

TEST_F(SqliteFaultTest, FailureOnlyHitsMatchingPaths) {
  auto c = open_conn();
  vfs_.fail_sync(1, "no-such-file");
  ASSERT_EQ(c->exec(insert(1, 3)), SQLITE_OK) << c->errmsg();
  vfs_.crash();
  c->close();
  expect_rows(3);
}

TEST_F(SqliteFaultTest, UnsyncedCommitIsLost) {
  auto c = open_conn();
  ASSERT_EQ(c->exec(insert(1, 10)), SQLITE_OK);
  // synchronous=OFF: the commit is written to the WAL but never fsync'd.
  ASSERT_EQ(c->exec("PRAGMA synchronous=OFF"), SQLITE_OK);
  ASSERT_EQ(c->exec(insert(11, 30)), SQLITE_OK);
  EXPECT_EQ(c->scalar("SELECT count(*) FROM t"), "30");
  vfs_.crash();
  c->close();
  expect_rows(10);
}

TEST_F(SqliteFaultTest, UncommittedSpilledPagesAreLost) {
  auto c = open_conn();
  ASSERT_EQ(c->exec(insert(1, 10)), SQLITE_OK);
  // A tiny page cache makes SQLite spill the open transaction's pages into the WAL.
  ASSERT_EQ(c->exec("PRAGMA cache_size=2"), SQLITE_OK);
  std::string sql = "BEGIN;";
  for (int i = 11; i <= 600; ++i) {
    sql += "INSERT INTO t VALUES(" + std::to_string(i) + ", printf('%.*c', 300, 'y'));";
  }
  ASSERT_EQ(c->exec(sql), SQLITE_OK) << c->errmsg();
  struct stat st {};
  ASSERT_EQ(::stat((path_ + "-wal").c_str(), &st), 0);
  EXPECT_GT(st.st_size, 100 * 1024) << "the open transaction should have spilled";
  vfs_.crash();
  c->close();
  expect_rows(10);
}

// A checkpoint and a WAL restart that were never synced: the shim must restore the
// overwritten regions of both files (not only cut them back to their synced size).
TEST_F(SqliteFaultTest, UnsyncedCheckpointAndWalRestartAreUndone) {
  auto c = open_conn();
  ASSERT_EQ(c->exec(insert(1, 50)), SQLITE_OK);
  ASSERT_EQ(c->exec("PRAGMA synchronous=OFF"), SQLITE_OK);
  EXPECT_EQ(c->scalar("PRAGMA wal_checkpoint(PASSIVE)").empty(), false);
  // The next writer starts the WAL over from its first frame.
  ASSERT_EQ(c->exec(insert(51, 52)), SQLITE_OK);
  vfs_.crash();
  c->close();
  expect_rows(50);
}

TEST_F(SqliteFaultTest, SyncedCheckpointSurvives) {
  auto c = open_conn();
  ASSERT_EQ(c->exec(insert(1, 50)), SQLITE_OK);
  EXPECT_EQ(c->scalar("PRAGMA wal_checkpoint(TRUNCATE)"), "0");
  ASSERT_EQ(c->exec(insert(51, 60)), SQLITE_OK);
  vfs_.crash();
  c->close();
  expect_rows(60);
}

TEST_F(SqliteFaultTest, HandlesOpenedBeforeTheCrashWriteNothing) {
  auto c = open_conn();
  ASSERT_EQ(c->exec(insert(1, 10)), SQLITE_OK);
  vfs_.crash();
  // The old connection may think it commits, but nothing reaches the disk, and closing it
  // (which would checkpoint and delete the WAL) changes nothing either.
  c->exec(insert(11, 20));
  c->close();
  expect_rows(10);
  // A connection opened after the crash is alive again.
  auto d = open_conn();
  ASSERT_EQ(d->exec(insert(11, 15)), SQLITE_OK) << d->errmsg();
  vfs_.crash();
  d->close();
  expect_rows(15);
}

TEST_F(SqliteFaultTest, RepeatedCrashesKeepEveryCommit) {
  int n = 0;
  for (int round = 0; round < 5; ++round) {
    auto c = open_conn();
    ASSERT_EQ(c->exec(insert(n + 1, n + 30)), SQLITE_OK) << c->errmsg();
    n += 30;
    ASSERT_EQ(c->exec("PRAGMA synchronous=OFF"), SQLITE_OK);
    if (round % 2 == 0) c->scalar("PRAGMA wal_checkpoint(PASSIVE)");
    ASSERT_EQ(c->exec(insert(n + 1, n + 5)), SQLITE_OK);
    vfs_.crash();
    c->close();
    expect_rows(n);
  }
}

// Two threads, each with its own connection, commit through the shim at once; every
// commit survives the crash.
TEST_F(SqliteFaultTest, ConcurrentWritersThroughTheShim) {
  open_conn()->close();
  constexpr int kPerThread = 40;
  std::vector<std::unique_ptr<Conn>> conns;
  for (int t = 0; t < 2; ++t) {
    conns.push_back(std::make_unique<Conn>(path_, vfs_));
    ASSERT_TRUE(conns.back()->ok());
    ASSERT_EQ(conns.back()->exec("PRAGMA busy_timeout=10000; PRAGMA synchronous=FULL;"),
              SQLITE_OK);
  }
  std::vector<std::thread> threads;
  int failures[2] = {0, 0};
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 1; i <= kPerThread; ++i) {
        std::string sql = "BEGIN IMMEDIATE; INSERT INTO t VALUES(" +
                          std::to_string(t * kPerThread + i) + ", 'z'); COMMIT;";
        if (conns[t]->exec(sql) != SQLITE_OK) {
          ++failures[t];
          conns[t]->exec("ROLLBACK");
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures[0] + failures[1], 0);
  vfs_.crash();
  conns.clear();
  expect_rows(2 * kPerThread);
}

}  // namespace
