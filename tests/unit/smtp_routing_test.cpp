// queue-run's routing, retry schedule, reply classification and DSN wishes.
#include "smtp/routing.h"

#include <gtest/gtest.h>

#include "config/config.h"
#include "config/delivery.h"

namespace postern::smtp::routing {
namespace {

using store::queue::Envelope;
using store::queue::Recipient;
using store::queue::RecipientStatus;

// The defaults, as queue-run gets them from an empty configuration: retries
// 5m doubling to 160m then every 4h, expiry after 5 days, one delay warning after 4 hours.
TEST(Routing, DefaultRetryExpiryAndDelayWarning) {
  auto s = config::delivery_settings(config::defaults());
  ASSERT_TRUE(s) << s.error().message();
  using std::chrono::hours, std::chrono::minutes;
  std::vector<std::chrono::seconds> want{minutes(5), minutes(10), minutes(20), minutes(40),
                                         minutes(80), minutes(160), hours(4)};
  EXPECT_EQ(s->retry.schedule, want);
  EXPECT_EQ(s->retry.max_lifetime, hours(24 * 5));
  EXPECT_EQ(s->retry.delay_warning, hours(4));
  EXPECT_EQ(s->max_per_destination, 10);
  EXPECT_TRUE(s->mta_sts);
  EXPECT_TRUE(s->dane);
}

TEST(Routing, ParseVia) {
  auto a = parse_via("smtp:[relay.example.net]:587");
  ASSERT_TRUE(a) << a.error().message();
  EXPECT_EQ(a->kind, Route::kHost);
  EXPECT_EQ(a->host, "relay.example.net");
  EXPECT_EQ(a->port, 587);
  EXPECT_FALSE(a->mx_lookup);
  EXPECT_FALSE(a->lmtp);
  auto b = parse_via("smtp:Mail.Example.NET");
  ASSERT_TRUE(b);
  EXPECT_TRUE(b->mx_lookup);
  EXPECT_EQ(b->host, "mail.example.net");
  EXPECT_EQ(b->port, 25);
  auto c = parse_via("lmtp:[127.0.0.1]:2424");
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->lmtp);
  EXPECT_EQ(c->port, 2424);
  auto d = parse_via("lmtp:[::1]");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->host, "::1");
  EXPECT_EQ(d->port, 24);
  auto mx = parse_via("mx");
  ASSERT_TRUE(mx);
  EXPECT_EQ(mx->kind, Route::kMx);
  for (const char* bad : {"", "smtp:", "smtp:[x", "smtp:[x]:0", "smtp:[x]:70000", "smtp:[x]z",
                          "smtp:x:port", "lmtp:host:24", "uucp:x"}) {
    EXPECT_FALSE(parse_via(bad)) << bad;
  }
}

TEST(Routing, MostSpecificRuleWins) {
  std::vector<TransportRule> rules = {
      {.domain = "*", .via = "smtp:[smarthost.example]:587", .tls = TlsRequirement::kVerify,
       .auth_user = "me", .auth_password = "pw"},
      {.domain = ".corp.example", .via = "smtp:[gw.corp.example]"},
      {.domain = ".eu.corp.example", .via = "smtp:[gw-eu.corp.example]"},
      {.domain = "direct.example", .via = "mx"},
  };
  Route local = route_for("example.org", rules, true);
  EXPECT_EQ(local.kind, Route::kLocal);
  Route star = route_for("Gmail.COM", rules, false);
  EXPECT_EQ(star.kind, Route::kHost);
  EXPECT_EQ(star.host, "smarthost.example");
  EXPECT_EQ(star.port, 587);
  EXPECT_EQ(star.tls, TlsRequirement::kVerify);
  EXPECT_EQ(star.auth_user, "me");
  EXPECT_EQ(star.domain, "gmail.com");
  EXPECT_TRUE(star.transport);
  EXPECT_EQ(route_for("a.corp.example", rules, false).host, "gw.corp.example");
  EXPECT_EQ(route_for("x.eu.corp.example", rules, false).host, "gw-eu.corp.example");
  // ".corp.example" is for subdomains: corp.example itself falls to "*".
  EXPECT_EQ(route_for("corp.example", rules, false).host, "smarthost.example");
  Route direct = route_for("direct.example", rules, false);
  EXPECT_EQ(direct.kind, Route::kMx);
  EXPECT_EQ(direct.domain, "direct.example");
  EXPECT_EQ(route_for("other.example", {}, false).kind, Route::kMx);
  // One connection per key: the same smart host for two domains shares it.
  EXPECT_EQ(route_for("a.example", rules, false).key(), route_for("b.example", rules, false).key());
  EXPECT_NE(route_for("a.example", {}, false).key(), route_for("b.example", {}, false).key());
}

TEST(Routing, RetryScheduleAndExpiry) {
  RetryPolicy p;
  p.schedule = {std::chrono::seconds(60), std::chrono::seconds(600)};
  p.max_lifetime = std::chrono::seconds(3600);
  p.delay_warning = std::chrono::seconds(1800);
  EXPECT_EQ(next_attempt(p, 1, 1000), 1060);
  EXPECT_EQ(next_attempt(p, 2, 1000), 1600);
  EXPECT_EQ(next_attempt(p, 9, 1000), 1600);  // the last step repeats
  EXPECT_FALSE(expired(p, 1000, 4599));
  EXPECT_TRUE(expired(p, 1000, 4600));
  EXPECT_FALSE(delay_due(p, 1000, 2799));
  EXPECT_TRUE(delay_due(p, 1000, 2800));
  p.delay_warning = std::chrono::seconds(0);
  EXPECT_FALSE(delay_due(p, 0, 1000000));
  RetryPolicy d;  // the defaults: 5 minutes first, 5 days to live
  EXPECT_EQ(next_attempt(d, 1, 0), 300);
  EXPECT_TRUE(expired(d, 0, 5 * 86400));
}

TEST(Routing, RepliesAndDsnWishes) {
  EXPECT_EQ(status_for_code(250), RecipientStatus::kDelivered);
  EXPECT_EQ(status_for_code(251), RecipientStatus::kDelivered);
  EXPECT_EQ(status_for_code(421), RecipientStatus::kPending);
  EXPECT_EQ(status_for_code(452), RecipientStatus::kPending);
  EXPECT_EQ(status_for_code(0), RecipientStatus::kPending);
  EXPECT_EQ(status_for_code(550), RecipientStatus::kFailed);
  EXPECT_EQ(status_for_code(554), RecipientStatus::kFailed);

  Envelope e;
  e.sender = "bob@example.net";
  Recipient plain{.address = "a@b.example"};
  EXPECT_TRUE(wants_failure_dsn(e, plain));
  EXPECT_TRUE(wants_delay_dsn(e, plain));
  EXPECT_FALSE(wants_success_dsn(e, plain));
  Recipient never{.address = "a@b.example", .notify = store::queue::kNotifyNever};
  EXPECT_FALSE(wants_failure_dsn(e, never));
  EXPECT_FALSE(wants_delay_dsn(e, never));
  Recipient success{.address = "a@b.example",
                    .notify = store::queue::kNotifySuccess | store::queue::kNotifyFailure};
  EXPECT_TRUE(wants_success_dsn(e, success));
  EXPECT_TRUE(wants_failure_dsn(e, success));
  EXPECT_FALSE(wants_delay_dsn(e, success));
  Envelope bounce;  // the null sender never gets one
  EXPECT_FALSE(wants_failure_dsn(bounce, plain));
  EXPECT_FALSE(wants_delay_dsn(bounce, plain));
  EXPECT_FALSE(wants_success_dsn(bounce, success));
}

TEST(Routing, HopCountReadsTheHeaderOnly) {
  EXPECT_EQ(hop_count("Received: a\r\nreceived: b\r\n\tcont\r\nSubject: x\r\nRECEIVED: c\r\n\r\n"
                      "Received: in the body\r\n"),
            3);
  EXPECT_EQ(hop_count("Subject: none\n\nReceived: x\n"), 0);
  EXPECT_EQ(hop_count(""), 0);
  EXPECT_EQ(domain_of("Ann@Example.ORG"), "example.org");
  EXPECT_EQ(domain_of("weird@x@y.example"), "y.example");
  EXPECT_EQ(domain_of("postmaster"), "");
}

}  // namespace
}  // namespace postern::smtp::routing
