// Unit tests for lib/spam/dnsbl: RFC 5782 query names, the Spamhaus return codes, the
// error codes that are not listings, URL domains through the Public Suffix List, and the
// one deadline for all lookups — with the zone-file resolver, a resolver whose answers
// come late (a timerfd it can be polled on), and libunbound against a loopback socket
// that never answers. DnsblE2e.CheckFromEnvironment is driven by tests/e2e/dnsbl-nsd.bats
// against a real NSD.
#include "spam/dnsbl.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "auth/psl.h"
#include "dns/zone_resolver.h"

namespace postern {
namespace {

namespace dns = postern::dns;
using spam::DnsblCode;
using spam::DnsblHit;
using spam::DnsblOptions;
using spam::DnsblResult;
using spam::DnsblZone;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

// Spamhaus-style listings in the zone-file format (names of the real zones: the code
// table under test is default_dnsbl_zones()'s).
constexpr const char* kZones = R"(
2.2.0.192.zen.spamhaus.org    A 127.0.0.2
3.2.0.192.zen.spamhaus.org    A 127.0.0.3
4.2.0.192.zen.spamhaus.org    A 127.0.0.4
7.2.0.192.zen.spamhaus.org    A 127.0.0.7
9.2.0.192.zen.spamhaus.org    A 127.0.0.9
10.2.0.192.zen.spamhaus.org   A 127.0.0.10
11.2.0.192.zen.spamhaus.org   A 127.0.0.11
12.2.0.192.zen.spamhaus.org   A 127.0.0.2
12.2.0.192.zen.spamhaus.org   A 127.0.0.4
12.2.0.192.zen.spamhaus.org   A 127.0.0.10
12.2.0.192.zen.spamhaus.org   A 127.0.0.5
12.2.0.192.zen.spamhaus.org   TXT "https://check.spamhaus.org/"
20.2.0.192.zen.spamhaus.org   A 127.255.255.254
21.2.0.192.zen.spamhaus.org   A 127.255.255.252
22.2.0.192.zen.spamhaus.org   A 127.255.255.255
23.2.0.192.zen.spamhaus.org   A 10.1.2.3
24.2.0.192.zen.spamhaus.org   A 127.0.0.8
25.2.0.192.zen.spamhaus.org   A 127.0.0.1
30.2.0.192.zen.spamhaus.org   SERVFAIL
31.2.0.192.zen.spamhaus.org   A TIMEOUT
1.100.51.198.zen.spamhaus.org A 127.0.0.2
2.100.51.198.zen.spamhaus.org A 127.0.0.10
# 2001:db8::2 (RFC 5782 2.4: 32 nibbles, least significant first)
2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.zen.spamhaus.org A 127.0.0.2
spam-site.co.uk.dbl.spamhaus.org      A 127.0.1.2
phish.example.dbl.spamhaus.org        A 127.0.1.4
malware.example.dbl.spamhaus.org      A 127.0.1.5
botnet.example.dbl.spamhaus.org       A 127.0.1.6
abused.example.dbl.spamhaus.org       A 127.0.1.102
redirector.example.dbl.spamhaus.org   A 127.0.1.103
abused-phish.example.dbl.spamhaus.org A 127.0.1.104
abused-malware.example.dbl.spamhaus.org A 127.0.1.105
abused-botnet.example.dbl.spamhaus.org  A 127.0.1.106
evil.host.shared.example.dbl.spamhaus.org A 127.0.1.2
xn--bcher-kva.example.dbl.spamhaus.org  A 127.0.1.2
ip-query.example.dbl.spamhaus.org       A 127.0.1.255
broken.example.dbl.spamhaus.org         SERVFAIL
2.2.0.192.plain.test          A 127.0.0.2
3.2.0.192.plain.test          A 127.0.0.200
4.2.0.192.plain.test          A 127.0.0.1
5.2.0.192.plain.test          A 127.0.0.5
)";

class DnsblTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto st = zone_.parse(kZones, "dnsbl_test");
    ASSERT_TRUE(st) << st.error().message();
    auto psl = auth::PublicSuffixList::shared();
    ASSERT_TRUE(psl) << psl.error().message();
    options_.psl = *psl;
  }

  DnsblResult check(const std::vector<std::string>& ips,
                    const std::vector<std::string>& domains = {}) {
    return spam::dnsbl_check_sync(zone_, zones_, ips, domains, options_);
  }

  size_t lookups() const { return zone_.queries().size(); }
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& [name, type] : zone_.queries()) {
      EXPECT_EQ(type, dns::RrType::kA);
      out.push_back(name);
    }
    return out;
  }

  dns::ZoneResolver zone_;
  std::vector<DnsblZone> zones_ = spam::default_dnsbl_zones();
  DnsblOptions options_;
};

std::string rules(const DnsblResult& r) {
  std::string out;
  for (const auto& h : r.hits) out += (out.empty() ? "" : " ") + h.rule;
  return out;
}

std::string joined(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += s + "\n";
  return out;
}

// ---------------------------------------------------------------- query names

TEST(DnsblNames, ReversedAddresses) {
  // RFC 5782 2.1 and 2.4 give these two examples.
  EXPECT_EQ(*spam::reverse_ip("192.0.2.99"), "99.2.0.192");
  EXPECT_EQ(*spam::reverse_ip("2001:db8:1:2:3:4:567:89ab"),
            "b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2");
  EXPECT_EQ(*spam::reverse_ip("2001:DB8::1"),
            "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2");
  // A dual-stack socket's IPv4-mapped form is the IPv4 client.
  EXPECT_EQ(*spam::reverse_ip("::ffff:198.51.100.7"), "7.100.51.198");
  EXPECT_FALSE(spam::reverse_ip("192.0.2"));
  EXPECT_FALSE(spam::reverse_ip("example.org"));
  EXPECT_FALSE(spam::reverse_ip(""));
}

TEST(DnsblNames, ZoneValidation) {
  for (const auto& z : spam::default_dnsbl_zones()) {
    EXPECT_TRUE(spam::validate_zone(z)) << z.name;
  }
  DnsblZone z{.name = "MY_LIST", .zone = "bl.example.net."};
  EXPECT_TRUE(spam::validate_zone(z));
  z.codes = {{"any", "ANY", 1}};
  EXPECT_TRUE(spam::validate_zone(z));
  for (std::string bad : {"127.0.0.300", "128.0.0.2", "127.0.0.9-127.0.0.4", "127.0.0.2-", "",
                          "all", "127.0.0.2-10.0.0.1"}) {
    z.codes = {{bad, "X", 1}};
    auto st = spam::validate_zone(z);
    ASSERT_FALSE(st) << bad;
    EXPECT_NE(st.error().message().find("return code"), std::string::npos) << st.error().message();
  }
  z.codes = {{"127.0.0.2", "bad name", 1}};
  EXPECT_FALSE(spam::validate_zone(z));
  z.codes.clear();
  z.name = "";
  EXPECT_FALSE(spam::validate_zone(z));
  z.name = "MY-LIST";
  EXPECT_FALSE(spam::validate_zone(z));
  z.name = "OK";
  z.zone = "not a zone";
  EXPECT_FALSE(spam::validate_zone(z));
  z.zone = "";
  EXPECT_FALSE(spam::validate_zone(z));
}

// ---------------------------------------------------------------- IP zones

TEST_F(DnsblTest, EachZenCodeNamesItsRule) {
  struct Case {
    const char* ip;
    const char* rule;
    const char* answer;
    double score;
  };
  const Case cases[] = {
      {"192.0.2.2", "SPAMHAUS_ZEN_SBL", "127.0.0.2", 4.0},
      {"192.0.2.3", "SPAMHAUS_ZEN_CSS", "127.0.0.3", 2.0},
      {"192.0.2.4", "SPAMHAUS_ZEN_XBL", "127.0.0.4", 4.0},
      {"192.0.2.7", "SPAMHAUS_ZEN_XBL", "127.0.0.7", 4.0},
      {"192.0.2.9", "SPAMHAUS_ZEN_DROP", "127.0.0.9", 6.0},
      {"192.0.2.10", "SPAMHAUS_ZEN_PBL", "127.0.0.10", 1.5},
      {"192.0.2.11", "SPAMHAUS_ZEN_PBL", "127.0.0.11", 1.5},
  };
  for (const auto& c : cases) {
    DnsblResult r = check({c.ip});
    ASSERT_EQ(r.hits.size(), 1u) << c.ip << ": " << rules(r) << joined(r.errors);
    EXPECT_EQ(r.hits[0].rule, c.rule);
    EXPECT_EQ(r.hits[0].item, c.ip);
    EXPECT_EQ(r.hits[0].answer, c.answer);
    EXPECT_EQ(r.hits[0].score, c.score);
    EXPECT_FALSE(r.hits[0].url);
    EXPECT_TRUE(r.errors.empty()) << joined(r.errors);
    EXPECT_FALSE(r.timed_out);
    EXPECT_EQ(r.score(), c.score);
  }
  // One lookup each, of type A, in the reversed-octet form.
  EXPECT_EQ(names().front(), "2.2.0.192.zen.spamhaus.org");
  EXPECT_EQ(lookups(), std::size(cases));
}

TEST_F(DnsblTest, UnlistedAddressIsNotAHit) {
  DnsblResult r = check({"192.0.2.1", "2001:db8::1"});
  EXPECT_TRUE(r.hits.empty()) << rules(r);
  EXPECT_TRUE(r.errors.empty()) << joined(r.errors);
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.score(), 0);
  EXPECT_EQ(lookups(), 2u);
}

TEST_F(DnsblTest, SeveralCodesForOneAddress) {
  // SBL + XBL (two XBL codes: one hit) + PBL; the TXT record is not asked for.
  DnsblResult r = check({"192.0.2.12"});
  EXPECT_EQ(rules(r), "SPAMHAUS_ZEN_SBL SPAMHAUS_ZEN_XBL SPAMHAUS_ZEN_PBL");
  EXPECT_EQ(r.hits[1].answer, "127.0.0.4");
  EXPECT_TRUE(r.errors.empty()) << joined(r.errors);
  EXPECT_DOUBLE_EQ(r.score(), 4.0 + 4.0 + 1.5);
}

TEST_F(DnsblTest, Ipv6ByNibbles) {
  DnsblResult r = check({"2001:DB8:0::2"});
  ASSERT_EQ(r.hits.size(), 1u) << joined(r.errors);
  EXPECT_EQ(r.hits[0].rule, "SPAMHAUS_ZEN_SBL");
  EXPECT_EQ(r.hits[0].item, "2001:db8::2");  // canonical text
  ASSERT_EQ(lookups(), 1u);
  EXPECT_EQ(names()[0],
            "2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.zen.spamhaus.org");
  // The IPv4-mapped form of a listed IPv4 address is that address.
  r = check({"::ffff:192.0.2.2"});
  ASSERT_EQ(r.hits.size(), 1u);
  EXPECT_EQ(r.hits[0].item, "192.0.2.2");
  EXPECT_EQ(names().back(), "2.2.0.192.zen.spamhaus.org");
}

TEST_F(DnsblTest, ErrorCodesAreNotListings) {
  DnsblResult r =
      check({"192.0.2.20", "192.0.2.21", "192.0.2.22", "192.0.2.23", "192.0.2.24", "192.0.2.25"});
  EXPECT_TRUE(r.hits.empty()) << rules(r);
  EXPECT_EQ(r.score(), 0);
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(joined(r.errors),
            "SPAMHAUS_ZEN: 192.0.2.20: 127.255.255.254: query refused (public or open resolver)\n"
            "SPAMHAUS_ZEN: 192.0.2.21: 127.255.255.252: typing error in the DNSBL name\n"
            "SPAMHAUS_ZEN: 192.0.2.22: 127.255.255.255: query refused (excessive number of "
            "queries)\n"
            "SPAMHAUS_ZEN: 192.0.2.23: 10.1.2.3: answer outside 127.0.0.0/8\n"
            "SPAMHAUS_ZEN: 192.0.2.24: 127.0.0.8: unknown return code\n"
            "SPAMHAUS_ZEN: 192.0.2.25: 127.0.0.1: query refused (127.0.0.1)\n");
}

TEST_F(DnsblTest, ServfailAndTimeoutAreErrors) {
  DnsblResult r = check({"192.0.2.30", "192.0.2.2"});
  EXPECT_EQ(rules(r), "SPAMHAUS_ZEN_SBL");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].rfind("SPAMHAUS_ZEN: 192.0.2.30: servfail", 0), 0u) << r.errors[0];
  EXPECT_FALSE(r.timed_out);
  r = check({"192.0.2.31", "192.0.2.2"});
  EXPECT_EQ(rules(r), "SPAMHAUS_ZEN_SBL");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].rfind("SPAMHAUS_ZEN: 192.0.2.31: timeout", 0), 0u) << r.errors[0];
  EXPECT_TRUE(r.timed_out);
}

TEST_F(DnsblTest, UnroutableAddressesAreNeverLookedUp) {
  DnsblResult r = check({"0.0.0.0", "127.0.0.2", "10.1.2.3", "172.16.0.1", "172.31.255.255",
                         "192.168.1.1", "100.64.0.1", "169.254.1.1", "::", "::1", "fd00::1",
                         "fe80::1", "::ffff:10.0.0.1", "not-an-ip"});
  EXPECT_EQ(lookups(), 0u);
  EXPECT_TRUE(r.hits.empty());
  EXPECT_TRUE(r.errors.empty()) << joined(r.errors);
  EXPECT_EQ(joined(r.skipped),
            "0.0.0.0: unspecified address\n"
            "127.0.0.2: loopback address\n"
            "10.1.2.3: private address\n"
            "172.16.0.1: private address\n"
            "172.31.255.255: private address\n"
            "192.168.1.1: private address\n"
            "100.64.0.1: private address (shared, RFC 6598)\n"
            "169.254.1.1: link-local address\n"
            "::: unspecified address\n"
            "::1: loopback address\n"
            "fd00::1: private address (unique local, RFC 4193)\n"
            "fe80::1: link-local address\n"
            "10.0.0.1: private address\n"
            "not-an-ip: not an IP address\n");
  // Neighbours of those ranges, and the documentation ranges, are looked up.
  r = check({"172.32.0.1", "100.128.0.1", "11.0.0.1", "198.51.100.1", "203.0.113.5", "2001:db8::5",
             "fec0::1"});
  EXPECT_TRUE(r.skipped.empty()) << joined(r.skipped);
  EXPECT_EQ(lookups(), 7u);
  EXPECT_EQ(rules(r), "SPAMHAUS_ZEN_SBL");
}

TEST_F(DnsblTest, SameAddressLookedUpOnce) {
  DnsblResult r = check({"192.0.2.2", "192.0.2.2", "::ffff:192.0.2.2"});
  EXPECT_EQ(lookups(), 1u);
  EXPECT_EQ(r.hits.size(), 1u);
}

// ---------------------------------------------------------------- domain zones

TEST_F(DnsblTest, EachDblCodeNamesItsRule) {
  std::map<std::string, std::pair<std::string, double>> want = {
      {"phish.example", {"SPAMHAUS_DBL_PHISH", 6.0}},
      {"malware.example", {"SPAMHAUS_DBL_MALWARE", 6.0}},
      {"botnet.example", {"SPAMHAUS_DBL_BOTNET", 5.0}},
      {"abused.example", {"SPAMHAUS_DBL_ABUSED_SPAM", 1.5}},
      {"redirector.example", {"SPAMHAUS_DBL_ABUSED_REDIRECTOR", 1.5}},
      {"abused-phish.example", {"SPAMHAUS_DBL_ABUSED_PHISH", 3.0}},
      {"abused-malware.example", {"SPAMHAUS_DBL_ABUSED_MALWARE", 3.0}},
      {"abused-botnet.example", {"SPAMHAUS_DBL_ABUSED_BOTNET", 3.0}},
      {"spam-site.co.uk", {"SPAMHAUS_DBL_SPAM", 5.0}},
  };
  for (const auto& [domain, rule] : want) {
    DnsblResult r = check({}, {domain});
    ASSERT_EQ(r.hits.size(), 1u) << domain << joined(r.errors);
    EXPECT_EQ(r.hits[0].rule, rule.first);
    EXPECT_EQ(r.hits[0].item, domain);
    EXPECT_EQ(r.hits[0].score, rule.second);
    EXPECT_TRUE(r.hits[0].url);
    EXPECT_TRUE(r.errors.empty()) << joined(r.errors);
  }
  // Domains go only to domain zones, addresses only to IP zones.
  for (const auto& n : names()) EXPECT_TRUE(n.ends_with(".dbl.spamhaus.org")) << n;
  DnsblResult r = check({}, {"ip-query.example"});
  EXPECT_TRUE(r.hits.empty());
  EXPECT_EQ(joined(r.errors), "SPAMHAUS_DBL: ip-query.example: 127.0.1.255: unknown return code\n");
}

TEST_F(DnsblTest, RegistrableDomainAndHost) {
  DnsblResult r = check({}, {"WWW.Spam-Site.CO.UK.", "evil.host.shared.example"});
  // The registrable domain first, then the host name when it differs.
  EXPECT_EQ(names(),
            (std::vector<std::string>{
                "spam-site.co.uk.dbl.spamhaus.org", "www.spam-site.co.uk.dbl.spamhaus.org",
                "shared.example.dbl.spamhaus.org", "evil.host.shared.example.dbl.spamhaus.org"}));
  ASSERT_EQ(r.hits.size(), 2u) << joined(r.errors);
  EXPECT_EQ(r.hits[0].item, "spam-site.co.uk");
  EXPECT_EQ(r.hits[1].item, "evil.host.shared.example");  // listed by host name only
  EXPECT_EQ(r.hits[1].rule, "SPAMHAUS_DBL_SPAM");
  // Both are SPAMHAUS_DBL_SPAM: the rule counts once.
  EXPECT_EQ(r.score(), 5.0);
}

TEST_F(DnsblTest, DomainsAreNormalisedAndDeduplicated) {
  DnsblResult r = check({}, {"phish.example", "PHISH.EXAMPLE.", "www.phish.example",
                             "Www.Phish.Example", "bücher.example", "xn--bcher-kva.example"});
  EXPECT_EQ(names(), (std::vector<std::string>{"phish.example.dbl.spamhaus.org",
                                               "www.phish.example.dbl.spamhaus.org",
                                               "xn--bcher-kva.example.dbl.spamhaus.org"}));
  EXPECT_EQ(rules(r), "SPAMHAUS_DBL_PHISH SPAMHAUS_DBL_SPAM");
  EXPECT_EQ(r.hits[1].item, "xn--bcher-kva.example");
}

TEST_F(DnsblTest, PublicSuffixesAndJunkAreSkipped) {
  DnsblResult r = check({}, {"co.uk", "com", "localhost", "bad host.example", "a..b.example", "",
                             "-", "[not-an-ip]"});
  EXPECT_EQ(lookups(), 0u);
  EXPECT_TRUE(r.errors.empty()) << joined(r.errors);
  EXPECT_EQ(joined(r.skipped),
            "co.uk: a public suffix\n"
            "com: not a host name\n"
            "localhost: not a host name\n"
            "bad host.example: not a host name\n"
            "a..b.example: not a host name\n"
            ": not a host name\n"
            "-: not a host name\n"
            "[not-an-ip]: not a host name\n");
}

TEST_F(DnsblTest, DomainLimitCountsRegistrableDomains) {
  options_.max_domains = 3;
  DnsblResult r = check({}, {"a.one.example", "b.one.example", "one.example", "two.example",
                             "three.example", "four.example", "www.two.example", "192.0.2.2"});
  // one.example brings two host names, still one domain; four.example and the address
  // are over the limit; www.two.example belongs to a domain already counted.
  EXPECT_EQ(names(), (std::vector<std::string>{
                         "one.example.dbl.spamhaus.org", "a.one.example.dbl.spamhaus.org",
                         "b.one.example.dbl.spamhaus.org", "two.example.dbl.spamhaus.org",
                         "three.example.dbl.spamhaus.org", "www.two.example.dbl.spamhaus.org"}));
  EXPECT_EQ(joined(r.skipped),
            "four.example: more than 3 domains\n"
            "192.0.2.2: more than 3 domains\n");
}

TEST_F(DnsblTest, UrlAddressesGoToIpZonesWithoutClientOnlyCodes) {
  // 198.51.100.1 is in SBL, 198.51.100.2 in PBL (which describes senders, not web hosts).
  DnsblResult r = check({}, {"198.51.100.1", "[198.51.100.2]", "http.example"});
  EXPECT_EQ(names(), (std::vector<std::string>{"1.100.51.198.zen.spamhaus.org",
                                               "2.100.51.198.zen.spamhaus.org",
                                               "http.example.dbl.spamhaus.org"}));
  ASSERT_EQ(r.hits.size(), 1u) << rules(r);
  EXPECT_EQ(r.hits[0].rule, "SPAMHAUS_ZEN_SBL");
  EXPECT_EQ(r.hits[0].item, "198.51.100.1");
  EXPECT_TRUE(r.hits[0].url);
  EXPECT_TRUE(r.errors.empty()) << joined(r.errors);
  // As the client's address, PBL counts; given both ways, it is the client's.
  r = check({"198.51.100.2"}, {"198.51.100.2"});
  ASSERT_EQ(r.hits.size(), 1u);
  EXPECT_EQ(r.hits[0].rule, "SPAMHAUS_ZEN_PBL");
  EXPECT_FALSE(r.hits[0].url);
  // A private address in a URL is not looked up either.
  r = check({}, {"[fd00::1]", "10.0.0.1"});
  EXPECT_EQ(joined(r.skipped),
            "fd00::1: private address (unique local, RFC 4193)\n10.0.0.1: private address\n");
}

TEST_F(DnsblTest, DomainServfailIsAnError) {
  DnsblResult r = check({}, {"broken.example"});
  EXPECT_TRUE(r.hits.empty());
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].rfind("SPAMHAUS_DBL: broken.example: servfail", 0), 0u) << r.errors[0];
}

// ---------------------------------------------------------------- other zones

TEST_F(DnsblTest, ZoneWithoutCodesCountsAnyLoopbackAnswer) {
  zones_ = {{.name = "PLAIN", .zone = "plain.test", .kind = DnsblZone::Kind::kIp, .score = 2.5}};
  DnsblResult r = check({"192.0.2.2", "192.0.2.3", "192.0.2.4", "192.0.2.6"});
  ASSERT_EQ(r.hits.size(), 2u) << joined(r.errors);
  EXPECT_EQ(r.hits[0].rule, "PLAIN");
  EXPECT_EQ(r.hits[0].score, 2.5);
  EXPECT_EQ(r.hits[1].answer, "127.0.0.200");
  // 127.0.0.1 is how SURBL-style lists refuse a query.
  EXPECT_EQ(joined(r.errors), "PLAIN: 192.0.2.4: 127.0.0.1: query refused (127.0.0.1)\n");
  EXPECT_EQ(r.score(), 2.5);
}

TEST_F(DnsblTest, ExactCodeOverridesRefusalAndFirstMatchWins) {
  zones_ = {{.name = "PLAIN",
             .zone = "PLAIN.TEST.",
             .codes = {{"127.0.0.1", "ONE", 0.5},
                       {"127.0.0.2-127.0.0.9", "LOW", 1},
                       {"127.0.0.2", "TWO", 9},
                       {"any", "", 3}}}};
  DnsblResult r = check({"192.0.2.2", "192.0.2.3", "192.0.2.4", "192.0.2.5"});
  EXPECT_EQ(rules(r), "PLAIN_TWO PLAIN PLAIN_ONE PLAIN_LOW");
  ASSERT_EQ(r.hits.size(), 4u);
  // An exact code is preferred to a range: 127.0.0.2 is TWO, not LOW.
  EXPECT_EQ(r.hits[0].score, 9);
  EXPECT_EQ(r.hits[1].answer, "127.0.0.200");  // "any" with no name: the zone's name
  EXPECT_TRUE(r.errors.empty()) << joined(r.errors);
}

TEST_F(DnsblTest, InvalidZoneIsAnErrorOthersStillRun) {
  DnsblZone broken{.name = "BROKEN", .zone = "x.test", .codes = {{"1.2.3.4", "X", 1}}};
  zones_.insert(zones_.begin(), broken);
  DnsblResult r = check({"192.0.2.2"});
  EXPECT_EQ(rules(r), "SPAMHAUS_ZEN_SBL");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].rfind("BROKEN: DNSBL return code '1.2.3.4'", 0), 0u) << r.errors[0];
}

TEST(DnsblScore, EachRuleCountsOnceAtItsHighest) {
  DnsblResult r;
  r.hits = {DnsblHit{.rule = "A", .item = "x", .score = 1},
            DnsblHit{.rule = "A", .item = "y", .score = 3},
            DnsblHit{.rule = "B", .item = "x", .score = 0.5}};
  EXPECT_EQ(r.score(), 3.5);
  EXPECT_EQ(DnsblResult{}.score(), 0);
}

// ---------------------------------------------------------------- the deadline

// A resolver whose answers come from a ZoneResolver after a delay, or never: what a slow
// or dead DNSBL server looks like. Its fd() is a timerfd armed for the next answer due.
class LateResolver final : public dns::Resolver {
 public:
  explicit LateResolver(dns::ZoneResolver& zone)
      : zone_(zone), fd_(::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)) {}
  ~LateResolver() override { ::close(fd_); }

  // Lookups of `name` answer after `delay`; with a negative delay, only on release().
  void delay(const std::string& name, milliseconds d) { delays_[dns::normalize_name(name)] = d; }

  void query(const std::string& name, dns::RrType type,
             std::function<void(dns::Answer)> done) override {
    auto it = delays_.find(dns::normalize_name(name));
    if (it == delays_.end()) return zone_.query(name, type, std::move(done));
    Pending p{Clock::now() + it->second, zone_.answer(name, type), std::move(done)};
    (it->second.count() < 0 ? held_ : pending_).push_back(std::move(p));
    arm();
  }

  void wait() override {
    if (pending_.empty()) return;
    auto next = std::min_element(pending_.begin(), pending_.end(), [](auto& a, auto& b) {
                  return a.due < b.due;
                })->due;
    std::this_thread::sleep_until(next);
    uint64_t ticks;
    (void)!::read(fd_, &ticks, sizeof ticks);
    std::vector<Pending> due;
    for (auto it = pending_.begin(); it != pending_.end();) {
      if (it->due <= Clock::now()) {
        due.push_back(std::move(*it));
        it = pending_.erase(it);
      } else {
        ++it;
      }
    }
    arm();
    for (auto& p : due) p.done(std::move(p.answer));
  }

  int fd() const override { return fd_; }

  // Answers what was held back (as a server's very late answer would arrive).
  void release() {
    auto held = std::exchange(held_, {});
    for (auto& p : held) p.done(std::move(p.answer));
  }
  size_t outstanding() const { return pending_.size() + held_.size(); }

 private:
  struct Pending {
    Clock::time_point due;
    dns::Answer answer;
    std::function<void(dns::Answer)> done;
  };
  void arm() {
    itimerspec its{};
    if (!pending_.empty()) {
      auto next = std::min_element(pending_.begin(), pending_.end(), [](auto& a, auto& b) {
                    return a.due < b.due;
                  })->due;
      auto ns = std::max<int64_t>(
          1, std::chrono::duration_cast<std::chrono::nanoseconds>(next - Clock::now()).count());
      its.it_value.tv_sec = ns / 1000000000;
      its.it_value.tv_nsec = ns % 1000000000;
    }
    ::timerfd_settime(fd_, 0, &its, nullptr);
  }

  dns::ZoneResolver& zone_;
  int fd_;
  std::map<std::string, milliseconds> delays_;
  std::vector<Pending> pending_, held_;
};

int64_t ms_since(Clock::time_point t) {
  return std::chrono::duration_cast<milliseconds>(Clock::now() - t).count();
}

TEST_F(DnsblTest, DeadlineReturnsWhatArrived) {
  LateResolver late(zone_);
  late.delay("2.2.0.192.zen.spamhaus.org", milliseconds(30));        // SBL, in time
  late.delay("9.2.0.192.zen.spamhaus.org", milliseconds(-1));        // DROP, never
  late.delay("phish.example.dbl.spamhaus.org", milliseconds(5000));  // PHISH, too late
  options_.timeout = milliseconds(300);
  auto t0 = Clock::now();
  DnsblResult r = spam::dnsbl_check_sync(late, zones_, {"192.0.2.2", "192.0.2.9", "192.0.2.3"},
                                         {"phish.example"}, options_);
  int64_t took = ms_since(t0);
  EXPECT_GE(took, 290);
  EXPECT_LT(took, 600);
  // 192.0.2.3 answered at once, 192.0.2.2 within the deadline.
  EXPECT_EQ(rules(r), "SPAMHAUS_ZEN_SBL SPAMHAUS_ZEN_CSS");
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(joined(r.errors),
            "SPAMHAUS_ZEN: 192.0.2.9: timeout (no answer within 300 ms)\n"
            "SPAMHAUS_DBL: phish.example: timeout (no answer within 300 ms)\n");
  // The late answers reach callbacks whose check is over: nothing happens.
  EXPECT_EQ(late.outstanding(), 2u);
  late.release();
}

TEST_F(DnsblTest, EverythingAnsweredEndsBeforeTheDeadline) {
  LateResolver late(zone_);
  late.delay("2.2.0.192.zen.spamhaus.org", milliseconds(50));
  late.delay("phish.example.dbl.spamhaus.org", milliseconds(80));
  options_.timeout = milliseconds(5000);
  auto t0 = Clock::now();
  DnsblResult r = spam::dnsbl_check_sync(late, zones_, {"192.0.2.2"}, {"phish.example"}, options_);
  EXPECT_LT(ms_since(t0), 1000);
  EXPECT_EQ(rules(r), "SPAMHAUS_ZEN_SBL SPAMHAUS_DBL_PHISH");
  EXPECT_FALSE(r.timed_out);
}

TEST_F(DnsblTest, TaskFormIgnoresAnswersAfterTheDeadline) {
  LateResolver late(zone_);
  late.delay("2.2.0.192.zen.spamhaus.org", milliseconds(20));
  late.delay("3.2.0.192.zen.spamhaus.org", milliseconds(400));
  options_.timeout = milliseconds(150);
  auto task = spam::dnsbl_check(late, zones_, {"192.0.2.2", "192.0.2.3"}, {}, options_);
  // A driver that only calls wait() is woken by the next answer (at 400 ms); that answer
  // came after the deadline and does not count.
  DnsblResult r = dns::run(late, task);
  EXPECT_EQ(rules(r), "SPAMHAUS_ZEN_SBL");
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(joined(r.errors), "SPAMHAUS_ZEN: 192.0.2.3: timeout (no answer within 150 ms)\n");
}

TEST_F(DnsblTest, TaskFormWithInlineResolverMatchesSync) {
  auto task =
      spam::dnsbl_check(zone_, zones_, {"192.0.2.12", "192.0.2.20"}, {"phish.example"}, options_);
  DnsblResult a = dns::run(zone_, task);
  DnsblResult b = check({"192.0.2.12", "192.0.2.20"}, {"phish.example"});
  EXPECT_EQ(rules(a), rules(b));
  EXPECT_EQ(a.errors, b.errors);
  EXPECT_EQ(rules(a), "SPAMHAUS_ZEN_SBL SPAMHAUS_ZEN_XBL SPAMHAUS_ZEN_PBL SPAMHAUS_DBL_PHISH");
}

TEST_F(DnsblTest, AbandonedTaskIgnoresLateAnswers) {
  LateResolver late(zone_);
  late.delay("2.2.0.192.zen.spamhaus.org", milliseconds(-1));
  {
    auto task = spam::dnsbl_check(late, zones_, {"192.0.2.2"}, {}, options_);
    task.start();
    EXPECT_FALSE(task.done());
  }                // destroyed while waiting
  late.release();  // must not resume a destroyed coroutine (ASan checks this)
  EXPECT_EQ(late.outstanding(), 0u);
}

TEST_F(DnsblTest, NothingToLookUpIsImmediate) {
  DnsblResult r = check({}, {});
  EXPECT_TRUE(r.hits.empty());
  EXPECT_TRUE(r.errors.empty());
  zones_.clear();
  r = check({"192.0.2.2"}, {"phish.example"});
  EXPECT_TRUE(r.hits.empty());
  EXPECT_EQ(lookups(), 0u);
}

// libunbound forwarding to a loopback UDP socket that reads nothing: a dead DNSBL server.
// The resolver's own timeout is 5 s; the check's deadline is 300 ms.
TEST(DnsblUnbound, DeadServerCostsOnlyTheDeadline) {
  int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(s, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(s, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  socklen_t len = sizeof sa;
  ASSERT_EQ(::getsockname(s, reinterpret_cast<sockaddr*>(&sa), &len), 0);
  auto resolver =
      dns::make_resolver({.servers = {"127.0.0.1:" + std::to_string(ntohs(sa.sin_port))},
                          .timeout = milliseconds(5000)});
  ASSERT_TRUE(resolver) << resolver.error().message();
  auto t0 = Clock::now();
  DnsblResult r = spam::dnsbl_check_sync(**resolver, spam::default_dnsbl_zones(), {"192.0.2.2"},
                                         {"phish.example"}, {.timeout = milliseconds(300)});
  int64_t took = ms_since(t0);
  EXPECT_GE(took, 290);
  EXPECT_LT(took, 1500);
  EXPECT_TRUE(r.hits.empty());
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(joined(r.errors),
            "SPAMHAUS_ZEN: 192.0.2.2: timeout (no answer within 300 ms)\n"
            "SPAMHAUS_DBL: phish.example: timeout (no answer within 300 ms)\n");
  ::close(s);
}

// ---------------------------------------------------------------- driven by the e2e tier

const char* env(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? v : nullptr;
}

std::vector<std::string> split_list(const char* v) {
  std::vector<std::string> out;
  if (v == nullptr) return out;
  std::stringstream ss(v);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

// Environment (set by tests/e2e/dnsbl-nsd.bats):
//   DNSBL_E2E_DNS        the server to forward to, "127.0.0.1:PORT"
//   DNSBL_E2E_IP_ZONE    the zone standing in for zen.spamhaus.org (its code table)
//   DNSBL_E2E_DOMAIN_ZONE                   ... for dbl.spamhaus.org
//   DNSBL_E2E_IPS, DNSBL_E2E_DOMAINS        comma-separated items
//   DNSBL_E2E_TIMEOUT    the check's deadline in ms (default 3000)
//   DNSBL_E2E_OUT        where the outcome goes, one line each:
//                        hit RULE ITEM ANSWER SCORE [url] / error TEXT / skipped TEXT /
//                        timed_out yes|no / score N / elapsed_ms N
TEST(DnsblE2e, CheckFromEnvironment) {
  if (!env("DNSBL_E2E_DNS"))
    GTEST_SKIP() << "DNSBL_E2E_DNS unset (set by tests/e2e/dnsbl-nsd.bats)";
  ASSERT_TRUE(env("DNSBL_E2E_IP_ZONE") && env("DNSBL_E2E_DOMAIN_ZONE") && env("DNSBL_E2E_OUT"));
  auto resolver =
      dns::make_resolver({.servers = {env("DNSBL_E2E_DNS")}, .timeout = milliseconds(5000)});
  ASSERT_TRUE(resolver) << resolver.error().message();
  auto zones = spam::default_dnsbl_zones();
  zones[0].zone = env("DNSBL_E2E_IP_ZONE");
  zones[1].zone = env("DNSBL_E2E_DOMAIN_ZONE");
  DnsblOptions o;
  o.timeout = milliseconds(env("DNSBL_E2E_TIMEOUT") ? std::atoi(env("DNSBL_E2E_TIMEOUT")) : 3000);
  auto t0 = Clock::now();
  DnsblResult r = spam::dnsbl_check_sync(**resolver, zones, split_list(env("DNSBL_E2E_IPS")),
                                         split_list(env("DNSBL_E2E_DOMAINS")), o);
  int64_t took = ms_since(t0);
  std::ofstream out(env("DNSBL_E2E_OUT"));
  for (const auto& h : r.hits) {
    out << "hit " << h.rule << " " << h.item << " " << h.answer << " " << h.score
        << (h.url ? " url" : "") << "\n";
  }
  for (const auto& e : r.errors) out << "error " << e << "\n";
  for (const auto& s : r.skipped) out << "skipped " << s << "\n";
  out << "timed_out " << (r.timed_out ? "yes" : "no") << "\n";
  out << "score " << r.score() << "\n";
  out << "elapsed_ms " << took << "\n";
  ASSERT_TRUE(out.good());
}

}  // namespace
}  // namespace postern
