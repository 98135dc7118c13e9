// MTA-STS (RFC 8461): TXT record and policy parsing, MX pattern matching, the cache rules
// of RFC 8461 5.1 (over the zone-file resolver, with the HTTPS fetch replaced), and a
// fetch's failure modes on loopback.
//
// MtaStsE2e.FetchFromEnvironment is driven by tests/e2e/mta-sts.bats, which starts NSD and
// an HTTPS server and sets (the test skips when MTA_STS_E2E_DNS is unset):
//   MTA_STS_E2E_DNS      the DNS server, "127.0.0.1:PORT"
//   MTA_STS_E2E_DOMAIN   the policy domain to look up
//   MTA_STS_E2E_CA       the CA file that signed the HTTPS server's certificate
//   MTA_STS_E2E_PORT     the HTTPS server's port
//   MTA_STS_E2E_OUT      where to write the outcome (one line, see below)
//   MTA_STS_E2E_TIMEOUT  optional, fetch timeout in milliseconds
//   MTA_STS_E2E_ROUNDS   optional, calls made in a row with one cache (default 1)
// The outcome line per round: "policy mode=M max_age=N mx=P1,P2", "none", or "error: ...".
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "base/fd.h"
#include "dns/zone_resolver.h"
#include "smtp/mta_sts.h"
#include "store/store.h"

namespace postern {
namespace {

namespace sts = smtp::mta_sts;
using std::chrono::seconds;
using std::chrono::system_clock;

// ---------------------------------------------------------------- TXT record

TEST(MtaStsTxt, RfcExampleAndVariants) {
  auto r = sts::parse_txt("v=STSv1; id=20160831085700Z;");  // RFC 8461 3.1
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->id, "20160831085700Z");
  EXPECT_EQ(sts::parse_txt("v=STSv1;id=abc")->id, "abc");
  EXPECT_EQ(sts::parse_txt("v=STSv1 ;\tid=abc ; ")->id, "abc");
  EXPECT_EQ(sts::parse_txt("v=STSv1; ext_1.x=va:lue; id=12345678901234567890123456789012")->id,
            "12345678901234567890123456789012");
}

TEST(MtaStsTxt, StrictRefusals) {
  for (const char* bad : {
           "",                                               // nothing
           "v=STSv1",                                        // no id
           "v=STSv1;",                                       // no id
           "v=stsv1; id=abc",                                // version is case-sensitive
           "v=STSv2; id=abc",                                // unknown version
           "v=STSv10; id=abc",                               // not followed by ';'
           " v=STSv1; id=abc",                               // must start with v=
           "id=abc; v=STSv1",                                // v first
           "v=STSv1; id=",                                   // empty id
           "v=STSv1; id=abc-def",                            // id: letters and digits only
           "v=STSv1; id=123456789012345678901234567890123",  // 33 characters
           "v=STSv1; id=abc; id=def",                        // two ids
           "v=STSv1; id = abc",                              // no white space around =
           "v=STSv1; id=abc;; x=y",                          // empty field
           "v=STSv1; id=abc; _x=y",   // extension name starts with a letter/digit
           "v=STSv1; id=abc; x=",     // empty extension value
           "v=STSv1; id=abc; x=a=b",  // '=' in a value
           "v=STSv1; id=abc junk",    // garbage after a field
       }) {
    EXPECT_FALSE(sts::parse_txt(bad)) << bad;
  }
}

// ---------------------------------------------------------------- policy

constexpr const char* kRfcPolicy =  // RFC 8461 3.2
    "version: STSv1\r\n"
    "mode: enforce\r\n"
    "mx: mail.example.com\r\n"
    "mx: *.example.net\r\n"
    "mx: backupmx.example.com\r\n"
    "max_age: 604800\r\n";

TEST(MtaStsPolicy, RfcExample) {
  auto p = sts::parse_policy(kRfcPolicy);
  ASSERT_TRUE(p) << p.error().message();
  EXPECT_EQ(p->mode, sts::Mode::kEnforce);
  EXPECT_EQ(p->max_age, 604800);
  EXPECT_EQ(p->mx, (std::vector<std::string>{"mail.example.com", "*.example.net",
                                             "backupmx.example.com"}));
  EXPECT_EQ(sts::policy_strings(*p),
            (std::vector<std::string>{"version: STSv1", "mode: enforce", "mx: mail.example.com",
                                      "mx: *.example.net", "mx: backupmx.example.com",
                                      "max_age: 604800"}));
}

TEST(MtaStsPolicy, Variants) {
  // LF lines, no final newline, extra spaces after ':', unknown keys, upper-case mx.
  auto p = sts::parse_policy(
      "version: STSv1\nmode:testing\nmx:   MX.Example.ORG.\nfoo_bar: baz\nmax_age: 86400");
  ASSERT_TRUE(p) << p.error().message();
  EXPECT_EQ(p->mode, sts::Mode::kTesting);
  EXPECT_EQ(p->mx, std::vector<std::string>{"mx.example.org"});
  // mode none needs no mx.
  auto none = sts::parse_policy("version: STSv1\nmode: none\nmax_age: 0\n");
  ASSERT_TRUE(none) << none.error().message();
  EXPECT_EQ(none->mode, sts::Mode::kNone);
  // max_age above the maximum is capped; the first of a repeated key wins.
  auto big = sts::parse_policy(
      "version: STSv1\nmode: enforce\nmode: none\nmx: a.example\nmax_age: 9999999999\n");
  ASSERT_TRUE(big);
  EXPECT_EQ(big->max_age, sts::kMaxMaxAge);
  EXPECT_EQ(big->mode, sts::Mode::kEnforce);
}

TEST(MtaStsPolicy, Refusals) {
  for (const char* bad : {
           "mode: enforce\nmx: a.example\nmax_age: 1\n",                  // no version
           "version: STSv2\nmode: enforce\nmx: a.example\nmax_age: 1\n",  // wrong version
           "version: STSv1\nmx: a.example\nmax_age: 1\n",                 // no mode
           "version: STSv1\nmode: Enforce\nmx: a.example\nmax_age: 1\n",  // case-sensitive
           "version: STSv1\nmode: enforce\nmx: a.example\n",              // no max_age
           "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: -1\n",
           "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 12345678901\n",  // 11 digits
           "version: STSv1\nmode: enforce\nmax_age: 86400\n",               // enforce without mx
           "version: STSv1\nmode: testing\nmax_age: 86400\n",               // testing without mx
           "version: STSv1\nmode: enforce\nmx: *.*.example\nmax_age: 1\n",  // one wildcard label
           "version: STSv1\nmode: enforce\nmx: a..example\nmax_age: 1\n",
           "version: STSv1\nmode: enforce\nmx: *example.net\nmax_age: 1\n",
           "version: STSv1\nmode: enforce\nmx: -a.example\nmax_age: 1\n",
           "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 1\njunk line\n",
           "<html>not a policy</html>",
       }) {
    EXPECT_FALSE(sts::parse_policy(bad)) << bad;
  }
}

TEST(MtaStsPolicy, MxMatching) {
  auto p = sts::parse_policy(kRfcPolicy);
  ASSERT_TRUE(p);
  EXPECT_TRUE(sts::mx_matches(*p, "mail.example.com"));
  EXPECT_TRUE(sts::mx_matches(*p, "MAIL.Example.COM."));
  EXPECT_TRUE(sts::mx_matches(*p, "mx1.example.net"));
  EXPECT_TRUE(sts::mx_matches(*p, "backupmx.example.com"));
  // RFC 8461 4.1: the wildcard covers exactly one label.
  EXPECT_FALSE(sts::mx_matches(*p, "a.b.example.net"));
  EXPECT_FALSE(sts::mx_matches(*p, "example.net"));
  EXPECT_FALSE(sts::mx_matches(*p, ".example.net"));
  EXPECT_FALSE(sts::mx_matches(*p, "xexample.net"));
  EXPECT_FALSE(sts::mx_matches(*p, "sub.mail.example.com"));
  EXPECT_FALSE(sts::mx_matches(*p, "mail.example.com.evil"));
  EXPECT_FALSE(sts::mx_matches(*p, ""));
}

// ---------------------------------------------------------------- discovery and cache

class MtaStsCache : public ::testing::Test {
 protected:
  void SetUp() override {
    set_txt("v=STSv1; id=one;");
    ASSERT_TRUE(zone_.parse(R"(
_mta-sts.two.example   TXT "v=STSv1; id=a;"
_mta-sts.two.example   TXT "v=STSv1; id=b;"
_mta-sts.other.example TXT "v=spf1 -all"
_mta-sts.bad.example   TXT "v=STSv1; id=not valid"
_mta-sts.mixed.example TXT "v=spf1 -all"
_mta-sts.mixed.example TXT "v=STSv1; id=m1"
_mta-sts.split.example TXT "v=STSv1; " "id=sp1"
_mta-sts.fail.example  SERVFAIL
)"));
    opts_.fetcher = [this](const std::string& host) -> base::Result<std::string> {
      hosts_.push_back(host);
      if (!fetch_ok_) return base::Error::temporary("connection refused");
      return body_;
    };
  }
  // The zone of example.org's TXT record, rebuilt (ZoneResolver only adds).
  void set_txt(const std::string& txt) {
    zone_txt_ = std::make_unique<dns::ZoneResolver>();
    if (!txt.empty()) {
      ASSERT_TRUE(zone_txt_->parse("_mta-sts.example.org TXT \"" + txt + "\"\n"));
    }
  }
  void txt_servfail() {
    zone_txt_ = std::make_unique<dns::ZoneResolver>();
    zone_txt_->fail("_mta-sts.example.org", std::nullopt, dns::Status::kServFail);
  }
  base::Result<std::optional<sts::Policy>> get(const std::string& domain = "example.org") {
    dns::Resolver& r = domain == "example.org" ? static_cast<dns::Resolver&>(*zone_txt_) : zone_;
    return sts::current_policy(r, cache_, domain, opts_, now_);
  }
  static std::string policy(const char* mode, int max_age, const char* mx = "mx.example.org") {
    return std::string("version: STSv1\nmode: ") + mode + "\nmx: " + mx +
           "\nmax_age: " + std::to_string(max_age) + "\n";
  }

  dns::ZoneResolver zone_;
  std::unique_ptr<dns::ZoneResolver> zone_txt_;
  sts::MemoryPolicyCache cache_;
  sts::FetchOptions opts_;
  std::vector<std::string> hosts_;
  bool fetch_ok_ = true;
  std::string body_ = policy("enforce", 86400);
  system_clock::time_point now_ = system_clock::time_point(seconds(1700000000));
};

TEST_F(MtaStsCache, FetchesOnceAndCachesUnderTheId) {
  auto p = get();
  ASSERT_TRUE(p) << p.error().message();
  ASSERT_TRUE(*p);
  EXPECT_EQ((*p)->mode, sts::Mode::kEnforce);
  EXPECT_EQ(hosts_, std::vector<std::string>{"mta-sts.example.org"});
  auto c = cache_.get("example.org");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->id, "one");
  EXPECT_EQ(c->fetched, 1700000000);
  EXPECT_EQ(c->expires(), 1700000000 + 86400);
  // Same id, unexpired: no new fetch.
  now_ += seconds(3600);
  body_ = policy("testing", 86400);
  auto again = get();
  ASSERT_TRUE(again && *again);
  EXPECT_EQ((*again)->mode, sts::Mode::kEnforce);
  EXPECT_EQ(hosts_.size(), 1u);
}

TEST_F(MtaStsCache, NewIdRefetches) {
  ASSERT_TRUE(get());
  set_txt("v=STSv1; id=two;");
  body_ = policy("testing", 3600, "*.example.org");
  auto p = get();
  ASSERT_TRUE(p && *p);
  EXPECT_EQ((*p)->mode, sts::Mode::kTesting);
  EXPECT_EQ(hosts_.size(), 2u);
  EXPECT_EQ(cache_.get("example.org")->id, "two");
}

TEST_F(MtaStsCache, FailedRefetchKeepsTheCachedPolicy) {
  ASSERT_TRUE(get());
  set_txt("v=STSv1; id=two;");
  fetch_ok_ = false;
  auto p = get();
  ASSERT_TRUE(p && *p) << (p ? "" : p.error().message());
  EXPECT_EQ((*p)->mode, sts::Mode::kEnforce);
  EXPECT_EQ(cache_.get("example.org")->id, "one");  // not replaced
  // An invalid policy body is a failed fetch too.
  fetch_ok_ = true;
  body_ = "version: STSv1\nmode: sometimes\n";
  auto q = get();
  ASSERT_TRUE(q && *q);
  EXPECT_EQ((*q)->mode, sts::Mode::kEnforce);
  EXPECT_EQ(hosts_.size(), 3u);
}

TEST_F(MtaStsCache, MissingOrFailingTxtUsesTheCache) {
  ASSERT_TRUE(get());
  set_txt("");  // record removed (RFC 8461 3.1: not enough to drop the cached policy)
  auto p = get();
  ASSERT_TRUE(p && *p);
  txt_servfail();
  auto q = get();
  ASSERT_TRUE(q && *q);
  EXPECT_EQ(hosts_.size(), 1u);
}

TEST_F(MtaStsCache, ExpiredCache) {
  ASSERT_TRUE(get());
  now_ += seconds(86400);  // expired at exactly fetched + max_age
  // TXT gone: no policy any more.
  set_txt("");
  auto none = get();
  ASSERT_TRUE(none);
  EXPECT_FALSE(*none);
  // Same id again: re-fetched, because the cached copy expired.
  set_txt("v=STSv1; id=one;");
  auto p = get();
  ASSERT_TRUE(p && *p);
  EXPECT_EQ(hosts_.size(), 2u);
  EXPECT_EQ(cache_.get("example.org")->fetched, 1700000000 + 86400);
  // Expired and the fetch fails: unknown.
  now_ += seconds(86400);
  fetch_ok_ = false;
  auto err = get();
  ASSERT_FALSE(err);
  EXPECT_TRUE(err.error().temporary());
  EXPECT_NE(err.error().message().find("connection refused"), std::string::npos);
}

TEST_F(MtaStsCache, NoCacheOutcomes) {
  // TXT failure and nothing cached: unknown, temporary.
  auto sf = get("fail.example");
  ASSERT_FALSE(sf);
  EXPECT_TRUE(sf.error().temporary());
  // No record, a non-STS record, two records, an invalid record: no MTA-STS.
  for (const char* d : {"absent.example", "other.example", "two.example", "bad.example"}) {
    auto r = get(d);
    ASSERT_TRUE(r) << d;
    EXPECT_FALSE(*r) << d;
  }
  EXPECT_TRUE(hosts_.empty());
  // Non-STS records beside the STS one are discarded; strings are joined.
  auto m = get("mixed.example");
  ASSERT_TRUE(m && *m);
  auto s = get("split.example");
  ASSERT_TRUE(s && *s);
  EXPECT_EQ(cache_.get("split.example")->id, "sp1");
  EXPECT_EQ(hosts_, (std::vector<std::string>{"mta-sts.mixed.example", "mta-sts.split.example"}));
  // A valid record but the fetch fails, nothing cached: unknown.
  fetch_ok_ = false;
  set_txt("v=STSv1; id=one;");
  auto f = get();
  ASSERT_FALSE(f);
  EXPECT_TRUE(f.error().temporary());
  EXPECT_FALSE(cache_.get("example.org"));
}

TEST_F(MtaStsCache, ModeNoneIsCachedAndReturned) {
  body_ = policy("none", 600);
  auto p = get();
  ASSERT_TRUE(p && *p);
  EXPECT_EQ((*p)->mode, sts::Mode::kNone);
  EXPECT_EQ(cache_.get("example.org")->policy.mode, sts::Mode::kNone);
}

TEST_F(MtaStsCache, StoreCacheOutlivesTheProcess) {
  base::TempDir dir{"mta-sts-cache"};
  const std::string url = "sqlite:" + dir.path() + "/s.db";
  {
    auto st = store::Store::open({.url = url});
    ASSERT_TRUE(st) << st.error().message();
    sts::MemoryPolicyCache front;
    sts::StorePolicyCache kept(**st, front);
    auto p = sts::current_policy(*zone_txt_, kept, "Example.ORG", opts_, now_);
    ASSERT_TRUE(p && *p);
    EXPECT_EQ(hosts_.size(), 1u);
  }
  // A new process (empty memory cache) on the same store: the policy comes from the
  // store, nothing is fetched, even while the policy host is down and the TXT is gone.
  auto st = store::Store::open({.url = url});
  ASSERT_TRUE(st) << st.error().message();
  sts::MemoryPolicyCache front;
  sts::StorePolicyCache kept(**st, front);
  fetch_ok_ = false;
  set_txt("");
  auto p = sts::current_policy(*zone_txt_, kept, "example.org", opts_, now_ + seconds(3600));
  ASSERT_TRUE(p && *p);
  EXPECT_EQ((*p)->mode, sts::Mode::kEnforce);
  EXPECT_EQ((*p)->mx, std::vector<std::string>{"mx.example.org"});
  EXPECT_EQ(hosts_.size(), 1u);
  auto c = front.get("example.org");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->id, "one");
  EXPECT_EQ(c->fetched, 1700000000);
  // A new id replaces the row.
  fetch_ok_ = true;
  set_txt("v=STSv1; id=two;");
  body_ = policy("testing", 600);
  ASSERT_TRUE(sts::current_policy(*zone_txt_, kept, "example.org", opts_, now_ + seconds(7200)));
  sts::MemoryPolicyCache empty;
  auto again = sts::StorePolicyCache(**st, empty).get("example.org");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->id, "two");
  EXPECT_EQ(again->policy.mode, sts::Mode::kTesting);
  EXPECT_EQ(again->expires(), 1700000000 + 7200 + 600);
}

// ---------------------------------------------------------------- real fetches, failing

TEST(MtaStsFetch, NoAddressIsTemporary) {
  dns::ZoneResolver zone;
  auto r = sts::fetch_policy(zone, "example.org", {});
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().temporary());
  EXPECT_NE(r.error().message().find("mta-sts.example.org has no address"), std::string::npos)
      << r.error().message();
  // The addresses were asked of the resolver, A then AAAA.
  ASSERT_EQ(zone.queries().size(), 2u);
  EXPECT_EQ(zone.queries()[0], std::make_pair(std::string("mta-sts.example.org"), dns::RrType::kA));
  EXPECT_EQ(zone.queries()[1].second, dns::RrType::kAaaa);
}

TEST(MtaStsFetch, ConnectionRefusedOnLoopback) {
  dns::ZoneResolver zone;
  ASSERT_TRUE(zone.parse("mta-sts.example.org A 127.0.0.1\n"));
  // A loopback port that was free a moment ago: bound, then closed.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  socklen_t len = sizeof sa;
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len), 0);
  close(fd);
  sts::FetchOptions o;
  o.port = ntohs(sa.sin_port);
  o.timeout = std::chrono::milliseconds(3000);
  auto r = sts::fetch_policy(zone, "example.org", o);
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().temporary());
  EXPECT_NE(r.error().message().find("https://mta-sts.example.org:" + std::to_string(o.port) +
                                     "/.well-known/mta-sts.txt"),
            std::string::npos)
      << r.error().message();
}

// ---------------------------------------------------------------- driven by the e2e tier

const char* env(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? v : nullptr;
}

TEST(MtaStsE2e, FetchFromEnvironment) {
  if (!env("MTA_STS_E2E_DNS"))
    GTEST_SKIP() << "MTA_STS_E2E_DNS unset (set by tests/e2e/mta-sts.bats)";
  ASSERT_TRUE(env("MTA_STS_E2E_DOMAIN") && env("MTA_STS_E2E_OUT") && env("MTA_STS_E2E_PORT"));
  auto resolver = dns::make_resolver({.spec = "",
                                      .servers = {env("MTA_STS_E2E_DNS")},
                                      .timeout = std::chrono::milliseconds(3000)});
  ASSERT_TRUE(resolver) << resolver.error().message();
  sts::FetchOptions o;
  if (env("MTA_STS_E2E_CA")) o.ca_file = env("MTA_STS_E2E_CA");
  o.port = static_cast<uint16_t>(std::atoi(env("MTA_STS_E2E_PORT")));
  if (env("MTA_STS_E2E_TIMEOUT"))
    o.timeout = std::chrono::milliseconds(std::atoi(env("MTA_STS_E2E_TIMEOUT")));
  int rounds = env("MTA_STS_E2E_ROUNDS") ? std::atoi(env("MTA_STS_E2E_ROUNDS")) : 1;
  sts::MemoryPolicyCache cache;
  std::ofstream out(env("MTA_STS_E2E_OUT"));
  for (int i = 0; i < rounds; ++i) {
    auto r =
        sts::current_policy(**resolver, cache, env("MTA_STS_E2E_DOMAIN"), o, system_clock::now());
    if (!r) {
      out << "error: " << r.error().message() << "\n";
    } else if (!*r) {
      out << "none\n";
    } else {
      const sts::Policy& p = **r;
      out << "policy mode=" << sts::mode_name(p.mode) << " max_age=" << p.max_age << " mx=";
      for (size_t k = 0; k < p.mx.size(); ++k) out << (k ? "," : "") << p.mx[k];
      out << "\n";
    }
  }
  ASSERT_TRUE(out.good());
}

}  // namespace
}  // namespace postern
