// Unit tests for the mail queue (store/queue.h): the round trip of every envelope field
// and of binary bytes, listing order and filters, hold/release/drop, all-or-nothing
// enqueue, counts, queue ids, the group committer (batching, and one bad message failing
// alone), the schema migration from version 2, a copy by store-migrate, and power cuts
// during enqueue (SQLite through the fault VFS).
//
// The tests run on SQLite (a temp file) and PostgreSQL (a fresh database per test on the
// server POSTERN_PG_URL names — start one with tests/pg-cluster); without POSTERN_PG_URL
// the PostgreSQL half is skipped.
#include "store/queue.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "base/fd.h"
#include "store/db.h"
#include "store/migrate.h"
#include "store/schema.h"
#include "store/sqlite_fault.h"
#include "store/store.h"
#include "scratch_db.h"

namespace postern::store::queue {
namespace {

using base::ExitCode;
using namespace std::string_literals;

// Bytes a careless store would mangle: NUL, 8-bit, CRLF, a bare CR, a trailing NUL.
std::string binaryish(const std::string& tag) {
  std::string s = "From: Ann <ann@example.org>\r\nSubject: " + tag + "\r\n\r\nline\r\n";
  s += "nul\0in the middle\r\n"s;
  s += "8-bit \xc3\xa9\xff\xfe\x80 bytes\r\nbare\rCR\r\n";
  s.push_back('\0');
  return s;
}

Envelope full_envelope() {
  Envelope e;
  e.sender = "ann@example.org";
  e.recipients = {
      {.address = "bob@example.net",
       .orcpt = "rfc822;bob@example.net",
       .notify = kNotifySuccess | kNotifyFailure},
      {.address = "j\xc3\xb6rg@example.de", .notify = kNotifyNever},
      {.address = "carol@example.com",
       .status = RecipientStatus::kFailed,
       .last_reply = "550 5.1.1 no such user"},
      {.address = "dave@example.com",
       .status = RecipientStatus::kDelivered,
       .last_reply = "250 2.0.0 ok"},
  };
  e.envid = "QQ314159";
  e.ret = Ret::kHeaders;
  e.body = Body::kBinaryMime;
  e.smtputf8 = true;
  e.requiretls = true;
  e.client_ip = "2001:db8::25";
  e.helo = "mail.example.org";
  e.auth_user = "ann@example.org";
  e.listener = "submission";
  return e;
}

Envelope simple_envelope(const std::string& sender, std::vector<std::string> rcpts) {
  Envelope e;
  e.sender = sender;
  for (auto& r : rcpts) e.recipients.push_back({.address = r});
  return e;
}

void expect_same(const Envelope& a, const Envelope& b) {
  EXPECT_EQ(a.sender, b.sender);
  EXPECT_EQ(a.envid, b.envid);
  EXPECT_EQ(a.ret, b.ret);
  EXPECT_EQ(a.body, b.body);
  EXPECT_EQ(a.smtputf8, b.smtputf8);
  EXPECT_EQ(a.requiretls, b.requiretls);
  EXPECT_EQ(a.client_ip, b.client_ip);
  EXPECT_EQ(a.helo, b.helo);
  EXPECT_EQ(a.auth_user, b.auth_user);
  EXPECT_EQ(a.listener, b.listener);
  ASSERT_EQ(a.recipients.size(), b.recipients.size());
  for (size_t i = 0; i < a.recipients.size(); ++i) {
    SCOPED_TRACE("recipient " + std::to_string(i));
    EXPECT_EQ(a.recipients[i].address, b.recipients[i].address);
    EXPECT_EQ(a.recipients[i].orcpt, b.recipients[i].orcpt);
    EXPECT_EQ(a.recipients[i].notify, b.recipients[i].notify);
    EXPECT_EQ(a.recipients[i].status, b.recipients[i].status);
    EXPECT_EQ(a.recipients[i].last_reply, b.recipients[i].last_reply);
  }
}

class QueueTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    db_ = std::make_unique<ScratchDb>(GetParam(), dir_.path(), "queue");
    if (db_->skipped()) {
      GTEST_SKIP() << db_->why();
    }
    ASSERT_TRUE(db_->ok()) << db_->why();
    url_ = db_->url();
    auto s = open();
    ASSERT_TRUE(s) << s.error().message();
    store_ = std::move(*s);
    queue_ = std::make_unique<Queue>(*store_);
  }

  void TearDown() override {
    queue_.reset();
    store_.reset();
    db_.reset();
  }

  base::Result<std::unique_ptr<Store>> open() const {
    StoreOptions o;
    o.url = url_;
    if (GetParam() == "sqlite") o.blob_dir = dir_.path() + "/blobs";
    return Store::open(o);
  }

  base::Status enqueue_one(const std::string& id, const Envelope& e, const std::string& data,
                           int64_t created_at = 0) {
    NewMessage m{.id = id, .envelope = e, .data = data, .created_at = created_at};
    return queue_->enqueue(std::span<const NewMessage>(&m, 1));
  }

  int64_t count(const std::string& sql) {
    auto r = store_->db().query(sql);
    EXPECT_TRUE(r) << sql << ": " << (r ? "" : r.error().message());
    return r && !r->empty() ? (*r)[0].i64(0) : -1;
  }

  base::TempDir dir_{"queue-test"};
  std::unique_ptr<ScratchDb> db_;
  std::string url_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<Queue> queue_;
};

TEST(QueueId, SixteenCrockfordCharactersSortedByTimeAndDistinct) {
  std::set<std::string> seen;
  std::string first = make_queue_id();
  for (int i = 0; i < 20000; ++i) {
    std::string id = make_queue_id();
    ASSERT_EQ(id.size(), 16u) << id;
    ASSERT_TRUE(valid_queue_id(id)) << id;
    ASSERT_EQ(id.find_first_of("ILOU"), std::string::npos) << id;
    EXPECT_TRUE(seen.insert(id).second) << "duplicate id " << id;
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(3));
  std::string later = make_queue_id();
  EXPECT_LT(first.substr(0, 10), later.substr(0, 10)) << first << " " << later;
  EXPECT_LT(first, later);

  EXPECT_TRUE(valid_queue_id("0123456789ABCDEF"));
  EXPECT_TRUE(valid_queue_id("GHJKMNPQRSTVWXYZ"));
  for (const char* bad : {"", "0123456789ABCDE", "0123456789ABCDEFG", "0123456789abcdef",
                          "0123456789ABCDEI", "0123456789ABCDEL", "0123456789ABCDEO",
                          "0123456789ABCDEU", "0123456789ABCDE-", "0123456789ABCDE "}) {
    EXPECT_FALSE(valid_queue_id(bad)) << bad;
  }
}

TEST(QueueNames, StatesAndStatuses) {
  EXPECT_EQ(state_name(State::kActive), "active");
  EXPECT_EQ(state_name(State::kHold), "hold");
  EXPECT_EQ(status_name(RecipientStatus::kPending), "pending");
  EXPECT_EQ(status_name(RecipientStatus::kDelivered), "delivered");
  EXPECT_EQ(status_name(RecipientStatus::kFailed), "failed");
}

TEST_P(QueueTest, EnqueueGetReadRoundTripKeepsEveryFieldAndByte) {
  const std::string id = make_queue_id();
  const std::string data = binaryish("round trip");
  const Envelope env = full_envelope();
  int64_t before = static_cast<int64_t>(std::time(nullptr));
  ASSERT_TRUE(enqueue_one(id, env, data, 1700000000));
  auto m = queue_->get(id);
  ASSERT_TRUE(m) << m.error().message();
  ASSERT_TRUE(*m);
  EXPECT_EQ((*m)->id, id);
  EXPECT_EQ((*m)->created_at, 1700000000);
  EXPECT_EQ((*m)->size, data.size());
  EXPECT_EQ((*m)->state, State::kActive);
  EXPECT_EQ((*m)->attempts, 0);
  EXPECT_GE((*m)->next_attempt, before);  // due now
  EXPECT_LE((*m)->next_attempt, before + 5);
  expect_same((*m)->envelope, env);
  auto bytes = queue_->read(id);
  ASSERT_TRUE(bytes) << bytes.error().message();
  EXPECT_EQ(*bytes, data);
  // The null reverse-path and defaults come back as they went in.
  const std::string id2 = make_queue_id();
  Envelope bounce = simple_envelope("", {"ann@example.org"});
  ASSERT_TRUE(enqueue_one(id2, bounce, "x"));
  auto m2 = queue_->get(id2);
  ASSERT_TRUE(m2 && *m2);
  expect_same((*m2)->envelope, bounce);
  EXPECT_GE((*m2)->created_at, before);  // 0: now
  // Not there: get gives nothing, read no_user naming the id.
  auto none = queue_->get("0000000000000000");
  ASSERT_TRUE(none);
  EXPECT_FALSE(*none);
  auto unread = queue_->read("0000000000000000");
  ASSERT_FALSE(unread);
  EXPECT_EQ(unread.error().code(), ExitCode::kNoUser);
  EXPECT_NE(unread.error().message().find("no queued message 0000000000000000"), std::string::npos);
}

TEST_P(QueueTest, ListIsOldestFirstAndFilters) {
  auto list0 = queue_->list();
  ASSERT_TRUE(list0);
  EXPECT_TRUE(list0->empty());
  ASSERT_TRUE(enqueue_one("00000000000000C3", simple_envelope("Carol@Example.COM", {"x@a.example"}),
                          "ccc", 300));
  ASSERT_TRUE(enqueue_one("00000000000000A1",
                          simple_envelope("ann@example.org", {"Bob@Example.net", "y@b.example"}),
                          "a", 100));
  ASSERT_TRUE(
      enqueue_one("00000000000000B2", simple_envelope("", {"postmaster@b.example"}), "bb", 200));
  ASSERT_TRUE(queue_->hold("00000000000000B2"));
  auto ids = [&](const ListFilter& f) {
    std::vector<std::string> out;
    auto l = queue_->list(f);
    EXPECT_TRUE(l) << (l ? "" : l.error().message());
    if (l) {
      for (const auto& m : *l) out.push_back(m.id);
    }
    return out;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(ids({}), (V{"00000000000000A1", "00000000000000B2", "00000000000000C3"}));
  auto all = queue_->list();
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].envelope.recipients.size(), 2u);  // recipients come with the list
  EXPECT_EQ((*all)[0].envelope.recipients[1].address, "y@b.example");
  EXPECT_EQ((*all)[1].state, State::kHold);
  EXPECT_EQ((*all)[2].size, 3u);
  EXPECT_EQ(ids({.state = State::kHold}), (V{"00000000000000B2"}));
  EXPECT_EQ(ids({.state = State::kActive}), (V{"00000000000000A1", "00000000000000C3"}));
  EXPECT_EQ(ids({.sender_contains = "EXAMPLE.com"}), (V{"00000000000000C3"}));
  EXPECT_EQ(ids({.sender_contains = "example"}), (V{"00000000000000A1", "00000000000000C3"}));
  EXPECT_EQ(ids({.recipient_contains = "bob@example.NET"}), (V{"00000000000000A1"}));
  EXPECT_EQ(ids({.recipient_contains = "b.example"}), (V{"00000000000000A1", "00000000000000B2"}));
  EXPECT_EQ(ids({.state = State::kActive, .recipient_contains = "b.example"}),
            (V{"00000000000000A1"}));
  EXPECT_EQ(ids({.recipient_contains = "nobody"}), V{});
  EXPECT_EQ(ids({.limit = 2}), (V{"00000000000000A1", "00000000000000B2"}));
  EXPECT_EQ(ids({.sender_contains = "example", .limit = 1}), (V{"00000000000000A1"}));
}

TEST_P(QueueTest, HoldReleaseDropAndUnknownIds) {
  const std::string id = make_queue_id();
  ASSERT_TRUE(enqueue_one(id, full_envelope(), binaryish("hold")));
  // A release due in the past is made due now: push next_attempt into the future first.
  ASSERT_TRUE(store_->db().exec("UPDATE queue_message SET next_attempt = 4000000000"));
  ASSERT_TRUE(queue_->hold(id));
  ASSERT_TRUE(queue_->hold(id));  // again: still held, no error
  EXPECT_EQ((*queue_->get(id))->state, State::kHold);
  int64_t before = static_cast<int64_t>(std::time(nullptr));
  ASSERT_TRUE(queue_->release(id));
  auto m = queue_->get(id);
  ASSERT_TRUE(m && *m);
  EXPECT_EQ((*m)->state, State::kActive);
  EXPECT_GE((*m)->next_attempt, before);
  EXPECT_LE((*m)->next_attempt, before + 5);
  ASSERT_TRUE(queue_->drop(id));
  EXPECT_FALSE(*queue_->get(id));
  EXPECT_EQ(count("SELECT count(*) FROM queue_message"), 0);
  EXPECT_EQ(count("SELECT count(*) FROM queue_recipient"), 0);
  EXPECT_EQ(count("SELECT count(*) FROM queue_data"), 0);
  for (const std::string& unknown :
       {id, std::string("0000000000000000"), std::string("nonsense")}) {
    SCOPED_TRACE(unknown);
    for (auto st : {queue_->hold(unknown), queue_->release(unknown), queue_->drop(unknown)}) {
      ASSERT_FALSE(st);
      EXPECT_EQ(st.error().code(), ExitCode::kNoUser);
      EXPECT_NE(st.error().message().find(unknown), std::string::npos) << st.error().message();
    }
  }
}

TEST_P(QueueTest, ADuplicateIdIsRefusedAndNothingIsHalfWritten) {
  const std::string a = make_queue_id(), b = make_queue_id(), c = make_queue_id();
  ASSERT_TRUE(enqueue_one(a, simple_envelope("ann@example.org", {"bob@example.net"}), "first"));
  // One call with a new message and a duplicate: all or none.
  std::string bytes_b = "bbb", bytes_a2 = "second";
  NewMessage two[] = {
      {.id = b, .envelope = simple_envelope("x@example.org", {"y@example.net"}), .data = bytes_b},
      {.id = a, .envelope = full_envelope(), .data = bytes_a2},
  };
  auto st = queue_->enqueue(two);
  ASSERT_FALSE(st);
  EXPECT_TRUE(constraint(st.error())) << st.error().message();
  EXPECT_FALSE(*queue_->get(b)) << "the other message of the failed call was kept";
  EXPECT_EQ(*queue_->read(a), "first") << "a duplicate overwrote the bytes";
  auto m = queue_->get(a);
  ASSERT_TRUE(m && *m);
  expect_same((*m)->envelope, simple_envelope("ann@example.org", {"bob@example.net"}));
  // The same id twice in one call.
  NewMessage twice[] = {
      {.id = c, .envelope = simple_envelope("x@example.org", {"y@example.net"}), .data = bytes_b},
      {.id = c, .envelope = simple_envelope("x@example.org", {"z@example.net"}), .data = bytes_b},
  };
  EXPECT_FALSE(queue_->enqueue(twice));
  EXPECT_FALSE(*queue_->get(c));
  EXPECT_EQ(count("SELECT count(*) FROM queue_message"), 1);
  EXPECT_EQ(count("SELECT count(*) FROM queue_recipient"), 1);
  EXPECT_EQ(count("SELECT count(*) FROM queue_data"), 1);
}

TEST_P(QueueTest, InvalidMessagesAreRefusedBeforeAnythingIsWritten) {
  std::string data = "x";
  auto refused = [&](NewMessage m, const std::string& why) {
    SCOPED_TRACE(why);
    NewMessage ok{.id = make_queue_id(),
                  .envelope = simple_envelope("a@b.example", {"c@d.example"}),
                  .data = data};
    NewMessage both[] = {ok, std::move(m)};
    auto st = queue_->enqueue(both);
    ASSERT_FALSE(st);
    EXPECT_EQ(st.error().code(), ExitCode::kDataErr) << st.error().message();
    EXPECT_FALSE(*queue_->get(ok.id));
  };
  refused({.id = "lower-case-id-no",
           .envelope = simple_envelope("a@b.example", {"c@d.example"}),
           .data = data},
          "bad id");
  refused({.id = make_queue_id(), .envelope = simple_envelope("a@b.example", {}), .data = data},
          "no recipients");
  refused({.id = make_queue_id(),
           .envelope = simple_envelope("a\0b@example.org"s, {"c@d.example"}),
           .data = data},
          "NUL in the sender");
  refused({.id = make_queue_id(),
           .envelope = simple_envelope("a@b.example", {"c\r\n@d.example"}),
           .data = data},
          "CRLF in a recipient");
  refused({.id = make_queue_id(),
           .envelope = simple_envelope("\xff@b.example", {"c@d.example"}),
           .data = data},
          "not UTF-8");
  EXPECT_EQ(count("SELECT count(*) FROM queue_message"), 0);
}

TEST_P(QueueTest, Counts) {
  auto c0 = queue_->counts();
  ASSERT_TRUE(c0) << c0.error().message();
  EXPECT_EQ(c0->active, 0u);
  EXPECT_EQ(c0->hold, 0u);
  EXPECT_EQ(c0->bytes, 0u);
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    ids.push_back(make_queue_id());
    ASSERT_TRUE(enqueue_one(ids.back(), simple_envelope("a@b.example", {"c@d.example"}),
                            std::string(100 * (i + 1), 'x')));
  }
  ASSERT_TRUE(queue_->hold(ids[0]));
  ASSERT_TRUE(queue_->hold(ids[4]));
  auto c = queue_->counts();
  ASSERT_TRUE(c);
  EXPECT_EQ(c->active, 3u);
  EXPECT_EQ(c->hold, 2u);
  EXPECT_EQ(c->bytes, 1500u);
  ASSERT_TRUE(queue_->drop(ids[1]));
  c = queue_->counts();
  EXPECT_EQ(c->active, 2u);
  EXPECT_EQ(c->bytes, 1300u);
}

TEST_P(QueueTest, GroupCommitterBatchesConcurrentSubmitters) {
  auto own = open();
  ASSERT_TRUE(own) << own.error().message();
  constexpr int kThreads = 8, kEach = 50;
  std::atomic<int> ok{0}, failed{0};
  std::mutex ids_mu;
  std::map<std::string, std::string> sent;  // id -> bytes
  GroupCommitter::Stats stats;
  {
    GroupCommitter gc(std::move(*own));
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < kEach; ++i) {
          // Each submitter waits for its answer before the next message, as an SMTP
          // session waits for 250 before the next transaction.
          std::promise<base::Status> answer;
          auto fut = answer.get_future();
          NewMessage m{.id = make_queue_id(),
                       .envelope = simple_envelope("t" + std::to_string(t) + "@example.org",
                                                   {"r" + std::to_string(i) + "@example.net"})};
          std::string bytes = binaryish("thread " + std::to_string(t) + " #" + std::to_string(i));
          {
            std::lock_guard<std::mutex> lock(ids_mu);
            sent[m.id] = bytes;
          }
          gc.submit(std::move(m), std::move(bytes),
                    [&answer](base::Status st) { answer.set_value(std::move(st)); });
          auto st = fut.get();
          (st ? ok : failed)++;
          if (!st) ADD_FAILURE() << st.error().message();
        }
      });
    }
    for (auto& th : threads) th.join();
    stats = gc.stats();
  }
  EXPECT_EQ(ok.load(), kThreads * kEach);
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(stats.messages, static_cast<uint64_t>(kThreads * kEach));
  EXPECT_EQ(stats.failures, 0u);
  EXPECT_LT(stats.batches, static_cast<uint64_t>(kThreads * kEach)) << "no two commits shared";
  EXPECT_GT(stats.batches, 0u);
  EXPECT_GT(stats.total_commit_seconds, 0.0);
  std::cout << "[ batches  ] " << stats.batches << " batches for " << stats.messages
            << " messages, " << stats.total_commit_seconds << " s committing\n";
  ASSERT_EQ(sent.size(), static_cast<size_t>(kThreads * kEach));
  auto list = queue_->list();
  ASSERT_TRUE(list);
  EXPECT_EQ(list->size(), sent.size());
  for (const auto& [id, bytes] : sent) {
    auto got = queue_->read(id);
    ASSERT_TRUE(got) << id << ": " << got.error().message();
    EXPECT_EQ(*got, bytes);
  }
}

// SQLite: the checkpointer's own connection copies the WAL into the database while the
// committer goes on (PostgreSQL has no WAL of ours to copy: the second store is ignored).
TEST_P(QueueTest, TheCheckpointerCopiesTheWalWhileCommitsGoOn) {
  auto own = open();
  ASSERT_TRUE(own) << own.error().message();
  auto second = open();
  ASSERT_TRUE(second) << second.error().message();
  const std::string db_file = dir_.path() + "/queue.db";
  struct stat before {};
  bool sqlite = GetParam() == "sqlite";
  if (sqlite) {
    ASSERT_EQ(stat(db_file.c_str(), &before), 0);
  }
  constexpr int kMessages = 60;
  std::map<std::string, std::string> sent;
  GroupCommitter::Stats stats;
  {
    GroupCommitter gc(std::move(*own), {.sqlite_checkpoint_bytes = 256 << 10}, std::move(*second));
    for (int i = 0; i < kMessages; ++i) {
      std::promise<base::Status> answer;
      auto fut = answer.get_future();
      NewMessage m{.id = make_queue_id(), .envelope = simple_envelope("a@b.example", {"c@d.example"})};
      std::string bytes = binaryish(std::string(64 << 10, static_cast<char>('a' + i % 26)));
      sent[m.id] = bytes;
      gc.submit(std::move(m), std::move(bytes), [&answer](base::Status st) { answer.set_value(std::move(st)); });
      auto st = fut.get();
      ASSERT_TRUE(st) << st.error().message();
    }
    // The checkpoints run on their own thread: wait for at least one (or give up).
    for (int i = 0; i < 500 && gc.stats().checkpoints == 0 && sqlite; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    stats = gc.stats();
    // Before the committer's connection closes (which checkpoints too): 60 x 64 KiB
    // reached the database file itself, not only its WAL.
    struct stat after {};
    if (sqlite) {
      ASSERT_EQ(stat(db_file.c_str(), &after), 0);
      EXPECT_GT(after.st_size, before.st_size + (1 << 20));
    }
  }
  EXPECT_EQ(stats.messages, static_cast<uint64_t>(kMessages));
  if (sqlite) {
    EXPECT_GE(stats.checkpoints, 1u);
  } else {
    EXPECT_EQ(stats.checkpoints, 0u);
  }
  for (const auto& [id, bytes] : sent) {
    auto got = queue_->read(id);
    ASSERT_TRUE(got) << id << ": " << got.error().message();
    EXPECT_EQ(*got, bytes);
  }
}

TEST_P(QueueTest, AFailingBatchFailsOnlyTheBadMessage) {
  const std::string taken = make_queue_id();
  ASSERT_TRUE(enqueue_one(taken, simple_envelope("a@b.example", {"c@d.example"}), "original"));
  auto own = open();
  ASSERT_TRUE(own) << own.error().message();
  std::mutex mu;
  std::condition_variable cv;
  bool gate_open = false;
  std::map<std::string, std::vector<base::Status>> answers;
  int answered = 0;
  auto record = [&](std::string id) {
    return [&, id](base::Status st) {
      std::lock_guard<std::mutex> lock(mu);
      answers[id].push_back(std::move(st));
      ++answered;
      cv.notify_all();
    };
  };
  auto msg = [](const std::string& id) {
    return NewMessage{.id = id, .envelope = simple_envelope("a@b.example", {"c@d.example"})};
  };
  GroupCommitter::Stats stats;
  std::vector<std::string> good;
  const std::string twice = make_queue_id();
  {
    GroupCommitter gc(std::move(*own));
    // The first message's callback holds the committer until the rest are waiting, so
    // they form one batch.
    const std::string first = make_queue_id();
    gc.submit(msg(first), "first", [&](base::Status st) {
      std::unique_lock<std::mutex> lock(mu);
      answers[first].push_back(std::move(st));
      ++answered;
      cv.notify_all();
      cv.wait(lock, [&] { return gate_open; });
    });
    {
      std::unique_lock<std::mutex> lock(mu);
      ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(60), [&] { return answered == 1; }));
    }
    for (int i = 0; i < 5; ++i) {
      good.push_back(make_queue_id());
      gc.submit(msg(good.back()), "good " + std::to_string(i), record(good.back()));
    }
    gc.submit(msg(taken), "duplicate", record(taken));  // already queued
    gc.submit(msg(twice), "twice 1", record(twice));    // the same id twice in the batch
    gc.submit(msg(twice), "twice 2", record(twice));
    {
      std::lock_guard<std::mutex> lock(mu);
      gate_open = true;
    }
    cv.notify_all();
    std::unique_lock<std::mutex> lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(60), [&] { return answered == 9; }));
    lock.unlock();
    stats = gc.stats();
  }
  for (const auto& id : good) {
    ASSERT_EQ(answers[id].size(), 1u);
    EXPECT_TRUE(answers[id][0]) << answers[id][0].error().message();
    EXPECT_TRUE(*queue_->get(id));
  }
  ASSERT_EQ(answers[taken].size(), 1u);
  ASSERT_FALSE(answers[taken][0]);
  EXPECT_TRUE(constraint(answers[taken][0].error())) << answers[taken][0].error().message();
  EXPECT_EQ(*queue_->read(taken), "original");
  ASSERT_EQ(answers[twice].size(), 2u);
  EXPECT_TRUE(answers[twice][0]);  // the first of the two, alone, is fine
  EXPECT_FALSE(answers[twice][1]);
  EXPECT_EQ(*queue_->read(twice), "twice 1");
  EXPECT_EQ(stats.batches, 2u);  // the first message, then the eight together
  EXPECT_EQ(stats.messages, 9u);
  EXPECT_EQ(stats.failures, 2u);
  EXPECT_EQ(count("SELECT count(*) FROM queue_message"), 1 + 1 + 5 + 1);
}

TEST_P(QueueTest, TheDestructorCommitsWhatWasSubmitted) {
  auto own = open();
  ASSERT_TRUE(own);
  std::atomic<int> ok{0};
  std::vector<std::string> ids;
  {
    GroupCommitter gc(std::move(*own), {.max_batch = 3});
    for (int i = 0; i < 20; ++i) {
      ids.push_back(make_queue_id());
      gc.submit({.id = ids.back(), .envelope = simple_envelope("a@b.example", {"c@d.example"})},
                std::string(10, 'a' + i), [&](base::Status st) { ok += st ? 1 : 0; });
    }
  }
  EXPECT_EQ(ok.load(), 20);
  for (size_t i = 0; i < ids.size(); ++i) {
    EXPECT_EQ(*queue_->read(ids[i]), std::string(10, static_cast<char>('a' + i)));
  }
}

TEST_P(QueueTest, AVersionTwoStoreMigratesToTheCurrentVersion) {
  // A store as version 2 left it, with an account, then opened by this binary.
  std::string url = url_;
  queue_.reset();
  store_.reset();
  ASSERT_TRUE(db_->recreate("v2"));
  url_ = db_->url();
  {
    auto db = open_db(url_);
    ASSERT_TRUE(db) << db.error().message();
    for (const Migration& m : migrations()) {
      if (m.version > 2) break;
      auto st = (*db)->exec_script((*db)->engine() == Engine::kSqlite ? m.sqlite : m.postgres);
      ASSERT_TRUE(st) << st.error().message();
    }
    ASSERT_TRUE(
        (*db)->exec_script("INSERT INTO schema_version (version) VALUES (2);"
                           "INSERT INTO domain (id, name) VALUES (1, 'example.org');"
                           "INSERT INTO account (id, domain_id, address, created_at) "
                           "  VALUES (1, 1, 'ann@example.org', 0);"));
    ASSERT_TRUE(reset_sequences(**db));
    auto v = stored_schema_version(**db);
    ASSERT_TRUE(v);
    EXPECT_EQ(*v, 2);
  }
  auto s = open();
  ASSERT_TRUE(s) << s.error().message();
  store_ = std::move(*s);
  queue_ = std::make_unique<Queue>(*store_);
  EXPECT_EQ(*stored_schema_version(store_->db()), schema_version());
  EXPECT_GE(schema_version(), 4);
  auto ann = store_->find_account("ann@example.org");
  ASSERT_TRUE(ann && *ann);
  const std::string id = make_queue_id();
  ASSERT_TRUE(enqueue_one(id, full_envelope(), binaryish("after migration")));
  EXPECT_EQ(*queue_->read(id), binaryish("after migration"));
  // The lease columns queue-run will use exist, empty.
  EXPECT_EQ(count("SELECT count(*) FROM queue_message WHERE lease_owner IS NULL AND "
                  "lease_until IS NULL"),
            1);
}

// ---- leases and attempts (queue-run) ----

TEST_P(QueueTest, ClaimLeasesDueMessagesOnceUntilTheLeaseExpires) {
  const int64_t now = 2000000000;
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    ids.push_back(make_queue_id());
    ASSERT_TRUE(enqueue_one(ids.back(), simple_envelope("a@b.example", {"c@d.example", "e@f.example"}),
                            "m" + std::to_string(i)));
  }
  ASSERT_TRUE(queue_->hold(ids[2]));
  auto first = queue_->claim("w1", now, now + 60, 10);
  ASSERT_TRUE(first) << first.error().message();
  ASSERT_EQ(first->size(), 2u);  // the held one is not due
  EXPECT_EQ((*first)[0].envelope.recipients.size(), 2u);
  EXPECT_EQ((*first)[0].envelope.recipients[1].address, "e@f.example");
  // Leased: a second worker gets nothing until the lease has expired.
  auto second = queue_->claim("w2", now + 30, now + 90, 10);
  ASSERT_TRUE(second);
  EXPECT_TRUE(second->empty());
  auto later = queue_->claim("w2", now + 61, now + 121, 1);
  ASSERT_TRUE(later);
  ASSERT_EQ(later->size(), 1u);
  // w1's lease on that message is gone: renewing or finishing it fails, writing nothing.
  const std::string taken = (*later)[0].id;
  auto r = queue_->renew(taken, "w1", now + 200);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("lease lost"), std::string::npos);
  Queue::Attempt a;
  a.outcomes.push_back({.index = 0, .status = RecipientStatus::kDelivered, .reply = "250 ok"});
  auto f = queue_->finish(taken, "w1", now + 62, a);
  ASSERT_FALSE(f);
  EXPECT_EQ(f.error().code(), ExitCode::kTempFail);
  EXPECT_EQ(count("SELECT count(*) FROM queue_recipient WHERE status = 'delivered'"), 0);
  EXPECT_TRUE(queue_->renew(taken, "w2", now + 300));
}

TEST_P(QueueTest, FinishRecordsOutcomesAndRemovesWhatIsSettled) {
  const int64_t now = 2000000000;
  const std::string id = make_queue_id();
  ASSERT_TRUE(enqueue_one(id, simple_envelope("a@b.example", {"c@d.example", "e@f.example"}), "body"));
  auto got = queue_->claim("w", now, now + 60, 5);
  ASSERT_TRUE(got);
  ASSERT_EQ(got->size(), 1u);
  // One delivered, one deferred, and a DSN enqueued in the same transaction.
  Queue::Attempt a;
  a.outcomes.push_back({.index = 0, .status = RecipientStatus::kDelivered,
                        .reply = "250 2.0.0 ok", .remote_mta = "mx.d.example"});
  a.outcomes.push_back({.index = 1, .status = RecipientStatus::kPending,
                        .reply = "451 4.7.1 try later", .remote_mta = "mx.f.example"});
  a.next_attempt = now + 300;
  a.delay_warned = true;
  const std::string dsn_id = make_queue_id();
  const std::string dsn_bytes = "From: MAILER-DAEMON\r\n\r\ndelayed\r\n";
  a.enqueue.push_back({.id = dsn_id, .envelope = simple_envelope("", {"a@b.example"}), .data = dsn_bytes});
  ASSERT_TRUE(queue_->finish(id, "w", now + 1, a));
  auto m = queue_->get(id);
  ASSERT_TRUE(m && *m);
  EXPECT_EQ((*m)->attempts, 1);
  EXPECT_EQ((*m)->next_attempt, now + 300);
  EXPECT_EQ((*m)->last_attempt, now + 1);
  EXPECT_TRUE((*m)->delay_warned);
  EXPECT_EQ((*m)->envelope.recipients[0].status, RecipientStatus::kDelivered);
  EXPECT_EQ((*m)->envelope.recipients[0].remote_mta, "mx.d.example");
  EXPECT_EQ((*m)->envelope.recipients[1].last_reply, "451 4.7.1 try later");
  EXPECT_EQ(*queue_->read(dsn_id), dsn_bytes);
  // Not due before next_attempt; then the last recipient fails and the message goes.
  auto early = queue_->claim("w", now + 299, now + 400, 5);
  ASSERT_TRUE(early);
  for (const auto& e : *early) EXPECT_NE(e.id, id);
  auto due = queue_->claim("w", now + 300, now + 400, 5);
  ASSERT_TRUE(due);
  auto it = std::find_if(due->begin(), due->end(), [&](const Message& x) { return x.id == id; });
  ASSERT_NE(it, due->end());
  Queue::Attempt b;
  b.outcomes.push_back({.index = 1, .status = RecipientStatus::kFailed, .reply = "550 5.1.1 no such user"});
  ASSERT_TRUE(queue_->finish(id, "w", now + 301, b));
  auto gone = queue_->get(id);
  ASSERT_TRUE(gone);
  EXPECT_FALSE(*gone);
  EXPECT_EQ(count("SELECT count(*) FROM queue_data WHERE queue_id = '" + id + "'"), 0);
  EXPECT_EQ(count("SELECT count(*) FROM queue_recipient WHERE queue_id = '" + id + "'"), 0);
}

TEST_P(QueueTest, FinishManyCommitsTogetherAndALostLeaseSpoilsOnlyItsOwn) {
  const int64_t now = 2000000000;
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    ids.push_back(make_queue_id());
    ASSERT_TRUE(enqueue_one(ids.back(), simple_envelope("a@b.example", {"c@d.example"}), "m"));
  }
  auto got = queue_->claim("w", now, now + 60, 10);
  ASSERT_TRUE(got);
  ASSERT_EQ(got->size(), 3u);
  // The second message's lease is taken over meanwhile.
  ASSERT_TRUE(store_->db().exec("UPDATE queue_message SET lease_owner = 'other' WHERE id = ?",
                                {Value(ids[1])}));
  Queue::Attempt done;
  done.outcomes.push_back({.index = 0, .status = RecipientStatus::kDelivered, .reply = "250 ok"});
  Queue::Attempt later;
  later.outcomes.push_back({.index = 0, .status = RecipientStatus::kPending, .reply = "451 later"});
  later.next_attempt = now + 600;
  std::vector<Queue::Finish> items = {{ids[0], "w", now + 1, &done},
                                      {ids[1], "w", now + 1, &done},
                                      {ids[2], "w", now + 1, &later}};
  auto out = queue_->finish_many(items);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_TRUE(out[0]);
  ASSERT_FALSE(out[1]);
  EXPECT_NE(out[1].error().message().find("lease lost"), std::string::npos);
  EXPECT_TRUE(out[2]);
  EXPECT_FALSE(*queue_->get(ids[0]));  // delivered: gone
  auto second = queue_->get(ids[1]);   // untouched
  ASSERT_TRUE(second && *second);
  EXPECT_EQ((*second)->attempts, 0);
  EXPECT_EQ((*second)->envelope.recipients[0].status, RecipientStatus::kPending);
  auto third = queue_->get(ids[2]);
  ASSERT_TRUE(third && *third);
  EXPECT_EQ((*third)->attempts, 1);
  EXPECT_EQ((*third)->next_attempt, now + 600);
  EXPECT_EQ((*third)->envelope.recipients[0].last_reply, "451 later");
}

TEST_P(QueueTest, RetryFlushBounceAndUnlease) {
  const int64_t now = 2000000000;
  const std::string a = make_queue_id(), b = make_queue_id();
  ASSERT_TRUE(enqueue_one(a, simple_envelope("x@y.example", {"c@d.example"}), "a"));
  ASSERT_TRUE(enqueue_one(b, simple_envelope("x@y.example", {"c@d.example"}), "b"));
  ASSERT_TRUE(store_->db().exec("UPDATE queue_message SET next_attempt = ?", {Value(now + 100000)}));
  auto none = queue_->claim("w", now, now + 60, 5);
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
  ASSERT_TRUE(queue_->retry(a));  // due at the real now, which is before `now + 100000`
  EXPECT_FALSE(queue_->retry("0000000000000000"));
  auto flushed = queue_->flush();
  ASSERT_TRUE(flushed);
  EXPECT_EQ(*flushed, 1u);  // b; a was due already
  ASSERT_TRUE(queue_->bounce(b));
  auto m = queue_->get(b);
  ASSERT_TRUE(m && *m);
  EXPECT_TRUE((*m)->bounce);
  auto got = queue_->claim("w", now + 200000, now + 200060, 5);
  ASSERT_TRUE(got);
  ASSERT_EQ(got->size(), 2u);
  ASSERT_TRUE(queue_->unlease(a, "w"));
  EXPECT_FALSE(queue_->unlease(a, "w"));
  auto again = queue_->claim("v", now + 200001, now + 200061, 5);
  ASSERT_TRUE(again);
  ASSERT_EQ(again->size(), 1u);
  EXPECT_EQ((*again)[0].id, a);
}

// Several workers claiming at once (threads with their own connections, as several
// queue-run processes would be): every message is taken by exactly one of them.
TEST_P(QueueTest, ConcurrentClaimersNeverShareAMessage) {
  constexpr int kMessages = 200, kWorkers = 4;
  for (int i = 0; i < kMessages; ++i) {
    ASSERT_TRUE(enqueue_one(make_queue_id(), simple_envelope("a@b.example", {"c@d.example"}), "x"));
  }
  const int64_t now = 4000000000;
  std::mutex mu;
  std::map<std::string, int> taken;
  std::vector<std::thread> threads;
  std::atomic<int> errors{0};
  for (int w = 0; w < kWorkers; ++w) {
    threads.emplace_back([&, w] {
      auto s = open();
      if (!s) {
        ++errors;
        return;
      }
      Queue q(**s);
      for (;;) {
        auto got = q.claim("w" + std::to_string(w), now, now + 600, 7);
        if (!got) {
          ++errors;
          ADD_FAILURE() << got.error().message();
          return;
        }
        if (got->empty()) return;
        std::lock_guard<std::mutex> lock(mu);
        for (const Message& m : *got) ++taken[m.id];
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(taken.size(), static_cast<size_t>(kMessages));
  for (const auto& [id, n] : taken) EXPECT_EQ(n, 1) << id;
}

TEST_P(QueueTest, StoreMigrateCopiesTheQueue) {
  const std::string a = make_queue_id(), b = make_queue_id();
  ASSERT_TRUE(enqueue_one(a, full_envelope(), binaryish("copy a"), 1700000000));
  ASSERT_TRUE(enqueue_one(b, simple_envelope("", {"x@y.example"}), binaryish("copy b")));
  ASSERT_TRUE(queue_->hold(b));
  StoreOptions o;
  o.url = "sqlite:" + dir_.path() + "/copy.db";
  o.blob_dir = dir_.path() + "/copy-blobs";
  auto target = Store::open(o);
  ASSERT_TRUE(target) << target.error().message();
  auto report = migrate_store(*store_, **target, {});
  ASSERT_TRUE(report) << report.error().message();
  Queue copy(**target);
  for (const std::string& id : {a, b}) {
    auto x = queue_->get(id), y = copy.get(id);
    ASSERT_TRUE(x && *x && y && *y) << id;
    EXPECT_EQ((*x)->created_at, (*y)->created_at);
    EXPECT_EQ((*x)->state, (*y)->state);
    expect_same((*x)->envelope, (*y)->envelope);
    EXPECT_EQ(*queue_->read(id), *copy.read(id));
  }
}

INSTANTIATE_TEST_SUITE_P(Engines, QueueTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

// ---- power cuts during enqueue (SQLite, fault VFS) ----

std::string shm_dir() {
  std::filesystem::path base = std::filesystem::temp_directory_path();
  if (access("/dev/shm", W_OK | X_OK) == 0) base = "/dev/shm";
  std::string tmpl = (base / "queue-crash.XXXXXX").string();
  return mkdtemp(tmpl.data());
}

struct Attempt {
  std::vector<NewMessage> messages;  // enqueued together
  std::vector<std::string> bytes;
  bool ok = false;
};

TEST(QueueCrash, APowerCutLeavesEachMessageAbsentOrComplete) {
  auto& vfs = SqliteFaultVfs::install();
  const std::string dir = shm_dir();
  const char* env = getenv("QUEUE_CRASH_SEEDS");
  unsigned seeds = env ? static_cast<unsigned>(std::strtoul(env, nullptr, 10)) : 60;
  int ok = 0, failed = 0, failed_present = 0, crashes = 0;
  for (unsigned seed = 1; seed <= seeds && !testing::Test::HasFailure(); ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    vfs.reset();
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    std::mt19937 rng(seed);
    StoreOptions o;
    o.url = "sqlite:" + dir + "/store.db";
    o.blob_dir = dir + "/blobs";
    o.db.vfs = vfs.name();
    auto s = Store::open(o);
    ASSERT_TRUE(s) << s.error().message();
    Queue q(**s);
    const int n = 4 + static_cast<int>(rng() % 12);
    const int fault_at = static_cast<int>(rng() % (n + 1));  // n: no fault
    const int crash_at = std::min(n, fault_at + static_cast<int>(rng() % 3));
    const bool crash = rng() % 5 != 0;
    std::vector<Attempt> attempts;
    for (int i = 0; i < n; ++i) {
      if (i == fault_at) vfs.fail_sync(1, "-wal");
      if (crash && i == crash_at) break;
      Attempt a;
      int k = 1 + static_cast<int>(rng() % 3);
      a.bytes.reserve(k);  // the views below point into these strings
      for (int j = 0; j < k; ++j) {
        std::string tag = std::to_string(seed) + "." + std::to_string(i) + "." + std::to_string(j);
        a.bytes.push_back(binaryish(tag) + std::string(rng() % 5000, 'z'));
        Envelope e = full_envelope();
        e.recipients.resize(1 + rng() % 4);
        a.messages.push_back({.id = make_queue_id(), .envelope = e, .data = a.bytes.back()});
      }
      a.ok = static_cast<bool>(q.enqueue(a.messages));
      attempts.push_back(std::move(a));
    }
    if (crash) {
      vfs.crash();
      ++crashes;
    }
    s->reset();
    vfs.reset();
    o.create = false;
    auto r = Store::open(o);
    ASSERT_TRUE(r) << r.error().message();
    Queue after(**r);
    std::set<std::string> attempted;
    for (const Attempt& a : attempts) {
      (a.ok ? ok : failed)++;
      bool any_present = false;
      for (size_t j = 0; j < a.messages.size(); ++j) {
        const NewMessage& m = a.messages[j];
        attempted.insert(m.id);
        SCOPED_TRACE(m.id + (a.ok ? " (ok)" : " (failed)"));
        auto got = after.get(m.id);
        ASSERT_TRUE(got) << got.error().message();
        if (!*got) {
          EXPECT_FALSE(a.ok) << "an acknowledged message is gone";
          EXPECT_FALSE(any_present) << "half of one enqueue() call is there";
          continue;
        }
        if (j > 0) {
          EXPECT_TRUE(any_present) << "half of one enqueue() call is there";
        }
        any_present = true;
        expect_same((*got)->envelope, m.envelope);
        EXPECT_EQ((*got)->size, a.bytes[j].size());
        auto bytes = after.read(m.id);
        ASSERT_TRUE(bytes) << "a message without its bytes: " << bytes.error().message();
        EXPECT_EQ(*bytes, a.bytes[j]);
      }
      if (!a.ok && any_present) ++failed_present;
    }
    // Nothing else, and no rows without their message.
    auto all = after.list();
    ASSERT_TRUE(all);
    for (const Message& m : *all) EXPECT_TRUE(attempted.count(m.id)) << "unknown " << m.id;
    auto orphans = (*r)->db().query(
        "SELECT (SELECT count(*) FROM queue_recipient WHERE queue_id NOT IN "
        "(SELECT id FROM queue_message)) + (SELECT count(*) FROM queue_data WHERE queue_id "
        "NOT IN (SELECT id FROM queue_message))");
    ASSERT_TRUE(orphans);
    EXPECT_EQ((*orphans)[0].i64(0), 0);
    // And the queue works on.
    std::string more = "after the cut";
    NewMessage m{.id = make_queue_id(),
                 .envelope = simple_envelope("a@b.example", {"c@d.example"}),
                 .data = more};
    ASSERT_TRUE(after.enqueue(std::span<const NewMessage>(&m, 1)));
  }
  vfs.reset();
  std::filesystem::remove_all(dir);
  std::cout << "[ tally    ] " << ok << " enqueues ok, " << failed << " failed (" << failed_present
            << " of them present after recovery), " << crashes << " power cuts\n";
  if (seeds >= 30) {
    EXPECT_GT(failed, 5) << "the faults hardly ever hit an enqueue";
    EXPECT_GT(crashes, 15);
    EXPECT_GT(ok, 50);
  }
}

}  // namespace
}  // namespace postern::store::queue
