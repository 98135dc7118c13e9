// The spam filter where mail is delivered: greylisting state in the store (both engines),
// the tests list of X-Spam-Status, and each recipient's own verdict (a model of its own)
// filing a message through store::deliver_local with the $junk / $notjunk keyword.
#include <gtest/gtest.h>

#include <memory>
#include <set>
#include <string>

#include "base/fd.h"
#include "config/spam.h"
#include "scratch_db.h"
#include "spam/bayes.h"
#include "spam/recipient.h"
#include "spam/scan.h"
#include "store/greylist.h"
#include "store/local_delivery.h"
#include "store/spam_model.h"
#include "store/store.h"

namespace postern {
namespace {

namespace gl = store::greylist;

class GreylistTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    db_ = std::make_unique<store::ScratchDb>(GetParam(), dir_.path(), "greylist");
    if (db_->skipped()) GTEST_SKIP() << db_->why();
    ASSERT_TRUE(db_->ok()) << db_->why();
    store::StoreOptions o{.url = db_->url()};
    if (db_->sqlite()) o.blob_dir = dir_.path() + "/blobs";
    auto s = store::Store::open(o);
    ASSERT_TRUE(s) << s.error().message();
    store_ = std::move(*s);
  }
  void TearDown() override {
    store_.reset();
    db_.reset();
  }
  gl::Answer check(const std::string& net, const std::string& from, int64_t now,
                   const gl::Policy& p) {
    auto a = gl::check(*store_, net, from, "ann@example.org", p, now);
    EXPECT_TRUE(a) << a.error().message();
    return a ? *a : gl::Answer{};
  }
  base::TempDir dir_{"greylist-test"};
  std::unique_ptr<store::ScratchDb> db_;
  std::unique_ptr<store::Store> store_;
};

TEST_P(GreylistTest, NewTripletsWaitRetriesPassAndStayPassed) {
  gl::Policy p{.delay = 300, .retry_window = 3600, .expire = 86400, .auto_allow = 0};
  const std::string net = "192.0.2.0/24";
  gl::Answer a = check(net, "bob@example.net", 1000, p);
  EXPECT_FALSE(a.pass);
  EXPECT_EQ(a.wait, 300);
  a = check(net, "bob@example.net", 1100, p);  // too early: what is left
  EXPECT_FALSE(a.pass);
  EXPECT_EQ(a.wait, 200);
  EXPECT_TRUE(check(net, "bob@example.net", 1300, p).pass);  // after the delay
  EXPECT_TRUE(check(net, "bob@example.net", 50000, p).pass);  // remembered
  // Another sender is another triplet; a retry after the window starts over.
  EXPECT_FALSE(check(net, "carol@example.net", 1000, p).pass);
  a = check(net, "carol@example.net", 1000 + 3601, p);
  EXPECT_FALSE(a.pass);
  EXPECT_EQ(a.wait, 300);
  // A passed triplet unseen for longer than expire is new again.
  EXPECT_FALSE(check(net, "bob@example.net", 50000 + 86401, p).pass);
}

TEST_P(GreylistTest, AutoAllowAndSweep) {
  gl::Policy p{.delay = 60, .retry_window = 3600, .expire = 86400, .auto_allow = 2};
  const std::string net = "2001:db8::/64";
  for (const char* from : {"a@x.example", "b@x.example"}) {
    EXPECT_FALSE(check(net, from, 1000, p).pass);
    EXPECT_TRUE(check(net, from, 1061, p).pass);
  }
  gl::Answer a = check(net, "c@x.example", 1100, p);  // two passed: the network is allowed
  EXPECT_TRUE(a.pass);
  EXPECT_TRUE(a.allowed_client);
  EXPECT_FALSE(check("198.51.100.0/24", "c@x.example", 1100, p).pass);
  // Deferred triplets go after the retry window, passed ones and clients after expire.
  auto gone = gl::sweep(*store_, p, 1100 + 3601);
  ASSERT_TRUE(gone);
  EXPECT_EQ(*gone, 1);  // 198.51.100.0/24's
  gone = gl::sweep(*store_, p, 1100 + 86401);
  ASSERT_TRUE(gone);
  EXPECT_EQ(*gone, 3);  // two triplets and the client row
  EXPECT_FALSE(check(net, "c@x.example", 200000, p).pass);
}

INSTANTIATE_TEST_SUITE_P(Engines, GreylistTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

TEST(SpamStatusTests, ReadsNamesAndScores) {
  auto t = spam::status_tests(
      "Yes, score=7.3 required=5.0 tests=BAYES_99=4.5,SPAMHAUS_ZEN_SBL=2.0,\r\n"
      "\tLLM_PHISHING=-0.2 version=postern");
  // Unfolded text is what callers pass; a raw fold ends the list early.
  EXPECT_EQ(t.size(), 2u);
  t = spam::status_tests(
      "Yes, score=7.3 required=5.0 tests=BAYES_99=4.5,SPAMHAUS_ZEN_SBL=2.0,LLM_PHISHING=-0.2 "
      "version=postern");
  ASSERT_EQ(t.size(), 3u);
  EXPECT_EQ(t[1].name, "SPAMHAUS_ZEN_SBL");
  EXPECT_DOUBLE_EQ(t[1].score, 2.0);
  EXPECT_DOUBLE_EQ(t[2].score, -0.2);
  EXPECT_TRUE(spam::status_tests("No, score=0.0 required=5.0 tests=none version=postern").empty());
  EXPECT_TRUE(spam::status_tests("garbage").empty());
}

class RecipientVerdictTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = store::Store::open({.url = "sqlite:" + dir_.path() + "/s.db", .blob_dir = dir_.path() + "/b"});
    ASSERT_TRUE(s) << s.error().message();
    store_ = std::move(*s);
    ASSERT_TRUE(store_->add_domain("example.org"));
    auto ann = store_->add_account("ann@example.org");
    ASSERT_TRUE(ann);
    ann_ = ann->id;
    auto bob = store_->add_account("bob@example.org");
    ASSERT_TRUE(bob);
    bob_ = bob->id;
    settings_.thresholds = {.add_header = 4, .junk = 5, .reject = 15};
    settings_.bayes_options.min_spam = settings_.bayes_options.min_ham = 3;
    settings_.regex.cache_dir = dir_.path() + "/cache";
    ASSERT_TRUE(config::parse_spam_rules(
        "rules:\n"
        "  - {name: BAYES_00, check: bayes_00, score: -2.5}\n"
        "  - {name: BAYES_999, check: bayes_999, score: 5.0}\n"
        "  - {name: PRIZE, body: 'prize', score: 1.0}\n",
        "test", settings_.rules));
    auto f = spam::make_filter(settings_, *store_);
    ASSERT_TRUE(f) << f.error().message();
    filter_ = *f;
  }
  // Ann's own model: three lottery messages are spam, three meeting notes ham.
  void teach_ann() {
    std::vector<store::spam_model::Lesson> lessons;
    for (int i = 0; i < 3; ++i) {
      for (bool spam : {true, false}) {
        std::string text = spam ? "You won the lottery prize, claim your casino jackpot now "
                                : "Minutes of the planning meeting, agenda for the quarterly review ";
        auto a = spam::analyze("From: x@y.example\r\nSubject: s" + std::to_string(i) + "\r\n\r\n" +
                               text + std::to_string(i) + "\r\n");
        ASSERT_TRUE(a);
        lessons.push_back({.digest = std::to_string(i) + (spam ? "s" : "h"), .spam = spam,
                           .tokens = spam::tokens(*a)});
      }
    }
    ASSERT_TRUE(store::spam_model::learn(*store_, ann_, lessons, 1000));
  }
  // A message as the spam-score stage leaves it: our X-Spam-* fields above our Received:.
  static std::string stamped(const std::string& status, const std::string& body) {
    return "X-Spam-Status: " + status + "\r\nReceived: from x by mx.example.org; Mon, 3 Mar 2025 10:00:00 +0000\r\n"
           "From: x@y.example\r\nSubject: hello\r\n\r\n" + body + "\r\n";
  }
  base::TempDir dir_{"recipient-test"};
  std::unique_ptr<store::Store> store_;
  store::Id ann_ = 0, bob_ = 0;
  spam::Settings settings_;
  spam::Filter filter_;
};

TEST_F(RecipientVerdictTest, OwnModelDecidesAndIsKeptAsKeyword) {
  spam::RecipientVerdicts rv(filter_.engine, filter_.models);
  std::string lottery = stamped("No, score=2.0 required=5.0 tests=SPAMHAUS_ZEN_SBL=2.0 version=postern",
                                "You won the lottery prize, claim your casino jackpot now");
  teach_ann();
  // Bob has learned nothing: no verdict of his own.
  auto v = rv.verdict(*store_, bob_, lottery);
  ASSERT_TRUE(v) << v.error().message();
  EXPECT_FALSE(*v);
  v = rv.verdict(*store_, ann_, lottery);
  ASSERT_TRUE(v) << v.error().message();
  ASSERT_TRUE(*v);
  // Its own model, the local rule, and the blocklist hit the stage found.
  EXPECT_TRUE((*v)->spam);
  std::set<std::string> names;
  for (const auto& h : (*v)->hits) names.insert(h.name);
  EXPECT_TRUE(names.contains("BAYES_999"));
  EXPECT_TRUE(names.contains("PRIZE"));
  EXPECT_TRUE(names.contains("SPAMHAUS_ZEN_SBL"));
  // Without our X-Spam-Status (or with one below our Received:) there is no verdict.
  std::string upstream = "Received: from x by mx.example.org; Mon, 3 Mar 2025 10:00:00 +0000\r\n"
                         "X-Spam-Status: Yes, score=99 tests=FORGED=99 version=x\r\nSubject: s\r\n\r\nprize\r\n";
  v = rv.verdict(*store_, ann_, upstream);
  ASSERT_TRUE(v);
  EXPECT_FALSE(*v);

  // Delivered: Ann's copy goes to Junk with $junk; Bob, without a model, follows the
  // message's own flag (none): Inbox, no keyword.
  store::DeliveryOptions o;
  o.judge = [&](store::Id account, std::string_view m) { return rv.junk(*store_, account, m); };
  for (const char* rcpt : {"ann@example.org", "bob@example.org"}) {
    auto d = store::deliver_local(*store_, rcpt, lottery, o);
    ASSERT_TRUE(d) << d.error().message();
    ASSERT_EQ(d->stored.size(), 1u);
    bool ann = std::string(rcpt) == "ann@example.org";
    auto email = store_->email(ann ? ann_ : bob_, d->stored[0].where.email_id);
    ASSERT_TRUE(email && *email);
    if (ann) {
      EXPECT_EQ(d->stored[0].mailbox, "Junk");
      EXPECT_EQ((*email)->keywords, std::vector<std::string>{"$junk"});
    } else {
      EXPECT_EQ(d->stored[0].mailbox, "Inbox");
      EXPECT_TRUE((*email)->keywords.empty());
    }
  }
  // A meeting note flagged by the stage: Ann's model clears it ($notjunk, Inbox).
  std::string note = "X-Spam-Flag: YES\r\n" +
                     stamped("Yes, score=5.0 required=5.0 tests=LLM_SPAM=5.0 version=postern",
                             "Minutes of the planning meeting, agenda for the quarterly review");
  auto d = store::deliver_local(*store_, "ann@example.org", note, o);
  ASSERT_TRUE(d) << d.error().message();
  EXPECT_EQ(d->stored[0].mailbox, "Inbox");
  auto email = store_->email(ann_, d->stored[0].where.email_id);
  ASSERT_TRUE(email && *email);
  EXPECT_EQ((*email)->keywords, std::vector<std::string>{"$notjunk"});
}

}  // namespace
}  // namespace postern
