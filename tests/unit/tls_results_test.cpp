// TLS-RPT session counts in the store (store/tls_results.h), on SQLite and PostgreSQL
// (POSTERN_PG_URL; skipped without): adding sums into existing rows in one transaction,
// the (day, domain) pairs that are due, and take() handing one pair's rows to exactly one
// of several concurrent takers — together with a queued message (queue::enqueue_in)
// when the caller's transaction commits, and neither when it rolls back.
#include "store/tls_results.h"

#include <atomic>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

#include "base/fd.h"
#include "store/queue.h"
#include "store/store.h"
#include "scratch_db.h"

namespace postern::store::tls_results {
namespace {

constexpr int64_t kDay = 1772323200;  // 2026-03-01T00:00:00Z

Row row(int64_t day, std::string domain, std::string type, std::string result, int64_t n,
        std::string ip = "192.0.2.25") {
  return Row{.day = day, .policy_domain = std::move(domain), .policy_type = std::move(type),
             .policy = "version: STSv1\nmode: enforce\nmx: mx.example.org\nmax_age: 86400",
             .mx_host = "mx.example.org", .receiving_ip = std::move(ip),
             .result_type = std::move(result),
             .reason = "", .sessions = n};
}

class TlsResultsTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    db_ = std::make_unique<ScratchDb>(GetParam(), dir_.path(), "tlsrpt");
    if (db_->skipped()) GTEST_SKIP() << db_->why();
    ASSERT_TRUE(db_->ok()) << db_->why();
    auto s = open();
    ASSERT_TRUE(s) << s.error().message();
    store_ = std::move(*s);
  }
  void TearDown() override {
    store_.reset();
    db_.reset();
  }
  base::Result<std::unique_ptr<Store>> open() const {
    StoreOptions o;
    o.url = db_->url();
    if (GetParam() == "sqlite") o.blob_dir = dir_.path() + "/blobs";
    return Store::open(o);
  }

  base::TempDir dir_{"tls-results-test"};
  std::unique_ptr<ScratchDb> db_;
  std::unique_ptr<Store> store_;
};

TEST(TlsResultsDay, MidnightUtc) {
  EXPECT_EQ(day_of(kDay), kDay);
  EXPECT_EQ(day_of(kDay + 86399), kDay);
  EXPECT_EQ(day_of(kDay + 86400), kDay + 86400);
  EXPECT_EQ(day_of(0), 0);
}

TEST_P(TlsResultsTest, AddSumsIntoTheSameKeyAndKeepsOthersApart) {
  ASSERT_TRUE(add(*store_, {row(kDay, "example.org", "sts", "", 2),
                            row(kDay, "example.org", "sts", "certificate-host-mismatch", 1)}));
  Row r = row(kDay, "example.org", "sts", "certificate-host-mismatch", 4);
  ASSERT_TRUE(add(*store_, {row(kDay, "example.org", "sts", "", 3), r}));
  r.reason = "hostname mismatch";  // another failure-reason-code: a row of its own
  ASSERT_TRUE(add(*store_, {r, row(kDay, "example.org", "sts", "", 1, "192.0.2.26")}));
  auto all = list(*store_);
  ASSERT_TRUE(all) << all.error().message();
  ASSERT_EQ(all->size(), 4u);
  int64_t ok = 0, failed = 0;
  for (const Row& x : *all) {
    EXPECT_EQ(x.policy, "version: STSv1\nmode: enforce\nmx: mx.example.org\nmax_age: 86400");
    (x.result_type.empty() ? ok : failed) += x.sessions;
  }
  EXPECT_EQ(ok, 6);
  EXPECT_EQ(failed, 9);
  EXPECT_EQ((*all)[0].result_type, "");
  EXPECT_EQ((*all)[0].receiving_ip, "192.0.2.25");
  EXPECT_EQ((*all)[0].sessions, 5);
  EXPECT_TRUE(add(*store_, {}));
}

TEST_P(TlsResultsTest, DueListsEarlierDaysAndTakeRemovesOnePair) {
  ASSERT_TRUE(add(*store_, {row(kDay, "b.example", "tlsa", "", 1), row(kDay, "a.example", "sts", "", 1),
                            row(kDay + 86400, "a.example", "no-policy-found", "", 7),
                            row(kDay - 86400, "c.example", "sts", "sts-policy-fetch-error", 1)}));
  auto d = due(*store_, kDay + 86400);
  ASSERT_TRUE(d);
  ASSERT_EQ(d->size(), 3u);
  EXPECT_EQ((*d)[0].day, kDay - 86400);
  EXPECT_EQ((*d)[0].domain, "c.example");
  EXPECT_EQ((*d)[1].domain, "a.example");
  EXPECT_EQ((*d)[2].domain, "b.example");
  EXPECT_EQ(due(*store_, 0)->size(), 4u);

  auto shown = list(*store_, kDay, "a.example");
  ASSERT_TRUE(shown);
  ASSERT_EQ(shown->size(), 1u);
  auto got = take(*store_, kDay, "a.example");
  ASSERT_TRUE(got);
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0].policy_type, "sts");
  EXPECT_EQ((*got)[0].day, kDay);
  auto again = take(*store_, kDay, "a.example");
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->empty());
  // The other day of the same domain is untouched.
  EXPECT_EQ(list(*store_, kDay + 86400, "a.example")->size(), 1u);
  EXPECT_EQ(list(*store_)->size(), 3u);
}

TEST_P(TlsResultsTest, TakeAndEnqueueCommitOrRollBackTogether) {
  ASSERT_TRUE(add(*store_, {row(kDay, "example.org", "sts", "", 2)}));
  const std::string bytes = "From: a@example.net\r\nSubject: report\r\n\r\nx\r\n";
  queue::NewMessage m;
  m.id = queue::make_queue_id();
  m.envelope.sender = "noreply-tlsrpt@example.net";
  m.envelope.recipients.push_back({.address = "tlsrpt@example.org"});
  m.envelope.listener = "tlsrpt";
  m.data = bytes;
  // A failure after the take: nothing taken, nothing queued.
  auto st = with_transaction(store_->db(), Access::kWrite, [&](Db& tx) -> base::Status {
    auto rows = take_in(tx, kDay, "example.org");
    if (!rows) return rows.error();
    EXPECT_EQ(rows->size(), 1u);
    if (auto e = queue::enqueue_in(tx, std::span<const queue::NewMessage>(&m, 1)); !e) return e;
    return base::Error::bad_data("no");
  });
  EXPECT_FALSE(st);
  EXPECT_EQ(list(*store_)->size(), 1u);
  EXPECT_TRUE(queue::Queue(*store_).list()->empty());
  st = with_transaction(store_->db(), Access::kWrite, [&](Db& tx) -> base::Status {
    auto rows = take_in(tx, kDay, "example.org");
    if (!rows) return rows.error();
    return queue::enqueue_in(tx, std::span<const queue::NewMessage>(&m, 1));
  });
  ASSERT_TRUE(st) << st.error().message();
  EXPECT_TRUE(list(*store_)->empty());
  auto q = queue::Queue(*store_).list();
  ASSERT_EQ(q->size(), 1u);
  EXPECT_EQ((*q)[0].envelope.listener, "tlsrpt");
}

TEST_P(TlsResultsTest, ConcurrentTakersGetTheRowsOnce) {
  std::vector<Row> rows;
  for (int i = 0; i < 20; ++i) rows.push_back(row(kDay, "d" + std::to_string(i) + ".example", "sts", "", i + 1));
  ASSERT_TRUE(add(*store_, rows));
  std::atomic<int64_t> total{0};
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      auto s = open();
      if (!s) {
        ++errors;
        return;
      }
      for (int i = 0; i < 20; ++i) {
        auto got = take(**s, kDay, "d" + std::to_string(i) + ".example");
        if (!got) {
          ++errors;
          continue;
        }
        for (const Row& r : *got) total += r.sessions;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(total.load(), 20 * 21 / 2);
  EXPECT_TRUE(list(*store_)->empty());
}

INSTANTIATE_TEST_SUITE_P(Engines, TlsResultsTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace postern::store::tls_results
