// Unit tests for lib/auth/check.h (SPF + DKIM + ARC + DMARC in one pass) and
// lib/auth/record.h (the report record's JSON line).
#include "auth/check.h"

#include <gtest/gtest.h>

#include <string>

#include "auth/record.h"
#include "dns/zone_resolver.h"

namespace postern::auth {
namespace {

constexpr int64_t kNow = 1700000000;

class CheckTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto k = dkim::generate_key(true, 0);
    ASSERT_TRUE(k) << k.error().message();
    key_ = std::make_unique<dkim::PrivateKey>(std::move(*k));
    std::string p = "v=DKIM1; k=ed25519; p=" + dkim::base64_encode(key_->public_key_record());
    std::string zone =
        "s1._domainkey.example.org TXT \"" + p + "\"\n" +
        "s1._domainkey.lists.example TXT \"" + p + "\"\n" +
        "example.org TXT \"v=spf1 ip4:192.0.2.0/24 -all\"\n"
        "_dmarc.example.org TXT \"v=DMARC1; p=reject; pct=100; rua=mailto:d@example.org\"\n"
        "slow._domainkey.example.org TXT TIMEOUT\n"
        "_dmarc.broken.example SERVFAIL\n";
    ASSERT_TRUE(zone_.parse(zone));
    auto psl = PublicSuffixList::shared();
    ASSERT_TRUE(psl) << psl.error().message();
    psl_ = *psl;
  }

  std::string signed_message(std::string selector = "s1") {
    std::string msg =
        "From: Alice <alice@example.org>\r\nTo: bob@example.net\r\nSubject: hello\r\n"
        "Message-ID: <c-1@example.org>\r\n\r\nbody\r\n";
    dkim::SignOptions o{.domain = "example.org", .selector = selector, .key = key_.get()};
    o.timestamp = kNow;
    auto field = dkim::sign(msg, o);
    EXPECT_TRUE(field) << field.error().message();
    return *field + msg;
  }

  CheckRequest request(std::string ip, std::string mail_from) {
    CheckRequest r;
    r.ip = *IpAddress::parse(ip);
    r.helo = "mail.example.org";
    r.mail_from = std::move(mail_from);
    r.rcpt_to = "bob@Example.NET";
    r.authserv_id = "mx.example";
    r.now = kNow + 10;
    return r;
  }

  CheckResult check(const std::string& msg, const CheckRequest& req) {
    auto task = check_message(msg, zone_, *psl_, req);
    return dns::run(zone_, task);
  }

  static std::string words(const CheckRequest& req, const CheckResult& r) {
    std::string out;
    for (const auto& c : result_clauses(req, r)) out += c.method + "=" + c.result + " ";
    return out;
  }

  std::unique_ptr<dkim::PrivateKey> key_;
  dns::ZoneResolver zone_;
  const PublicSuffixList* psl_ = nullptr;
};

TEST_F(CheckTest, AllFourMethodsInOrder) {
  auto req = request("203.0.113.9", "x@bounce.example.net");
  CheckResult r = check(signed_message(), req);
  EXPECT_EQ(words(req, r), "spf=none dkim=pass arc=none dmarc=pass ");
  EXPECT_EQ(r.disposition, dmarc::Policy::kNone);
  EXPECT_TRUE(r.dmarc.dkim_aligned);
  EXPECT_FALSE(is_temporary(r));
}

TEST_F(CheckTest, FailingDmarcAppliesRejectAndRecordsIt) {
  auto req = request("203.0.113.9", "x@example.org");
  std::string msg = signed_message();
  msg.replace(msg.find("body"), 4, "evil");
  CheckResult r = check(msg, req);
  EXPECT_EQ(words(req, r), "spf=fail dkim=fail arc=none dmarc=fail ");
  EXPECT_EQ(r.disposition, dmarc::Policy::kReject);
  Record rec = to_record(req, r, kNow);
  EXPECT_EQ(rec.envelope_from, "example.org");
  EXPECT_EQ(rec.envelope_to, "example.net");
  EXPECT_EQ(rec.disposition, "reject");
  ASSERT_TRUE(rec.policy);
  EXPECT_EQ(rec.policy->domain, "example.org");
  EXPECT_EQ(rec.policy->rua, std::vector<std::string>{"mailto:d@example.org"});
  ASSERT_EQ(rec.dkim.size(), 1u);
  EXPECT_EQ(rec.dkim[0].human_result, "body hash mismatch");
}

TEST_F(CheckTest, TemporaryWhenAKeyLookupTimesOutAndDmarcFails) {
  auto req = request("203.0.113.9", "x@bounce.example.net");
  CheckResult r = check(signed_message("slow"), req);
  EXPECT_EQ(r.dkim.at(0).result, "temperror");
  EXPECT_TRUE(is_temporary(r));
  // The same timeout does not matter when SPF aligns and passes.
  CheckResult ok = check(signed_message("slow"), request("192.0.2.1", "x@example.org"));
  EXPECT_EQ(ok.dmarc.result, dmarc::Code::kPass);
  EXPECT_FALSE(is_temporary(ok));
}

TEST_F(CheckTest, TrustedArcSealerOverridesAFailingPolicy) {
  // lists.example authenticates, changes the Subject, then seals.
  std::string msg = signed_message();
  auto at_list = request("192.0.2.1", "x@example.org");
  at_list.authserv_id = "lists.example";
  CheckResult first = check(msg, at_list);
  std::string stamped =
      format_authentication_results("lists.example", result_clauses(at_list, first)) + msg;
  stamped.replace(stamped.find("Subject: hello"), 14, "Subject: [l] hello");
  arc::SealOptions so{.domain = "lists.example", .selector = "s1", .key = key_.get(),
                      .authserv_id = "lists.example",
                      .results = arc::collect_results(stamped, "lists.example")};
  so.timestamp = kNow;
  auto set = arc::seal(stamped, so);
  ASSERT_TRUE(set) << set.error().message();
  std::string forwarded = *set + stamped;

  auto req = request("198.51.100.7", "bounces@lists.example");
  CheckResult plain = check(forwarded, req);
  EXPECT_EQ(words(req, plain), "spf=none dkim=fail arc=pass dmarc=fail ");
  EXPECT_EQ(plain.disposition, dmarc::Policy::kReject);
  req.trusted_arc_sealers = {"Lists.Example"};
  CheckResult trusted = check(forwarded, req);
  EXPECT_EQ(trusted.disposition, dmarc::Policy::kNone);
  ASSERT_EQ(trusted.overrides.size(), 1u);
  EXPECT_EQ(trusted.overrides[0].type, "trusted_forwarder");
  ResultClause d = result_clauses(req, trusted).back();
  EXPECT_EQ(format_clause(d).find("policy.dmarc=none") != std::string::npos, true);
}

TEST_F(CheckTest, SampledOutIsAReason) {
  ASSERT_TRUE(zone_.parse("_dmarc.half.example TXT \"v=DMARC1; p=reject; pct=50\"\n"));
  std::string msg = "From: a@half.example\r\nSubject: x\r\n\r\nbody\r\n";
  auto req = request("203.0.113.9", "a@half.example");
  req.roll = [] { return 70; };
  CheckResult r = check(msg, req);
  EXPECT_EQ(r.disposition, dmarc::Policy::kQuarantine);
  ASSERT_EQ(r.overrides.size(), 1u);
  EXPECT_EQ(r.overrides[0].type, "sampled_out");
}

TEST_F(CheckTest, NullSenderChecksHeloScope) {
  auto req = request("192.0.2.1", "");
  req.helo = "example.org";
  CheckResult r = check(signed_message(), req);
  EXPECT_EQ(r.spf.code, SpfCode::kPass);
  Record rec = to_record(req, r, kNow);
  EXPECT_EQ(rec.spf_scope, "helo");
  EXPECT_EQ(rec.envelope_from, "");
  EXPECT_TRUE(rec.spf_aligned);
}

TEST(RecordTest, RoundTrip) {
  Record r;
  r.time = 1700000000;
  r.reporter = "mx.example";
  r.source_ip = "2001:db8::1";
  r.header_from = "example.org";
  r.spf_result = "pass";
  r.spf_domain = "example.org";
  r.dkim = {{"example.org", "s1", "pass", ""}, {"other.example", "x", "fail", "bad \"sig\""}};
  r.arc = "pass";
  r.dmarc_result = "fail";
  r.disposition = "none";
  r.reasons = {{"trusted_forwarder", "arc=pass as.d=lists.example"}};
  r.policy = RecordPolicy{.domain = "example.org", .p = "reject", .np = "quarantine", .pct = 50,
                          .adkim = "s", .rua = {"mailto:a@example.org!10m"}};
  std::string line = record_to_json(r);
  ASSERT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1);
  auto back = record_from_json(line);
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(record_to_json(*back), line);
  EXPECT_EQ(back->policy->np, "quarantine");
  EXPECT_EQ(back->dkim[1].human_result, "bad \"sig\"");
}

TEST(RecordTest, RejectsWhatItCannotRead) {
  EXPECT_FALSE(record_from_json("not json"));
  EXPECT_FALSE(record_from_json("[1]"));
  EXPECT_FALSE(record_from_json(R"({"time":1,"source_ip":"192.0.2.1","dmarc":{}})"));  // no v
  auto newer = record_from_json(R"({"v":2,"time":1,"source_ip":"192.0.2.1","dmarc":{}})");
  ASSERT_FALSE(newer);
  EXPECT_NE(newer.error().message().find("newer"), std::string::npos);
  EXPECT_FALSE(record_from_json(R"({"v":1,"source_ip":"192.0.2.1","dmarc":{}})"));
  // Unknown members are ignored; "policy": null reads as no policy.
  auto ok = record_from_json(
      R"({"v":1,"time":5,"source_ip":"192.0.2.1","future":[1],"dmarc":{"policy":null}})");
  ASSERT_TRUE(ok);
  EXPECT_FALSE(ok->policy);
  EXPECT_EQ(ok->disposition, "none");
}

}  // namespace
}  // namespace postern::auth
