// The SQL seam under lib/store: one small interface, two engines (SQLite, PostgreSQL).
//
// Store code writes its SQL once, with `?` placeholders; the PostgreSQL engine numbers
// them ($1, $2, ...). Where the dialects differ (DDL, full-text search) the caller asks
// engine(). Rows are materialized: every value arrives as text or bytes (integers as
// their decimal text on PostgreSQL too), read back through Row's typed accessors.
//
//   auto db = open_db("sqlite:/var/lib/postern/store.db", {});
//   if (!db) return db.error();
//   auto st = with_transaction(**db, Access::kWrite, [&](Db& tx) -> Status {
//     auto rows = tx.query("UPDATE mailbox SET uid_next = uid_next + 1 WHERE id = ? "
//                          "RETURNING uid_next - 1", {Value(mailbox_id)});
//     if (!rows) return rows.error();
//     uid = (*rows)[0].i64(0);
//     return {};
//   });
//
// Errors: a busy database (SQLITE_BUSY after the busy timeout), a PostgreSQL
// serialization failure or deadlock (40001, 40P01) and a lost connection are
// Error::temporary with retryable() true; with_transaction() retries those itself.
// A constraint violation is Error::bad_data with constraint() true.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "base/result.h"

namespace postern::store {

enum class Engine { kSqlite, kPostgres };

// Binary data for a BLOB / bytea column (a plain std::string binds as text).
struct Bytes {
  std::string data;
};

// A parameter value: NULL, integer, text or bytes.
class Value {
 public:
  Value() = default;  // NULL
  Value(std::nullopt_t) {}  // NOLINT
  Value(int64_t v) : v_(v) {}  // NOLINT
  Value(int v) : v_(static_cast<int64_t>(v)) {}  // NOLINT
  Value(bool v) : v_(static_cast<int64_t>(v ? 1 : 0)) {}  // NOLINT
  Value(std::string v) : v_(std::move(v)) {}  // NOLINT
  Value(std::string_view v) : v_(std::string(v)) {}  // NOLINT
  Value(const char* v) : v_(std::string(v)) {}  // NOLINT
  Value(Bytes v) : v_(std::move(v)) {}  // NOLINT
  template <typename T>
  Value(const std::optional<T>& v) {  // NOLINT
    if (v) *this = Value(*v);
  }
  bool is_null() const { return v_.index() == 0; }
  const std::variant<std::monostate, int64_t, std::string, Bytes>& get() const { return v_; }

 private:
  std::variant<std::monostate, int64_t, std::string, Bytes> v_;
};

using Params = std::vector<Value>;

// One result row. Column indexes are 0-based, in SELECT order.
class Row {
 public:
  explicit Row(std::vector<std::optional<std::string>> cols) : cols_(std::move(cols)) {}
  size_t size() const { return cols_.size(); }
  bool is_null(size_t i) const { return !cols_.at(i).has_value(); }
  // NULL reads as 0 / "".
  int64_t i64(size_t i) const;
  const std::string& str(size_t i) const;  // text, or the raw bytes of a BLOB/bytea
  std::optional<int64_t> opt_i64(size_t i) const;
  std::optional<std::string> opt_str(size_t i) const;

 private:
  std::vector<std::optional<std::string>> cols_;
};

using Rows = std::vector<Row>;

enum class Access { kRead, kWrite };

// Error helpers the engines use; callers test with these.
bool retryable(const base::Error& e);   // busy / serialization failure / connection lost
bool constraint(const base::Error& e);  // UNIQUE, FOREIGN KEY, CHECK violated

class Db {
 public:
  virtual ~Db() = default;
  virtual Engine engine() const = 0;
  // Where this database is, for messages: "sqlite:/path" or the PostgreSQL URL with any
  // password removed.
  virtual std::string describe() const = 0;

  // One statement with `?` parameters. Statements are prepared once per connection and
  // cached by their text.
  virtual base::Result<Rows> query(std::string_view sql, const Params& params = {}) = 0;
  // Like query() for statements that return nothing; the number of rows changed.
  virtual base::Result<int64_t> exec(std::string_view sql, const Params& params = {}) = 0;
  // Several statements without parameters (DDL in migrations).
  virtual base::Status exec_script(std::string_view sql) = 0;

  // Transactions. kWrite takes the write lock up front on SQLite (BEGIN IMMEDIATE) so two
  // writers never deadlock on the upgrade; on PostgreSQL both are READ COMMITTED and
  // callers lock the rows they change (UPDATE ... RETURNING, SELECT ... FOR UPDATE).
  // Nesting is not supported.
  virtual base::Status begin(Access access) = 0;
  virtual base::Status commit() = 0;
  virtual void rollback() = 0;  // never fails; a no-op outside a transaction
  virtual bool in_transaction() const = 0;
  // Inside a write transaction: writes the pages it changed so far into the log now,
  // still uncommitted (SQLite: WAL frames without a commit mark). SQLite's WAL recovery
  // can commit, later, a transaction whose writer was killed inside COMMIT after its
  // frames reached the WAL but before it published them to the other connections; frames
  // written after it at the same place end that possibility. A caller about to act outside
  // the database on what it read (the blob sweep unlinking bytes, see blob.h) flushes its
  // own changes first. No-op on PostgreSQL (a commit is visible as soon as it is durable).
  virtual base::Status flush() { return {}; }

  // The id a SQLite INSERT just produced (PostgreSQL code uses RETURNING instead; both
  // engines support INSERT ... RETURNING, which is what store code uses).
};

struct DbOptions {
  // SQLite: how long a writer waits for the lock before the statement fails as busy.
  int busy_timeout_ms = 10000;
  // SQLite: synchronous=FULL (every commit fsync'd; the default) or NORMAL.
  bool full_sync = true;
  // SQLite: the VFS to open the file through (empty: SQLite's default). Crash tests use
  // the fault-injecting shim of sqlite_fault.h, which can fail fsync and, on a simulated
  // power cut, drop every page SQLite wrote but never synced.
  std::string vfs;
  // Create the database (SQLite file) if it does not exist; otherwise a missing file is
  // an error (Error::unavailable).
  bool create = true;
};

// Opens "sqlite:PATH" (or a bare path ending in .db/.sqlite), or a PostgreSQL URL
// ("postgresql://..." / "postgres://...") or libpq conninfo ("host=... dbname=...").
// Which engine a store URL names (what open_db dispatches on); nullopt for neither.
std::optional<Engine> engine_of_url(std::string_view url);
base::Result<std::unique_ptr<Db>> open_db(const std::string& url, const DbOptions& options = {});

// Runs `body` inside a transaction; commits when it returns ok, rolls back otherwise.
// Retryable failures (of body or commit) roll back and run body again, up to `attempts`
// times with a short randomized backoff. body must therefore be safe to repeat.
base::Status with_transaction(Db& db, Access access, const std::function<base::Status(Db&)>& body,
                              int attempts = 20);

}  // namespace postern::store
