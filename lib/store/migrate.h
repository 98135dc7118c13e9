// Copying a whole store from one engine to another (SQLite <-> PostgreSQL, or the same
// engine twice), resumable after a crash and verified at the end. store-migrate(8) is the
// command; this is its logic.
//
//   auto from = Store::open({.url = "sqlite:/var/lib/postern/store.db", .blob_dir = ...,
//                            .create = false});
//   auto to = Store::open({.url = "postgresql://postern@db/postern"});
//   MigrateOptions o{.batch = 500, .progress = [](const MigrateProgress& p) { draw(p); }};
//   auto report = migrate_store(**from, **to, o);
//   if (!report) return report.error();   // 65 non-empty target, 70 verify mismatch, ...
//
// How it works:
//   1. The target must hold no row in any table of tables() — unless it holds an
//      unfinished migration from this same source (rows of migrate_progress naming it):
//      then the copy resumes where it stopped. `force` empties a non-empty target first.
//   2. Table by table in tables() order, batches in key order (keyset pagination:
//      WHERE key > last ORDER BY key LIMIT n). Each batch is inserted in one target
//      transaction together with its migrate_progress row, so after a kill at any moment
//      the next run continues with the first row not committed. Values keep their type
//      (integers, text, bytes: read from each database's catalog at run time).
//      A self-referencing row whose parent comes later in key order (a mailbox moved
//      under a newer one) is inserted without its parent and fixed when the table is done.
//   3. Blobs: every id of the source's `blob` table is read from the source BlobStore,
//      its SHA-256 checked against the id, and put into the target BlobStore, in batches
//      with a progress row too. blob_data is the database blob store's own storage: it is
//      never copied as a table (an fs target must not get it; a database target gets it
//      through put()).
//   4. Identity sequences: reset_sequences(), then each one is set to the source's high-
//      water mark when that is higher, so ids of deleted rows are never handed out again
//      (JMAP ids must not be reused).
//   5. Verification: per table the row count and a SHA-256 over the rows in key order
//      (text keys in byte order on both engines; integers as decimal, text and bytes as
//      their bytes, NULL distinct from ""); every source blob present in the target.
//      A mismatch is Error::internal (exit 70) naming the table, and the progress rows
//      are dropped (a rerun then needs `force` and starts over).
//   6. The progress rows are removed (and migrate_progress itself when empty).
//
// The source should not change during the copy (stop the services writing to it):
// rows added behind the copy's position are caught by the verification.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "base/result.h"
#include "store/store.h"

namespace postern::store {

struct MigrateProgress {
  enum class Phase { kCopy, kBlobs, kVerify };
  Phase phase = Phase::kCopy;
  std::string table;   // the table (kBlobs: "blobs")
  int64_t done = 0;    // rows (or blobs) of this table done so far, including earlier runs
  int64_t total = 0;   // rows (or blobs) in the source table
};

struct MigrateOptions {
  int64_t batch = 500;  // rows per target transaction (blobs: per progress row)
  bool force = false;   // empty a non-empty target first
  // Called after every batch (never from another thread).
  std::function<void(const MigrateProgress&)> progress;
};

struct TableReport {
  std::string name;
  int64_t rows = 0;      // rows in the table (source = target after verification)
  int64_t copied = 0;    // rows copied by this run
  std::string sha256;    // the verification checksum (hex)
};

struct MigrateReport {
  std::string source, target;  // describe() of both databases
  bool resumed = false;        // an unfinished migration was continued
  std::vector<TableReport> tables;
  int64_t rows = 0;            // rows in all tables
  int64_t rows_copied = 0;     // rows copied by this run
  int64_t blobs = 0;           // blobs in the source (all present in the target)
  int64_t blobs_copied = 0;    // blobs copied by this run
  int64_t blob_bytes = 0;      // their total size (from the source `blob` table)
  int64_t messages = 0;        // rows of `email`
  int64_t messages_copied = 0;
  double seconds = 0;          // wall time of this run
};

// Copies `from` into `to` (both already opened and migrated by Store::open) and verifies.
// Errors: bad_data (65) when the target holds data (the message lists what) and neither
// force nor a resumable migration applies; usage (64) when both are the same database;
// internal (70) on a verification mismatch or a source blob missing or corrupt; the
// databases' own errors otherwise (temporary 75, unavailable 69, config 78).
base::Result<MigrateReport> migrate_store(Store& from, Store& to, const MigrateOptions& options);

// The verification checksum of one table (exposed for tests): row count and SHA-256 hex.
struct TableChecksum {
  int64_t rows = 0;
  std::string sha256;
};
base::Result<TableChecksum> table_checksum(Db& db, std::string_view table, int64_t batch = 1000);

}  // namespace postern::store
