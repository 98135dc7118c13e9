// The blob store: immutable message bytes addressed by their SHA-256.
//
// Two backends behind one interface:
//   FsBlobStore  files under a directory, DIR/ab/<64 hex>, written tmp -> fsync ->
//                rename -> fsync(dir) through the base::FileSystem seam (the default)
//   DbBlobStore  rows of the store's own database (table blob_data), for several
//                machines sharing one PostgreSQL
//
// Lifetime: the store's `blob` table counts references (emails pointing at a blob).
// put() makes the bytes durable BEFORE the caller's transaction references them, so a
// crash leaves at worst an unreferenced blob, never a row without bytes. The sweeps
// (Store::sweep_blobs, store-check --repair) remove blobs whose count has been 0 for
// longer than a grace period and files that never got a row (a delivery that crashed)
// older than the same grace period; a delivery that raced a sweep finds its bytes gone
// inside its own transaction, after its blob row upsert waited for the sweep's lock, and
// puts them again before it commits (Store::deliver, step 4).
//
// The invariant that makes this hold: a sweep removes bytes only inside a write
// transaction that has itself changed the database (it deletes the blob row; a file
// without a row is first adopted as one), after re-checking under the write / row lock
// that no email uses the blob, and after flushing its changes into the log (Db::flush)
// — see internal::remove_swept_bytes. A transaction that only reads is not enough on
// SQLite: a delivery killed inside its COMMIT, after its WAL frames (commit mark
// included) were written but before it published them in the wal-index, is invisible to
// every open connection, yet the next WAL recovery (the next process to open the store
// alone) commits it, bytes check and all. Frames the sweep writes at the same WAL offset
// end that possibility before the bytes go.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/fs.h"
#include "base/result.h"

namespace postern::store {

class Db;

// "sha256:" is not part of the id: an id is 64 lowercase hex digits.
std::string blob_id_of(std::string_view bytes);
bool is_blob_id(std::string_view id);

class BlobStore {
 public:
  virtual ~BlobStore() = default;
  // Stores `bytes` durably and returns its id; storing existing content is cheap and ok.
  virtual base::Result<std::string> put(std::string_view bytes) = 0;
  // Error::unavailable (kind "missing") when there is no such blob.
  virtual base::Result<std::string> get(const std::string& id) = 0;
  virtual base::Result<bool> exists(const std::string& id) = 0;
  virtual base::Status remove(const std::string& id) = 0;  // ok if absent
  // Every stored id with its age in seconds (for sweep and store-check).
  struct Entry {
    std::string id;
    int64_t age_seconds = 0;
  };
  virtual base::Result<std::vector<Entry>> list() = 0;
  virtual std::string describe() const = 0;  // "fs:/path" or "database"
};

// `dir` is created when missing. fs: the seam (real_fs() in production).
std::unique_ptr<BlobStore> make_fs_blob_store(base::FileSystem& fs, std::string dir);
// Blobs inside `db` (the caller keeps db alive longer than the blob store).
std::unique_ptr<BlobStore> make_db_blob_store(Db& db);

}  // namespace postern::store
