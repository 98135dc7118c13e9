// The SQLite engine of the Db seam: one connection, WAL, statements cached by text.
#include <sqlite3.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <unordered_map>

#include "store/db_internal.h"

namespace postern::store::internal {
namespace {

// The WAL size (in pages) at which a commit checkpoints it. Every process that opens the
// store first reads and checksums the whole WAL (SQLite rebuilds its index in -shm when it
// is the only connection), so a short-lived process pays for a long WAL; SQLite's default
// is 1000.
constexpr int kWalCheckpointPages = 256;

// The default VFS with one change. SQLite opens the WAL with O_CREAT every time and then
// fsyncs its directory at the connection's first commit, so that a newly created WAL's
// directory entry is durable before a commit depends on it: one more fsync per process,
// which for store-deliver (a process per message) is one per delivery. Here the process
// that opens a WAL without the mark below fsyncs the directory itself at open and then
// marks the file (an extended attribute, so the mark belongs to this inode and a WAL
// deleted and created again is unmarked); a marked WAL is opened without
// SQLITE_OPEN_CREATE, which skips SQLite's directory sync. Where extended attributes are
// not supported, SQLite's own behaviour stays.
constexpr const char* kWalDirSynced = "user.postern.dir-synced";

sqlite3_vfs* durable_wal_vfs() {
  static sqlite3_vfs vfs = [] {
    sqlite3_vfs* base = sqlite3_vfs_find(nullptr);
    sqlite3_vfs v = *base;
    v.zName = "postern-unix";
    v.pAppData = base;
    v.xOpen = [](sqlite3_vfs* self, const char* name, sqlite3_file* file, int flags,
                 int* out_flags) -> int {
      auto* base = static_cast<sqlite3_vfs*>(self->pAppData);
      const bool wal = name && (flags & SQLITE_OPEN_WAL) && (flags & SQLITE_OPEN_CREATE);
      if (wal) {
        char mark = 0;
        if (getxattr(name, kWalDirSynced, &mark, 1) == 1 && mark == '1') {
          int rc = base->xOpen(base, name, file, flags & ~SQLITE_OPEN_CREATE, out_flags);
          if (rc == SQLITE_OK) return rc;  // else removed meanwhile: create it as usual
        }
      }
      int rc = base->xOpen(base, name, file, flags, out_flags);
      if (rc != SQLITE_OK || !wal) return rc;
      std::string dir(name);
      auto slash = dir.find_last_of('/');
      dir = slash == std::string::npos ? "." : dir.substr(0, slash + 1);
      int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (fd >= 0) {
        if (fsync(fd) == 0) (void)setxattr(name, kWalDirSynced, "1", 1, 0);
        close(fd);
      }
      return rc;
    };
    sqlite3_vfs_register(&v, 0);
    return v;
  }();
  return &vfs;
}

class SqliteDb final : public Db {
 public:
  SqliteDb(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  ~SqliteDb() override {
    for (auto& [sql, stmt] : cache_) sqlite3_finalize(stmt);
    truncate_full_wal();
    sqlite3_close_v2(db_);
  }

  Engine engine() const override { return Engine::kSqlite; }
  std::string describe() const override { return "sqlite:" + path_; }

  base::Result<Rows> query(std::string_view sql, const Params& params) override {
    Rows rows;
    auto st = run(sql, params, &rows);
    if (!st) return st.error();
    return rows;
  }

  base::Result<int64_t> exec(std::string_view sql, const Params& params) override {
    auto st = run(sql, params, nullptr);
    if (!st) return st.error();
    return static_cast<int64_t>(sqlite3_changes64(db_));
  }

  base::Status exec_script(std::string_view sql) override {
    char* msg = nullptr;
    int rc = sqlite3_exec(db_, std::string(sql).c_str(), nullptr, nullptr, &msg);
    std::string text = msg ? msg : "";
    sqlite3_free(msg);
    if (rc != SQLITE_OK) return error(rc, text);
    return {};
  }

  base::Status begin(Access access) override {
    return exec_script(access == Access::kWrite ? "BEGIN IMMEDIATE" : "BEGIN");
  }
  base::Status commit() override { return exec_script("COMMIT"); }
  void rollback() override {
    if (!sqlite3_get_autocommit(db_)) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  bool in_transaction() const override { return !sqlite3_get_autocommit(db_); }
  base::Status flush() override {
    if (sqlite3_get_autocommit(db_)) return {};
    int rc = sqlite3_db_cacheflush(db_);
    if (rc != SQLITE_OK) return error(rc, "");
    return {};
  }

  base::Error error(int rc, std::string detail) const {
    if (detail.empty()) detail = sqlite3_errmsg(db_);
    std::string msg = path_ + ": " + detail;
    switch (rc & 0xff) {
      case SQLITE_BUSY:
      case SQLITE_LOCKED:
        return busy_error(msg);
      case SQLITE_CONSTRAINT:
        return constraint_error(msg);
      case SQLITE_FULL:
      case SQLITE_IOERR:
      case SQLITE_CANTOPEN:
      case SQLITE_NOMEM:
        return base::Error::temporary(msg);
      case SQLITE_READONLY:
      case SQLITE_PERM:
      case SQLITE_AUTH:
        return base::Error::permission(msg);
      case SQLITE_CORRUPT:
      case SQLITE_NOTADB:
        return base::Error::unavailable(msg);
      default:
        return base::Error::internal(msg);
    }
  }

 private:
  // At close: a WAL that reached the automatic checkpoint's size (and was copied into
  // the database by it, or is now) is truncated, so the next process starts with an
  // empty one. Never waits: with the busy timeout at 0, a reader or writer still using
  // the WAL makes it a PASSIVE checkpoint, and a later close truncates it.
  void truncate_full_wal() {
    struct stat st {};
    if (stat((path_ + "-wal").c_str(), &st) != 0) return;
    if (st.st_size < static_cast<off_t>(kWalCheckpointPages) * (4096 + 24)) return;
    sqlite3_busy_timeout(db_, 0);
    sqlite3_wal_checkpoint_v2(db_, "main", SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr);
  }

  base::Result<sqlite3_stmt*> prepare(std::string_view sql) {
    auto it = cache_.find(std::string(sql));
    if (it != cache_.end()) return it->second;
    sqlite3_stmt* stmt = nullptr;
    const char* tail = nullptr;
    int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                                SQLITE_PREPARE_PERSISTENT, &stmt, &tail);
    if (rc != SQLITE_OK) return error(rc, std::string(sqlite3_errmsg(db_)) + " in: " + std::string(sql));
    if (!stmt) return base::Error::internal("empty SQL statement");
    std::string_view rest(tail, sql.data() + sql.size() - tail);
    if (rest.find_first_not_of(" \t\r\n;") != std::string_view::npos) {
      sqlite3_finalize(stmt);
      return base::Error::internal("more than one SQL statement in: " + std::string(sql));
    }
    cache_.emplace(std::string(sql), stmt);
    return stmt;
  }

  base::Status bind(sqlite3_stmt* stmt, const Params& params) {
    int expected = sqlite3_bind_parameter_count(stmt);
    if (expected != static_cast<int>(params.size())) {
      return base::Error::internal("SQL expects " + std::to_string(expected) + " parameters, got " +
                                   std::to_string(params.size()) + ": " + sqlite3_sql(stmt));
    }
    for (size_t i = 0; i < params.size(); ++i) {
      int n = static_cast<int>(i + 1);
      int rc = SQLITE_OK;
      const auto& v = params[i].get();
      if (v.index() == 0) {
        rc = sqlite3_bind_null(stmt, n);
      } else if (auto* x = std::get_if<int64_t>(&v)) {
        rc = sqlite3_bind_int64(stmt, n, *x);
      } else if (auto* s = std::get_if<std::string>(&v)) {
        rc = sqlite3_bind_text64(stmt, n, s->data(), s->size(), SQLITE_TRANSIENT, SQLITE_UTF8);
      } else {
        const std::string& b = std::get<Bytes>(v).data;
        rc = b.empty() ? sqlite3_bind_zeroblob(stmt, n, 0)
                       : sqlite3_bind_blob64(stmt, n, b.data(), b.size(), SQLITE_TRANSIENT);
      }
      if (rc != SQLITE_OK) return error(rc, "");
    }
    return {};
  }

  base::Status run(std::string_view sql, const Params& params, Rows* rows) {
    auto stmt = prepare(sql);
    if (!stmt) return stmt.error();
    sqlite3_stmt* s = *stmt;
    struct Reset {
      sqlite3_stmt* s;
      ~Reset() {
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
      }
    } reset{s};
    if (auto st = bind(s, params); !st) return st;
    for (;;) {
      int rc = sqlite3_step(s);
      if (rc == SQLITE_DONE) return {};
      if (rc != SQLITE_ROW) return error(rc, "");
      if (!rows) continue;
      int n = sqlite3_column_count(s);
      std::vector<std::optional<std::string>> cols;
      cols.reserve(n);
      for (int c = 0; c < n; ++c) {
        switch (sqlite3_column_type(s, c)) {
          case SQLITE_NULL:
            cols.emplace_back(std::nullopt);
            break;
          case SQLITE_INTEGER:
            cols.emplace_back(std::to_string(sqlite3_column_int64(s, c)));
            break;
          case SQLITE_BLOB: {
            const void* p = sqlite3_column_blob(s, c);
            int len = sqlite3_column_bytes(s, c);
            cols.emplace_back(p ? std::string(static_cast<const char*>(p), len) : std::string());
            break;
          }
          default: {
            const unsigned char* p = sqlite3_column_text(s, c);
            int len = sqlite3_column_bytes(s, c);
            cols.emplace_back(p ? std::string(reinterpret_cast<const char*>(p), len) : std::string());
          }
        }
      }
      rows->emplace_back(std::move(cols));
    }
  }

  sqlite3* db_;
  std::string path_;
  std::unordered_map<std::string, sqlite3_stmt*> cache_;
};

}  // namespace

base::Result<std::unique_ptr<Db>> open_sqlite(const std::string& path, const DbOptions& options) {
  if (!options.create && access(path.c_str(), F_OK) != 0) {
    return base::Error::unavailable("no SQLite store at " + path);
  }
  if (options.create && options.vfs.empty()) {
    // The store holds every account's mail index and password verifiers: a new one is
    // made 0640, not the umask's 0644 SQLite would use (its -wal and -shm files follow
    // the database's mode). Losing a race to another creator is fine.
    int fd = ::open(path.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0640);
    if (fd >= 0) ::close(fd);
  }
  sqlite3* raw = nullptr;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
  if (options.create) flags |= SQLITE_OPEN_CREATE;
  int rc = sqlite3_open_v2(path.c_str(), &raw, flags,
                           options.vfs.empty() ? durable_wal_vfs()->zName : options.vfs.c_str());
  if (rc != SQLITE_OK) {
    std::string msg = raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc);
    sqlite3_close_v2(raw);
    return base::Error::unavailable("cannot open SQLite store " + path + ": " + msg);
  }
  auto db = std::make_unique<SqliteDb>(raw, path);
  sqlite3_busy_timeout(raw, options.busy_timeout_ms);
  // Short-lived processes (store-deliver runs once per message). By default the last
  // connection to close checkpoints the WAL into the database and deletes the WAL and
  // -shm files: every delivery wrote its pages twice, synced the WAL three times and the
  // database once, and the next process created the WAL again (plus a directory sync).
  // Instead the WAL stays (committed transactions are durable in it: synchronous=FULL
  // syncs it on every commit; the next opener replays it) and is checkpointed in bulk:
  // SQLite's automatic checkpoint after the commit that fills kWalCheckpointPages, which
  // copies each page once however many transactions changed it (the FTS structure
  // records, b-tree interior pages, the account and mailbox rows), then truncated by the
  // connection's close (~SqliteDb): a WAL replayed by a new process counts as not
  // checkpointed at all, so an untruncated one would be copied again by every later
  // process and never restart.
  sqlite3_db_config(raw, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr);
  int persist = 1;
  sqlite3_file_control(raw, "main", SQLITE_FCNTL_PERSIST_WAL, &persist);
  // WAL: readers never block the writer; synchronous=FULL fsyncs the WAL on every commit.
  std::string pragmas = std::string(
                            "PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON; "
                            "PRAGMA wal_autocheckpoint=" + std::to_string(kWalCheckpointPages) + "; ") +
                        (options.full_sync ? "PRAGMA synchronous=FULL;" : "PRAGMA synchronous=NORMAL;");
  if (auto st = db->exec_script(pragmas); !st) return st.error();
  return std::unique_ptr<Db>(std::move(db));
}

}  // namespace postern::store::internal
