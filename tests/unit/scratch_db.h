// Scratch databases for tests that run once per store engine: a SQLite file in the test's
// temporary directory, or a fresh database on the PostgreSQL server that POSTERN_PG_URL
// names (start one with tests/pg-cluster), dropped again when the ScratchDb goes away.
//
//   ScratchDb db(GetParam(), dir_.path(), "store");   // GetParam(): "sqlite" or "postgres"
//   if (db.skipped()) { GTEST_SKIP() << db.why(); }
//   ASSERT_TRUE(db.ok()) << db.why();
//   Store::open({.url = db.url()});
//   db.recreate("v2");                    // empty again (SQLite: a new file v2.db)
//   std::string copy = db.another("copy");  // a second empty database, dropped with it
#pragma once

#include <unistd.h>

#include <atomic>
#include <random>
#include <string>
#include <vector>

#include "store/db.h"

namespace postern::store {

// The database part of a PostgreSQL URL replaced by `db` (postgresql://u@h:p/OLD?x -> /db?x).
inline std::string with_database(const std::string& url, const std::string& db) {
  auto scheme = url.find("://");
  auto slash = url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  auto query = url.find('?');
  std::string head = slash == std::string::npos ? url.substr(0, query) : url.substr(0, slash);
  std::string tail = query == std::string::npos ? "" : url.substr(query);
  return head + "/" + db + tail;
}

class ScratchDb {
 public:
  ScratchDb(const std::string& engine, const std::string& dir, const std::string& prefix)
      : sqlite_(engine == "sqlite"), dir_(dir) {
    if (sqlite_) {
      url_ = "sqlite:" + dir_ + "/" + prefix + ".db";
      return;
    }
    const char* pg = std::getenv("POSTERN_PG_URL");
    if (!pg || !*pg) {
      skipped_ = true;
      why_ = "POSTERN_PG_URL is not set: start a server with tests/pg-cluster";
      return;
    }
    admin_url_ = pg;
    static std::atomic<int> counter{0};
    std::random_device rd;
    name_ = "postern_" + prefix + "_" + std::to_string(getpid()) + "_" +
            std::to_string(counter++) + "_" + std::to_string(rd() % 100000);
    if (create(name_)) url_ = with_database(admin_url_, name_);
  }
  ~ScratchDb() {
    if (sqlite_ || admin_url_.empty()) return;
    auto admin = open_db(admin_url_);
    if (!admin) return;
    for (const auto& n : made_) (void)(*admin)->exec("DROP DATABASE IF EXISTS " + n + " WITH (FORCE)");
  }
  ScratchDb(const ScratchDb&) = delete;
  ScratchDb& operator=(const ScratchDb&) = delete;

  bool skipped() const { return skipped_; }
  bool ok() const { return !skipped_ && why_.empty(); }
  const std::string& why() const { return why_; }
  const std::string& url() const { return url_; }
  bool sqlite() const { return sqlite_; }

  // Makes url() an empty database again: a new SQLite file `name`.db, or this PostgreSQL
  // database dropped and created again (close every connection to it first).
  bool recreate(const std::string& name) {
    if (sqlite_) {
      url_ = "sqlite:" + dir_ + "/" + name + ".db";
      return true;
    }
    auto admin = open_db(admin_url_);
    if (!admin || !(*admin)->exec("DROP DATABASE " + name_ + " WITH (FORCE)")) return false;
    return (bool)(*admin)->exec("CREATE DATABASE " + name_);
  }

  // The URL of a second empty database (dropped with this one).
  std::string another(const std::string& suffix) {
    if (sqlite_) return "sqlite:" + dir_ + "/" + suffix + ".db";
    std::string n = name_ + "_" + suffix;
    return create(n) ? with_database(admin_url_, n) : std::string();
  }

 private:
  bool create(const std::string& name) {
    auto admin = open_db(admin_url_);
    if (!admin) {
      why_ = admin.error().message();
      return false;
    }
    auto made = (*admin)->exec("CREATE DATABASE " + name);
    if (!made) {
      why_ = made.error().message();
      return false;
    }
    made_.push_back(name);
    return true;
  }

  bool sqlite_;
  std::string dir_;
  std::string admin_url_;
  std::string name_;
  std::string url_;
  std::vector<std::string> made_;
  bool skipped_ = false;
  std::string why_;
};

}  // namespace postern::store
