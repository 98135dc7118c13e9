// store-check: the store's invariants, verified and (where no mail can be lost) repaired.
//
// What a consistent store looks like (each broken rule is one Problem):
//   blob_missing  every email's blob has bytes in the blob store     (not repairable)
//   blob_row      ... and a `blob` row                                (row recreated)
//   blob_hash     with `deep`: the bytes hash to the blob id          (not repairable)
//   blob_size     the blob row's size is its emails' size             (corrected)
//   refs          a blob's refs equals the number of emails using it  (recounted)
//   orphan        a blob row or file nothing refers to, unreferenced for longer than
//                 `grace_seconds`                                     (removed)
//   uid           UIDs are unique and non-zero per mailbox            (not repairable)
//   uid_next      every UID in use or expunged is below uid_next      (raised)
//   no_mailbox    every email is in at least one mailbox              (put into Inbox)
//   member        a membership joins an email and a mailbox of one account (reported)
//   modseq        no mailbox, email, membership, expunge or change-log modseq is above
//                 the account's modseq                                (account raised)
//   used_bytes    an account's used_bytes is the sum of its emails' sizes (recomputed)
//   parent        a mailbox's parent exists, in the same account      (not repairable)
//   role          at most one mailbox per role per account            (not repairable)
//   index         every email has its search rows (email_text, email_words) or is queued
//                 for indexing (email_pending)                        (queued, then indexed)
//   queue         every queued message (postern-queue(7)) has its bytes, of the size its
//                 row says, and at least one recipient; store-wide checks only
//                                                                     (not repairable:
//                                                                      queue-ctl drop)
//
// Checking reads one consistent snapshot (a read transaction; REPEATABLE READ on
// PostgreSQL) and never writes. Repairs run afterwards, each in its own write transaction
// (with_transaction) that re-verifies the problem under the same row locks deliveries
// take, so a repair racing live deliveries never undoes one (see check.cpp).
//
//   CheckOptions o{.repair = true};
//   auto report = check_store(store, o);
//   if (!report) return report.error();
//   for (const Problem& p : report->problems) print(p.message, p.repaired);
//   return report->left() == 0 ? 0 : 1;
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"
#include "store/store.h"

namespace postern::store {

struct CheckOptions {
  std::string account;  // only this account's rows (and the blobs it uses); empty: all
  bool deep = false;    // read every referenced blob and verify its hash
  bool repair = false;
  int64_t grace_seconds = 3600;  // unreferenced blobs younger than this are not orphans
};

struct Problem {
  std::string kind;     // one of the names above
  std::string account;  // address, or empty for store-wide (blob) problems
  std::string message;  // one line, e.g. "account ann@example.org: used_bytes 1234 but ..."
  bool repairable = false;
  bool repaired = false;
  std::string repair_error;  // why a repair that was tried failed
};

struct CheckReport {
  std::string store;  // where (Db::describe() and the blob store)
  int64_t accounts = 0, mailboxes = 0, emails = 0, blobs = 0, blob_files = 0;
  int64_t pending = 0;  // emails queued for text indexing (not a problem)
  int64_t queued = 0;   // messages in the mail queue (not a problem)
  std::vector<Problem> problems;
  // Problems still there (not repaired).
  size_t left() const;
  // Whether every problem left is of `kind`.
  bool only(std::string_view kind) const;
};

// Error::no_user for an unknown `account`; store errors as they come (temporary for a
// busy or unreachable database).
base::Result<CheckReport> check_store(Store& store, const CheckOptions& options);

}  // namespace postern::store
