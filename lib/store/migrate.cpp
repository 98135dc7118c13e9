// store-migrate's logic (see migrate.h).
#include "store/migrate.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cstdlib>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <thread>

#include "store/schema.h"

namespace postern::store {

using base::Error;
using base::Result;
using base::Status;

namespace {

constexpr std::string_view kBlobData = "blob_data";  // the database blob store's storage
constexpr std::string_view kMarker = "";              // progress row: a migration started
constexpr std::string_view kBlobsRow = "(blobs)";     // progress row of the blob phase
// Target-side advisory lock (PostgreSQL): one store-migrate per target at a time.
constexpr int64_t kMigrateLock = 0x706f737465726d67;  // "postermg"
// Blobs read before they are written as one group (files: in parallel).
constexpr size_t kGroupBlobs = 16;
constexpr size_t kGroupBytes = 64 << 20;

enum class Kind { kInt, kText, kBytes };

// What one database says about one table of tables().
struct TableInfo {
  const Table* table = nullptr;
  std::vector<Kind> kinds;        // per column, in table->columns order
  std::vector<size_t> key_pos;    // positions of the key columns in columns
  std::string select_first;       // SELECT cols ... ORDER BY key LIMIT ?
  std::string select_next;        // ... WHERE key > (?...) ORDER BY key LIMIT ?
};

// Per-database facts the SQL depends on.
struct DbInfo {
  Db* db = nullptr;
  bool byte_order = true;  // text compares byte-wise without an explicit collation
};

std::string join(const std::vector<std::string_view>& v, std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) out += sep;
    out += v[i];
  }
  return out;
}

Kind sqlite_kind(std::string type) {
  for (auto& c : type) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  // SQLite's affinity rules (datatype3.html 3.1), in their order.
  if (type.find("INT") != std::string::npos) return Kind::kInt;
  if (type.find("CHAR") != std::string::npos || type.find("CLOB") != std::string::npos ||
      type.find("TEXT") != std::string::npos) {
    return Kind::kText;
  }
  if (type.empty() || type.find("BLOB") != std::string::npos) return Kind::kBytes;
  return Kind::kInt;
}

Kind postgres_kind(const std::string& type) {
  if (type == "smallint" || type == "integer" || type == "bigint" || type == "boolean") {
    return Kind::kInt;
  }
  if (type == "bytea") return Kind::kBytes;
  return Kind::kText;
}

Result<bool> table_exists(Db& db, std::string_view name) {
  auto rows = db.engine() == Engine::kSqlite
                  ? db.query("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?",
                             {Value(name)})
                  : db.query("SELECT count(*) FROM information_schema.tables WHERE "
                             "table_schema = current_schema() AND table_name = ?",
                             {Value(name)});
  if (!rows) return rows.error();
  return !rows->empty() && (*rows)[0].i64(0) > 0;
}

// PostgreSQL orders text by the database's collation; only C-like ones are byte order
// (C.UTF-8 is code-point order, which is UTF-8 byte order).
Result<bool> byte_ordered(Db& db) {
  if (db.engine() == Engine::kSqlite) return true;
  auto rows = db.query(
      "SELECT datcollate, datlocprovider::text FROM pg_database WHERE datname = current_database()");
  std::string collate, provider = "c";
  if (rows && !rows->empty()) {
    collate = (*rows)[0].str(0);
    provider = (*rows)[0].str(1);
  } else {  // before PostgreSQL 15 there is no datlocprovider
    rows = db.query("SELECT datcollate FROM pg_database WHERE datname = current_database()");
    if (!rows) return rows.error();
    if (!rows->empty()) collate = (*rows)[0].str(0);
  }
  return provider == "c" && (collate == "C" || collate == "POSIX" || collate == "C.UTF-8" ||
                             collate == "C.utf8" || collate == "C.UTF8");
}

Result<DbInfo> db_info(Db& db) {
  auto bo = byte_ordered(db);
  if (!bo) return bo.error();
  return DbInfo{&db, *bo};
}

std::string order_expr(const DbInfo& d, std::string_view col, Kind kind) {
  std::string e(col);
  if (kind != Kind::kInt && !d.byte_order) e += " COLLATE \"C\"";
  return e;
}

Result<TableInfo> table_info(const DbInfo& d, const Table& t) {
  Db& db = *d.db;
  std::string name(t.name);
  auto rows = db.engine() == Engine::kSqlite
                  ? db.query("SELECT name, type FROM pragma_table_info(?)", {Value(name)})
                  : db.query("SELECT column_name, data_type FROM information_schema.columns "
                             "WHERE table_schema = current_schema() AND table_name = ?",
                             {Value(name)});
  if (!rows) return rows.error();
  std::map<std::string, Kind> found;
  for (const Row& r : *rows) {
    found[r.str(0)] = db.engine() == Engine::kSqlite ? sqlite_kind(r.str(1))
                                                     : postgres_kind(r.str(1));
  }
  TableInfo info;
  info.table = &t;
  for (auto c : t.columns) {
    auto it = found.find(std::string(c));
    if (it == found.end()) {
      return Error::config(db.describe() + ": table " + name + " has no column " +
                           std::string(c) + " (schema differs from this program's)");
    }
    info.kinds.push_back(it->second);
  }
  std::vector<std::string> order, keys, marks;
  for (auto k : t.key) {
    auto pos = std::find(t.columns.begin(), t.columns.end(), k) - t.columns.begin();
    info.key_pos.push_back(static_cast<size_t>(pos));
    order.push_back(order_expr(d, k, info.kinds[pos]));
    marks.push_back("?");
  }
  auto list = [](const std::vector<std::string>& v) {
    std::string s;
    for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + v[i];
    return s;
  };
  std::string head = "SELECT " + join(t.columns, ", ") + " FROM " + name;
  std::string tail = " ORDER BY " + list(order) + " LIMIT ?";
  info.select_first = head + tail;
  std::string where = order.size() == 1 ? order[0] + " > ?"
                                        : "(" + list(order) + ") > (" + list(marks) + ")";
  info.select_next = head + " WHERE " + where + tail;
  return info;
}

Value value_of(const Row& r, size_t i, Kind k) {
  if (r.is_null(i)) return Value();
  switch (k) {
    case Kind::kInt:
      return Value(r.i64(i));
    case Kind::kText:
      return Value(r.str(i));
    case Kind::kBytes:
      return Value(Bytes{r.str(i)});
  }
  return Value();
}

// The progress row's last_key: key values joined by ',', integers in decimal, text and
// bytes as 'x' + hex (any byte survives).
std::string encode_key(const TableInfo& ti, const Row& r) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (size_t j = 0; j < ti.key_pos.size(); ++j) {
    size_t i = ti.key_pos[j];
    if (j) out += ',';
    if (ti.kinds[i] == Kind::kInt) {
      out += std::to_string(r.i64(i));
    } else {
      out += 'x';
      for (unsigned char c : r.str(i)) {
        out += kHex[c >> 4];
        out += kHex[c & 15];
      }
    }
  }
  return out;
}

Result<Params> decode_key(const TableInfo& ti, const std::string& s) {
  Params out;
  size_t pos = 0;
  for (size_t j = 0; j < ti.key_pos.size(); ++j) {
    size_t end = s.find(',', pos);
    if (end == std::string::npos) end = s.size();
    std::string part = s.substr(pos, end - pos);
    pos = end + 1;
    Kind k = ti.kinds[ti.key_pos[j]];
    if (k == Kind::kInt) {
      try {
        out.emplace_back(static_cast<int64_t>(std::stoll(part)));
      } catch (...) {
        return Error::internal("migrate_progress: bad key \"" + s + "\"");
      }
      continue;
    }
    if (part.empty() || part[0] != 'x' || part.size() % 2 != 1) {
      return Error::internal("migrate_progress: bad key \"" + s + "\"");
    }
    std::string raw;
    for (size_t i = 1; i + 1 < part.size(); i += 2) {
      raw += static_cast<char>(std::stoi(part.substr(i, 2), nullptr, 16));
    }
    out.emplace_back(k == Kind::kBytes ? Value(Bytes{raw}) : Value(raw));
  }
  return out;
}

// One batch of rows after `last` (empty: from the start), in key order.
Result<Rows> next_batch(Db& db, const TableInfo& ti, const std::optional<std::string>& last,
                        int64_t limit) {
  if (!last) return db.query(ti.select_first, {Value(limit)});
  auto params = decode_key(ti, *last);
  if (!params) return params.error();
  params->emplace_back(limit);
  return db.query(ti.select_next, *params);
}

class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new()) { EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr); }
  void add(std::string_view s) { EVP_DigestUpdate(ctx_.get(), s.data(), s.size()); }
  // A value, unambiguously: tag, 8-byte length, bytes.
  void field(char tag, std::string_view s) {
    char head[9] = {tag};
    uint64_t n = s.size();
    for (int i = 0; i < 8; ++i) head[1 + i] = static_cast<char>(n >> (56 - 8 * i));
    add(std::string_view(head, 9));
    add(s);
  }
  std::string hex() {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx_.get(), md, &len);
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (unsigned i = 0; i < len; ++i) {
      out += kHex[md[i] >> 4];
      out += kHex[md[i] & 15];
    }
    return out;
  }

 private:
  struct Free {
    void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
  };
  std::unique_ptr<EVP_MD_CTX, Free> ctx_;
};

Result<TableChecksum> checksum(const DbInfo& d, const Table& t, int64_t batch,
                               const std::function<void(int64_t)>& tick) {
  auto ti = table_info(d, t);
  if (!ti) return ti.error();
  Sha256 sha;
  TableChecksum out;
  std::optional<std::string> last;
  for (;;) {
    auto rows = next_batch(*d.db, *ti, last, batch);
    if (!rows) return rows.error();
    if (rows->empty()) break;
    for (const Row& r : *rows) {
      for (size_t i = 0; i < ti->kinds.size(); ++i) {
        if (r.is_null(i)) {
          sha.field('N', "");
        } else if (ti->kinds[i] == Kind::kInt) {
          sha.field('I', std::to_string(r.i64(i)));
        } else {
          sha.field('S', r.str(i));  // text and bytes alike: the bytes are what count
        }
      }
    }
    out.rows += static_cast<int64_t>(rows->size());
    last = encode_key(*ti, rows->back());
    if (tick) tick(out.rows);
    if (static_cast<int64_t>(rows->size()) < batch) break;
  }
  out.sha256 = sha.hex();
  return out;
}

const Table* find_table(std::string_view name) {
  for (const Table& t : tables()) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

Result<int64_t> count_rows(Db& db, std::string_view table) {
  auto rows = db.query("SELECT count(*) FROM " + std::string(table));
  if (!rows) return rows.error();
  return rows->empty() ? 0 : (*rows)[0].i64(0);
}

// A column of `t` that references t's own single-column integer key (mailbox.parent_id).
Result<std::optional<size_t>> self_reference(Db& db, const TableInfo& ti) {
  const Table& t = *ti.table;
  if (t.key.size() != 1 || ti.kinds[ti.key_pos[0]] != Kind::kInt) {
    return std::optional<size_t>();
  }
  std::string name(t.name);
  auto rows = db.engine() == Engine::kSqlite
                  ? db.query("SELECT \"from\" FROM pragma_foreign_key_list(?) WHERE \"table\" = ?",
                             {Value(name), Value(name)})
                  : db.query("SELECT a.attname FROM pg_constraint c JOIN pg_attribute a "
                             "ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] "
                             "WHERE c.contype = 'f' AND c.conrelid = c.confrelid "
                             "AND c.conrelid = ?::regclass AND array_length(c.conkey, 1) = 1",
                             {Value(name)});
  if (!rows) return rows.error();
  for (const Row& r : *rows) {
    auto it = std::find(t.columns.begin(), t.columns.end(), r.str(0));
    if (it == t.columns.end()) continue;
    size_t pos = static_cast<size_t>(it - t.columns.begin());
    if (ti.kinds[pos] == Kind::kInt) return std::optional<size_t>(pos);
  }
  return std::optional<size_t>();
}

struct Progress {
  std::optional<std::string> last_key;
  int64_t rows = 0;
  bool done = false;
};

class Copier {
 public:
  Copier(Store& from, Store& to, const MigrateOptions& o)
      : from_(from), to_(to), src_(from.db()), dst_(to.db()), o_(o) {}

  Result<MigrateReport> run() {
    auto start = std::chrono::steady_clock::now();
    report_.source = src_.describe();
    report_.target = dst_.describe();
    source_key_ = canonical(report_.source);
    if (source_key_ == canonical(report_.target)) {
      return Error::usage("source and target are the same database (" + report_.source + ")");
    }
    if (o_.batch < 1) return Error::usage("--batch must be at least 1");
    auto si = db_info(src_);
    if (!si) return si.error();
    auto di = db_info(dst_);
    if (!di) return di.error();
    s_ = *si;
    d_ = *di;
    if (dst_.engine() == Engine::kPostgres) {
      auto lock = dst_.query("SELECT pg_try_advisory_lock(?)", {Value(kMigrateLock)});
      if (!lock) return lock.error();
      if (lock->empty() || (*lock)[0].i64(0) != 1) {
        return Error::temporary("another store-migrate is writing to " + report_.target);
      }
    }
    if (auto st = prepare_target(); !st) return st.error();
    for (const Table& t : tables()) {
      if (t.name == kBlobData) continue;
      if (auto st = copy_table(t); !st) return st.error();
    }
    if (auto st = copy_blobs(); !st) return st.error();
    if (auto st = sequences(); !st) return st.error();
    if (auto st = verify(); !st) {
      // The target is not a copy of the source: this migration is over, not resumable.
      (void)dst_.exec("DELETE FROM migrate_progress WHERE source = ?", {Value(source_key_)});
      return st.error();
    }
    if (auto st = finish(); !st) return st.error();
    // PostgreSQL plans from table statistics, and a bulk load leaves none until
    // autovacuum gets to it: gather them now, as after pg_restore. (SQLite plans without
    // statistics by design; the store's queries are written for that.)
    if (dst_.engine() == Engine::kPostgres) {
      if (auto st = dst_.exec_script("ANALYZE"); !st) return st.error();
    }
    report_.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return report_;
  }

 private:
  Status prepare_target() {
    auto exists = table_exists(dst_, "migrate_progress");
    if (!exists) return exists.error();
    std::vector<std::string> foreign;  // unfinished migrations from other sources
    if (*exists) {
      auto rows = dst_.query("SELECT DISTINCT source FROM migrate_progress");
      if (!rows) return rows.error();
      for (const Row& r : *rows) {
        if (r.str(0) == source_key_) {
          report_.resumed = true;
        } else {
          foreign.push_back(r.str(0));
        }
      }
    }
    if (report_.resumed) return {};
    std::string found;
    for (const Table& t : tables()) {
      auto any = dst_.query("SELECT 1 FROM " + std::string(t.name) + " LIMIT 1");
      if (!any) return any.error();
      if (any->empty()) continue;
      auto n = count_rows(dst_, t.name);
      if (!n) return n.error();
      found += (found.empty() ? "" : ", ") + std::string(t.name) + " (" + std::to_string(*n) +
               (*n == 1 ? " row)" : " rows)");
    }
    for (const auto& f : foreign) {
      found += (found.empty() ? "" : ", ") + std::string("an unfinished migration from ") + f;
    }
    if (!found.empty() && !o_.force) {
      return Error::bad_data("target " + report_.target + " already holds data: " + found +
                             "; use --force to replace it");
    }
    std::string create =
        dst_.engine() == Engine::kSqlite
            ? "CREATE TABLE IF NOT EXISTS migrate_progress (source TEXT NOT NULL, tbl TEXT NOT "
              "NULL, last_key TEXT, \"rows\" INTEGER NOT NULL DEFAULT 0, done INTEGER NOT NULL "
              "DEFAULT 0, PRIMARY KEY (source, tbl))"
            : "CREATE TABLE IF NOT EXISTS migrate_progress (source TEXT NOT NULL, tbl TEXT NOT "
              "NULL, last_key TEXT, \"rows\" BIGINT NOT NULL DEFAULT 0, done INTEGER NOT NULL "
              "DEFAULT 0, PRIMARY KEY (source, tbl))";
    if (auto st = dst_.exec_script(create); !st) return st;
    // Emptying the target (with --force) and the start marker commit together.
    return with_transaction(dst_, Access::kWrite, [&](Db& tx) -> Status {
      if (!found.empty()) {
        if (auto st = wipe(tx); !st) return st;
      }
      return save(tx, kMarker, {});
    });
  }

  Status wipe(Db& tx) {
    const auto& ts = tables();
    if (tx.engine() == Engine::kPostgres) {
      std::string sql = "TRUNCATE migrate_progress";
      for (const Table& t : ts) sql += ", " + std::string(t.name);
      return tx.exec_script(sql);
    }
    for (auto it = ts.rbegin(); it != ts.rend(); ++it) {
      if (auto n = tx.exec("DELETE FROM " + std::string(it->name)); !n) return n.error();
    }
    if (auto n = tx.exec("DELETE FROM migrate_progress"); !n) return n.error();
    auto seq = table_exists(tx, "sqlite_sequence");
    if (!seq) return seq.error();
    if (*seq) {
      if (auto n = tx.exec("DELETE FROM sqlite_sequence"); !n) return n.error();
    }
    return {};
  }

  Status save(Db& tx, std::string_view tbl, const Progress& p) {
    auto n = tx.exec(
        "INSERT INTO migrate_progress (source, tbl, last_key, \"rows\", done) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (source, tbl) DO UPDATE SET "
        "last_key = excluded.last_key, \"rows\" = excluded.\"rows\", done = excluded.done",
        {Value(source_key_), Value(tbl), Value(p.last_key), Value(p.rows), Value(p.done)});
    if (!n) return n.error();
    return {};
  }

  Result<Progress> load(std::string_view tbl) {
    auto rows = dst_.query(
        "SELECT last_key, \"rows\", done FROM migrate_progress WHERE source = ? AND tbl = ?",
        {Value(source_key_), Value(tbl)});
    if (!rows) return rows.error();
    Progress p;
    if (rows->empty()) return p;
    p.last_key = (*rows)[0].opt_str(0);
    p.rows = (*rows)[0].i64(1);
    p.done = (*rows)[0].i64(2) != 0;
    return p;
  }

  void tick(MigrateProgress::Phase phase, std::string_view table, int64_t done, int64_t total) {
    if (o_.progress) o_.progress({phase, std::string(table), done, total});
  }

  Status copy_table(const Table& t) {
    auto p = load(t.name);
    if (!p) return p.error();
    if (p->done) return {};
    auto si = table_info(s_, t);
    if (!si) return si.error();
    auto di = table_info(d_, t);
    if (!di) return di.error();
    auto self = self_reference(dst_, *di);
    if (!self) return self.error();
    auto total = count_rows(src_, t.name);
    if (!total) return total.error();
    const size_t ncols = t.columns.size();
    // PostgreSQL takes at most 65535 parameters per statement, SQLite 32766.
    const int64_t per_stmt =
        std::max<int64_t>(1, std::min<int64_t>(o_.batch, 30000 / static_cast<int64_t>(ncols)));
    std::string insert_head = "INSERT INTO " + std::string(t.name) + " (" +
                              join(t.columns, ", ") + ") VALUES ";
    std::string one = "(";
    for (size_t i = 0; i < ncols; ++i) one += i ? ", ?" : "?";
    one += ")";
    size_t key = si->key_pos[0];
    tick(MigrateProgress::Phase::kCopy, t.name, p->rows, *total);
    for (;;) {
      auto rows = next_batch(src_, *si, p->last_key, o_.batch);
      if (!rows) return rows.error();
      if (rows->empty()) break;
      Progress next{encode_key(*si, rows->back()), p->rows + static_cast<int64_t>(rows->size()),
                    false};
      auto st = with_transaction(dst_, Access::kWrite, [&](Db& tx) -> Status {
        for (size_t at = 0; at < rows->size(); at += per_stmt) {
          size_t n = std::min(rows->size() - at, static_cast<size_t>(per_stmt));
          std::string sql = insert_head;
          Params params;
          params.reserve(n * ncols);
          for (size_t r = at; r < at + n; ++r) {
            const Row& row = (*rows)[r];
            sql += r == at ? one : ", " + one;
            for (size_t c = 0; c < ncols; ++c) {
              // A parent later in key order is not there yet: linked in fix_parents().
              if (*self && c == **self && !row.is_null(c) && row.i64(c) > row.i64(key)) {
                params.emplace_back();
              } else {
                params.push_back(value_of(row, c, di->kinds[c]));
              }
            }
          }
          if (auto e = tx.exec(sql, params); !e) {
            return e.error().with_context("copying " + std::string(t.name));
          }
        }
        return save(tx, t.name, next);
      });
      if (!st) return st;
      report_.rows_copied += static_cast<int64_t>(rows->size());
      if (t.name == "email") report_.messages_copied += static_cast<int64_t>(rows->size());
      table_copied_[std::string(t.name)] += static_cast<int64_t>(rows->size());
      *p = next;
      tick(MigrateProgress::Phase::kCopy, t.name, p->rows, *total);
      if (static_cast<int64_t>(rows->size()) < o_.batch) break;
    }
    return with_transaction(dst_, Access::kWrite, [&](Db& tx) -> Status {
      if (*self) {
        if (auto st = fix_parents(tx, t, **self, key); !st) return st;
      }
      Progress done = *p;
      done.done = true;
      return save(tx, t.name, done);
    });
  }

  Status fix_parents(Db& tx, const Table& t, size_t col, size_t key) {
    std::string c(t.columns[col]), k(t.columns[key]), name(t.name);
    auto rows = src_.query("SELECT " + k + ", " + c + " FROM " + name + " WHERE " + c + " > " + k);
    if (!rows) return rows.error();
    for (const Row& r : *rows) {
      auto n = tx.exec("UPDATE " + name + " SET " + c + " = ? WHERE " + k + " = ?",
                       {Value(r.i64(1)), Value(r.i64(0))});
      if (!n) return n.error();
    }
    return {};
  }

  Status copy_blobs() {
    auto p = load(kBlobsRow);
    if (!p) return p.error();
    if (p->done) return {};
    static const Table kBlobIds{"blob", {"id"}, {"id"}, ""};
    auto si = table_info(s_, kBlobIds);
    if (!si) return si.error();
    auto total = count_rows(src_, "blob");
    if (!total) return total.error();
    BlobStore& in = from_.blobs();
    BlobStore& out = to_.blobs();
    tick(MigrateProgress::Phase::kBlobs, "blobs", p->rows, *total);
    for (;;) {
      auto rows = next_batch(src_, *si, p->last_key, o_.batch);
      if (!rows) return rows.error();
      if (rows->empty()) break;
      Progress next{encode_key(*si, rows->back()), p->rows + static_cast<int64_t>(rows->size()),
                    false};
      // A database blob store commits its puts with the progress row; files are durable
      // before put() returns. Either way a blob is never counted before it is stored.
      auto st = with_transaction(dst_, Access::kWrite, [&](Db& tx) -> Status {
        // Read a group (sequentially: a database blob store is one connection), then
        // write it; files are written in parallel, since each put waits on fsyncs.
        for (size_t at = 0; at < rows->size();) {
          std::vector<std::pair<std::string, std::string>> group;  // id, bytes
          size_t bytes_in_group = 0;
          while (at < rows->size() && group.size() < kGroupBlobs &&
                 (group.empty() || bytes_in_group < kGroupBytes)) {
            const std::string& id = (*rows)[at++].str(0);
            auto bytes = in.get(id);
            if (!bytes) {
              return Error::internal("source blob " + id + " (" + in.describe() +
                                     "): " + bytes.error().message());
            }
            if (blob_id_of(*bytes) != id) {
              return Error::internal("source blob " + id + " (" + in.describe() +
                                     ") is corrupt: its bytes hash to " + blob_id_of(*bytes));
            }
            bytes_in_group += bytes->size();
            group.emplace_back(id, std::move(*bytes));
          }
          if (auto st = put_all(out, group); !st) return st;
        }
        return save(tx, kBlobsRow, next);
      });
      if (!st) return st;
      report_.blobs_copied += static_cast<int64_t>(rows->size());
      *p = next;
      tick(MigrateProgress::Phase::kBlobs, "blobs", p->rows, *total);
      if (static_cast<int64_t>(rows->size()) < o_.batch) break;
    }
    return with_transaction(dst_, Access::kWrite, [&](Db& tx) -> Status {
      Progress done = *p;
      done.done = true;
      return save(tx, kBlobsRow, done);
    });
  }

  static Status put_one(BlobStore& out, const std::string& id, const std::string& bytes) {
    auto put = out.put(bytes);
    if (!put) return put.error().with_context("storing blob " + id + " in the target");
    if (*put != id) return Error::internal("target stored blob " + id + " as " + *put);
    return {};
  }

  static Status put_all(BlobStore& out, const std::vector<std::pair<std::string, std::string>>& group) {
    bool files = out.describe().rfind("fs:", 0) == 0;
    if (!files || group.size() < 2) {
      for (const auto& [id, bytes] : group) {
        if (auto st = put_one(out, id, bytes); !st) return st;
      }
      return {};
    }
    std::vector<Status> results(group.size());
    std::vector<std::thread> threads;
    threads.reserve(group.size());
    for (size_t i = 0; i < group.size(); ++i) {
      threads.emplace_back([&, i] { results[i] = put_one(out, group[i].first, group[i].second); });
    }
    for (auto& t : threads) t.join();
    for (auto& st : results) {
      if (!st) return st;
    }
    return {};
  }

  // The highest id the source ever handed out for t (0: none / unknown).
  Result<int64_t> source_high_water(const Table& t) {
    std::string name(t.name), col(t.identity);
    if (src_.engine() == Engine::kSqlite) {
      auto has = table_exists(src_, "sqlite_sequence");
      if (!has) return has.error();
      if (!*has) return 0;
      auto rows = src_.query("SELECT seq FROM sqlite_sequence WHERE name = ?", {Value(name)});
      if (!rows) return rows.error();
      return rows->empty() ? 0 : (*rows)[0].i64(0);
    }
    auto seq = src_.query("SELECT pg_get_serial_sequence(?, ?)", {Value(name), Value(col)});
    if (!seq) return seq.error();
    if (seq->empty() || (*seq)[0].is_null(0)) return 0;
    auto rows = src_.query("SELECT last_value, is_called FROM " + (*seq)[0].str(0));
    if (!rows) return rows.error();
    if (rows->empty()) return 0;
    return (*rows)[0].i64(1) ? (*rows)[0].i64(0) : (*rows)[0].i64(0) - 1;
  }

  // reset_sequences(), then every identity at least at the source's high-water mark, so
  // the ids of rows deleted before the migration are not handed out again.
  Status sequences() {
    if (auto st = reset_sequences(dst_); !st) return st;
    for (const Table& t : tables()) {
      if (t.identity.empty()) continue;
      std::string name(t.name), col(t.identity);
      auto high = source_high_water(t);
      if (!high) return high.error();
      auto max = dst_.query("SELECT COALESCE(max(" + col + "), 0) FROM " + name);
      if (!max) return max.error();
      int64_t value = std::max(*high, max->empty() ? 0 : (*max)[0].i64(0));
      if (value <= 0) continue;
      if (dst_.engine() == Engine::kPostgres) {
        auto r = dst_.query("SELECT setval(pg_get_serial_sequence(?, ?), ?, true)",
                            {Value(name), Value(col), Value(value)});
        if (!r) return r.error();
        continue;
      }
      auto st = with_transaction(dst_, Access::kWrite, [&](Db& tx) -> Status {
        auto n = tx.exec("UPDATE sqlite_sequence SET seq = ? WHERE name = ?",
                         {Value(value), Value(name)});
        if (!n) return n.error();
        if (*n == 0) {
          auto i = tx.exec("INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)",
                           {Value(name), Value(value)});
          if (!i) return i.error();
        }
        return {};
      });
      if (!st) return st;
    }
    return {};
  }

  Status verify() {
    for (const Table& t : tables()) {
      if (t.name == kBlobData) continue;
      auto total = count_rows(src_, t.name);
      if (!total) return total.error();
      auto show = [&](int64_t n) { tick(MigrateProgress::Phase::kVerify, t.name, n, *total); };
      auto a = checksum(s_, t, o_.batch, show);
      if (!a) return a.error();
      auto b = checksum(d_, t, o_.batch, {});
      if (!b) return b.error();
      if (a->rows != b->rows || a->sha256 != b->sha256) {
        return Error::internal("verification failed: table " + std::string(t.name) +
                               ": source has " + std::to_string(a->rows) + " rows (sha256 " +
                               a->sha256.substr(0, 16) + "), target " +
                               std::to_string(b->rows) + " rows (sha256 " +
                               b->sha256.substr(0, 16) + ")");
      }
      report_.tables.push_back({std::string(t.name), a->rows, table_copied_[std::string(t.name)],
                                a->sha256});
      report_.rows += a->rows;
      if (t.name == "email") report_.messages = a->rows;
    }
    return verify_blobs();
  }

  Status verify_blobs() {
    static const Table kBlobSizes{"blob", {"id", "size"}, {"id"}, ""};
    auto si = table_info(s_, kBlobSizes);
    if (!si) return si.error();
    auto total = count_rows(src_, "blob");
    if (!total) return total.error();
    BlobStore& out = to_.blobs();
    std::optional<std::string> last;
    int64_t seen = 0, present = 0;
    std::string first_missing;
    for (;;) {
      auto rows = next_batch(src_, *si, last, o_.batch);
      if (!rows) return rows.error();
      if (rows->empty()) break;
      for (const Row& r : *rows) {
        auto has = out.exists(r.str(0));
        if (!has) return has.error();
        if (*has) {
          ++present;
        } else if (first_missing.empty()) {
          first_missing = r.str(0);
        }
        report_.blob_bytes += r.i64(1);
      }
      seen += static_cast<int64_t>(rows->size());
      last = encode_key(*si, rows->back());
      tick(MigrateProgress::Phase::kVerify, "blobs", seen, *total);
      if (static_cast<int64_t>(rows->size()) < o_.batch) break;
    }
    if (present != seen) {
      return Error::internal("verification failed: blobs: source has " + std::to_string(seen) +
                             ", target " + out.describe() + " has " + std::to_string(present) +
                             " of them (missing: " + first_missing + ")");
    }
    report_.blobs = seen;
    return {};
  }

  Status finish() {
    return with_transaction(dst_, Access::kWrite, [&](Db& tx) -> Status {
      auto n = tx.exec("DELETE FROM migrate_progress WHERE source = ?", {Value(source_key_)});
      if (!n) return n.error();
      auto left = tx.query("SELECT count(*) FROM migrate_progress");
      if (!left) return left.error();
      if (!left->empty() && (*left)[0].i64(0) == 0) return tx.exec_script("DROP TABLE migrate_progress");
      return {};
    });
  }

  // A SQLite file by its absolute path, so a rerun from another directory resumes.
  static std::string canonical(const std::string& described) {
    if (described.rfind("sqlite:", 0) != 0) return described;
    char* real = ::realpath(described.c_str() + 7, nullptr);
    if (!real) return described;
    std::string out = std::string("sqlite:") + real;
    std::free(real);
    return out;
  }

  Store& from_;
  Store& to_;
  std::string source_key_;  // the source as migrate_progress names it
  Db& src_;
  Db& dst_;
  const MigrateOptions& o_;
  DbInfo s_, d_;
  MigrateReport report_;
  std::map<std::string, int64_t> table_copied_;
};

}  // namespace

Result<MigrateReport> migrate_store(Store& from, Store& to, const MigrateOptions& options) {
  return Copier(from, to, options).run();
}

Result<TableChecksum> table_checksum(Db& db, std::string_view table, int64_t batch) {
  const Table* t = find_table(table);
  if (!t) return Error::usage("no table " + std::string(table) + " in the store schema");
  auto d = db_info(db);
  if (!d) return d.error();
  return checksum(*d, *t, std::max<int64_t>(1, batch), {});
}

}  // namespace postern::store
