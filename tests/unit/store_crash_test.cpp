// In-process power cuts under the store: SQLite through the fault-injecting VFS
// (store/sqlite_fault.h) and blobs in a base::MemoryFileSystem. For each seed a run of
// deliveries (some of identical bytes, sharing a blob; some destroys) meets a failed
// fsync (the WAL's, or a blob file's, its directory's, its rename) and/or a crash of both
// the VFS and the memory file system; then the store is reopened and:
//   - every delivery that returned ok is there, with identical bytes and its UID;
//   - a delivery that returned an error is absent or complete (email, membership, blob
//     bytes, search rows), never half there;
//   - no UID a committed delivery was given is handed to another email afterwards;
//   - store-check finds nothing but orphaned blobs, and --repair --grace 0 leaves the
//     store clean.
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <thread>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "base/fs.h"
#include "store/check.h"
#include "store/db.h"
#include "store/sqlite_fault.h"
#include "store/store.h"

namespace {

namespace store = postern::store;
namespace base = postern::base;
using store::Id;

class TempDir {
 public:
  TempDir() {
    // The durability under test is the fault VFS's, not the disk's: tmpfs (when there is
    // one) keeps SQLite's real fsyncs cheap.
    std::filesystem::path base = std::filesystem::temp_directory_path();
    if (access("/dev/shm", W_OK | X_OK) == 0) base = "/dev/shm";
    std::string tmpl = (base / "store-crash.XXXXXX").string();
    path_ = mkdtemp(tmpl.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// What the test asked for and what the store answered.
struct Attempt {
  std::string message_id;
  std::string bytes;
  Id account = 0;
  Id mailbox = 0;
  bool ok = false;
  store::Delivered delivered;
  bool destroyed = false;  // destroy_emails() returned ok for it
  bool destroy_tried = false;
};

std::string message(std::mt19937& rng, const std::string& mid) {
  std::string body;
  size_t lines = 1 + rng() % 40;
  for (size_t i = 0; i < lines; ++i) {
    body += "line " + std::to_string(i) + " of " + mid + " " + std::string(rng() % 70, 'x') + "\r\n";
  }
  return "From: Bob <bob@example.net>\r\nTo: ann@example.org\r\nSubject: test " + mid +
         "\r\nMessage-ID: <" + mid + ">\r\n\r\n" + body;
}

// What the seeds exercised, so a run that tested nothing shows (and fails).
struct Tally {
  int ok = 0, failed = 0, failed_present = 0, crashes = 0, orphans = 0, destroyed = 0;
};

class StoreCrashTest : public ::testing::Test {
 protected:
  void SetUp() override { vfs_.reset(); }
  void TearDown() override { vfs_.reset(); }

  std::unique_ptr<store::Store> open(bool create) {
    store::StoreOptions o;
    o.url = "sqlite:" + dir_.path() + "/store.db";
    o.blob_dir = "/blobs";
    o.fs = &mem_;
    o.create = create;
    o.db.vfs = vfs_.name();
    auto s = store::Store::open(o);
    EXPECT_TRUE(s) << (s ? "" : s.error().message());
    return s ? std::move(*s) : nullptr;
  }

  void run_seed(unsigned seed);

  Tally tally_;

  store::SqliteFaultVfs& vfs_ = store::SqliteFaultVfs::install();
  TempDir dir_;
  base::MemoryFileSystem mem_;
};

void verify_recovered(store::Store& s, const std::vector<Attempt>& attempts,
                      const std::map<std::pair<Id, uint32_t>, Id>& committed, Tally& t);

// The fault a seed injects into one of its deliveries.
enum class Fault { kNone, kWalSync, kBlobSync, kBlobSyncDir, kBlobRename };

TEST_F(StoreCrashTest, PowerCutsLoseNothingAcknowledged) {
  const char* env = getenv("STORE_CRASH_SEEDS");
  unsigned seeds = env ? static_cast<unsigned>(std::strtoul(env, nullptr, 10)) : 100;
  for (unsigned seed = 1; seed <= seeds; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    // Each seed on a fresh store.
    vfs_.reset();
    mem_ = base::MemoryFileSystem();
    std::filesystem::remove_all(dir_.path());
    std::filesystem::create_directories(dir_.path());
    run_seed(seed);
    if (HasFatalFailure() || HasFailure()) break;  // one failing seed is enough to read
  }
  std::cout << "[ tally    ] " << tally_.ok << " deliveries ok, " << tally_.failed << " failed ("
            << tally_.failed_present << " of them present after recovery), " << tally_.crashes
            << " power cuts, " << tally_.destroyed << " destroys, " << tally_.orphans
            << " orphans found and swept\n";
  if (seeds >= 50) {
    EXPECT_GT(tally_.failed, 10) << "the faults hardly ever hit a delivery";
    EXPECT_GT(tally_.crashes, 30);
    EXPECT_GT(tally_.orphans, 5) << "no failed delivery ever left its bytes behind";
  }
}

void StoreCrashTest::run_seed(unsigned seed) {
  std::mt19937 rng(seed);
  auto& vfs = vfs_;
  base::MemoryFileSystem& mem = mem_;
  auto opener = [&](bool create) { return open(create); };

  auto s = opener(true);
  ASSERT_TRUE(s);
  ASSERT_TRUE(s->add_domain("example.org"));
  auto ann = s->add_account("ann@example.org");
  ASSERT_TRUE(ann);
  auto bob = s->add_account("bob@example.org");
  ASSERT_TRUE(bob);
  std::map<Id, Id> inbox;
  for (Id a : {ann->id, bob->id}) {
    auto m = s->mailbox_by_role(a, store::Role::kInbox);
    ASSERT_TRUE(m && *m);
    inbox[a] = (**m).id;
  }
  auto lists = s->create_mailbox(ann->id, "Lists");
  ASSERT_TRUE(lists);

  const int n = 6 + static_cast<int>(rng() % 14);
  const int fault_at = static_cast<int>(rng() % (n + 1));  // n: no fault
  const Fault fault = static_cast<Fault>(rng() % 5);
  // Crash right after the fault, a few deliveries later, or at the very end.
  const int crash_at = std::min(n, fault_at + static_cast<int>(rng() % 3));
  const bool crash = rng() % 5 != 0;

  std::vector<Attempt> attempts;
  for (int i = 0; i < n; ++i) {
    if (i == fault_at) {
      switch (fault) {
        case Fault::kNone: break;
        case Fault::kWalSync: vfs.fail_sync(1, "-wal"); break;
        case Fault::kBlobSync: mem.fail(base::FsOp::kSync, EIO, 1, "/blobs"); break;
        case Fault::kBlobSyncDir: mem.fail(base::FsOp::kSyncDir, EIO, 1, "/blobs"); break;
        case Fault::kBlobRename: mem.fail(base::FsOp::kRename, EIO, 1, "/blobs"); break;
      }
    }
    if (crash && i == crash_at && fault_at < n) break;
    Attempt a;
    // Now and then the bytes of an earlier delivery again (the same blob, another
    // reference), to the other account.
    if (!attempts.empty() && rng() % 5 == 0) {
      const Attempt& prev = attempts[rng() % attempts.size()];
      a.message_id = prev.message_id;
      a.bytes = prev.bytes;
      a.account = prev.account == ann->id ? bob->id : ann->id;
    } else {
      a.message_id = "m" + std::to_string(seed) + "." + std::to_string(i) + "@example.net";
      a.bytes = message(rng, a.message_id);
      a.account = rng() % 3 == 0 ? bob->id : ann->id;
    }
    a.mailbox = a.account == ann->id && rng() % 4 == 0 ? lists->id : inbox[a.account];
    auto d = s->deliver({.account_id = a.account, .mailbox_id = a.mailbox, .message = a.bytes});
    a.ok = static_cast<bool>(d);
    if (d) a.delivered = *d;
    attempts.push_back(std::move(a));
    // Sometimes destroy an earlier email (its blob reference goes; perhaps an orphan).
    if (rng() % 6 == 0) {
      Attempt& victim = attempts[rng() % attempts.size()];
      if (victim.ok && !victim.destroy_tried) {
        Id id = victim.delivered.email_id;
        victim.destroy_tried = true;
        victim.destroyed = static_cast<bool>(s->destroy_emails(victim.account, {&id, 1}));
      }
    }
  }
  if (crash) {
    vfs.crash();
    mem.crash();
    ++tally_.crashes;
  }
  for (const Attempt& a : attempts) {
    (a.ok ? tally_.ok : tally_.failed)++;
    if (a.destroyed) ++tally_.destroyed;
  }
  s.reset();  // close the pre-crash connection before opening a new one
  vfs.reset();
  // A blob fault no delivery ran into (the bytes were there already, or the run stopped
  // first) is still armed: spend it here, on a scratch file, not on the checks below.
  for (int i = 0; i < 2; ++i) {
    auto f = mem.create("/blobs/scratch", false);
    bool clean = f && (*f)->append("x") && (*f)->sync() && (*f)->close() &&
                 mem.rename("/blobs/scratch", "/blobs/scratch2") && mem.sync_dir("/blobs") &&
                 mem.remove("/blobs/scratch2");
    if (clean) break;
    (void)mem.remove("/blobs/scratch");
  }

  std::map<std::pair<Id, uint32_t>, Id> committed;  // (mailbox, uid) -> email
  for (const Attempt& a : attempts) {
    if (a.ok) committed[{a.delivered.mailbox_id, a.delivered.uid}] = a.delivered.email_id;
  }
  auto r = opener(false);
  ASSERT_TRUE(r);
  verify_recovered(*r, attempts, committed, tally_);
}

void verify_recovered(store::Store& s, const std::vector<Attempt>& attempts,
                      const std::map<std::pair<Id, uint32_t>, Id>& committed, Tally& t) {
  for (const Attempt& a : attempts) {
    SCOPED_TRACE("delivery of " + a.message_id + (a.ok ? " (ok)" : " (failed)"));
    if (a.ok) {
      auto e = s.email(a.account, a.delivered.email_id);
      ASSERT_TRUE(e) << e.error().message();
      if (a.destroyed) {
        EXPECT_FALSE(*e) << "a destroyed email came back";
        continue;
      }
      if (!a.destroy_tried) {
        ASSERT_TRUE(*e) << "an acknowledged delivery is gone";
      } else if (!*e) {
        continue;  // the destroy failed, but may have been committed before the crash
      }
      EXPECT_EQ((*e)->blob_id, a.delivered.blob_id);
      auto bytes = s.read_message(a.account, a.delivered.email_id);
      ASSERT_TRUE(bytes) << bytes.error().message();
      EXPECT_EQ(*bytes, a.bytes);
      auto members = s.members(a.delivered.mailbox_id);
      ASSERT_TRUE(members);
      bool found = false;
      for (const auto& m : *members) {
        if (m.email_id == a.delivered.email_id) {
          found = true;
          EXPECT_EQ(m.uid, a.delivered.uid) << "the UID of an acknowledged delivery changed";
        }
      }
      EXPECT_TRUE(found) << "an acknowledged email left its mailbox";
    }
  }
  // Every email there is complete: a mailbox, readable bytes equal to one attempt's.
  std::set<std::string> sent;
  std::map<std::pair<Id, std::string>, int> failed;  // (account, bytes) of failed deliveries
  for (const Attempt& a : attempts) {
    sent.insert(a.bytes);
    if (!a.ok) failed[{a.account, a.bytes}]++;
  }
  auto accounts = s.accounts();
  ASSERT_TRUE(accounts);
  for (const auto& acct : *accounts) {
    auto emails = s.emails(acct.id);
    ASSERT_TRUE(emails);
    for (const auto& e : *emails) {
      SCOPED_TRACE("email " + std::to_string(e.id) + " <" + e.message_id + ">");
      EXPECT_FALSE(e.mailboxes.empty());
      auto bytes = s.read_message(acct.id, e.id);
      ASSERT_TRUE(bytes) << "an email whose blob is missing: " << bytes.error().message();
      EXPECT_TRUE(sent.count(*bytes)) << "bytes nobody delivered";
      EXPECT_EQ(store::blob_id_of(*bytes), e.blob_id);
      auto f = failed.find({acct.id, *bytes});
      if (f != failed.end() && f->second > 0) {
        bool acked = false;
        for (const Attempt& a : attempts) {
          acked = acked || (a.ok && a.delivered.email_id == e.id);
        }
        if (!acked) {
          --f->second;
          ++t.failed_present;
        }
      }
    }
  }
  // UIDs of committed deliveries stay theirs; new deliveries get fresh ones.
  for (int i = 0; i < 3; ++i) {
    for (const auto& acct : *accounts) {
      auto inbox = s.mailbox_by_role(acct.id, store::Role::kInbox);
      ASSERT_TRUE(inbox && *inbox);
      std::string bytes = "From: x@example.net\r\nSubject: after " + std::to_string(i) +
                          "\r\nMessage-ID: <after" + std::to_string(i) + "@example.net>\r\n\r\nhi\r\n";
      auto d = s.deliver({.account_id = acct.id, .mailbox_id = (*inbox)->id, .message = bytes});
      ASSERT_TRUE(d) << d.error().message();
      auto it = committed.find({d->mailbox_id, d->uid});
      EXPECT_TRUE(it == committed.end())
          << "UID " << d->uid << " was acknowledged for email " << it->second
          << " and is handed out again";
    }
  }
  // The checker: nothing but orphans (blobs of failed deliveries, destroyed emails).
  store::CheckOptions o;
  o.grace_seconds = 0;
  o.deep = true;
  auto report = store::check_store(s, o);
  ASSERT_TRUE(report) << report.error().message();
  for (const auto& p : report->problems) {
    EXPECT_EQ(p.kind, "orphan") << p.message;
    t.orphans += p.kind == "orphan";
  }
  o.repair = true;
  report = store::check_store(s, o);
  ASSERT_TRUE(report) << report.error().message();
  EXPECT_EQ(report->left(), 0u);
  o.repair = false;
  report = store::check_store(s, o);
  ASSERT_TRUE(report) << report.error().message();
  for (const auto& p : report->problems) ADD_FAILURE() << "after repair: " << p.message;
}

// ---- races between a delivery and the blob sweep ----

// A sweep that removes an orphaned blob of the same content between deliver()'s put()
// (which found the file and did not rewrite it) and its commit: deliver() re-checks the
// bytes inside its transaction, after the blob upsert waited for the sweep's lock, and
// re-puts them before committing. If that re-put fails (here: injected, as if the process
// died), nothing is committed — never an email whose bytes are gone.
TEST_F(StoreCrashTest, SweepBetweenPutAndCommitNeverCommitsWithoutBytes) {
  auto a = open(true);
  ASSERT_TRUE(a);
  ASSERT_TRUE(a->add_domain("example.org"));
  auto ann = a->add_account("ann@example.org");
  ASSERT_TRUE(ann);
  auto inbox = a->mailbox_by_role(ann->id, store::Role::kInbox);
  ASSERT_TRUE(inbox && *inbox);
  const std::string bytes = "From: x@example.net\r\nMessage-ID: <race@example.net>\r\n\r\nhi\r\n";
  // An orphaned blob of these bytes: delivered, then destroyed.
  auto first = a->deliver({.account_id = ann->id, .mailbox_id = (*inbox)->id, .message = bytes});
  ASSERT_TRUE(first);
  Id gone = first->email_id;
  ASSERT_TRUE(a->destroy_emails(ann->id, {&gone, 1}));
  const std::string id = first->blob_id;

  // A second connection plays the sweep: it holds the write lock while `a` delivers
  // the same bytes (put() finds the file; the transaction waits for the lock).
  auto sweeper = open(false);
  ASSERT_TRUE(sweeper);
  ASSERT_TRUE(sweeper->db().begin(store::Access::kWrite));
  base::Result<store::Delivered> second = base::Error::internal("not run");
  std::thread t([&] {
    second = a->deliver({.account_id = ann->id, .mailbox_id = (*inbox)->id, .message = bytes});
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  // What sweep_blobs() does for an orphan past its grace period, in one transaction.
  ASSERT_TRUE(sweeper->db().exec("DELETE FROM blob WHERE id = ? AND refs <= 0", {store::Value(id)}));
  ASSERT_TRUE(sweeper->blobs().remove(id));
  // The delivering process dies right after its commit: its re-put never happens.
  mem_.fail(base::FsOp::kCreate, EIO, 1, "/blobs");
  mem_.fail(base::FsOp::kMakeDir, EIO, 1, "/blobs");
  ASSERT_TRUE(sweeper->db().commit());
  t.join();
  auto rows = sweeper->db().query("SELECT count(*) FROM email WHERE blob_id = ?", {store::Value(id)});
  ASSERT_TRUE(rows);
  bool committed = (*rows)[0].i64(0) == 1;
  bool bytes_there = *sweeper->blobs().exists(id);
  EXPECT_FALSE(committed && !bytes_there)
      << "an email was committed without its bytes (deliver returned "
      << (second ? "ok" : second.error().message()) << ")";
}

// ---- a delivery killed inside its COMMIT ----

// SQLite commits a WAL transaction by writing its frames (the last with the commit mark),
// fsync'ing the WAL, and only then publishing the new end of the log in the wal-index. A
// writer SIGKILLed in between (during that fsync, say) leaves a transaction no open
// connection sees, which the next WAL recovery (the next process to open the store
// alone) commits, unless a later writer wrote over its frames first. A failed WAL fsync
// leaves the same state in-process: the frames are in the file, the wal-index does not
// know them. This delivers `bytes` that way; deliver() has checked the bytes inside its
// transaction, as a killed store-deliver had.
void deliver_killed_inside_commit(store::SqliteFaultVfs& vfs, std::unique_ptr<store::Store> s,
                                  const std::string& bytes) {
  auto ann = s->find_account("ann@example.org");
  ASSERT_TRUE(ann && *ann);
  auto inbox = s->mailbox_by_role((*ann)->id, store::Role::kInbox);
  ASSERT_TRUE(inbox && *inbox);
  // An empty WAL, then a committed delivery: the one below appends to the log (neither
  // restarting it, whose header sync would fail first, nor checkpointing in between).
  ASSERT_TRUE(s->db().exec_script("PRAGMA wal_checkpoint(TRUNCATE)"));
  const std::string first =
      "From: x@example.net\r\nMessage-ID: <before@example.net>\r\n\r\nfirst\r\n";
  ASSERT_TRUE(s->deliver({.account_id = (*ann)->id, .mailbox_id = (*inbox)->id, .message = first}));
  vfs.fail_sync(1, "-wal");
  auto d = s->deliver({.account_id = (*ann)->id, .mailbox_id = (*inbox)->id, .message = bytes});
  ASSERT_FALSE(d) << "the WAL fsync of the commit did not fail";
  s.reset();  // the delivering process is gone
}

// How many emails use blob `id` in what WAL recovery makes of the store's files as they
// are now: copies of the database and its WAL (no -shm), opened alone.
int64_t recovered_emails_using(const std::string& dir, const std::string& id) {
  std::filesystem::copy_file(dir + "/store.db", dir + "/copy.db",
                             std::filesystem::copy_options::overwrite_existing);
  std::filesystem::copy_file(dir + "/store.db-wal", dir + "/copy.db-wal",
                             std::filesystem::copy_options::overwrite_existing);
  std::filesystem::remove(dir + "/copy.db-shm");
  int64_t n = -1;
  {
    auto db = store::open_db("sqlite:" + dir + "/copy.db", {.create = false});
    EXPECT_TRUE(db) << db.error().message();
    if (db) {
      auto rows = (*db)->query("SELECT count(*) FROM email WHERE blob_id = ?", {store::Value(id)});
      EXPECT_TRUE(rows) << rows.error().message();
      if (rows) n = (*rows)[0].i64(0);
    }
  }
  for (const char* f : {"/copy.db", "/copy.db-wal", "/copy.db-shm"}) {
    std::filesystem::remove(dir + f);
  }
  return n;
}

// store-check --repair ran alongside such a delivery (seen once in CI, store-crash.bats:
// "email 91 <r89.0...>: its blob ... is missing"). Its connection was open throughout, so
// it saw the delivery's blob file without a row, past the grace period, and no email
// using it; it re-checked that under the write lock in a transaction that wrote nothing,
// removed the file, and the next process to open the store recovered the email. The
// sweep must change the database, and get the change into the WAL, before the bytes go.
TEST_F(StoreCrashTest, SweepEndsADeliveryKilledInsideItsCommitBeforeRemovingItsBytes) {
  auto s = open(true);
  ASSERT_TRUE(s);
  ASSERT_TRUE(s->add_domain("example.org"));
  ASSERT_TRUE(s->add_account("ann@example.org"));
  auto checker = open(false);  // store-check's connection: open before and after the kill
  ASSERT_TRUE(checker);
  const std::string bytes =
      "From: x@example.net\r\nMessage-ID: <killed@example.net>\r\n\r\nkilled in COMMIT\r\n";
  const std::string id = store::blob_id_of(bytes);
  deliver_killed_inside_commit(vfs_, std::move(s), bytes);
  if (HasFatalFailure()) return;
  // What the checker sees, and what recovery would make of the files.
  auto seen =
      checker->db().query("SELECT count(*) FROM email WHERE blob_id = ?", {store::Value(id)});
  ASSERT_TRUE(seen);
  ASSERT_EQ((*seen)[0].i64(0), 0);
  ASSERT_TRUE(*checker->blobs().exists(id));
  ASSERT_EQ(recovered_emails_using(dir_.path(), id), 1)
      << "the killed delivery is not in the WAL: the test sets up nothing";

  store::CheckOptions o;
  o.grace_seconds = 0;
  o.repair = true;
  auto report = store::check_store(*checker, o);
  ASSERT_TRUE(report) << report.error().message();
  bool swept = false;
  for (const auto& p : report->problems) {
    EXPECT_EQ(p.kind, "orphan") << p.message;
    EXPECT_TRUE(p.repaired) << p.message << ": " << p.repair_error;
    swept = swept || p.message.find(id.substr(0, 16)) != std::string::npos;
  }
  EXPECT_TRUE(swept) << "the checker did not take the killed delivery's blob for an orphan";
  EXPECT_FALSE(*checker->blobs().exists(id));
  EXPECT_EQ(recovered_emails_using(dir_.path(), id), 0)
      << "the bytes are gone, and WAL recovery still brings back the email using them";
  checker.reset();

  // The next process, alone: recovers the WAL. Every email it finds has its bytes.
  auto after = open(false);
  ASSERT_TRUE(after);
  auto ann = after->find_account("ann@example.org");
  ASSERT_TRUE(ann && *ann);
  auto emails = after->emails((*ann)->id);
  ASSERT_TRUE(emails);
  for (const auto& e : *emails) {
    auto read = after->read_message((*ann)->id, e.id);
    EXPECT_TRUE(read) << "email " << e.id << " <" << e.message_id
                      << ">: " << read.error().message();
  }
  o.repair = false;
  o.deep = true;
  report = store::check_store(*after, o);
  ASSERT_TRUE(report) << report.error().message();
  for (const auto& p : report->problems) ADD_FAILURE() << p.message;
}

// The same, with the sweep itself dying after it removed the bytes and before its commit:
// its changes, flushed into the WAL before the removal (Db::flush), already end the
// killed delivery. Here the sweep's transaction by hand, as sweep_file runs it.
TEST_F(StoreCrashTest, AFlushedSweepThatNeverCommitsStillEndsTheKilledDelivery) {
  auto s = open(true);
  ASSERT_TRUE(s);
  ASSERT_TRUE(s->add_domain("example.org"));
  ASSERT_TRUE(s->add_account("ann@example.org"));
  auto sweeper = open(false);
  ASSERT_TRUE(sweeper);
  const std::string bytes =
      "From: x@example.net\r\nMessage-ID: <killed2@example.net>\r\n\r\nkilled in COMMIT\r\n";
  const std::string id = store::blob_id_of(bytes);
  deliver_killed_inside_commit(vfs_, std::move(s), bytes);
  if (HasFatalFailure()) return;
  ASSERT_EQ(recovered_emails_using(dir_.path(), id), 1);
  store::Db& tx = sweeper->db();
  ASSERT_TRUE(tx.begin(store::Access::kWrite));
  ASSERT_TRUE(tx.exec("INSERT INTO blob (id, size, refs, orphaned_at) VALUES (?, 0, 0, 0)",
                      {store::Value(id)}));
  ASSERT_TRUE(tx.exec("DELETE FROM blob WHERE id = ?", {store::Value(id)}));
  // Not yet flushed: the killed delivery's frames are intact.
  EXPECT_EQ(recovered_emails_using(dir_.path(), id), 1);
  ASSERT_TRUE(tx.flush());
  EXPECT_EQ(recovered_emails_using(dir_.path(), id), 0)
      << "flushed changes of a later writer did not end the killed delivery";
  tx.rollback();  // the sweep dies before its commit
  sweeper.reset();
  auto after = open(false);
  ASSERT_TRUE(after);
  auto rows = after->db().query("SELECT count(*) FROM email WHERE blob_id = ?", {store::Value(id)});
  ASSERT_TRUE(rows);
  EXPECT_EQ((*rows)[0].i64(0), 0);
}

// sweep_blobs() adopts a blob file that has no row (a delivery that crashed after put())
// as a row with size 0; a later delivery of the same bytes sets the real size.
TEST_F(StoreCrashTest, SweepAdoptedBlobGetsItsSize) {
  auto s = open(true);
  ASSERT_TRUE(s);
  ASSERT_TRUE(s->add_domain("example.org"));
  auto ann = s->add_account("ann@example.org");
  ASSERT_TRUE(ann);
  auto inbox = s->mailbox_by_role(ann->id, store::Role::kInbox);
  ASSERT_TRUE(inbox && *inbox);
  const std::string bytes = "From: x@example.net\r\n\r\nadopted\r\n";
  ASSERT_TRUE(s->blobs().put(bytes));  // the bytes of a delivery that crashed
  ASSERT_TRUE(s->sweep_blobs(3600));   // too young to delete: adopted as a row
  auto d = s->deliver({.account_id = ann->id, .mailbox_id = (*inbox)->id, .message = bytes});
  ASSERT_TRUE(d);
  auto rows = s->db().query("SELECT size FROM blob WHERE id = ?", {store::Value(d->blob_id)});
  ASSERT_TRUE(rows && !rows->empty());
  EXPECT_EQ((*rows)[0].i64(0), static_cast<int64_t>(bytes.size()));
  store::CheckOptions o;
  auto report = store::check_store(*s, o);
  ASSERT_TRUE(report);
  EXPECT_EQ(report->problems.size(), 0u) << report->problems[0].message;
}

}  // namespace
