// MX resolution (RFC 5321 5.1, RFC 7505) and TLSA filtering (RFC 7672) over the zone-file
// resolver.
#include <gtest/gtest.h>

#include <set>

#include "dns/zone_resolver.h"
#include "smtp/mx.h"

namespace postern {
namespace {

using smtp::MxResult;

class Mx : public ::testing::Test {
 protected:
  void SetUp() override {
    auto st = zone_.parse(R"(
example.org          MX 20 backup.example.org
example.org          MX 10 mx1.example.org
example.org          MX 10 mx2.example.org
example.org          MX 10 mx3.example.org
example.org          MX 30 nowhere.example.org
mx1.example.org      A 192.0.2.1
mx2.example.org      A 192.0.2.2
mx2.example.org      AAAA 2001:db8::2
mx3.example.org      AAAA 2001:db8::3
backup.example.org   A 192.0.2.20
null.example         MX 0 .
nullmix.example      MX 0 .
nullmix.example      MX 10 mx1.example.org
implicit.example     A 192.0.2.50
implicit.example     AAAA 2001:db8::50
bare.example         TXT "no mail here"
broken.example       SERVFAIL
slowmx.example       MX TIMEOUT
halfbroken.example   MX 10 broken-host.example
halfbroken.example   MX 20 nohost.example
broken-host.example  SERVFAIL
nohost.example       TXT "exists, no address"
partial.example      MX 10 broken-host.example
partial.example      MX 20 mx1.example.org
alias.example        MX 10 cname.example
cname.example        CNAME mx1.example.org
dup.example          MX 10 mx1.example.org
dup.example          MX 20 mx1.example.org
signed.example       MX 10 mx.signed.example
signed.example       MX 20 mx.unsigned.example
mx.signed.example    A 192.0.2.60
mx.unsigned.example  A 192.0.2.61
signed.example       SECURE
mx.signed.example    SECURE
_25._tcp.mx.signed.example TLSA 3 1 1 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
_25._tcp.mx.signed.example TLSA 2 0 1 1111111111111111111111111111111111111111111111111111111111111111
_25._tcp.mx.signed.example TLSA 1 1 1 2222222222222222222222222222222222222222222222222222222222222222
_25._tcp.mx.signed.example TLSA 0 0 1 3333333333333333333333333333333333333333333333333333333333333333
_25._tcp.mx.signed.example TLSA 3 2 1 4444444444444444444444444444444444444444444444444444444444444444
_25._tcp.mx.signed.example TLSA 3 1 3 5555
_25._tcp.mx.signed.example TLSA 3 1 1 abcd
_25._tcp.mx.signed.example TLSA 3 0 0 308201
_25._tcp.mx.signed.example TLSA 3 1 2 66666666666666666666666666666666666666666666666666666666666666666666666666666666666666666666666666666666666666666666666666666666
_25._tcp.mx.signed.example SECURE
_465._tcp.mx.signed.example TLSA 1 0 1 2222222222222222222222222222222222222222222222222222222222222222
_465._tcp.mx.signed.example SECURE
_25._tcp.mx.unsigned.example TLSA 3 1 1 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
_25._tcp.bogus.example SERVFAIL
)");
    ASSERT_TRUE(st) << st.error().message();
  }

  MxResult mx(const std::string& domain) {
    auto task = smtp::resolve_mx(zone_, domain);
    return dns::run(zone_, task);
  }
  dns::Answer tlsa(const std::string& host, uint16_t port = 25) {
    auto task = smtp::lookup_tlsa(zone_, host, port);
    return dns::run(zone_, task);
  }

  dns::ZoneResolver zone_;
};

std::vector<std::string> names(const MxResult& r) {
  std::vector<std::string> out;
  for (const auto& h : r.hosts) out.push_back(h.name);
  return out;
}

TEST_F(Mx, PreferenceOrderAndAddresses) {
  MxResult r = mx("Example.ORG.");
  ASSERT_EQ(r.kind, MxResult::kHosts) << r.why;
  EXPECT_FALSE(r.implicit);
  // nowhere.example.org has no address: skipped, and no lookup failed.
  ASSERT_EQ(r.hosts.size(), 4u);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(r.hosts[i].preference, 10);
  EXPECT_EQ(r.hosts[3].name, "backup.example.org");
  EXPECT_EQ(r.hosts[3].preference, 20);
  for (const auto& h : r.hosts) {
    if (h.name == "mx2.example.org") {
      EXPECT_EQ(h.addresses, (std::vector<std::string>{"192.0.2.2", "2001:db8::2"}));  // A first
    }
    if (h.name == "mx3.example.org") {
      EXPECT_EQ(h.addresses, std::vector<std::string>{"2001:db8::3"});
    }
    EXPECT_FALSE(h.secure);
  }
  EXPECT_FALSE(r.mx_secure);
}

TEST_F(Mx, DropSelfKeepsOnlyPreferredHosts) {
  MxResult r = mx("example.org");
  ASSERT_EQ(r.kind, MxResult::kHosts) << r.why;
  MxResult backup = r;
  // RFC 5321 5.1: as the backup (preference 20), only the three at 10 are left.
  EXPECT_TRUE(drop_self(backup, "Backup.Example.ORG."));
  ASSERT_EQ(backup.hosts.size(), 3u);
  for (const auto& h : backup.hosts) EXPECT_EQ(h.preference, 10);
  // As one of the primaries, nothing is left: the mail would loop back.
  MxResult primary = r;
  EXPECT_TRUE(drop_self(primary, "mx2.example.org"));
  EXPECT_TRUE(primary.hosts.empty());
  // Not in the list: nothing changes.
  MxResult other = r;
  EXPECT_FALSE(drop_self(other, "mail.example.net"));
  EXPECT_EQ(other.hosts.size(), r.hosts.size());
  EXPECT_FALSE(drop_self(other, ""));
}

TEST_F(Mx, EqualPreferencesAreShuffledWithinTheirPreference) {
  std::set<std::string> firsts;
  for (int i = 0; i < 60; ++i) {
    MxResult r = mx("example.org");
    ASSERT_EQ(r.hosts.size(), 4u);
    std::set<std::string> top{r.hosts[0].name, r.hosts[1].name, r.hosts[2].name};
    EXPECT_EQ(top,
              (std::set<std::string>{"mx1.example.org", "mx2.example.org", "mx3.example.org"}));
    EXPECT_EQ(r.hosts[3].name, "backup.example.org");
    firsts.insert(r.hosts[0].name);
  }
  // 60 shuffles of three: each one first at least once (failure odds ~1e-10).
  EXPECT_EQ(firsts.size(), 3u);
}

TEST_F(Mx, NullMx) {
  MxResult r = mx("null.example");
  EXPECT_EQ(r.kind, MxResult::kNullMx);
  EXPECT_TRUE(r.hosts.empty());
  EXPECT_NE(r.why.find("RFC 7505"), std::string::npos);
  // A "." next to a real exchange is ignored.
  MxResult mixed = mx("nullmix.example");
  ASSERT_EQ(mixed.kind, MxResult::kHosts);
  EXPECT_EQ(names(mixed), std::vector<std::string>{"mx1.example.org"});
}

TEST_F(Mx, ImplicitMx) {
  MxResult r = mx("implicit.example");
  ASSERT_EQ(r.kind, MxResult::kHosts) << r.why;
  EXPECT_TRUE(r.implicit);
  ASSERT_EQ(r.hosts.size(), 1u);
  EXPECT_EQ(r.hosts[0].name, "implicit.example");
  EXPECT_EQ(r.hosts[0].preference, 0);
  EXPECT_EQ(r.hosts[0].addresses, (std::vector<std::string>{"192.0.2.50", "2001:db8::50"}));
  // No MX, no address: nowhere to deliver.
  MxResult bare = mx("bare.example");
  EXPECT_EQ(bare.kind, MxResult::kNoSuchDomain);
  EXPECT_TRUE(bare.implicit);
}

TEST_F(Mx, NxDomainAndFailures) {
  EXPECT_EQ(mx("no-such.example").kind, MxResult::kNoSuchDomain);
  MxResult sf = mx("broken.example");
  EXPECT_EQ(sf.kind, MxResult::kTempFail);
  EXPECT_NE(sf.why.find("servfail"), std::string::npos) << sf.why;
  EXPECT_EQ(mx("slowmx.example").kind, MxResult::kTempFail);
  EXPECT_EQ(mx("").kind, MxResult::kNoSuchDomain);
}

TEST_F(Mx, HostsWithoutAddresses) {
  // One host's lookups fail, the other has no address: temporary.
  MxResult r = mx("halfbroken.example");
  EXPECT_EQ(r.kind, MxResult::kTempFail);
  EXPECT_NE(r.why.find("broken-host.example"), std::string::npos) << r.why;
  // A failing host is skipped when another works.
  MxResult p = mx("partial.example");
  ASSERT_EQ(p.kind, MxResult::kHosts);
  EXPECT_EQ(names(p), std::vector<std::string>{"mx1.example.org"});
  EXPECT_EQ(p.hosts[0].preference, 20);
}

TEST_F(Mx, CnameTargetAndDuplicates) {
  MxResult a = mx("alias.example");
  ASSERT_EQ(a.kind, MxResult::kHosts);
  EXPECT_EQ(a.hosts[0].name, "cname.example");
  EXPECT_EQ(a.hosts[0].addresses, std::vector<std::string>{"192.0.2.1"});
  MxResult d = mx("dup.example");
  ASSERT_EQ(d.hosts.size(), 1u);
  EXPECT_EQ(d.hosts[0].preference, 10);
}

TEST_F(Mx, AddressLiterals) {
  MxResult v4 = mx("[192.0.2.7]");
  ASSERT_EQ(v4.kind, MxResult::kHosts);
  EXPECT_EQ(v4.hosts[0].addresses, std::vector<std::string>{"192.0.2.7"});
  MxResult v6 = mx("[IPv6:2001:DB8::7]");
  ASSERT_EQ(v6.kind, MxResult::kHosts);
  EXPECT_EQ(v6.hosts[0].addresses, std::vector<std::string>{"2001:db8::7"});
  EXPECT_EQ(mx("[192.0.2.300]").kind, MxResult::kNoSuchDomain);
  EXPECT_EQ(mx("[2001:db8::7]").kind, MxResult::kNoSuchDomain);  // needs the IPv6: tag
  // No DNS lookups for a literal.
  size_t before = zone_.queries().size();
  (void)mx("[192.0.2.8]");
  EXPECT_EQ(zone_.queries().size(), before);
}

TEST_F(Mx, SecureFlags) {
  MxResult r = mx("signed.example");
  ASSERT_EQ(r.kind, MxResult::kHosts);
  EXPECT_TRUE(r.mx_secure);
  ASSERT_EQ(r.hosts.size(), 2u);
  EXPECT_EQ(r.hosts[0].name, "mx.signed.example");
  EXPECT_TRUE(r.hosts[0].secure);
  EXPECT_FALSE(r.hosts[1].secure);  // its address answer is not validated
}

TEST_F(Mx, TlsaKeepsUsableRecordsOnly) {
  dns::Answer a = tlsa("MX.Signed.Example.");
  ASSERT_EQ(a.status, dns::Status::kOk);
  EXPECT_TRUE(a.secure);
  std::vector<std::string> kept;
  for (const auto& r : a.records) {
    kept.push_back(std::to_string(r.tlsa[0]) + " " + std::to_string(r.tlsa[1]) + " " +
                   std::to_string(r.tlsa[2]));
  }
  // Dropped: usages 0 and 1, selector 2, matching 3, a SHA-256 of 2 bytes.
  EXPECT_EQ(kept, (std::vector<std::string>{"3 1 1", "2 0 1", "3 0 0", "3 1 2"}));
  EXPECT_EQ(zone_.queries().back().first, "_25._tcp.mx.signed.example");
}

TEST_F(Mx, TlsaUnusableInsecureAndFailing) {
  // Only a PKIX usage on port 465: the RRset exists but nothing is usable.
  dns::Answer none = tlsa("mx.signed.example", 465);
  EXPECT_EQ(none.status, dns::Status::kOk);
  EXPECT_TRUE(none.records.empty());
  EXPECT_NE(none.why.find("no usable"), std::string::npos);
  // Not validated: ignored as if absent.
  dns::Answer insecure = tlsa("mx.unsigned.example");
  EXPECT_EQ(insecure.status, dns::Status::kNoData);
  EXPECT_TRUE(insecure.records.empty());
  EXPECT_EQ(tlsa("bogus.example").status, dns::Status::kServFail);
  EXPECT_EQ(tlsa("mx1.example.org").status, dns::Status::kNxDomain);
}

}  // namespace
}  // namespace postern
