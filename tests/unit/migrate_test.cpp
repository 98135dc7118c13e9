// Unit tests for lib/store/migrate: a SQLite -> SQLite copy through the Store API
// (checksums equal, search on the copy, a mailbox whose parent has a later id), a
// non-empty target, a corrupt source blob, and a copy stopped half-way that resumes.
// The PostgreSQL directions are covered by tests/cli/store-migrate.bats.
#include "store/migrate.h"

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>

#include <gtest/gtest.h>

#include "store/schema.h"

namespace postern::store {
namespace {

std::string msg(int i) {
  return "From: Bob <bob@example.net>\r\nTo: ann@example.org\r\nSubject: note " +
         std::to_string(i) + " Grüße\r\nMessage-ID: <" + std::to_string(i) +
         "@example.net>\r\n\r\nbody number " + std::to_string(i) + " asdfghjkl\r\n";
}

class MigrateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/migrate_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<Store> open(const std::string& name, bool create = true) {
    StoreOptions o;
    o.url = "sqlite:" + dir_ + "/" + name + ".db";
    o.blob_dir = dir_ + "/" + name + "-blobs";
    o.create = create;
    auto s = Store::open(o);
    EXPECT_TRUE(s) << (s ? "" : s.error().message());
    return s ? std::move(*s) : nullptr;
  }

  // A source with one account, n messages, and mailbox A moved under the newer B.
  std::unique_ptr<Store> source(int n) {
    auto s = open("src");
    EXPECT_TRUE(s->add_domain("example.org"));
    auto acct = s->add_account("ann@example.org", "Ann");
    EXPECT_TRUE(acct);
    account_ = acct->id;
    auto inbox = s->mailbox_by_role(account_, Role::kInbox);
    for (int i = 0; i < n; ++i) {
      std::string m = msg(i);
      EXPECT_TRUE(s->deliver({.account_id = account_, .mailbox_id = (*inbox)->id, .message = m}));
    }
    auto a = s->create_mailbox(account_, "A");
    auto b = s->create_mailbox(account_, "B");
    EXPECT_TRUE(a && b);
    EXPECT_TRUE(s->rename_mailbox(account_, a->id, "B/A"));
    return s;
  }

  std::string dir_;
  Id account_ = 0;
};

TEST_F(MigrateTest, CopiesEveryTableAndSearchWorksOnTheCopy) {
  auto src = source(5);
  auto dst = open("dst");
  MigrateOptions o;
  o.batch = 2;
  auto r = migrate_store(*src, *dst, o);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_FALSE(r->resumed);
  EXPECT_EQ(r->messages, 5);
  EXPECT_EQ(r->blobs, 5);
  for (const Table& t : tables()) {
    if (t.name == "blob_data") continue;
    auto a = table_checksum(src->db(), t.name);
    auto b = table_checksum(dst->db(), t.name);
    ASSERT_TRUE(a && b);
    EXPECT_EQ(a->rows, b->rows) << t.name;
    EXPECT_EQ(a->sha256, b->sha256) << t.name;
  }
  auto hits = dst->search(account_, std::nullopt, {{.value = "sdfghj"}});
  ASSERT_TRUE(hits);
  EXPECT_EQ(hits->size(), 5u);
  auto words = dst->search(account_, std::nullopt,
                           {{.field = TextField::kSubject, .value = "grusse", .match = TextMatch::kWords}});
  ASSERT_TRUE(words);
  EXPECT_EQ(words->size(), 5u);
  auto a = dst->find_mailbox(account_, "B/A");
  auto b = dst->find_mailbox(account_, "B");
  ASSERT_TRUE(a && *a && b && *b);
  EXPECT_EQ((*a)->parent_id, (*b)->id);
  EXPECT_GT((*b)->id, (*a)->id);
  auto bytes = dst->read_message(account_, 1);
  ASSERT_TRUE(bytes);
  EXPECT_EQ(*bytes, msg(0));
}

TEST_F(MigrateTest, RefusesATargetWithDataUnlessForced) {
  auto src = source(1);
  auto dst = open("dst");
  ASSERT_TRUE(dst->add_domain("other.example"));
  auto r = migrate_store(*src, *dst, {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), base::ExitCode::kDataErr);
  EXPECT_NE(r.error().message().find("domain (1 row)"), std::string::npos) << r.error().message();
  MigrateOptions o;
  o.force = true;
  r = migrate_store(*src, *dst, o);
  ASSERT_TRUE(r) << r.error().message();
  auto ds = dst->domains();
  ASSERT_TRUE(ds);
  ASSERT_EQ(ds->size(), 1u);
  EXPECT_EQ((*ds)[0].name, "example.org");
}

TEST_F(MigrateTest, ACorruptSourceBlobStopsTheCopy) {
  auto src = source(1);
  auto mails = src->emails(account_);
  ASSERT_TRUE(mails && mails->size() == 1);
  std::string id = (*mails)[0].blob_id;
  std::string path = dir_ + "/src-blobs/" + id.substr(0, 2) + "/" + id;
  std::filesystem::permissions(path, std::filesystem::perms::owner_write,
                               std::filesystem::perm_options::add);
  std::ofstream(path, std::ios::trunc) << "not the message";
  auto dst = open("dst");
  auto r = migrate_store(*src, *dst, {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), base::ExitCode::kSoftware);
  EXPECT_NE(r.error().message().find("corrupt"), std::string::npos) << r.error().message();
}

TEST_F(MigrateTest, StoppedHalfWayItResumesAndVerifies) {
  auto src = source(20);
  {
    auto dst = open("dst");
    MigrateOptions o;
    o.batch = 3;
    int calls = 0;
    // Stands in for a kill: the run ends between two committed batches.
    o.progress = [&](const MigrateProgress& p) {
      if (++calls == 25) throw std::runtime_error("stop in " + p.table);
    };
    EXPECT_THROW((void)migrate_store(*src, *dst, o), std::runtime_error);
  }
  auto dst = open("dst");
  auto half = dst->db().query("SELECT count(*) FROM migrate_progress");
  ASSERT_TRUE(half);
  EXPECT_GT((*half)[0].i64(0), 0);
  MigrateOptions o;
  o.batch = 3;
  auto r = migrate_store(*src, *dst, o);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(r->resumed);
  EXPECT_LT(r->rows_copied, r->rows);
  EXPECT_EQ(r->messages, 20);
  // Done: no progress table is left.
  auto left = dst->db().query(
      "SELECT count(*) FROM sqlite_master WHERE name = 'migrate_progress'");
  ASSERT_TRUE(left);
  EXPECT_EQ((*left)[0].i64(0), 0);
}

TEST_F(MigrateTest, SourceAndTargetMustDiffer) {
  auto src = source(1);
  auto again = open("src");
  auto r = migrate_store(*src, *again, {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), base::ExitCode::kUsage);
}

}  // namespace
}  // namespace postern::store
