// Unit tests for lib/store's Store: schema and migrations, domains, accounts, aliases and
// resolution, mailboxes, delivery (UIDs, threads, quota), keywords, the change log,
// search, blob references and the sweep, and concurrent delivery.
//
// Every test runs on both engines: SQLite (a temp file, blobs in a temp directory) and
// PostgreSQL (a fresh database per test on the server POSTERN_PG_URL names — start one
// with tests/pg-cluster — blobs inside the database); without POSTERN_PG_URL the
// PostgreSQL half is skipped.
#include "store/store.h"
#include "scratch_db.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <random>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "base/fd.h"
#include "store/db.h"
#include "store/password.h"
#include "store/schema.h"

namespace postern::store {
namespace {

using base::ExitCode;

std::string message(const std::string& subject, const std::string& body,
                    const std::string& extra = "", const std::string& message_id = "") {
  std::string m =
      "From: Ann Example <ann@example.org>\r\n"
      "To: Bob <bob@example.org>\r\n"
      "Subject: " +
      subject +
      "\r\n"
      "Date: Tue, 1 Jul 2025 10:00:00 +0000\r\n";
  if (!message_id.empty()) m += "Message-ID: <" + message_id + ">\r\n";
  m += extra;
  m += "\r\n" + body + "\r\n";
  return m;
}

class StoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    db_ = std::make_unique<ScratchDb>(GetParam(), dir_.path(), "store");
    if (db_->skipped()) {
      GTEST_SKIP() << db_->why();
    }
    ASSERT_TRUE(db_->ok()) << db_->why();
    url_ = db_->url();
    if (db_->sqlite()) blob_dir_ = dir_.path() + "/blobs";
    auto s = open();
    ASSERT_TRUE(s) << s.error().message();
    store_ = std::move(*s);
  }

  void TearDown() override {
    store_.reset();
    db_.reset();
  }

  StoreOptions options() const {
    StoreOptions o;
    o.url = url_;
    o.blob_dir = blob_dir_;
    return o;
  }
  base::Result<std::unique_ptr<Store>> open() const { return Store::open(options()); }
  // Closes the store and points url_ at an empty database: a new SQLite file `name`, or
  // this test's PostgreSQL database dropped and created again.
  void start_empty(const std::string& name) {
    store_.reset();
    ASSERT_TRUE(db_->recreate(name));
    url_ = db_->url();
  }

  Account make_account(const std::string& address, uint64_t quota = 0) {
    std::string domain = address.substr(address.find('@') + 1);
    if (!*store_->is_local_domain(domain)) {
      EXPECT_TRUE(store_->add_domain(domain));
    }
    auto a = store_->add_account(address, "", quota);
    EXPECT_TRUE(a) << a.error().message();
    return a ? *a : Account{};
  }
  Id inbox(Id account) {
    auto m = store_->mailbox_by_role(account, Role::kInbox);
    EXPECT_TRUE(m && *m);
    return (m && *m) ? (*m)->id : 0;
  }
  Delivered deliver(Id account, Id mailbox, const std::string& msg,
                    std::vector<std::string> keywords = {}) {
    auto d = store_->deliver({.account_id = account,
                              .mailbox_id = mailbox,
                              .message = msg,
                              .keywords = std::move(keywords)});
    EXPECT_TRUE(d) << d.error().message();
    return d ? *d : Delivered{};
  }
  Mailbox mailbox(Id account, Id id) {
    auto all = store_->mailboxes(account);
    EXPECT_TRUE(all);
    for (auto& m : *all) {
      if (m.id == id) return m;
    }
    ADD_FAILURE() << "no mailbox " << id;
    return {};
  }
  std::vector<Id> find(Id account, std::vector<TextCondition> conds,
                       std::optional<Id> mb = std::nullopt) {
    auto r = store_->search(account, mb, conds);
    EXPECT_TRUE(r) << r.error().message();
    return r ? *r : std::vector<Id>{};
  }

  base::TempDir dir_{"store-test"};
  std::unique_ptr<ScratchDb> db_;
  std::string url_, blob_dir_;
  std::unique_ptr<Store> store_;
};

// ---- schema ----

TEST_P(StoreTest, MigratesToCurrentVersionAndReopens) {
  auto v = stored_schema_version(store_->db());
  ASSERT_TRUE(v);
  EXPECT_EQ(*v, schema_version());
  EXPECT_GE(schema_version(), 1);
  store_.reset();
  auto again = open();
  ASSERT_TRUE(again) << again.error().message();
  // Every listed table exists with every listed column.
  for (const Table& t : tables()) {
    std::string cols;
    for (auto c : t.columns) cols += (cols.empty() ? "" : ", ") + std::string(c);
    auto r = (*again)->db().query("SELECT " + cols + " FROM " + std::string(t.name) + " LIMIT 1");
    EXPECT_TRUE(r) << t.name << ": " << r.error().message();
  }
  EXPECT_TRUE(reset_sequences((*again)->db()));
}

TEST_P(StoreTest, AVersionOneStoreWithMailMigratesAndKeepsIt) {
  // A store as version 1 left it: rows in every table version 2 rebuilds (SQLite).
  ASSERT_NO_FATAL_FAILURE(start_empty("v1"));
  {
    auto db = open_db(url_);
    ASSERT_TRUE(db) << db.error().message();
    const Migration& v1 = migrations()[0];
    ASSERT_EQ(v1.version, 1);
    auto st = (*db)->exec_script((*db)->engine() == Engine::kSqlite ? v1.sqlite : v1.postgres);
    ASSERT_TRUE(st) << st.error().message();
    ASSERT_TRUE((*db)->exec_script(
        "INSERT INTO schema_version (version) VALUES (1);"
        "INSERT INTO domain (id, name) VALUES (1, 'example.org');"
        "INSERT INTO account (id, domain_id, address, created_at, modseq, used_bytes) "
        "  VALUES (1, 1, 'ann@example.org', 0, 7, 3);"
        "INSERT INTO mailbox (id, account_id, name, path, role, uid_validity, uid_next) "
        "  VALUES (1, 1, 'Inbox', 'Inbox', 'inbox', 42, 3);"
        "INSERT INTO email (id, account_id, blob_id, size, received_at, thread_id, modseq, "
        "  message_id) VALUES (1, 1, 'aa', 3, 0, 1, 5, 'm1@example.net');"
        "INSERT INTO member (email_id, mailbox_id, uid, modseq) VALUES (1, 1, 2, 5);"
        "INSERT INTO vanished (mailbox_id, uid, modseq) VALUES (1, 1, 6);"
        "INSERT INTO email_ref (email_id, account_id, ref) VALUES (1, 1, 'm0@example.net');"
        "INSERT INTO change_log (account_id, type, object_id, created_modseq, modseq, "
        "  destroyed) VALUES (1, 1, 1, 5, 7, 0);"
        "INSERT INTO blob (id, size, refs) VALUES ('aa', 3, 1);"
        "INSERT INTO blob_data (id, data, created_at) VALUES ('aa', 'abc', 0);"));
    ASSERT_TRUE(reset_sequences(**db));  // explicit ids, as store-migrate writes them
  }
  auto s = open();
  ASSERT_TRUE(s) << s.error().message();
  Db& db = (*s)->db();
  EXPECT_EQ(*stored_schema_version(db), schema_version());
  auto one = [&](const std::string& sql) {
    auto r = db.query(sql);
    EXPECT_TRUE(r) << sql << ": " << (r ? "" : r.error().message());
    return r && !r->empty() ? (*r)[0].str(0) : std::string("(none)");
  };
  EXPECT_EQ(one("SELECT uid || '/' || modseq FROM member WHERE email_id = 1"), "2/5");
  EXPECT_EQ(one("SELECT uid || '/' || modseq FROM vanished WHERE mailbox_id = 1"), "1/6");
  EXPECT_EQ(one("SELECT ref FROM email_ref WHERE email_id = 1"), "m0@example.net");
  EXPECT_EQ(one("SELECT created_modseq || '/' || modseq FROM change_log WHERE object_id = 1"),
            "5/7");
  EXPECT_EQ(one("SELECT size || '/' || refs FROM blob WHERE id = 'aa'"), "3/1");
  EXPECT_EQ(one("SELECT count(*) FROM blob_data"), "1");
  EXPECT_EQ(one("SELECT count(*) FROM email_pending"), "0");
  // And the store works on top: the next UID, the change log, the queue.
  auto d = (*s)->deliver({.account_id = 1, .mailbox_id = 1, .message = message("after", "x")});
  ASSERT_TRUE(d) << d.error().message();
  EXPECT_EQ(d->uid, 3u);
  EXPECT_EQ(*(*s)->pending_count(), 1u);
  auto changes = (*s)->changes_since(1, 5);
  ASSERT_TRUE(changes) << changes.error().message();
  EXPECT_FALSE(changes->empty());
}

TEST_P(StoreTest, RefusesNewerSchemaWithoutTouchingIt) {
  ASSERT_TRUE(store_->db().exec("UPDATE schema_version SET version = version + 5"));
  store_.reset();
  auto s = open();
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), ExitCode::kConfig);
  EXPECT_NE(s.error().message().find("schema version " + std::to_string(schema_version() + 5)),
            std::string::npos)
      << s.error().message();
  EXPECT_NE(s.error().message().find("upgrade Postern"), std::string::npos);
  auto db = open_db(url_);
  ASSERT_TRUE(db);
  auto v = stored_schema_version(**db);
  ASSERT_TRUE(v);
  EXPECT_EQ(*v, schema_version() + 5);
}

TEST_P(StoreTest, ConcurrentOpenersMigrateOnce) {
  // A second, fresh store migrated by several openers at once.
  ASSERT_NO_FATAL_FAILURE(start_empty("second"));
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      auto s = open();
      if (s)
        ++ok;
      else
        ADD_FAILURE() << s.error().message();
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 4);
  auto s = open();
  ASSERT_TRUE(s);
  auto rows = (*s)->db().query("SELECT count(*) FROM schema_version");
  ASSERT_TRUE(rows);
  EXPECT_EQ((*rows)[0].i64(0), 1);
}

TEST_P(StoreTest, TablesCopyWithExplicitIdsIntoAFreshStore) {
  // What store-migrate does: every table of tables(), in order, rows with their ids.
  Account ann = make_account("ann@example.org");
  ASSERT_TRUE(store_->add_alias("info@example.org", "ann@example.org"));
  ASSERT_TRUE(store_->create_mailbox(ann.id, "Lists/Debian"));
  auto d1 = deliver(ann.id, inbox(ann.id), message("Copied subject", "asdfghjkl words here"));
  auto d2 = deliver(ann.id, inbox(ann.id), message("Re: Copied", "x", "", "m2@x"));

  std::string target_url = db_->another("copy");
  ASSERT_FALSE(target_url.empty()) << db_->why();
  {
    StoreOptions o = options();
    o.url = target_url;
    auto target = Store::open(o);
    ASSERT_TRUE(target) << target.error().message();
    Db& from = store_->db();
    Db& to = (*target)->db();
    ASSERT_TRUE(to.begin(Access::kWrite));
    for (const Table& t : tables()) {
      std::string cols, marks, order;
      for (auto c : t.columns) {
        cols += (cols.empty() ? "" : ", ") + std::string(c);
        marks += marks.empty() ? "?" : ", ?";
      }
      for (auto k : t.key) order += (order.empty() ? "" : ", ") + std::string(k);
      auto rows =
          from.query("SELECT " + cols + " FROM " + std::string(t.name) + " ORDER BY " + order);
      ASSERT_TRUE(rows) << t.name << ": " << rows.error().message();
      for (const Row& r : *rows) {
        Params p;
        for (size_t i = 0; i < t.columns.size(); ++i) {
          if (r.is_null(i)) {
            p.push_back(Value());
          } else if (t.columns[i] == "data") {
            p.push_back(Value(Bytes{r.str(i)}));
          } else {
            p.push_back(Value(r.str(i)));
          }
        }
        auto ins = to.exec(
            "INSERT INTO " + std::string(t.name) + " (" + cols + ") VALUES (" + marks + ")", p);
        ASSERT_TRUE(ins) << t.name << ": " << ins.error().message();
      }
    }
    ASSERT_TRUE(reset_sequences(to));
    ASSERT_TRUE(to.commit());

    Store& copy = **target;
    auto a = copy.find_account("ann@example.org");
    ASSERT_TRUE(a && *a);
    EXPECT_EQ((*a)->id, ann.id);
    EXPECT_EQ((*a)->modseq, (*store_->account(ann.id))->modseq);
    EXPECT_TRUE(*copy.find_mailbox(ann.id, "Lists/Debian"));
    EXPECT_EQ(copy.resolve("info@example.org")->accounts, std::vector<Id>{ann.id});
    // The search indexes follow the copied rows.
    auto hits = copy.search(ann.id, std::nullopt,
                            {{TextField::kBody, "", "sdfghjk", TextMatch::kSubstring}});
    ASSERT_TRUE(hits) << hits.error().message();
    EXPECT_EQ(*hits, std::vector<Id>{d1.email_id});
    hits = copy.search(ann.id, std::nullopt, {{TextField::kBody, "", "WORDS", TextMatch::kWords}});
    ASSERT_TRUE(hits);
    EXPECT_EQ(*hits, std::vector<Id>{d1.email_id});
    EXPECT_EQ(*copy.read_message(ann.id, d2.email_id), message("Re: Copied", "x", "", "m2@x"));
    // New rows get ids past the copied ones; UIDs continue.
    auto d3 = copy.deliver(
        {.account_id = ann.id, .mailbox_id = inbox(ann.id), .message = message("after copy", "x")});
    ASSERT_TRUE(d3) << d3.error().message();
    EXPECT_GT(d3->email_id, d2.email_id);
    EXPECT_EQ(d3->uid, d2.uid + 1);
    auto box = copy.create_mailbox(ann.id, "New");
    ASSERT_TRUE(box) << box.error().message();
    ASSERT_TRUE(copy.add_domain("example.net"));
  }
}

// ---- domains, accounts, app passwords ----

TEST_P(StoreTest, DomainsAndAccounts) {
  ASSERT_TRUE(store_->add_domain("Example.ORG"));
  auto dup = store_->add_domain("example.org");
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().code(), ExitCode::kDataErr);
  EXPECT_FALSE(store_->add_domain("bad domain"));
  EXPECT_TRUE(*store_->is_local_domain("EXAMPLE.org"));
  EXPECT_FALSE(*store_->is_local_domain("example.net"));

  auto nodomain = store_->add_account("x@example.net");
  ASSERT_FALSE(nodomain);
  EXPECT_EQ(nodomain.error().code(), ExitCode::kDataErr);

  auto ann = store_->add_account("Ann@Example.org", "Ann", 1000);
  ASSERT_TRUE(ann) << ann.error().message();
  EXPECT_EQ(ann->address, "ann@example.org");
  EXPECT_EQ(ann->quota_bytes, 1000u);
  EXPECT_TRUE(ann->enabled);
  EXPECT_GT(ann->created_at, 0);
  auto again = store_->add_account("ann@example.org");
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), ExitCode::kDataErr);

  auto boxes = store_->mailboxes(ann->id);
  ASSERT_TRUE(boxes);
  std::vector<std::string> paths;
  for (auto& m : *boxes) paths.push_back(m.path);
  EXPECT_EQ(paths,
            (std::vector<std::string>{"Archive", "Drafts", "Inbox", "Junk", "Sent", "Trash"}));
  for (Role r :
       {Role::kInbox, Role::kSent, Role::kDrafts, Role::kJunk, Role::kTrash, Role::kArchive}) {
    auto m = store_->mailbox_by_role(ann->id, r);
    ASSERT_TRUE(m && *m) << role_name(r);
    EXPECT_TRUE((*m)->subscribed);
    EXPECT_NE((*m)->uid_validity, 0u);
    EXPECT_EQ((*m)->uid_next, 1u);
  }

  auto found = store_->find_account("ANN@example.ORG");
  ASSERT_TRUE(found && *found);
  EXPECT_EQ((*found)->id, ann->id);
  EXPECT_FALSE(*store_->find_account("nobody@example.org"));

  ASSERT_TRUE(store_->set_quota(ann->id, 5000));
  ASSERT_TRUE(store_->set_enabled(ann->id, false));
  ASSERT_TRUE(store_->set_name(ann->id, "Ann E."));
  auto a = store_->account(ann->id);
  ASSERT_TRUE(a && *a);
  EXPECT_EQ((*a)->quota_bytes, 5000u);
  EXPECT_FALSE((*a)->enabled);
  EXPECT_EQ((*a)->name, "Ann E.");
  auto missing = store_->set_quota(99999, 1);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), ExitCode::kNoUser);

  ASSERT_TRUE(store_->add_account("bob@example.org"));
  ASSERT_TRUE(store_->add_domain("example.com"));
  ASSERT_TRUE(store_->add_account("cy@example.com"));
  auto all = store_->accounts();
  ASSERT_TRUE(all);
  EXPECT_EQ(all->size(), 3u);
  auto org = store_->accounts("example.org");
  ASSERT_TRUE(org);
  ASSERT_EQ(org->size(), 2u);
  EXPECT_EQ((*org)[0].address, "ann@example.org");
  EXPECT_EQ((*org)[1].address, "bob@example.org");
  auto doms = store_->domains();
  ASSERT_TRUE(doms);
  ASSERT_EQ(doms->size(), 2u);
  EXPECT_EQ((*doms)[0].name, "example.com");
}

TEST_P(StoreTest, CredentialsAndAppPasswords) {
  Account ann = make_account("ann@example.org");
  auto c = make_credentials("correct horse");
  ASSERT_TRUE(c) << c.error().message();
  ASSERT_TRUE(store_->set_credentials(ann.id, *c));
  auto a = store_->account(ann.id);
  ASSERT_TRUE(a && *a);
  EXPECT_EQ((*a)->password_hash, c->hash);
  EXPECT_TRUE(verify_password("correct horse", (*a)->password_hash));
  ASSERT_TRUE((*a)->scram.has_value());
  EXPECT_EQ((*a)->scram->serialize(), c->scram->serialize());

  auto imported = import_hash(
      "$6$saltsalt$3QxOqCCLkBS9ynv.bqLSzLDpN6wkPkr2DoH9ewhRzjVjIzcHNTqByV"
      "Yy8ZP0AwgykHBtlyM9yllzhiEcZP0d/.");
  if (imported) {
    ASSERT_TRUE(store_->set_credentials(ann.id, *imported));
    auto b = store_->account(ann.id);
    EXPECT_FALSE((*b)->scram.has_value());
  }

  auto p = store_->add_app_password(ann.id, "phone", *c);
  ASSERT_TRUE(p) << p.error().message();
  EXPECT_EQ(p->name, "phone");
  auto dup = store_->add_app_password(ann.id, "phone", *c);
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().code(), ExitCode::kDataErr);
  ASSERT_TRUE(store_->add_app_password(ann.id, "laptop", *c));
  auto list = store_->app_passwords(ann.id);
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].name, "phone");
  ASSERT_TRUE((*list)[0].scram.has_value());
  EXPECT_EQ((*list)[0].scram->stored_key, c->scram->stored_key);
  ASSERT_TRUE(store_->remove_app_password(ann.id, "phone"));
  EXPECT_FALSE(store_->remove_app_password(ann.id, "phone"));
  EXPECT_EQ(store_->app_passwords(ann.id)->size(), 1u);
}

// ---- aliases and resolution ----

TEST_P(StoreTest, ResolveAccountsAliasesCatchAll) {
  Account ann = make_account("ann@example.org");
  Account bob = make_account("bob@example.org");
  Account cy = make_account("cy@example.org");
  ASSERT_TRUE(store_->add_alias("Sales@example.org", "ann@example.org"));
  ASSERT_TRUE(store_->add_alias("sales@example.org", "bob@example.org"));
  ASSERT_TRUE(store_->add_alias("sales@example.org", "partner@outside.test"));
  ASSERT_TRUE(store_->add_alias("team@example.org", "sales@example.org"));
  ASSERT_TRUE(store_->add_alias("team@example.org", "cy@example.org"));
  ASSERT_TRUE(store_->add_alias("@example.org", "cy@example.org"));
  ASSERT_TRUE(store_->add_alias("loop1@example.org", "loop2@example.org"));
  ASSERT_TRUE(store_->add_alias("loop2@example.org", "loop1@example.org"));
  ASSERT_TRUE(store_->add_alias("loop2@example.org", "ann@example.org"));
  EXPECT_FALSE(store_->add_alias("sales@example.org", "ann@example.org"));  // duplicate
  EXPECT_FALSE(store_->add_alias("x@not-local.test", "ann@example.org"));
  EXPECT_FALSE(store_->add_alias("x@example.org", "not an address"));

  auto r = store_->resolve("ANN@example.org");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->accounts, std::vector<Id>{ann.id});
  EXPECT_TRUE(r->forward.empty());
  EXPECT_EQ(r->detail, "");

  r = store_->resolve("ann+lists@example.org");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->accounts, std::vector<Id>{ann.id});
  EXPECT_EQ(r->detail, "lists");

  r = store_->resolve("sales@example.org");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->accounts, (std::vector<Id>{ann.id, bob.id}));
  EXPECT_EQ(r->forward, std::vector<std::string>{"partner@outside.test"});

  r = store_->resolve("team@example.org");  // recursive, deduplicated
  ASSERT_TRUE(r);
  std::set<Id> got(r->accounts.begin(), r->accounts.end());
  EXPECT_EQ(got, (std::set<Id>{ann.id, bob.id, cy.id}));
  EXPECT_EQ(r->accounts.size(), 3u);

  r = store_->resolve("loop1@example.org");  // loops stop
  ASSERT_TRUE(r);
  EXPECT_EQ(r->accounts, std::vector<Id>{ann.id});

  r = store_->resolve("nobody@example.org");  // catch-all only when nothing matched
  ASSERT_TRUE(r);
  EXPECT_EQ(r->accounts, std::vector<Id>{cy.id});

  r = store_->resolve("someone@elsewhere.test");  // not local
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->found());

  ASSERT_TRUE(store_->set_enabled(bob.id, false));
  r = store_->resolve("bob@example.org");  // disabled: nothing, and no catch-all either
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->accounts.empty());
  r = store_->resolve("sales@example.org");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->accounts, std::vector<Id>{ann.id});

  // A chain longer than 10 stops.
  for (int i = 0; i < 12; ++i) {
    ASSERT_TRUE(store_->add_alias("c" + std::to_string(i) + "@example.org",
                                  "c" + std::to_string(i + 1) + "@example.org"));
  }
  ASSERT_TRUE(store_->add_alias("c12@example.org", "ann@example.org"));
  r = store_->resolve("c0@example.org");
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->accounts.empty());
  r = store_->resolve("c5@example.org");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->accounts, std::vector<Id>{ann.id});

  auto list = store_->aliases("example.org");
  ASSERT_TRUE(list);
  EXPECT_EQ(list->front().source, "@example.org");
  ASSERT_TRUE(store_->remove_alias("sales@example.org", "bob@example.org"));
  ASSERT_TRUE(store_->remove_alias("team@example.org"));
  EXPECT_FALSE(store_->remove_alias("team@example.org"));
  r = store_->resolve("team@example.org");  // now only the catch-all
  ASSERT_TRUE(r);
  EXPECT_EQ(r->accounts, std::vector<Id>{cy.id});
}

// ---- mailboxes ----

TEST_P(StoreTest, MailboxHierarchyRenameDelete) {
  Account ann = make_account("ann@example.org");
  auto c = store_->create_mailbox(ann.id, "Work/Projects/Postern");
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->name, "Postern");
  EXPECT_EQ(c->path, "Work/Projects/Postern");
  auto work = store_->find_mailbox(ann.id, "Work");
  ASSERT_TRUE(work && *work);
  auto projects = store_->find_mailbox(ann.id, "Work/Projects");
  ASSERT_TRUE(projects && *projects);
  EXPECT_EQ((*projects)->parent_id, (*work)->id);
  EXPECT_EQ(c->parent_id, (*projects)->id);
  EXPECT_FALSE((*work)->parent_id.has_value());

  auto dup = store_->create_mailbox(ann.id, "Work/Projects");
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().code(), ExitCode::kDataErr);
  for (const std::string& bad : std::vector<std::string>{
           "", "/a", "a/", "a//b", std::string("a\x01") + "b", "a\x7f", "caf\xc3", "x\xc2\x85y"}) {
    auto r = store_->create_mailbox(ann.id, bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code(), ExitCode::kDataErr) << bad;
  }
  ASSERT_TRUE(store_->create_mailbox(ann.id, "Grüße/Ünïcode"));

  // Role: unique per account.
  auto role = store_->create_mailbox(ann.id, "Other Trash", Role::kTrash);
  ASSERT_FALSE(role);
  EXPECT_EQ(role.error().code(), ExitCode::kDataErr);
  auto trash = store_->mailbox_by_role(ann.id, Role::kTrash);
  ASSERT_TRUE(trash && *trash);
  EXPECT_FALSE(store_->set_role(ann.id, (*work)->id, Role::kTrash));
  ASSERT_TRUE(store_->set_role(ann.id, (*trash)->id, Role::kNone));
  ASSERT_TRUE(store_->set_role(ann.id, (*work)->id, Role::kTrash));
  EXPECT_EQ((*store_->mailbox_by_role(ann.id, Role::kTrash))->id, (*work)->id);

  // Rename moves the children; UIDVALIDITY stays.
  uint32_t validity = c->uid_validity;
  ASSERT_TRUE(store_->rename_mailbox(ann.id, (*work)->id, "Archive/Old Work"));
  EXPECT_FALSE(*store_->find_mailbox(ann.id, "Work"));
  auto moved = store_->find_mailbox(ann.id, "Archive/Old Work/Projects/Postern");
  ASSERT_TRUE(moved && *moved);
  EXPECT_EQ((*moved)->id, c->id);
  EXPECT_EQ((*moved)->uid_validity, validity);
  auto old_work = store_->find_mailbox(ann.id, "Archive/Old Work");
  ASSERT_TRUE(old_work && *old_work);
  EXPECT_EQ((*old_work)->name, "Old Work");
  EXPECT_EQ((*old_work)->parent_id, (*store_->find_mailbox(ann.id, "Archive"))->id);
  EXPECT_FALSE(store_->rename_mailbox(ann.id, (*work)->id, "Archive/Old Work/Projects/X"));
  EXPECT_FALSE(store_->rename_mailbox(ann.id, (*work)->id, "Inbox"));
  ASSERT_TRUE(store_->rename_mailbox(ann.id, c->id, "Top"));  // moved up a level
  auto top = store_->find_mailbox(ann.id, "Top");
  ASSERT_TRUE(top && *top);
  EXPECT_FALSE((*top)->parent_id.has_value());

  // Case-insensitive lookup for +detail.
  auto nc = store_->find_mailbox_nocase(ann.id, "inbox");
  ASSERT_TRUE(nc && *nc);
  EXPECT_EQ((*nc)->path, "Inbox");
  EXPECT_EQ((*store_->find_mailbox_nocase(ann.id, "GRÜSSE"))->path, "Grüße");

  // Delete: children and contents refuse.
  auto del = store_->delete_mailbox(ann.id, (*old_work)->id);
  ASSERT_FALSE(del);
  EXPECT_EQ(del.error().code(), ExitCode::kDataErr);
  deliver(ann.id, (*top)->id, message("x", "y"));
  EXPECT_FALSE(store_->delete_mailbox(ann.id, (*top)->id));
  ASSERT_TRUE(store_->delete_mailbox(ann.id, (*top)->id, true));
  EXPECT_EQ(store_->quota(ann.id)->messages, 0u);
  ASSERT_TRUE(store_->delete_mailbox(ann.id, (*projects)->id));
  ASSERT_TRUE(store_->delete_mailbox(ann.id, (*old_work)->id));
  ASSERT_TRUE(store_->set_subscribed(ann.id, inbox(ann.id), false));
  EXPECT_FALSE((*store_->find_mailbox(ann.id, "Inbox"))->subscribed);
}

// ---- delivery ----

TEST_P(StoreTest, DeliverAssignsUidsAndParses) {
  Account ann = make_account("ann@example.org");
  Id in = inbox(ann.id);
  std::string m1 = message("=?utf-8?q?Gr=C3=BC=C3=9Fe?= from home", "hello", "", "one@example.org");
  auto d1 = deliver(ann.id, in, m1, {"$Seen", "Work"});
  auto d2 = deliver(ann.id, in, message("second", "body"));
  EXPECT_EQ(d1.uid, 1u);
  EXPECT_EQ(d2.uid, 2u);
  Mailbox mb = mailbox(ann.id, in);
  EXPECT_EQ(d1.uid_validity, mb.uid_validity);
  EXPECT_EQ(mb.uid_next, 3u);
  EXPECT_EQ(mb.total, 2u);
  EXPECT_EQ(mb.unseen, 1u);
  EXPECT_EQ(d1.blob_id.size(), 64u);

  auto e = store_->email(ann.id, d1.email_id);
  ASSERT_TRUE(e && *e);
  EXPECT_EQ((*e)->subject, "Grüße from home");
  EXPECT_EQ((*e)->from, "Ann Example <ann@example.org>");
  EXPECT_EQ((*e)->message_id, "one@example.org");
  EXPECT_EQ((*e)->sent_at, 1751364000);
  EXPECT_EQ((*e)->keywords, (std::vector<std::string>{"$seen", "work"}));
  EXPECT_EQ((*e)->size, m1.size());
  EXPECT_EQ((*e)->mailboxes, std::vector<Id>{in});
  EXPECT_EQ((*e)->thread_id, d1.email_id);
  EXPECT_GT((*e)->received_at, 0);
  auto bytes = store_->read_message(ann.id, d1.email_id);
  ASSERT_TRUE(bytes);
  EXPECT_EQ(*bytes, m1);
  EXPECT_FALSE(store_->email(ann.id + 1000, d1.email_id).value_or({}));

  auto members = store_->members(in);
  ASSERT_TRUE(members);
  ASSERT_EQ(members->size(), 2u);
  EXPECT_EQ((*members)[0].uid, 1u);
  EXPECT_EQ((*members)[1].email_id, d2.email_id);
  EXPECT_EQ(store_->members(in, 1)->size(), 1u);
  EXPECT_EQ(store_->members(in, 0, 1)->size(), 1u);

  auto list = store_->emails(ann.id);
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[1].mailboxes, std::vector<Id>{in});
  auto page = store_->emails(ann.id, (*list)[0].id, 10);
  ASSERT_TRUE(page);
  ASSERT_EQ(page->size(), 1u);
  EXPECT_EQ((*page)[0].id, d2.email_id);

  auto q = store_->quota(ann.id);
  ASSERT_TRUE(q);
  EXPECT_EQ(q->messages, 2u);
  EXPECT_EQ(q->used_bytes, m1.size() + message("second", "body").size());

  auto bad_box = store_->deliver({.account_id = ann.id, .mailbox_id = 424242, .message = m1});
  ASSERT_FALSE(bad_box);
  EXPECT_EQ(bad_box.error().code(), ExitCode::kDataErr);
  auto bad_acct = store_->deliver({.account_id = 424242, .mailbox_id = in, .message = m1});
  ASSERT_FALSE(bad_acct);
  EXPECT_EQ(bad_acct.error().code(), ExitCode::kNoUser);
  auto bad_kw = store_->deliver(
      {.account_id = ann.id, .mailbox_id = in, .message = m1, .keywords = {"has space"}});
  EXPECT_FALSE(bad_kw);
  EXPECT_EQ(mailbox(ann.id, in).uid_next, 3u);  // failed deliveries take no UID
}

TEST_P(StoreTest, QuotaRefusesWith552) {
  std::string m = message("s", std::string(500, 'x'));
  Account ann = make_account("ann@example.org", m.size() * 2 + 10);
  Id in = inbox(ann.id);
  deliver(ann.id, in, m);
  deliver(ann.id, in, m);
  auto over = store_->deliver({.account_id = ann.id, .mailbox_id = in, .message = m});
  ASSERT_FALSE(over);
  EXPECT_EQ(over.error().code(), ExitCode::kUnavailable);
  EXPECT_EQ(over.error().smtp_code(), 552);
  EXPECT_EQ(over.error().enhanced(), "5.2.2");
  EXPECT_NE(over.error().message().find("mailbox full"), std::string::npos);
  auto forced = store_->deliver(
      {.account_id = ann.id, .mailbox_id = in, .message = m, .enforce_quota = false});
  ASSERT_TRUE(forced);
  EXPECT_EQ(forced->uid, 3u);
}

TEST_P(StoreTest, Threading) {
  Account ann = make_account("ann@example.org");
  Id in = inbox(ann.id);
  auto a = deliver(ann.id, in, message("a", "x", "", "a@x"));
  auto b = deliver(ann.id, in, message("Re: a", "x", "In-Reply-To: <a@x>\r\n", "b@x"));
  auto c = deliver(ann.id, in, message("Re: a", "x", "References: <a@x> <b@x>\r\n", "c@x"));
  auto other = deliver(ann.id, in, message("other", "x", "", "o@x"));
  EXPECT_EQ(b.thread_id, a.thread_id);
  EXPECT_EQ(c.thread_id, a.thread_id);
  EXPECT_NE(other.thread_id, a.thread_id);
  EXPECT_EQ(other.thread_id, other.email_id);
  // A reply that arrives before its parent: the parent joins the reply's thread.
  auto reply = deliver(ann.id, in, message("Re: late", "x", "References: <late@x>\r\n", "r@x"));
  auto late = deliver(ann.id, in, message("late", "x", "", "late@x"));
  EXPECT_EQ(late.thread_id, reply.thread_id);
  // Threads never cross accounts.
  Account bob = make_account("bob@example.org");
  auto bb = deliver(bob.id, inbox(bob.id), message("Re: a", "x", "In-Reply-To: <a@x>\r\n"));
  EXPECT_EQ(bb.thread_id, bb.email_id);
}

// ---- keywords, membership, changes ----

TEST_P(StoreTest, KeywordsAndChanges) {
  Account ann = make_account("ann@example.org");
  Id in = inbox(ann.id);
  int64_t s0 = (*store_->account(ann.id))->modseq;
  auto d1 = deliver(ann.id, in, message("one", "x"));
  auto d2 = deliver(ann.id, in, message("two", "x"));
  int64_t s1 = (*store_->account(ann.id))->modseq;
  EXPECT_EQ(s1, s0 + 2);

  auto ch = store_->changes_since(ann.id, s0, ObjectType::kEmail);
  ASSERT_TRUE(ch);
  ASSERT_EQ(ch->size(), 2u);
  EXPECT_EQ((*ch)[0].id, d1.email_id);
  EXPECT_EQ((*ch)[0].kind, ChangeKind::kCreated);
  EXPECT_EQ((*ch)[1].modseq, s1);

  std::vector<Id> both{d1.email_id, d2.email_id};
  std::vector<std::string> seen{"\\Seen" /* invalid */};
  EXPECT_FALSE(store_->set_keywords(ann.id, both, seen, {}));
  std::vector<std::string> add{"$Seen", "$Flagged"};
  ASSERT_TRUE(store_->set_keywords(ann.id, both, add, {}));
  int64_t s2 = (*store_->account(ann.id))->modseq;
  EXPECT_EQ(s2, s1 + 1);
  EXPECT_EQ((*store_->email(ann.id, d1.email_id))->keywords,
            (std::vector<std::string>{"$flagged", "$seen"}));
  EXPECT_EQ(mailbox(ann.id, in).unseen, 0u);
  EXPECT_EQ(mailbox(ann.id, in).modseq, s2);
  // Setting what is already set changes nothing, not even the state.
  ASSERT_TRUE(store_->set_keywords(ann.id, both, add, {}));
  EXPECT_EQ((*store_->account(ann.id))->modseq, s2);

  ch = store_->changes_since(ann.id, s1);
  ASSERT_TRUE(ch);
  std::set<std::pair<int, Id>> updated;
  for (auto& c : *ch) {
    EXPECT_EQ(c.kind, ChangeKind::kUpdated);
    updated.insert({static_cast<int>(c.type), c.id});
  }
  EXPECT_TRUE(updated.count({static_cast<int>(ObjectType::kEmail), d1.email_id}));
  EXPECT_TRUE(updated.count({static_cast<int>(ObjectType::kMailbox), in}));  // unseen changed
  // Created since s0 and updated since: still "created" relative to s0.
  ch = store_->changes_since(ann.id, s0, ObjectType::kEmail);
  ASSERT_TRUE(ch);
  ASSERT_EQ(ch->size(), 2u);
  EXPECT_EQ((*ch)[0].kind, ChangeKind::kCreated);
  EXPECT_EQ((*ch)[0].modseq, s2);

  auto cm = store_->changed_members(in, s1);
  ASSERT_TRUE(cm);
  ASSERT_EQ(cm->size(), 2u);
  EXPECT_EQ((*cm)[0].modseq, s2);
  EXPECT_TRUE(store_->changed_members(in, s2)->empty());

  std::vector<std::string> rm{"$flagged"};
  std::vector<Id> one{d2.email_id};
  ASSERT_TRUE(store_->set_keywords(ann.id, one, {}, rm));
  EXPECT_EQ((*store_->email(ann.id, d2.email_id))->keywords, std::vector<std::string>{"$seen"});

  // Limits never split a modseq: s2 changed the inbox and d1 (d2 moved on to s3).
  ch = store_->changes_since(ann.id, s1, std::nullopt, 1);
  ASSERT_TRUE(ch);
  ASSERT_EQ(ch->size(), 2u);  // the first group is returned whole
  EXPECT_EQ((*ch)[0].modseq, s2);
  EXPECT_EQ((*ch)[1].modseq, s2);
  ch = store_->changes_since(ann.id, s1, std::nullopt, 2);
  ASSERT_TRUE(ch);
  EXPECT_EQ(ch->size(), 2u);  // the s3 group would not fit whole
  ch = store_->changes_since(ann.id, s2, std::nullopt, 1);
  ASSERT_TRUE(ch);
  ASSERT_EQ(ch->size(), 1u);
  EXPECT_EQ((*ch)[0].id, d2.email_id);

  auto future = store_->changes_since(ann.id, s2 + 100);
  ASSERT_FALSE(future);
  EXPECT_NE(future.error().message().find("cannotCalculateChanges"), std::string::npos);
  EXPECT_EQ(store_->changes_since(4242, 0).error().code(), ExitCode::kNoUser);
}

TEST_P(StoreTest, MembershipVanishedAndDestroy) {
  Account ann = make_account("ann@example.org");
  Id in = inbox(ann.id);
  Id archive = (*store_->mailbox_by_role(ann.id, Role::kArchive))->id;
  std::string m1 = message("one", "x");
  auto d1 = deliver(ann.id, in, m1);
  auto d2 = deliver(ann.id, in, message("two", "x"));
  int64_t s1 = (*store_->account(ann.id))->modseq;

  std::vector<Id> both{d1.email_id, d2.email_id};
  auto uids = store_->add_to_mailbox(ann.id, both, archive);
  ASSERT_TRUE(uids) << uids.error().message();
  EXPECT_EQ(*uids, (std::vector<uint32_t>{1, 2}));
  auto again = store_->add_to_mailbox(ann.id, both, archive);  // already there: same UIDs
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, (std::vector<uint32_t>{1, 2}));
  EXPECT_EQ((*store_->email(ann.id, d1.email_id))->mailboxes.size(), 2u);
  std::vector<Id> bogus{999999};
  EXPECT_FALSE(store_->add_to_mailbox(ann.id, bogus, archive));

  // Out of the inbox: still in the archive, so not destroyed.
  std::vector<Id> first{d1.email_id};
  ASSERT_TRUE(store_->remove_from_mailbox(ann.id, first, in));
  int64_t s2 = (*store_->account(ann.id))->modseq;
  auto v = store_->vanished_since(in, s1);
  ASSERT_TRUE(v);
  ASSERT_EQ(v->size(), 1u);
  EXPECT_EQ((*v)[0].uid, d1.uid);
  EXPECT_EQ((*v)[0].modseq, s2);
  EXPECT_TRUE(store_->vanished_since(in, s2)->empty());
  EXPECT_TRUE(*store_->email(ann.id, d1.email_id));
  EXPECT_EQ(store_->quota(ann.id)->messages, 2u);

  // Out of its last mailbox: destroyed, quota and blob reference released.
  ASSERT_TRUE(store_->remove_from_mailbox(ann.id, first, archive));
  EXPECT_FALSE(*store_->email(ann.id, d1.email_id));
  auto q = store_->quota(ann.id);
  EXPECT_EQ(q->messages, 1u);
  EXPECT_EQ(q->used_bytes, message("two", "x").size());
  auto ch = store_->changes_since(ann.id, s1, ObjectType::kEmail);
  ASSERT_TRUE(ch);
  bool destroyed = false;
  for (auto& c : *ch) destroyed |= c.id == d1.email_id && c.kind == ChangeKind::kDestroyed;
  EXPECT_TRUE(destroyed);
  EXPECT_FALSE(store_->read_message(ann.id, d1.email_id));
  auto refs = store_->db().query("SELECT refs FROM blob WHERE id = ?", {Value(d1.blob_id)});
  ASSERT_TRUE(refs);
  ASSERT_EQ(refs->size(), 1u);
  EXPECT_EQ((*refs)[0].i64(0), 0);

  // Destroy outright.
  std::vector<Id> second{d2.email_id};
  ASSERT_TRUE(store_->destroy_emails(ann.id, second));
  EXPECT_EQ(store_->quota(ann.id)->used_bytes, 0u);
  EXPECT_EQ(mailbox(ann.id, in).total, 0u);
  EXPECT_EQ(mailbox(ann.id, archive).total, 0u);
  EXPECT_EQ(store_->vanished_since(archive, 0)->size(), 2u);
  // Threads: both were alone in theirs.
  ch = store_->changes_since(ann.id, s1, ObjectType::kThread);
  ASSERT_TRUE(ch);
  EXPECT_EQ(ch->size(), 2u);
  for (auto& c : *ch) EXPECT_EQ(c.kind, ChangeKind::kDestroyed);
  // Created and destroyed since s0: left out.
  auto all = store_->changes_since(ann.id, 0, ObjectType::kEmail);
  ASSERT_TRUE(all);
  EXPECT_TRUE(all->empty());
}

TEST_P(StoreTest, SweepBlobs) {
  Account ann = make_account("ann@example.org");
  Id in = inbox(ann.id);
  std::string m = message("keep", "x");
  auto d1 = deliver(ann.id, in, m);
  auto d2 = deliver(ann.id, in, message("drop", "y"));
  auto stray = store_->blobs().put("never referenced");
  ASSERT_TRUE(stray);
  std::vector<Id> drop{d2.email_id};
  ASSERT_TRUE(store_->destroy_emails(ann.id, drop));
  // The grace period protects fresh orphans.
  auto none = store_->sweep_blobs(3600);
  ASSERT_TRUE(none) << none.error().message();
  EXPECT_EQ(*none, 0);
  EXPECT_TRUE(*store_->blobs().exists(d2.blob_id));
  auto n = store_->sweep_blobs(0);
  ASSERT_TRUE(n) << n.error().message();
  EXPECT_EQ(*n, 2);
  EXPECT_FALSE(*store_->blobs().exists(d2.blob_id));
  EXPECT_FALSE(*store_->blobs().exists(*stray));
  EXPECT_TRUE(*store_->blobs().exists(d1.blob_id));
  EXPECT_EQ(*store_->read_message(ann.id, d1.email_id), m);
  // The same content delivered twice shares one blob with two references.
  auto d3 = deliver(ann.id, in, m);
  EXPECT_EQ(d3.blob_id, d1.blob_id);
  std::vector<Id> first{d1.email_id};
  ASSERT_TRUE(store_->destroy_emails(ann.id, first));
  EXPECT_EQ(*store_->sweep_blobs(0), 0);
  EXPECT_EQ(*store_->read_message(ann.id, d3.email_id), m);
  // A blob whose bytes vanished under a racing sweep is stored again by deliver().
  ASSERT_TRUE(store_->blobs().remove(d3.blob_id));
  auto d4 = deliver(ann.id, in, m);
  EXPECT_TRUE(*store_->blobs().exists(d4.blob_id));
}

TEST_P(StoreTest, RemoveAccountAndDomain) {
  Account ann = make_account("ann@example.org");
  Account bob = make_account("bob@example.org");
  ASSERT_TRUE(store_->add_alias("info@example.org", "ann@example.org"));
  ASSERT_TRUE(store_->add_alias("info@example.org", "bob@example.org"));
  auto d = deliver(ann.id, inbox(ann.id), message("gone", "soon"));
  ASSERT_TRUE(store_->create_mailbox(ann.id, "A/B"));
  auto nope = store_->remove_account("nobody@example.org");
  ASSERT_FALSE(nope);
  EXPECT_EQ(nope.error().code(), ExitCode::kNoUser);
  ASSERT_TRUE(store_->remove_account("ANN@example.org"));
  EXPECT_FALSE(*store_->find_account("ann@example.org"));
  EXPECT_TRUE(store_->mailboxes(ann.id)->empty());
  auto r = store_->resolve("info@example.org");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->accounts, std::vector<Id>{bob.id});
  auto refs = store_->db().query("SELECT refs FROM blob WHERE id = ?", {Value(d.blob_id)});
  ASSERT_TRUE(refs);
  EXPECT_EQ((*refs)[0].i64(0), 0);
  EXPECT_EQ(*store_->sweep_blobs(0), 1);

  auto refused = store_->remove_domain("example.org");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), ExitCode::kDataErr);
  ASSERT_TRUE(store_->remove_domain("example.org", true));
  EXPECT_TRUE(store_->accounts()->empty());
  EXPECT_TRUE(store_->aliases()->empty());
  EXPECT_FALSE(*store_->is_local_domain("example.org"));
}

// ---- search ----

TEST_P(StoreTest, SearchSubstringAndWords) {
  Account ann = make_account("ann@example.org");
  Account bob = make_account("bob@example.org");
  Id in = inbox(ann.id);
  Id archive = (*store_->mailbox_by_role(ann.id, Role::kArchive))->id;
  auto e1 = deliver(ann.id, in, message("Keyboard test", "qwerty asdfghjkl zxcv"));
  auto e2 = deliver(ann.id, in, message("Team meetings", "The meetings are on Friday."));
  auto e3 = deliver(ann.id, archive,
                    message("Meeting notes", "Notes from the meeting. Viele GRÜSSE, Jürgen",
                            "X-Tracker: ticket-4711 open\r\nCc: Carol <carol@example.net>\r\n"));
  auto e4 = deliver(ann.id, in,
                    "From: =?utf-8?q?J=C3=BCrgen?= <j@example.de>\r\nTo: ann@example.org\r\n"
                    "Bcc: hidden@example.com\r\nSubject: Grüße aus Köln\r\nMIME-Version: 1.0\r\n"
                    "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
                    "--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
                    "<p>Caf&eacute; <b>r&eacute;sum&eacute;</b> attached</p>\r\n"
                    "--b\r\nContent-Type: application/pdf\r\n"
                    "Content-Disposition: attachment; filename=\"Quarterly-Report 2025.pdf\"\r\n"
                    "Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b--\r\n");
  deliver(bob.id, inbox(bob.id), message("Keyboard test", "asdfghjkl for bob"));

  using TF = TextField;
  auto sub = [](TF f, std::string v) {
    return TextCondition{f, "", std::move(v), TextMatch::kSubstring};
  };
  auto words = [](TF f, std::string v) {
    return TextCondition{f, "", std::move(v), TextMatch::kWords};
  };
  auto ids = [](std::initializer_list<Delivered> l) {
    std::vector<Id> v;
    for (auto& d : l) v.push_back(d.email_id);
    return v;
  };

  // imaptest: "sdfghjk" finds "asdfghjkl"; case-insensitive; only this account.
  EXPECT_EQ(find(ann.id, {sub(TF::kBody, "sdfghjk")}), ids({e1}));
  EXPECT_EQ(find(ann.id, {sub(TF::kText, "SDFGHJK")}), ids({e1}));
  EXPECT_EQ(find(ann.id, {sub(TF::kBody, "fgh")}), ids({e1}));
  // Shorter than a trigram.
  EXPECT_EQ(find(ann.id, {sub(TF::kBody, "zx")}), ids({e1}));
  EXPECT_EQ(find(ann.id, {sub(TF::kSubject, "k")}), ids({e1, e4}));
  EXPECT_EQ(find(ann.id, {sub(TF::kBody, "")}), ids({e1, e2, e3, e4}));
  // Substring vs words.
  EXPECT_EQ(find(ann.id, {sub(TF::kText, "meeting")}), ids({e2, e3}));
  EXPECT_EQ(find(ann.id, {words(TF::kText, "meeting")}), ids({e3}));
  EXPECT_EQ(find(ann.id, {words(TF::kBody, "MEETINGS friday")}), ids({e2}));
  EXPECT_EQ(find(ann.id, {words(TF::kBody, "meetings monday")}), ids({}));
  EXPECT_EQ(find(ann.id, {words(TF::kSubject, "notes")}), ids({e3}));
  // Non-ASCII: case folding (ß = ss), and words ignore accents.
  EXPECT_EQ(find(ann.id, {sub(TF::kText, "Grüße")}), ids({e3, e4}));
  EXPECT_EQ(find(ann.id, {sub(TF::kSubject, "GRÜSSE")}), ids({e4}));
  EXPECT_EQ(find(ann.id, {sub(TF::kSubject, "köln")}), ids({e4}));
  EXPECT_EQ(find(ann.id, {sub(TF::kSubject, "koln")}), ids({}));
  EXPECT_EQ(find(ann.id, {words(TF::kSubject, "KOLN")}), ids({e4}));
  EXPECT_EQ(find(ann.id, {words(TF::kBody, "jurgen")}), ids({e3}));
  EXPECT_EQ(find(ann.id, {words(TF::kBody, "cafe resume")}), ids({e4}));  // HTML as text
  EXPECT_EQ(find(ann.id, {sub(TF::kBody, "résumé attached")}), ids({e4}));
  // Address fields.
  EXPECT_EQ(find(ann.id, {sub(TF::kFrom, "jürgen")}), ids({e4}));
  EXPECT_EQ(find(ann.id, {sub(TF::kFrom, "j@example.de")}), ids({e4}));
  EXPECT_EQ(find(ann.id, {sub(TF::kTo, "bob")}), ids({e1, e2, e3}));
  EXPECT_EQ(find(ann.id, {sub(TF::kCc, "carol")}), ids({e3}));
  EXPECT_EQ(find(ann.id, {sub(TF::kBcc, "hidden@")}), ids({e4}));
  EXPECT_EQ(find(ann.id, {words(TF::kFrom, "example")}), ids({e1, e2, e3, e4}));
  // A named header.
  TextCondition hdr{TF::kHeader, "X-TRACKER", "4711", TextMatch::kSubstring};
  EXPECT_EQ(find(ann.id, {hdr}), ids({e3}));
  hdr.value = "";
  EXPECT_EQ(find(ann.id, {hdr}), ids({e3}));  // present at all
  hdr.value = "ticket";
  hdr.match = TextMatch::kWords;
  EXPECT_EQ(find(ann.id, {hdr}), ids({e3}));
  hdr.value = "tick";
  EXPECT_EQ(find(ann.id, {hdr}), ids({}));
  hdr.header = "Subject";
  hdr.value = "team";
  EXPECT_EQ(find(ann.id, {hdr}), ids({e2}));
  // Header text is part of kText.
  EXPECT_EQ(find(ann.id, {sub(TF::kText, "ticket-47")}), ids({e3}));
  // Attachment names.
  EXPECT_EQ(find(ann.id, {sub(TF::kAttachmentName, "report 20")}), ids({e4}));
  EXPECT_EQ(find(ann.id, {words(TF::kAttachmentName, "quarterly")}), ids({e4}));
  EXPECT_EQ(find(ann.id, {words(TF::kAttachmentName, "quarter")}), ids({}));
  // Mailbox restriction and several conditions.
  EXPECT_EQ(find(ann.id, {sub(TF::kText, "meeting")}, in), ids({e2}));
  EXPECT_EQ(find(ann.id, {sub(TF::kText, "meeting"), sub(TF::kBody, "friday")}), ids({e2}));
  EXPECT_EQ(find(ann.id, {sub(TF::kText, "meeting"), words(TF::kBody, "jürgen")}), ids({e3}));
  // LIKE/FTS syntax in the needle is plain text.
  EXPECT_EQ(find(ann.id, {sub(TF::kBody, "%")}), ids({}));
  EXPECT_EQ(find(ann.id, {sub(TF::kBody, "a\"b")}), ids({}));
  EXPECT_EQ(find(ann.id, {sub(TF::kBody, "_")}), ids({}));
  EXPECT_EQ(find(ann.id, {words(TF::kBody, "\"OR\" NEAR(")}), ids({}));
  // Destroyed emails leave the index.
  std::vector<Id> gone{e1.email_id};
  ASSERT_TRUE(store_->destroy_emails(ann.id, gone));
  EXPECT_EQ(find(ann.id, {sub(TF::kBody, "sdfghjk")}), ids({}));
  EXPECT_EQ(find(bob.id, {sub(TF::kBody, "sdfghjk")}).size(), 1u);
}

TEST_P(StoreTest, TextIndexingIsDeferredAndClaimedOnce) {
  Account ann = make_account("ann@example.org");
  Account bob = make_account("bob@example.org");
  Id in = inbox(ann.id);
  auto rows = [&](const char* table) {
    auto r = store_->db().query(std::string("SELECT count(*) FROM ") + table);
    EXPECT_TRUE(r);
    return r ? (*r)[0].i64(0) : -1;
  };
  // Delivery queues the text; nothing is indexed yet.
  std::vector<Delivered> got;
  for (int i = 0; i < 5; ++i) {
    got.push_back(deliver(ann.id, in, message("note " + std::to_string(i), "zebra crossing")));
  }
  auto gone = deliver(ann.id, in, message("gone", "zebra gone"));
  deliver(bob.id, inbox(bob.id), message("bob", "zebra for bob"));
  EXPECT_EQ(*store_->pending_count(), 7u);
  EXPECT_EQ(*store_->pending_count(ann.id), 6u);
  EXPECT_EQ(rows("email_text"), 0);
  // An email destroyed while queued leaves the queue.
  std::vector<Id> destroy{gone.email_id};
  ASSERT_TRUE(store_->destroy_emails(ann.id, destroy));
  EXPECT_EQ(*store_->pending_count(ann.id), 5u);
  // A bounded run, then a search indexes the rest of its own account first.
  EXPECT_EQ(*store_->index_pending(ann.id, 2), 2u);
  EXPECT_EQ(*store_->pending_count(ann.id), 3u);
  auto hits = find(ann.id, {TextCondition{TextField::kBody, "", "ebra cross", TextMatch::kSubstring}});
  EXPECT_EQ(hits.size(), 5u);
  EXPECT_EQ(*store_->pending_count(ann.id), 0u);
  EXPECT_EQ(*store_->pending_count(bob.id), 1u);
  // Two indexers racing over the same queue write each email's rows once.
  for (int i = 0; i < 40; ++i) deliver(bob.id, inbox(bob.id), message("m" + std::to_string(i), "x"));
  std::atomic<size_t> indexed{0};
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&] {
      auto s = open();
      if (!s) {
        ++failures;
        return;
      }
      auto n = (*s)->index_pending();
      if (!n) {
        ++failures;
        ADD_FAILURE() << n.error().message();
        return;
      }
      indexed += *n;
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(indexed.load(), 41u);  // each email claimed by exactly one of them
  EXPECT_EQ(*store_->pending_count(), 0u);
  EXPECT_EQ(rows("email_text"), rows("email"));
  EXPECT_EQ(rows("email_words"), rows("email"));
  EXPECT_EQ(*store_->index_pending(), 0u);
}

// ---- concurrency ----

TEST_P(StoreTest, ConcurrentDeliveriesNeverShareAUid) {
  Account ann = make_account("ann@example.org");
  Id in = inbox(ann.id);
  int64_t start = (*store_->account(ann.id))->modseq;
  constexpr int kThreads = 4, kEach = 50;
  std::vector<std::thread> threads;
  std::vector<std::vector<Delivered>> got(kThreads);
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto s = open();
      if (!s) {
        ++failures;
        return;
      }
      for (int i = 0; i < kEach; ++i) {
        auto d = (*s)->deliver(
            {.account_id = ann.id,
             .mailbox_id = in,
             .message = message("t" + std::to_string(t) + " n" + std::to_string(i), "body")});
        if (!d) {
          ++failures;
          ADD_FAILURE() << d.error().message();
          continue;
        }
        got[t].push_back(*d);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  std::set<uint32_t> uids;
  std::set<Id> emails;
  for (auto& v : got) {
    for (auto& d : v) {
      uids.insert(d.uid);
      emails.insert(d.email_id);
    }
  }
  EXPECT_EQ(uids.size(), size_t{kThreads * kEach});
  EXPECT_EQ(*uids.begin(), 1u);
  EXPECT_EQ(*uids.rbegin(), uint32_t{kThreads * kEach});
  EXPECT_EQ(emails.size(), size_t{kThreads * kEach});
  Mailbox mb = mailbox(ann.id, in);
  EXPECT_EQ(mb.uid_next, uint32_t{kThreads * kEach + 1});
  EXPECT_EQ(mb.total, uint32_t{kThreads * kEach});
  EXPECT_EQ((*store_->account(ann.id))->modseq, start + kThreads * kEach);
  // Every delivery got its own modseq.
  auto members = store_->members(in);
  std::set<int64_t> modseqs;
  for (auto& m : *members) modseqs.insert(m.modseq);
  EXPECT_EQ(modseqs.size(), size_t{kThreads * kEach});
}

TEST_P(StoreTest, ConcurrentDeliveriesAcrossProcesses) {
  Account ann = make_account("ann@example.org");
  Id in = inbox(ann.id);
  constexpr int kProcs = 4, kEach = 25;
  store_.reset();  // no connection crosses fork()
  std::vector<pid_t> pids;
  for (int p = 0; p < kProcs; ++p) {
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      int bad = 0;
      auto s = open();
      if (!s) _exit(2);
      for (int i = 0; i < kEach; ++i) {
        auto d = (*s)->deliver(
            {.account_id = ann.id,
             .mailbox_id = in,
             .message = message("p" + std::to_string(p) + " n" + std::to_string(i), "body")});
        if (!d) ++bad;
      }
      s->reset();
      _exit(bad == 0 ? 0 : 1);
    }
    pids.push_back(pid);
  }
  for (pid_t pid : pids) {
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  }
  auto s = open();
  ASSERT_TRUE(s);
  store_ = std::move(*s);
  auto members = store_->members(in);
  ASSERT_TRUE(members);
  ASSERT_EQ(members->size(), size_t{kProcs * kEach});
  for (size_t i = 0; i < members->size(); ++i) EXPECT_EQ((*members)[i].uid, i + 1);
  std::set<int64_t> modseqs;
  for (auto& m : *members) modseqs.insert(m.modseq);
  EXPECT_EQ(modseqs.size(), size_t{kProcs * kEach});
  EXPECT_EQ(mailbox(ann.id, in).uid_next, uint32_t{kProcs * kEach + 1});
}

INSTANTIATE_TEST_SUITE_P(Engines, StoreTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace postern::store
