// smtp-listen's policy (lib/smtp/policy.h) against a real SQLite store: no open relay,
// unknown users, aliases and catch-alls, relay domains, LMTP; send-as rules; the
// submission fix-ups; the local listener's sender rules; the Received: field.
#include "smtp/policy.h"

#include <gtest/gtest.h>

#include "base/fd.h"
#include "store/store.h"

namespace postern::smtp {
namespace {

class PolicyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = store::Store::open({.url = "sqlite:" + dir_.path() + "/store.db",
                                 .blob_dir = dir_.path() + "/blobs"});
    ASSERT_TRUE(s) << s.error().message();
    store_ = std::move(*s);
    ASSERT_TRUE(store_->add_domain("example.org"));
    ASSERT_TRUE(store_->add_account("ann@example.org"));
    ASSERT_TRUE(store_->add_account("bob@example.org"));
    ASSERT_TRUE(store_->add_alias("sales@example.org", "ann@example.org"));
    settings_.hostname = "example.org";
  }
  RecipientCheck rcpt(std::string_view address, Client c = {}) {
    return check_recipient(*store_, settings_, c, address);
  }
  bool may(std::string_view login, std::string_view address) {
    auto r = may_send_as(*store_, settings_, login, address);
    EXPECT_TRUE(r) << r.error().message();
    return r && *r;
  }

  base::TempDir dir_{"smtp-policy"};
  std::unique_ptr<store::Store> store_;
  Settings settings_;
};

TEST_F(PolicyTest, LocalRecipientsResolveOrAre550) {
  EXPECT_TRUE(rcpt("ann@example.org").ok());
  EXPECT_TRUE(rcpt("Ann+Lists@Example.ORG").ok());
  EXPECT_TRUE(rcpt("sales@example.org").ok());
  EXPECT_TRUE(rcpt("postmaster").ok() == false);  // no postmaster account yet
  ASSERT_TRUE(store_->add_alias("postmaster@example.org", "ann@example.org"));
  EXPECT_TRUE(rcpt("postmaster").ok());  // RFC 5321 4.5.1, at the host name's domain
  RecipientCheck c = rcpt("nobody@example.org");
  EXPECT_EQ(c.reply, "550 5.1.1 <nobody@example.org>: recipient address rejected: no such user here");
  EXPECT_EQ(c.reason, "unknown_user");
  ASSERT_TRUE(store_->add_alias("@example.org", "bob@example.org"));
  EXPECT_TRUE(rcpt("nobody@example.org").ok());  // the catch-all takes it now
}

TEST_F(PolicyTest, NoOpenRelay) {
  RecipientCheck c = rcpt("victim@elsewhere.test");
  EXPECT_EQ(c.reply, "554 5.7.1 <victim@elsewhere.test>: relay access denied");
  EXPECT_EQ(c.reason, "relay");
  EXPECT_TRUE(rcpt("victim@elsewhere.test", {.authenticated = true}).ok());
  settings_.relay_domains = {"Backup.TEST"};
  EXPECT_TRUE(rcpt("anyone@backup.test").ok());
  EXPECT_FALSE(rcpt("anyone@sub.backup.test").ok());
  // LMTP delivers here or nowhere, logged in or not.
  EXPECT_EQ(rcpt("x@backup.test", {.lmtp = true, .authenticated = true}).reply,
            "550 5.1.1 <x@backup.test>: not a local address");
}

TEST_F(PolicyTest, SrsAddressesReverseWhenTheyVerifyAndAreRefusedOtherwise) {
  // A bounce to the SRS sender of mail we forwarded relays to the original sender, from
  // anyone; a forged, altered or expired one is refused at RCPT (no open relay).
  settings_.srs = {.secrets = {"new secret", "old secret"}, .max_age_days = 21, .domain = "fwd.example.org"};
  const int64_t now = 1'780'000'000;
  mail::srs::Options signer = settings_.srs;
  auto srs0 = mail::srs::forward("Carol@sender.test", signer, now);
  ASSERT_TRUE(srs0) << srs0.error().message();
  RecipientCheck c = rcpt(*srs0, {.now = now + 86400});
  EXPECT_TRUE(c.ok()) << c.reply;
  EXPECT_EQ(c.rewritten, "Carol@sender.test");
  // Signed with the older secret (rotation): still good.
  signer.secrets = {"old secret"};
  auto older = mail::srs::forward("dave@sender.test", signer, now);
  ASSERT_TRUE(older);
  EXPECT_EQ(rcpt(*older, {.now = now}).rewritten, "dave@sender.test");
  // An SRS1 address goes back to the SRS0 address at the first forwarder.
  mail::srs::Options first{.secrets = {"theirs"}, .domain = "first.test"};
  auto theirs = mail::srs::forward("erin@sender.test", first, now);
  ASSERT_TRUE(theirs);
  auto srs1 = mail::srs::forward(*theirs, settings_.srs, now);
  ASSERT_TRUE(srs1);
  ASSERT_EQ(srs1->rfind("SRS1=", 0), 0u) << *srs1;
  EXPECT_EQ(rcpt(*srs1, {.now = now}).rewritten, *theirs);
  // Not ours to reverse: an unknown secret, a changed address, an expired date.
  signer.secrets = {"someone else"};
  auto forged = mail::srs::forward("carol@sender.test", signer, now);
  ASSERT_TRUE(forged);
  c = rcpt(*forged, {.now = now});
  EXPECT_EQ(c.reply, "550 5.1.1 <" + *forged + ">: invalid or expired SRS address");
  EXPECT_EQ(c.reason, "srs");
  EXPECT_TRUE(c.rewritten.empty());
  std::string altered = *srs0;
  altered.replace(altered.find("sender.test"), 11, "victim.test");
  EXPECT_EQ(rcpt(altered, {.now = now}).reason, "srs");
  EXPECT_EQ(rcpt(*srs0, {.now = now + 30 * 86400}).reason, "srs");
  // Over LMTP, or in another domain, an SRS-looking address is just an address.
  EXPECT_EQ(rcpt(*srs0, {.lmtp = true, .now = now}).reason, "unknown_user");
  EXPECT_EQ(rcpt("SRS0=abcd=AB=sender.test=carol@elsewhere.test", {.now = now}).reason, "relay");
}

TEST_F(PolicyTest, SendAsOwnAliasesAndConfiguredAddresses) {
  EXPECT_TRUE(may("ann@example.org", "ANN@example.org"));
  EXPECT_TRUE(may("ann@example.org", "sales@example.org"));
  EXPECT_FALSE(may("bob@example.org", "sales@example.org"));
  EXPECT_FALSE(may("ann@example.org", "bob@example.org"));
  EXPECT_FALSE(may("ann@example.org", "news@lists.example.org"));
  settings_.send_as = {{"ann@example.org", {"@lists.example.org", "ceo@example.org"}}};
  EXPECT_TRUE(may("ann@example.org", "news@lists.example.org"));
  EXPECT_TRUE(may("ann@example.org", "ceo@example.org"));
  EXPECT_FALSE(may("bob@example.org", "ceo@example.org"));
}

TEST_F(PolicyTest, SubmissionFixups) {
  std::string m = "From: Ann <sales@example.org>\r\nSubject: hi\r\n\r\nbody\r\n";
  EXPECT_EQ(submission_fixups(*store_, settings_, "ann@example.org", m, 1700000000), "");
  EXPECT_TRUE(m.starts_with("Date: Tue, 14 Nov 2023 22:13:20 +0000\r\nMessage-ID: <"));
  EXPECT_NE(m.find("@example.org>\r\nFrom: Ann"), std::string::npos);
  std::string again = m;
  EXPECT_EQ(submission_fixups(*store_, settings_, "ann@example.org", again, 1700000000), "");
  EXPECT_EQ(again, m);  // nothing added twice

  std::string other = "From: bob@example.org, ann@example.org\r\n\r\nx\r\n";
  EXPECT_EQ(submission_fixups(*store_, settings_, "ann@example.org", other, 0),
            "553 5.7.1 <bob@example.org>: From: address not owned by ann@example.org");
  std::string none = "Subject: no from\r\n\r\nx\r\n";
  EXPECT_EQ(submission_fixups(*store_, settings_, "ann@example.org", none, 0),
            "550 5.6.0 message refused: no From: field (RFC 5322 3.6)");
}

TEST(Received, FieldAndProtocolWords) {
  Trace t{.helo = "mail.example.net",
          .ip = "192.0.2.1",
          .hostname = "mx.example.org",
          .queue_id = "01M8JVRXK3T75AWD",
          .recipient = "ann@example.org",
          .time = 1700000000};
  EXPECT_EQ(received_field(t),
            "Received: from mail.example.net ([192.0.2.1])\r\n"
            "\tby mx.example.org (Postern) with ESMTP id 01M8JVRXK3T75AWD\r\n"
            "\tfor <ann@example.org>;\r\n"
            "\tTue, 14 Nov 2023 22:13:20 +0000\r\n");
  t.tls = "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384";
  t.authenticated = true;
  t.recipient.clear();
  t.helo.clear();
  EXPECT_EQ(received_field(t),
            "Received: from unknown ([192.0.2.1])\r\n"
            "\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384)\r\n"
            "\tby mx.example.org (Postern) with ESMTPSA id 01M8JVRXK3T75AWD;\r\n"
            "\tTue, 14 Nov 2023 22:13:20 +0000\r\n");
  auto word = [&](Trace x) {
    std::string f = received_field(x);
    size_t w = f.find(" with ") + 6;
    return f.substr(w, f.find(' ', w) - w);
  };
  EXPECT_EQ(word({.esmtp = false}), "SMTP");
  EXPECT_EQ(word({.smtputf8 = true}), "UTF8SMTP");
  EXPECT_EQ(word({.tls = "x", .smtputf8 = true, .authenticated = true}), "UTF8SMTPSA");
  EXPECT_EQ(word({.lmtp = true}), "LMTP");
}

// Local listeners (postern-sendmail): the caller is a uid, not a login.
TEST(LocalSenders, TrustedUsersMayUseAnySender) {
  Settings s;
  s.hostname = "mx.example.org";
  EXPECT_TRUE(local_trusted(s, {.uid = 0, .user = "root"}));
  EXPECT_TRUE(local_trusted(s, {.uid = 0, .user = ""}));  // uid 0 whatever its name
  EXPECT_FALSE(local_trusted(s, {.uid = 1000, .user = "ann"}));
  EXPECT_FALSE(local_trusted(s, {.uid = 5, .user = ""}));
  s.local_trusted_users = {"root", "postern", "www-data"};
  EXPECT_TRUE(local_trusted(s, {.uid = 33, .user = "www-data"}));
  EXPECT_FALSE(local_trusted(s, {.uid = 33, .user = "WWW-DATA"}));  // login names: exact
  EXPECT_TRUE(local_may_send_as(s, {.uid = 33, .user = "www-data"}, "ceo@elsewhere.test"));
  EXPECT_TRUE(local_may_send_as(s, {.uid = 0, .user = "root"}, ""));  // the null sender
}

TEST(LocalSenders, OthersOnlyTheirOwnAddressAndConfiguredOnes) {
  Settings s;
  s.hostname = "mx.example.org";
  LocalPeer ann{.uid = 1000, .pid = 42, .user = "ann"};
  EXPECT_TRUE(local_may_send_as(s, ann, "ann@mx.example.org"));
  EXPECT_TRUE(local_may_send_as(s, ann, "ANN@MX.Example.ORG"));
  EXPECT_FALSE(local_may_send_as(s, ann, ""));  // never the null sender
  EXPECT_FALSE(local_may_send_as(s, ann, "root@mx.example.org"));
  EXPECT_FALSE(local_may_send_as(s, ann, "ann@example.org"));
  EXPECT_FALSE(local_may_send_as(s, ann, "ann"));
  s.local_senders = {{"ann", {"ann@example.org", "@lists.example.org"}}, {"bob", {"@example.org"}}};
  EXPECT_TRUE(local_may_send_as(s, ann, "Ann@Example.org"));
  EXPECT_TRUE(local_may_send_as(s, ann, "news@lists.example.org"));
  EXPECT_FALSE(local_may_send_as(s, ann, "news@sub.lists.example.org"));
  EXPECT_FALSE(local_may_send_as(s, ann, "bob@example.org"));  // bob's entry is not ann's
  EXPECT_TRUE(local_may_send_as(s, {.uid = 1001, .user = "bob"}, "anyone@example.org"));
  // A uid without a login name may send as nobody.
  EXPECT_FALSE(local_may_send_as(s, {.uid = 4242, .user = ""}, "@mx.example.org"));
  EXPECT_FALSE(local_may_send_as(s, {.uid = 4242, .user = ""}, "4242@mx.example.org"));
}

TEST(LocalSenders, FixupsCheckFromLikeSubmission) {
  Settings s;
  s.hostname = "mx.example.org";
  LocalPeer ann{.uid = 1000, .user = "ann"};
  std::string m = "From: Ann <ann@mx.example.org>\r\nSubject: x\r\n\r\nbody\r\n";
  EXPECT_EQ(local_fixups(s, ann, m, 1700000000), "");
  EXPECT_TRUE(m.starts_with("Date: Tue, 14 Nov 2023 22:13:20 +0000\r\nMessage-ID: <"));
  EXPECT_NE(m.find("@mx.example.org>\r\nFrom: Ann"), std::string::npos);
  std::string forged = "From: ann@mx.example.org, Boss <boss@example.org>\r\n\r\nx\r\n";
  EXPECT_EQ(local_fixups(s, ann, forged, 0),
            "553 5.7.1 <boss@example.org>: From: address not owned by ann");
  std::string none = "Subject: no from\r\n\r\nx\r\n";
  EXPECT_EQ(local_fixups(s, ann, none, 0),
            "550 5.6.0 message refused: no From: field (RFC 5322 3.6)");
  // Trusted users' From: is not checked; the fields are still added.
  std::string root = "From: Boss <boss@example.org>\r\nDate: x\r\nMessage-ID: <a@b>\r\n\r\nx\r\n";
  std::string before = root;
  EXPECT_EQ(local_fixups(s, {.uid = 0, .user = "root"}, root, 0), "");
  EXPECT_EQ(root, before);
  std::string unnamed = "From: x@mx.example.org\r\n\r\nx\r\n";
  EXPECT_EQ(local_fixups(s, {.uid = 4242}, unnamed, 0),
            "553 5.7.1 <x@mx.example.org>: From: address not owned by uid 4242");
}

TEST(Received, LocalListenerNamesTheUser) {
  LocalPeer ann{.uid = 1000, .pid = 7, .user = "ann"};
  Trace t{.helo = "ignored.example",
          .ip = "local",
          .hostname = "mx.example.org",
          .queue_id = "01M8JVRXK3T75AWD",
          .recipient = "bob@example.net",
          .time = 1700000000,
          .local = &ann};
  EXPECT_EQ(received_field(t),
            "Received: from local (uid 1000, user ann)\r\n"
            "\tby mx.example.org (Postern) with ESMTP id 01M8JVRXK3T75AWD\r\n"
            "\tfor <bob@example.net>;\r\n"
            "\tTue, 14 Nov 2023 22:13:20 +0000\r\n");
  LocalPeer odd{.uid = 5, .user = "a b)\r\nX-Evil: 1"};
  t.local = &odd;
  std::string f = received_field(t);
  EXPECT_EQ(f.find("X-Evil: 1\r\n"), std::string::npos);
  EXPECT_NE(f.find("(uid 5, user a?b???X-Evil??1)"), std::string::npos);
}

}  // namespace
}  // namespace postern::smtp
