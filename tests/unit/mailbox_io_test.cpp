// Unit tests for lib/store/mailbox_io: import and export against a real SQLite store, with
// the mailbox files in a MemoryFileSystem. What the CLI tier cannot see: the stored bytes
// (CRLF) and keywords/received times compared exactly across round trips.
#include "store/mailbox_io.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "base/fd.h"
#include "base/fs.h"
#include "mail/writer.h"

namespace {

namespace base = postern::base;
namespace store = postern::store;
namespace io = postern::store::io;
using Strings = std::vector<std::string>;

struct Stored {
  std::string path, bytes;
  Strings keywords;
  int64_t received_at;
  bool operator==(const Stored&) const = default;
};

class MailboxIo : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = store::Store::open({.url = "sqlite:" + dir_.path() + "/s.db",
                                 .blob_dir = dir_.path() + "/blobs"});
    ASSERT_TRUE(s) << s.error().message();
    store_ = std::move(*s);
    ASSERT_TRUE(store_->add_domain("example.org"));
    for (const char* a : {"ann@example.org", "bob@example.org", "cat@example.org"}) {
      auto acct = store_->add_account(a);
      ASSERT_TRUE(acct) << acct.error().message();
      ids_.push_back(acct->id);
    }
  }

  void put(base::MemoryFileSystem& fs, const std::string& path, const std::string& data,
           int64_t mtime) {
    ASSERT_TRUE(base::write_file_atomic(fs, path, data));
    fs.set_mtime(path, mtime);
  }

  // Every email of an account, by mailbox path and UID order.
  std::vector<Stored> dump(store::Id account) {
    std::vector<Stored> out;
    auto boxes = store_->mailboxes(account);
    EXPECT_TRUE(boxes);
    for (const auto& mb : *boxes) {
      auto members = store_->members(mb.id);
      EXPECT_TRUE(members);
      for (const auto& m : *members) {
        auto e = store_->email(account, m.email_id);
        auto bytes = store_->read_message(account, m.email_id);
        EXPECT_TRUE(e && *e && bytes);
        out.push_back({mb.path, *bytes, (*e)->keywords, (*e)->received_at});
      }
    }
    return out;
  }

  base::TempDir dir_{"mailbox-io"};
  std::unique_ptr<store::Store> store_;
  std::vector<store::Id> ids_;
};

TEST(LineEnds, Conversions) {
  EXPECT_EQ(postern::mail::lf_to_crlf("a\nb\r\nc\n"), "a\r\nb\r\nc\r\n");
  EXPECT_EQ(io::to_lf("a\r\nb\r\nc\rd\n"), "a\nb\nc\rd\n");
  EXPECT_EQ(postern::mail::lf_to_crlf(io::to_lf("x\r\ny\r\n")), "x\r\ny\r\n");
}

TEST_F(MailboxIo, MaildirImportStoresCrlfKeywordsAndDates) {
  base::MemoryFileSystem fs;
  for (std::string d : {"/m", "/m/cur", "/m/new", "/m/.Sent", "/m/.Sent/cur", "/m/.Lists.Work",
                        "/m/.Lists.Work/cur"}) {
    ASSERT_TRUE(fs.make_dir(d));
  }
  put(fs, "/m/dovecot-keywords", "0 $Forwarded\n1 Junk\n", 0);
  put(fs, "/m/cur/1700000000.a.h,S=20:2,RSab", "Subject: a\n\nbody\n", 1690000000);
  put(fs, "/m/new/1700000100.b.h", "Subject: b\r\n\r\n", 1700000100);
  put(fs, "/m/.Sent/cur/1700000200.c.h:2,S", "Subject: c\n\n", 1700000200);
  put(fs, "/m/.Lists.Work/cur/1700000300.d.h:2,F", "Subject: d\n\n", 1700000300);
  io::ImportStats stats;
  io::ImportOptions o{.account = ids_[0]};
  ASSERT_TRUE(io::import_source(*store_, fs, "/m", o, stats));
  EXPECT_EQ(stats.imported, 4u);
  EXPECT_EQ(stats.mailboxes, 3u);
  auto got = dump(ids_[0]);
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[0], (Stored{"Inbox", "Subject: a\r\n\r\nbody\r\n",
                            {"$answered", "$forwarded", "$seen", "junk"}, 1690000000}));
  EXPECT_EQ(got[1], (Stored{"Inbox", "Subject: b\r\n\r\n", {}, 1700000100}));
  EXPECT_EQ(got[2], (Stored{"Lists/Work", "Subject: d\r\n\r\n", {"$flagged"}, 1700000300}));
  EXPECT_EQ(got[3], (Stored{"Sent", "Subject: c\r\n\r\n", {"$seen"}, 1700000200}));

  // --date-from name: the name's timestamp instead of the mtime.
  io::ImportStats again;
  o.date_from_name = true;
  ASSERT_TRUE(io::import_source(*store_, fs, "/m", o, again));
  EXPECT_EQ(again.imported, 0u);
  EXPECT_EQ(again.present, 4u);
  io::ImportOptions ob{.account = ids_[1], .date_from_name = true};
  ASSERT_TRUE(io::import_source(*store_, fs, "/m", ob, again));
  EXPECT_EQ(dump(ids_[1])[0].received_at, 1700000000);
}

TEST_F(MailboxIo, RoundTripsAreExact) {
  // Messages as local delivery stores them: CRLF, with "From " lines in bodies.
  auto inbox = store_->mailbox_by_role(ids_[0], store::Role::kInbox);
  ASSERT_TRUE(inbox && *inbox);
  auto work = store_->create_mailbox(ids_[0], "Lists/Wörk.v2");
  ASSERT_TRUE(work);
  struct In {
    store::Id mailbox;
    std::string bytes;
    Strings keywords;
    int64_t at;
  };
  std::vector<In> in = {
      {(*inbox)->id, "Subject: 1\r\n\r\nFrom here\r\n>From there\r\n\r\n", {"$seen"}, 1000},
      {(*inbox)->id, "Subject: 2\r\nStatus-Like: x\r\n\r\nno final newline", {}, 2000},
      {work->id, "Subject: 3\r\n\r\n3\r\n", {"$answered", "$draft", "$forwarded", "work"}, 3000},
      {work->id, "Subject: 3\r\n\r\n3\r\n", {"$flagged"}, 4000},  // a second, identical copy
  };
  for (const auto& m : in) {
    auto d = store_->deliver({.account_id = ids_[0], .mailbox_id = m.mailbox, .message = m.bytes,
                              .keywords = m.keywords, .received_at = m.at});
    ASSERT_TRUE(d) << d.error().message();
  }
  auto want = dump(ids_[0]);
  ASSERT_EQ(want.size(), 4u);
  // Maildir into bob, mbox into cat.
  for (auto [format, target] : {std::pair{io::Format::kMaildir, ids_[1]},
                                std::pair{io::Format::kMbox, ids_[2]}}) {
    SCOPED_TRACE(std::string(io::format_name(format)));
    base::MemoryFileSystem fs;
    io::ExportOptions eo{.account = ids_[0], .format = format,
                         .set_mtime = [&](const std::string& p, int64_t t) -> base::Status {
                           fs.set_mtime(p, t);
                           return {};
                         }};
    auto ex = io::export_account(*store_, fs, "/out", eo);
    ASSERT_TRUE(ex) << ex.error().message();
    EXPECT_EQ(ex->messages, 4u);
    io::ImportStats stats;
    ASSERT_TRUE(io::import_source(*store_, fs, "/out", {.account = target}, stats));
    EXPECT_EQ(stats.imported, 4u);
    EXPECT_EQ(stats.bad, 0u);
    // The final newline the mbox format needs is the one difference it allows.
    auto expect = want;
    if (format == io::Format::kMbox) expect[1].bytes += "\r\n";
    EXPECT_EQ(dump(target), expect);
    // Idempotent, with the two identical copies counted as two.
    io::ImportStats again;
    ASSERT_TRUE(io::import_source(*store_, fs, "/out", {.account = target}, again));
    EXPECT_EQ(again.imported, 0u);
    EXPECT_EQ(again.present, 4u);
  }
}

TEST_F(MailboxIo, BadMessagesAreSkippedAndReported) {
  base::MemoryFileSystem fs;
  put(fs, "/x.mbox", "From a Thu Jan  1 00:00:10 1970\nSubject: ok\n\n1\n\n"
                     "From b Thu Jan  1 00:00:01 1970\nno header line\n\n"
                     "From c Thu Jan  1 00:00:02 1970\nSubject: ok too\n\n", 0);
  Strings bad;
  io::ImportOptions o{.account = ids_[0],
                      .on_bad = [&](const std::string& where, const base::Error&) {
                        bad.push_back(where);
                      }};
  io::ImportStats stats;
  ASSERT_TRUE(io::import_source(*store_, fs, "/x.mbox", o, stats));
  EXPECT_EQ(stats.imported, 2u);
  EXPECT_EQ(stats.bad, 1u);
  EXPECT_EQ(bad, Strings{"/x.mbox:6"});
  auto got = dump(ids_[0]);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].received_at, 10);
  EXPECT_EQ(got[1].bytes, "Subject: ok too\r\n");
}

}  // namespace
