// Unit tests for lib/auth/psl (the Public Suffix List, against the list's own vectors in
// ${POSTERN_TESTDATA}/psl, see its SOURCE.txt) and lib/auth/dmarc (RFC 7489).
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "auth/dmarc.h"
#include "auth/psl.h"
#include "dns/dns.h"
#include "dns/zone_resolver.h"

namespace {

namespace auth = postern::auth;
namespace dmarc = postern::auth::dmarc;
namespace dns = postern::dns;

const auth::PublicSuffixList& psl() {
  auto p = auth::PublicSuffixList::shared();
  if (!p) ADD_FAILURE() << p.error().message();
  return **p;
}

// ---------------------------------------------------------------- PSL

TEST(Psl, OfficialVectors) {
  std::ifstream in(std::string(POSTERN_TESTDATA) + "/psl/test_psl.txt");
  ASSERT_TRUE(in) << "psl/test_psl.txt not found under " << POSTERN_TESTDATA;
  // Commented-out lines are not expected to pass (SOURCE.txt); they do not match here.
  std::regex line(R"(^checkPublicSuffix\((null|'([^']*)'), (null|'([^']*)')\);)");
  std::string l;
  int total = 0, passed = 0;
  while (std::getline(in, l)) {
    std::smatch m;
    if (!std::regex_search(l, m, line)) continue;
    ++total;
    std::optional<std::string> expected;
    if (m[3] != "null") expected = m[4].str();
    std::optional<std::string> got;
    if (m[1] != "null") got = psl().organizational_domain(m[2].str());
    if (got == expected) {
      ++passed;
    } else {
      ADD_FAILURE() << l << " → " << got.value_or("null");
    }
  }
  std::printf("psl: %d/%d\n", passed, total);
  EXPECT_EQ(passed, total);
  EXPECT_GE(total, 70);
}

TEST(Psl, RulesAndForms) {
  auto list = auth::PublicSuffixList::parse("// c\ncom\n*.ck\n!www.ck\nco.uk\n公司.cn\ncn\n");
  ASSERT_TRUE(list);
  EXPECT_EQ(*list->public_suffix("a.b.example.ck"), "example.ck");
  EXPECT_EQ(*list->organizational_domain("www.ck"), "www.ck");
  EXPECT_EQ(*list->organizational_domain("a.www.ck"), "www.ck");
  EXPECT_EQ(*list->organizational_domain("A.Example.CO.UK."), "example.co.uk");
  EXPECT_FALSE(list->organizational_domain("co.uk"));
  EXPECT_FALSE(list->organizational_domain(".example.com"));
  EXPECT_FALSE(list->organizational_domain("a..example.com"));
  EXPECT_FALSE(list->organizational_domain(""));
  EXPECT_EQ(*list->organizational_domain("x.y.unlisted"), "y.unlisted");  // implicit "*"
  EXPECT_EQ(*list->organizational_domain("www.xn--85x722f.xn--55qx5d.cn"),
            "xn--85x722f.xn--55qx5d.cn");
  EXPECT_EQ(*list->organizational_domain("www.食狮.公司.cn"), "食狮.公司.cn");
  EXPECT_EQ(*auth::to_ascii_domain("食狮.公司.cn"), "xn--85x722f.xn--55qx5d.cn");
  EXPECT_FALSE(auth::PublicSuffixList::parse("// nothing\n"));
  EXPECT_FALSE(auth::PublicSuffixList::load("/nonexistent/psl.dat"));
}

// ---------------------------------------------------------------- records

TEST(DmarcRecord, Parses) {
  auto r = dmarc::parse_record(
      "v=DMARC1; p=Reject; sp=quarantine; np=reject; pct=30; adkim=s; aspf=r; "
      "rua=mailto:a@example.org,mailto:b@example.org!10m; ruf=mailto:f@example.org; fo=1:d; "
      "rf=afrf; ri=3600; unknown=x;");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->p, dmarc::Policy::kReject);
  EXPECT_EQ(r->sp, dmarc::Policy::kQuarantine);
  EXPECT_EQ(r->np, dmarc::Policy::kReject);
  EXPECT_EQ(r->pct, 30);
  EXPECT_EQ(r->adkim, dmarc::Alignment::kStrict);
  EXPECT_EQ(r->aspf, dmarc::Alignment::kRelaxed);
  ASSERT_EQ(r->rua.size(), 2u);
  EXPECT_EQ(r->rua[1], "mailto:b@example.org!10m");
  EXPECT_EQ(r->fo, "1:d");
  EXPECT_EQ(r->ri, 3600u);
}

TEST(DmarcRecord, DefaultsAndErrors) {
  EXPECT_TRUE(dmarc::is_dmarc_record("v=DMARC1; p=none"));
  EXPECT_TRUE(dmarc::is_dmarc_record("v = DMARC1;p=none"));
  EXPECT_FALSE(dmarc::is_dmarc_record("p=none; v=DMARC1"));  // v must come first
  EXPECT_FALSE(dmarc::is_dmarc_record("v=DMARC10; p=none"));
  EXPECT_FALSE(dmarc::is_dmarc_record("v=spf1 -all"));
  auto r = dmarc::parse_record("v=DMARC1; p=none; pct=200; adkim=x; fo=7; ri=soon");
  ASSERT_TRUE(r);  // invalid values keep their defaults (RFC 7489 6.3)
  EXPECT_EQ(r->pct, 100);
  EXPECT_EQ(r->adkim, dmarc::Alignment::kRelaxed);
  EXPECT_EQ(r->fo, "0");
  EXPECT_EQ(r->ri, 86400u);
  EXPECT_FALSE(r->sp);
  // No valid p: p=none with a valid rua, unusable without one (RFC 7489 6.6.3).
  auto with_rua = dmarc::parse_record("v=DMARC1; p=bogus; rua=mailto:r@example.org");
  ASSERT_TRUE(with_rua);
  EXPECT_TRUE(with_rua->p_assumed);
  EXPECT_EQ(with_rua->p, dmarc::Policy::kNone);
  EXPECT_FALSE(dmarc::parse_record("v=DMARC1; p=bogus"));
  EXPECT_FALSE(dmarc::parse_record("v=DMARC1"));
  EXPECT_FALSE(dmarc::parse_record("v=DMARC1; p=reject; sp=bogus"));
  EXPECT_FALSE(dmarc::parse_record("v=DMARC1; p=reject; junk"));
}

// ---------------------------------------------------------------- From

TEST(DmarcFrom, OneAuthorDomain) {
  EXPECT_EQ(*dmarc::from_domain("From: Joe <joe@Example.ORG>\r\nTo: x@y\r\n\r\nbody"),
            "example.org");
  EXPECT_EQ(*dmarc::from_domain("from: a@example.org,\n b@EXAMPLE.org\n\nx"), "example.org");
  EXPECT_EQ(*dmarc::from_domain("From: a@食狮.公司.cn\n\n"), "xn--85x722f.xn--55qx5d.cn");
  EXPECT_FALSE(dmarc::from_domain("From: a@example.org, b@example.net\n\n"));
  EXPECT_FALSE(dmarc::from_domain("From: a@example.org\nFrom: a@example.org\n\n"));
  EXPECT_FALSE(dmarc::from_domain("To: a@example.org\n\nFrom: a@example.org\n"));
  EXPECT_FALSE(dmarc::from_domain("From: undisclosed\n\n"));
  // Not domain names: refused here, so header.from never shows them.
  auto bad = dmarc::from_domain("From: a@[192.0.2.1]\n\n");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("not a domain name"), std::string::npos);
  EXPECT_FALSE(dmarc::from_domain("From: a@localhost\n\n"));
}

// ---------------------------------------------------------------- evaluation

class DmarcEval : public ::testing::Test {
 protected:
  void SetUp() override {
    auto st = zone_.parse(R"(
_dmarc.example.org      TXT "v=DMARC1; p=reject; sp=quarantine; rua=mailto:d@example.org"
_dmarc.strict.example   TXT "v=DMARC1; p=reject; adkim=s; aspf=s"
_dmarc.half.example     TXT "v=DMARC1; p=reject; pct=50"
_dmarc.quar.example     TXT "v=DMARC1; p=quarantine; pct=0"
_dmarc.two.example      TXT "v=DMARC1; p=reject"
_dmarc.two.example      TXT "v=DMARC1; p=none"
_dmarc.bad.example      TXT "v=DMARC1; p=maybe"
_dmarc.other.example    TXT "v=spf1 -all"
_dmarc.own.example.org  TXT "v=DMARC1; p=none"
_dmarc.example.co.uk    TXT "v=DMARC1; p=reject"
_dmarc.broken.example   SERVFAIL
_dmarc.np.example       TXT "v=DMARC1; p=none; sp=quarantine; np=reject"
live.np.example         MX  10 mx.np.example
_dmarc.slow.example     TXT TIMEOUT
)");
    ASSERT_TRUE(st) << st.error().message();
  }

  dmarc::Evaluation eval(std::string from, auth::SpfCode spf, std::string spf_domain,
                         std::vector<std::string> dkim, int roll = 0) {
    dmarc::Request req;
    req.from_domain = std::move(from);
    req.spf = spf;
    req.spf_domain = std::move(spf_domain);
    req.dkim_pass_domains = std::move(dkim);
    req.roll = [roll] { return roll; };
    auto task = dmarc::evaluate(zone_, psl(), req);
    return dns::run(zone_, task);
  }

  dns::ZoneResolver zone_;
};

using auth::SpfCode;

TEST_F(DmarcEval, RelaxedAlignmentPasses) {
  auto ev = eval("example.org", SpfCode::kPass, "bounce.example.org", {});
  EXPECT_EQ(ev.result, dmarc::Code::kPass);
  EXPECT_TRUE(ev.spf_aligned);
  EXPECT_EQ(ev.policy, dmarc::Policy::kNone);
  ev = eval("example.org", SpfCode::kNone, "", {"mail.example.org"});
  EXPECT_EQ(ev.result, dmarc::Code::kPass);
  EXPECT_TRUE(ev.dkim_aligned);
  EXPECT_EQ(ev.dkim_domain, "mail.example.org");
}

TEST_F(DmarcEval, SpfMustPassAndAlign) {
  auto ev = eval("example.org", SpfCode::kSoftFail, "example.org", {"example.net"});
  EXPECT_EQ(ev.result, dmarc::Code::kFail);
  EXPECT_EQ(ev.policy, dmarc::Policy::kReject);
  ev = eval("example.org", SpfCode::kPass, "example.net", {});
  EXPECT_EQ(ev.result, dmarc::Code::kFail);
  EXPECT_FALSE(ev.spf_aligned);
}

TEST_F(DmarcEval, StrictAlignment) {
  EXPECT_EQ(eval("strict.example", SpfCode::kPass, "a.strict.example", {"b.strict.example"}).result,
            dmarc::Code::kFail);
  EXPECT_EQ(eval("strict.example", SpfCode::kPass, "STRICT.example.", {}).result,
            dmarc::Code::kPass);
  EXPECT_EQ(eval("strict.example", SpfCode::kFail, "", {"strict.example"}).result,
            dmarc::Code::kPass);
}

TEST_F(DmarcEval, SubdomainPolicyFromOrgDomain) {
  auto ev = eval("news.example.org", SpfCode::kNone, "", {});
  EXPECT_EQ(ev.result, dmarc::Code::kFail);
  EXPECT_EQ(ev.record_domain, "example.org");
  EXPECT_EQ(ev.org_domain, "example.org");
  EXPECT_TRUE(ev.subdomain_policy);
  EXPECT_EQ(ev.policy, dmarc::Policy::kQuarantine);  // sp, not p
  // A record at the subdomain itself applies its own p.
  ev = eval("own.example.org", SpfCode::kNone, "", {});
  EXPECT_EQ(ev.record_domain, "own.example.org");
  EXPECT_FALSE(ev.subdomain_policy);
  EXPECT_EQ(ev.policy, dmarc::Policy::kNone);
  // The org domain under a multi-label public suffix.
  ev = eval("www.example.co.uk", SpfCode::kNone, "", {});
  EXPECT_EQ(ev.record_domain, "example.co.uk");
  EXPECT_EQ(ev.policy, dmarc::Policy::kReject);  // no sp: p
  // ZoneResolver: both lookups were made, From domain first.
  ASSERT_GE(zone_.queries().size(), 2u);
}

TEST_F(DmarcEval, NpForNonExistentSubdomains) {
  auto ev = eval("ghost.np.example", SpfCode::kNone, "", {});
  EXPECT_TRUE(ev.nonexistent_policy);
  EXPECT_EQ(ev.policy, dmarc::Policy::kReject);  // RFC 9091: NXDOMAIN for A, AAAA, MX
  ev = eval("live.np.example", SpfCode::kNone, "", {});
  EXPECT_FALSE(ev.nonexistent_policy);
  EXPECT_EQ(ev.policy, dmarc::Policy::kQuarantine);
  ev = eval("np.example", SpfCode::kNone, "", {});
  EXPECT_EQ(ev.policy, dmarc::Policy::kNone);  // the org domain itself: p
}

TEST_F(DmarcEval, PctSampling) {
  auto in = eval("half.example", SpfCode::kNone, "", {}, 49);
  EXPECT_TRUE(in.sampled);
  EXPECT_EQ(in.policy, dmarc::Policy::kReject);
  auto out = eval("half.example", SpfCode::kNone, "", {}, 50);
  EXPECT_FALSE(out.sampled);
  EXPECT_EQ(out.requested, dmarc::Policy::kReject);
  EXPECT_EQ(out.policy, dmarc::Policy::kQuarantine);  // RFC 7489 6.6.4
  auto q = eval("quar.example", SpfCode::kNone, "", {}, 0);
  EXPECT_EQ(q.policy, dmarc::Policy::kNone);
}

TEST_F(DmarcEval, NoneMultipleErrors) {
  EXPECT_EQ(eval("example.net", SpfCode::kPass, "example.net", {}).result, dmarc::Code::kNone);
  EXPECT_EQ(eval("other.example", SpfCode::kNone, "", {}).result, dmarc::Code::kNone);
  auto two = eval("two.example", SpfCode::kNone, "", {});
  EXPECT_EQ(two.result, dmarc::Code::kNone);
  EXPECT_EQ(two.policy, dmarc::Policy::kNone);
  EXPECT_EQ(eval("bad.example", SpfCode::kNone, "", {}).result, dmarc::Code::kPermError);
  EXPECT_EQ(eval("broken.example", SpfCode::kPass, "broken.example", {}).result,
            dmarc::Code::kTempError);
  EXPECT_EQ(eval("slow.example", SpfCode::kNone, "", {}).result, dmarc::Code::kTempError);
  EXPECT_EQ(eval("a.slow.example", SpfCode::kNone, "", {}).result, dmarc::Code::kTempError);
  EXPECT_EQ(eval("", SpfCode::kNone, "", {}).result, dmarc::Code::kPermError);
}

// Found by tests/fuzz/dmarc_fuzz: an ASCII From "domain" that is no domain name (spaces,
// controls, a NUL that would cut the DNS name short) is permerror, and never looked up.
TEST_F(DmarcEval, FromDomainThatIsNoDomainName) {
  size_t before = zone_.queries().size();
  for (std::string from : {std::string("example.org x"), std::string("example.org\x01"),
                           std::string("example.org\0.evil.example", 25),
                           std::string("ex;ample.org")}) {
    auto ev = eval(from, SpfCode::kPass, "example.org", {"example.org"});
    EXPECT_EQ(ev.result, dmarc::Code::kPermError) << from;
  }
  EXPECT_EQ(zone_.queries().size(), before);
}

TEST_F(DmarcEval, ResultClause) {
  auto ev = eval("news.example.org", SpfCode::kNone, "", {});
  EXPECT_EQ(auth::format_clause(dmarc::result_clause(ev)),
            "dmarc=fail (p=reject sp=quarantine pct=100) header.from=news.example.org "
            "policy.dmarc=quarantine");
  ev = eval("example.net", SpfCode::kNone, "", {});
  EXPECT_EQ(auth::format_clause(dmarc::result_clause(ev)), "dmarc=none header.from=example.net");
}

// ---------------------------------------------------------------- upstream results

TEST(DmarcUpstream, ReadsOurResultsOnly) {
  std::string msg =
      "Authentication-Results: mx.example; dkim=pass (good) header.d=example.org header.s=s1;\r\n"
      "\tdkim=fail header.d=evil.example\r\n"
      "Authentication-Results: other.example; spf=pass smtp.mailfrom=x@forged.example\r\n"
      "Received-SPF: pass (mx.example: domain of a@b.example.org designates 192.0.2.1 as "
      "permitted sender)\r\n\tclient-ip=192.0.2.1; envelope-from=\"a@b.example.org\"; "
      "helo=h;\r\n\treceiver=mx.example; identity=mailfrom;\r\n"
      "From: a@example.org\r\n\r\nbody\r\n";
  auto up = dmarc::upstream_results(msg, "MX.example");
  EXPECT_TRUE(up.have_spf);
  EXPECT_EQ(up.spf, SpfCode::kPass);
  EXPECT_EQ(up.spf_domain, "b.example.org");
  ASSERT_EQ(up.dkim_pass_domains.size(), 1u);
  EXPECT_EQ(up.dkim_pass_domains[0], "example.org");
  auto ar = auth::parse_authentication_results(
      " mx.example 1; spf=fail (x; y) reason=\"a; b\" smtp.mailfrom=\"q@example.net\"");
  EXPECT_EQ(ar.id, "mx.example");
  ASSERT_EQ(ar.clauses.size(), 1u);
  EXPECT_EQ(ar.clauses[0].reason, "a; b");
  EXPECT_EQ(ar.clauses[0].props[0].second, "q@example.net");
}

}  // namespace
