// Blob stores: content-addressed message bytes on the file system or in the database.
#include "store/blob.h"

#include <openssl/sha.h>

#include <chrono>
#include <mutex>
#include <set>

#include "base/clock.h"
#include "store/db.h"

namespace postern::store {

using base::Error;
using base::Result;
using base::Status;

namespace {

bool is_hex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             base::system_clock().now().time_since_epoch())
      .count();
}

Error bad_id(const std::string& id) {
  return Error::bad_data("not a blob id: \"" + id.substr(0, 80) + "\"");
}

Error missing(const std::string& id) { return Error::unavailable("blob " + id + " missing"); }

// Files under DIR/ab/<id> (256 directories, as git's objects: one level keeps a new blob
// from creating, and fsync'ing, a new directory once the 256 exist). A blob becomes visible under its final name only by a
// rename after its bytes were fsync'd, so a reader (or a crash) never sees part of one;
// the directory entry is fsync'd before put() returns.
class FsBlobStore final : public BlobStore {
 public:
  FsBlobStore(base::FileSystem& fs, std::string dir) : fs_(fs), dir_(std::move(dir)) {
    while (dir_.size() > 1 && dir_.back() == '/') dir_.pop_back();
    (void)ensure_root();  // "created when missing"; put() reports a failure
  }

  Result<std::string> put(std::string_view bytes) override {
    std::string id = blob_id_of(bytes);
    std::string path = path_of(id);
    std::string d1 = dir_ + "/" + id.substr(0, 2);
    if (fs_.exists(path)) {
      // Already there, but perhaps only just renamed by a put whose directory fsync
      // failed: make the entry durable before promising it.
      if (auto st = fs_.sync_dir(d1); !st) return st.error().with_context("storing blob " + id);
      return id;
    }
    if (auto st = ensure_root(); !st) return st.error();
    if (auto st = ensure_dir(d1, dir_); !st) return st.error();
    // Temp name in the same directory, fsync, close, rename, fsync the directory.
    if (auto st = base::write_file_atomic(fs_, path, bytes); !st) {
      return st.error().with_context("storing blob " + id);
    }
    return id;
  }

  Result<std::string> get(const std::string& id) override {
    if (!is_blob_id(id)) return bad_id(id);
    std::string path = path_of(id);
    auto data = fs_.read(path);
    if (!data) {
      if (!fs_.exists(path)) return missing(id);
      return data.error();
    }
    // The bytes are not hashed here (every IMAP FETCH reads through get()); store-check
    // verifies every blob against its id.
    return data;
  }

  Result<bool> exists(const std::string& id) override {
    if (!is_blob_id(id)) return bad_id(id);
    return fs_.exists(path_of(id));
  }

  Status remove(const std::string& id) override {
    if (!is_blob_id(id)) return bad_id(id);
    std::string path = path_of(id);
    if (auto st = fs_.remove(path); !st) {
      if (!fs_.exists(path)) return {};
      return st;
    }
    // No fsync of the directory: a removal undone by a crash is swept again later.
    return {};
  }

  Result<std::vector<Entry>> list() override {
    std::vector<Entry> out;
    if (!fs_.exists(dir_)) return out;
    auto top = fs_.list(dir_);
    if (!top) return top.error();
    int64_t now = now_seconds();
    for (const auto& a : *top) {
      if (a.size() != 2 || !is_hex(a)) continue;
      std::string d1 = dir_ + "/" + a;
      auto names = fs_.list(d1);
      if (!names) continue;  // a stray file with a two-hex-digit name
      for (const auto& n : *names) {
        // Only finished blobs: temp files ("<id>.tmp.*") and strays are skipped.
        if (!is_blob_id(n) || n.compare(0, 2, a) != 0) continue;
        auto m = fs_.mtime(d1 + "/" + n);
        int64_t age = m ? std::max<int64_t>(0, now - *m) : 0;
        out.push_back({n, age});
      }
    }
    return out;
  }

  std::string describe() const override { return "fs:" + dir_; }

 private:
  std::string path_of(const std::string& id) const {
    return dir_ + "/" + id.substr(0, 2) + "/" + id;
  }

  // The root and its missing ancestors, then all 256 fan-out directories, so a put()
  // never creates (and syncs) a directory. Whoever creates fan-out directories fsyncs the
  // root and then leaves the marker file kFanoutMarker: with the marker there, every
  // directory it saw is durable. Without it (another process created some and died
  // before its fsync, or an older layout), this process syncs the root itself. Once per
  // process.
  static constexpr const char* kFanoutMarker = ".fanout-synced";
  Status ensure_root() {
    if (root_ok_) return {};
    if (!fs_.exists(dir_)) {
      std::vector<std::string> missing_dirs;
      std::string p = dir_;
      while (!p.empty() && p != "/" && p != "." && !fs_.exists(p)) {
        missing_dirs.push_back(p);
        p = base::parent_dir(p);
      }
      for (auto it = missing_dirs.rbegin(); it != missing_dirs.rend(); ++it) {
        if (auto st = fs_.make_dir(*it); !st) return st;
        if (auto st = fs_.sync_dir(base::parent_dir(*it)); !st) return st;
      }
    }
    auto names = fs_.list(dir_);
    if (!names) return names.error();
    std::set<std::string> present(names->begin(), names->end());
    bool synced = present.count(kFanoutMarker) > 0;
    static constexpr char kHex[] = "0123456789abcdef";
    std::vector<std::string> fanout;
    for (int i = 0; i < 256; ++i) {
      std::string name{kHex[i >> 4], kHex[i & 15]};
      if (!present.count(name)) {
        if (auto st = fs_.make_dir(dir_ + "/" + name); !st) return st;
        synced = false;
      }
      fanout.push_back(dir_ + "/" + name);
    }
    if (!synced) {
      if (auto st = fs_.sync_dir(dir_); !st) return st;
      // Not synced itself: a marker lost in a crash only costs the next process a sync.
      auto marker = fs_.create(dir_ + "/" + kFanoutMarker, /*exclusive=*/false);
      if (marker) (void)(*marker)->close();
    }
    std::lock_guard lock(mu_);
    known_dirs_.insert(fanout.begin(), fanout.end());
    root_ok_ = true;
    return {};
  }

  // Creates `d` if needed; a directory this process created gets its parent fsync'd so
  // the new entry survives a crash before any blob is promised inside it.
  Status ensure_dir(const std::string& d, const std::string& parent) {
    {
      std::lock_guard lock(mu_);
      if (known_dirs_.count(d)) return {};
    }
    bool existed = fs_.exists(d);
    if (!existed) {
      if (auto st = fs_.make_dir(d); !st) return st;
    }
    // Sync the parent even when another process created `d` a moment ago: its entry may
    // not be durable yet. Cheap, and once per directory per process.
    if (auto st = fs_.sync_dir(parent); !st) return st;
    std::lock_guard lock(mu_);
    known_dirs_.insert(d);
    return {};
  }

  base::FileSystem& fs_;
  std::string dir_;
  bool root_ok_ = false;
  std::mutex mu_;
  std::set<std::string> known_dirs_;
};

// Rows of blob_data(id TEXT PRIMARY KEY, data BLOB/bytea, created_at INTEGER NOT NULL).
class DbBlobStore final : public BlobStore {
 public:
  explicit DbBlobStore(Db& db) : db_(db) {}

  Result<std::string> put(std::string_view bytes) override {
    std::string id = blob_id_of(bytes);
    // Outside a transaction this commits (durably) on its own; inside the caller's
    // transaction it commits with the rows that reference it.
    auto n = db_.exec(
        "INSERT INTO blob_data (id, data, created_at) VALUES (?, ?, ?) "
        "ON CONFLICT (id) DO NOTHING",
        {Value(id), Value(Bytes{std::string(bytes)}), Value(now_seconds())});
    if (!n) return n.error().with_context("storing blob " + id);
    return id;
  }

  Result<std::string> get(const std::string& id) override {
    if (!is_blob_id(id)) return bad_id(id);
    auto rows = db_.query("SELECT data FROM blob_data WHERE id = ?", {Value(id)});
    if (!rows) return rows.error();
    if (rows->empty()) return missing(id);
    return (*rows)[0].str(0);
  }

  Result<bool> exists(const std::string& id) override {
    if (!is_blob_id(id)) return bad_id(id);
    auto rows = db_.query("SELECT 1 FROM blob_data WHERE id = ?", {Value(id)});
    if (!rows) return rows.error();
    return !rows->empty();
  }

  Status remove(const std::string& id) override {
    if (!is_blob_id(id)) return bad_id(id);
    auto n = db_.exec("DELETE FROM blob_data WHERE id = ?", {Value(id)});
    if (!n) return n.error();
    return {};
  }

  Result<std::vector<Entry>> list() override {
    auto rows = db_.query("SELECT id, created_at FROM blob_data ORDER BY id");
    if (!rows) return rows.error();
    int64_t now = now_seconds();
    std::vector<Entry> out;
    out.reserve(rows->size());
    for (const auto& r : *rows) out.push_back({r.str(0), std::max<int64_t>(0, now - r.i64(1))});
    return out;
  }

  std::string describe() const override { return "database"; }

 private:
  Db& db_;
};

}  // namespace

std::string blob_id_of(std::string_view bytes) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  // OpenSSL's low-level SHA-256 rather than SHA256()/EVP: in OpenSSL 3 the EVP path
  // initializes the library and fetches the algorithm from the default provider (reads
  // openssl.cnf, ~2 ms), which a process that hashes one message (store-deliver) pays
  // in full. Same digest, same assembly block function.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  SHA256_CTX ctx;
  SHA256_Init(&ctx);
  SHA256_Update(&ctx, bytes.data(), bytes.size());
  SHA256_Final(md, &ctx);
#pragma GCC diagnostic pop
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(2 * SHA256_DIGEST_LENGTH, '0');
  for (size_t i = 0; i < SHA256_DIGEST_LENGTH; ++i) {
    out[2 * i] = kHex[md[i] >> 4];
    out[2 * i + 1] = kHex[md[i] & 15];
  }
  return out;
}

bool is_blob_id(std::string_view id) { return id.size() == 64 && is_hex(id); }

std::unique_ptr<BlobStore> make_fs_blob_store(base::FileSystem& fs, std::string dir) {
  return std::make_unique<FsBlobStore>(fs, std::move(dir));
}

std::unique_ptr<BlobStore> make_db_blob_store(Db& db) { return std::make_unique<DbBlobStore>(db); }

}  // namespace postern::store
