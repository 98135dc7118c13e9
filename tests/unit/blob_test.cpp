// Unit tests for lib/store/blob: content addressing, the file-system blob store over the
// in-memory file system (faults and simulated power cuts), the same store on a real
// directory, and the database blob store on SQLite.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "base/fs.h"
#include "store/blob.h"
#include "store/db.h"

namespace {

namespace base = postern::base;
namespace store = postern::store;

const std::string kMsg = "From: a@example.org\r\nSubject: hi\r\n\r\nbody\r\n";

TEST(BlobId, Sha256LowerHex) {
  EXPECT_EQ(store::blob_id_of(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(store::blob_id_of("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_TRUE(store::is_blob_id(store::blob_id_of(kMsg)));
  EXPECT_FALSE(store::is_blob_id(""));
  EXPECT_FALSE(store::is_blob_id(std::string(63, 'a')));
  EXPECT_FALSE(store::is_blob_id(std::string(65, 'a')));
  EXPECT_FALSE(store::is_blob_id(std::string(64, 'A')));
  EXPECT_FALSE(store::is_blob_id("../" + std::string(61, 'a')));
  EXPECT_FALSE(store::is_blob_id("sha256:" + std::string(57, 'a')));
}

std::vector<std::string> ids(store::BlobStore& b) {
  auto l = b.list();
  EXPECT_TRUE(l.ok());
  std::vector<std::string> out;
  if (l.ok())
    for (const auto& e : *l) out.push_back(e.id);
  std::sort(out.begin(), out.end());
  return out;
}

// Every path under the store that is not a directory-level path of a finished blob.
std::vector<std::string> stray_files(base::MemoryFileSystem& fs) {
  std::vector<std::string> out;
  for (const auto& p : fs.paths()) {
    auto name = p.substr(p.find_last_of('/') + 1);
    if (!store::is_blob_id(name) && name != ".fanout-synced") out.push_back(p);
  }
  return out;
}

TEST(FsBlobStore, PutGetExistsRemoveList) {
  base::MemoryFileSystem fs;
  auto b = store::make_fs_blob_store(fs, "/var/blobs");
  EXPECT_EQ(b->describe(), "fs:/var/blobs");
  EXPECT_TRUE(ids(*b).empty());
  auto id = b->put(kMsg);
  ASSERT_TRUE(id.ok()) << id.error().message();
  EXPECT_EQ(*id, store::blob_id_of(kMsg));
  std::string path = "/var/blobs/" + id->substr(0, 2) + "/" + *id;
  EXPECT_TRUE(fs.exists(path));
  auto got = b->get(*id);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, kMsg);
  EXPECT_TRUE(*b->exists(*id));
  // Storing the same bytes again is fine and changes nothing.
  auto again = b->put(kMsg);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *id);
  auto other = b->put("another message");
  ASSERT_TRUE(other.ok());
  auto want = std::vector<std::string>{*id, *other};
  std::sort(want.begin(), want.end());
  EXPECT_EQ(ids(*b), want);
  EXPECT_TRUE(stray_files(fs).empty());
  // Remove; a second remove of an absent blob is ok.
  EXPECT_TRUE(b->remove(*id).ok());
  EXPECT_TRUE(b->remove(*id).ok());
  EXPECT_FALSE(*b->exists(*id));
  auto gone = b->get(*id);
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().code(), base::ExitCode::kUnavailable);
  EXPECT_NE(gone.error().message().find("missing"), std::string::npos);
  EXPECT_EQ(ids(*b), std::vector<std::string>{*other});
  // Ids are checked: nothing outside the store can be named.
  EXPECT_FALSE(b->get("../../etc/passwd").ok());
  EXPECT_FALSE(b->exists("ABC").ok());
  EXPECT_FALSE(b->remove(std::string(64, 'g')).ok());
  // Empty content is a blob like any other.
  auto empty = b->put("");
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(*b->get(*empty), "");
}

TEST(FsBlobStore, ListReportsAgesAndSkipsStrays) {
  base::MemoryFileSystem fs;
  auto b = store::make_fs_blob_store(fs, "/b");
  auto id = b->put(kMsg);
  ASSERT_TRUE(id.ok());
  std::string dir = "/b/" + id->substr(0, 2);
  auto now = std::chrono::duration_cast<std::chrono::seconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  fs.set_mtime(dir + "/" + *id, now - 7200);
  // A temp file left by a crashed writer and a stray name are not blobs.
  auto tmp = fs.create(dir + "/" + *id + ".tmp.1.2", true);
  ASSERT_TRUE(tmp.ok());
  ASSERT_TRUE(fs.make_dir("/b/zz").ok());
  auto l = b->list();
  ASSERT_TRUE(l.ok());
  ASSERT_EQ(l->size(), 1u);
  EXPECT_EQ((*l)[0].id, *id);
  EXPECT_GE((*l)[0].age_seconds, 7200);
  EXPECT_LT((*l)[0].age_seconds, 7300);
}

class FsBlobFault : public testing::TestWithParam<base::FsOp> {};

TEST_P(FsBlobFault, FailedPutLeavesNothingVisible) {
  base::MemoryFileSystem fs;
  auto b = store::make_fs_blob_store(fs, "/b");
  ASSERT_TRUE(b->put("first").ok());  // directories exist for other blobs
  fs.fail(GetParam(), EIO);
  auto id = b->put(kMsg);
  ASSERT_FALSE(id.ok()) << "put survived a failed operation";
  std::string want = store::blob_id_of(kMsg);
  EXPECT_FALSE(*b->exists(want));
  EXPECT_FALSE(b->get(want).ok());
  EXPECT_EQ(ids(*b), std::vector<std::string>{store::blob_id_of("first")});
  EXPECT_TRUE(stray_files(fs).empty()) << stray_files(fs)[0];
  // The fault was one-shot: the next put works and is complete.
  auto retry = b->put(kMsg);
  ASSERT_TRUE(retry.ok()) << retry.error().message();
  EXPECT_EQ(*b->get(*retry), kMsg);
}

INSTANTIATE_TEST_SUITE_P(Ops, FsBlobFault,
                         testing::Values(base::FsOp::kCreate, base::FsOp::kWrite, base::FsOp::kSync,
                                         base::FsOp::kClose, base::FsOp::kRename));

TEST(FsBlobStore, CrashAfterPutKeepsExactBytes) {
  base::MemoryFileSystem fs;
  auto b = store::make_fs_blob_store(fs, "/b");
  std::string big(300000, 'x');
  for (size_t i = 0; i < big.size(); i += 7) big[i] = char('a' + i % 26);
  auto id1 = b->put(kMsg);
  auto id2 = b->put(big);
  ASSERT_TRUE(id1.ok() && id2.ok());
  fs.crash();
  auto b2 = store::make_fs_blob_store(fs, "/b");  // a new process after the power cut
  auto g1 = b2->get(*id1);
  auto g2 = b2->get(*id2);
  ASSERT_TRUE(g1.ok() && g2.ok());
  EXPECT_EQ(*g1, kMsg);
  EXPECT_EQ(*g2, big);
  EXPECT_EQ(ids(*b2).size(), 2u);
}

TEST(FsBlobStore, FanOutDirectoriesAreDurableBeforeUse) {
  base::MemoryFileSystem fs;
  auto b = store::make_fs_blob_store(fs, "/b");
  auto listed = fs.list("/b");
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->size(), 257u);  // 00..ff and the marker
  fs.crash();
  EXPECT_TRUE(fs.exists("/b/00") && fs.exists("/b/ff"));  // the marker itself is not synced
  // Another process created the directories of /c and died before its fsync (no marker
  // left): the next opener syncs the root itself, so a blob it puts there survives a
  // power cut.
  ASSERT_TRUE(fs.make_dir("/c").ok() && fs.sync_dir("/").ok());
  for (int i = 0; i < 256; ++i) {
    char name[8];
    std::snprintf(name, sizeof name, "/c/%02x", i);
    ASSERT_TRUE(fs.make_dir(name).ok());
  }
  auto b2 = store::make_fs_blob_store(fs, "/c");
  auto id = b2->put(kMsg);
  ASSERT_TRUE(id.ok()) << id.error().message();
  fs.crash();
  auto again = store::make_fs_blob_store(fs, "/c")->get(*id);
  ASSERT_TRUE(again.ok()) << again.error().message();
  EXPECT_EQ(*again, kMsg);
}

TEST(FsBlobStore, CrashDuringPutLeavesAbsentOrComplete) {
  // The directory fsync fails after the rename: put reports an error, and after a power
  // cut the blob is either gone or whole — never a prefix of the bytes.
  for (int attempt = 0; attempt < 2; ++attempt) {
    base::MemoryFileSystem fs;
    auto b = store::make_fs_blob_store(fs, "/b");
    ASSERT_TRUE(b->put("first").ok());
    std::string want = store::blob_id_of(kMsg);
    // Only the blob's own directory (DIR/ab): the new entry is never made durable.
    fs.fail(base::FsOp::kSyncDir, EIO, 1, "/" + want.substr(0, 2));
    auto id = b->put(kMsg);
    EXPECT_FALSE(id.ok());
    if (attempt == 1) {
      // A retry of the same bytes must make the entry durable before reporting success.
      auto retry = b->put(kMsg);
      ASSERT_TRUE(retry.ok()) << retry.error().message();
    }
    fs.crash();
    auto b2 = store::make_fs_blob_store(fs, "/b");
    auto got = b2->get(want);
    if (attempt == 1) {
      ASSERT_TRUE(got.ok()) << "acknowledged blob lost";
    }
    if (got.ok()) {
      EXPECT_EQ(*got, kMsg);
    }
    for (const auto& p : fs.paths()) {
      auto r = fs.read(p);
      ASSERT_TRUE(r.ok());
      if (p.find(want) != std::string::npos) {
        EXPECT_EQ(*r, kMsg) << p;
      }
    }
    EXPECT_EQ(*b2->get(store::blob_id_of("first")), "first");
  }
}

TEST(FsBlobStore, RealDirectory) {
  char tmpl[] = "/tmp/postern-blob-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  std::string root = std::string(tmpl) + "/nested/blobs";  // created with parents
  {
    auto b = store::make_fs_blob_store(base::real_fs(), root);
    auto id = b->put(kMsg);
    ASSERT_TRUE(id.ok()) << id.error().message();
    EXPECT_EQ(*b->get(*id), kMsg);
    auto l = b->list();
    ASSERT_TRUE(l.ok());
    ASSERT_EQ(l->size(), 1u);
    EXPECT_LT((*l)[0].age_seconds, 60);
    EXPECT_TRUE(b->remove(*id).ok());
    EXPECT_FALSE(*b->exists(*id));
    EXPECT_FALSE(b->get(*id).ok());
  }
  std::filesystem::remove_all(tmpl);
}

TEST(DbBlobStore, SqliteRoundTrip) {
  char tmpl[] = "/tmp/postern-blobdb-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  {
    auto db = store::open_db(std::string("sqlite:") + tmpl + "/s.db");
    ASSERT_TRUE(db.ok()) << db.error().message();
    ASSERT_TRUE((*db)
                    ->exec_script("CREATE TABLE blob_data (id TEXT PRIMARY KEY, data BLOB NOT "
                                  "NULL, created_at INTEGER NOT NULL)")
                    .ok());
    auto b = store::make_db_blob_store(**db);
    EXPECT_EQ(b->describe(), "database");
    std::string binary("a\0b\xff\r\n", 6);
    auto id = b->put(binary);
    ASSERT_TRUE(id.ok()) << id.error().message();
    EXPECT_EQ(*id, store::blob_id_of(binary));
    EXPECT_TRUE(b->put(binary).ok());  // ON CONFLICT DO NOTHING
    EXPECT_EQ(*b->get(*id), binary);
    EXPECT_TRUE(*b->exists(*id));
    auto l = b->list();
    ASSERT_TRUE(l.ok());
    ASSERT_EQ(l->size(), 1u);
    EXPECT_EQ((*l)[0].id, *id);
    EXPECT_LT((*l)[0].age_seconds, 60);
    EXPECT_TRUE(b->remove(*id).ok());
    EXPECT_TRUE(b->remove(*id).ok());
    EXPECT_FALSE(*b->exists(*id));
    auto gone = b->get(*id);
    ASSERT_FALSE(gone.ok());
    EXPECT_EQ(gone.error().code(), base::ExitCode::kUnavailable);
    EXPECT_FALSE(b->get("nope").ok());
  }
  std::filesystem::remove_all(tmpl);
}

}  // namespace
