// Unit tests for lib/dns: the zone-file resolver and the coroutine form of lookups.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <chrono>

#include <gtest/gtest.h>

#include "base/clock.h"
#include "base/fd.h"
#include "dns/cache.h"
#include "dns/dns.h"
#include "dns/options.h"
#include "dns/rdata.h"
#include "dns/zone_resolver.h"

namespace postern::dns {
namespace {

constexpr const char* kZone = R"(
# test zone
example.org        TXT   "v=spf1 ip4:192.0.2.0/24" " -all"   ; two strings
example.org   300  IN MX 10 mail.example.org.
example.org        MX    20 backup.example.org
mail.example.org IN 60 A 192.0.2.25
mail.example.org   AAAA  2001:DB8::25
www.example.org    CNAME example.org
*.wild.example.org A     192.0.2.9
a.b.deep.example.org A   192.0.2.10
broken.example.org SERVFAIL
slow.example.org   TXT TIMEOUT
slow.example.org   A     192.0.2.11
signed.example.org SECURE
signed.example.org A     192.0.2.12
_25._tcp.mail.example.org TLSA 3 1 1 00ff
)";

ZoneResolver zone() {
  ZoneResolver z;
  EXPECT_TRUE(z.parse(kZone));
  return z;
}

TEST(ZoneResolver, AnswersByType) {
  ZoneResolver z = zone();
  Answer txt = z.answer("Example.ORG.", RrType::kTxt);
  ASSERT_EQ(txt.status, Status::kOk);
  ASSERT_EQ(txt.records.size(), 1u);
  EXPECT_EQ(txt.records[0].text, "v=spf1 ip4:192.0.2.0/24 -all");
  EXPECT_EQ(txt.records[0].strings.size(), 2u);
  Answer mx = z.answer("example.org", RrType::kMx);
  ASSERT_EQ(mx.records.size(), 2u);
  EXPECT_EQ(mx.records[0].preference, 10);
  EXPECT_EQ(mx.records[0].text, "mail.example.org");
  EXPECT_EQ(mx.records[0].ttl, 300u);
  EXPECT_EQ(z.answer("mail.example.org", RrType::kAaaa).records[0].text, "2001:db8::25");
  Answer tlsa = z.answer("_25._tcp.mail.example.org", RrType::kTlsa);
  ASSERT_EQ(tlsa.records.size(), 1u);
  EXPECT_EQ(tlsa.records[0].tlsa[0], 3);
  EXPECT_EQ(tlsa.records[0].data, std::string("\x00\xff", 2));
}

TEST(ZoneResolver, NxDomainNoDataAndFailures) {
  ZoneResolver z = zone();
  EXPECT_EQ(z.answer("nothere.example.org", RrType::kA).status, Status::kNxDomain);
  EXPECT_EQ(z.answer("mail.example.org", RrType::kTxt).status, Status::kNoData);
  // An empty non-terminal exists.
  EXPECT_EQ(z.answer("b.deep.example.org", RrType::kA).status, Status::kNoData);
  EXPECT_EQ(z.answer("broken.example.org", RrType::kMx).status, Status::kServFail);
  EXPECT_EQ(z.answer("slow.example.org", RrType::kTxt).status, Status::kTimeout);
  EXPECT_EQ(z.answer("slow.example.org", RrType::kA).status, Status::kOk);
  EXPECT_FALSE(z.answer("slow.example.org", RrType::kTxt).definite());
}

TEST(ZoneResolver, CnameWildcardAndSecure) {
  ZoneResolver z = zone();
  Answer a = z.answer("www.example.org", RrType::kMx);
  ASSERT_EQ(a.status, Status::kOk);
  EXPECT_EQ(a.records.size(), 2u);
  Answer w = z.answer("x.y.wild.example.org", RrType::kA);
  ASSERT_EQ(w.status, Status::kOk);
  EXPECT_EQ(w.records[0].name, "x.y.wild.example.org");
  EXPECT_TRUE(z.answer("signed.example.org", RrType::kA).secure);
  EXPECT_FALSE(z.answer("mail.example.org", RrType::kA).secure);
}

TEST(ZoneResolver, ParseErrorsNameTheLine) {
  ZoneResolver z;
  auto st = z.parse("ok.example A 192.0.2.1\nbad.example A not-an-ip\n", "t.zone");
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().message(), "t.zone:2: bad address not-an-ip");
  EXPECT_FALSE(z.parse("x.example BOGUS 1\n"));
  EXPECT_FALSE(z.parse("x.example TXT \"open\n"));
}

base::Task<int> count_mx(Resolver& r, std::string domain) {
  Answer a = co_await r.lookup(domain, RrType::kMx);
  int n = static_cast<int>(a.records.size());
  Answer b = co_await r.lookup("mail.example.org", RrType::kA);
  co_return n * 100 + static_cast<int>(b.records.size());
}

TEST(Lookup, CoroutineOverZoneResolver) {
  base::TempDir dir;
  std::string path = dir.path() + "/z.zone";
  ASSERT_TRUE(base::write_all(base::UniqueFd(::creat(path.c_str(), 0600)).get(), kZone));
  auto r = make_resolver({.spec = "file:" + path});
  ASSERT_TRUE(r);
  auto task = count_mx(**r, "example.org");
  EXPECT_EQ(run(**r, task), 201);
  EXPECT_FALSE(make_resolver({.spec = "file:" + dir.path() + "/missing"}));
  EXPECT_FALSE(make_resolver({.spec = "bogus:x"}));
}

// A resolver that answers later, from wait(), as the network engine does.
class DeferredResolver final : public Resolver {
 public:
  void query(const std::string& name, RrType type, std::function<void(Answer)> done) override {
    pending_.push_back([this, name, type, done] { done(zone_.answer(name, type)); });
  }
  void wait() override {
    if (pending_.empty()) return;
    auto f = std::move(pending_.front());
    pending_.erase(pending_.begin());
    f();
  }
  ZoneResolver zone_ = zone();
  std::vector<std::function<void()>> pending_;
};

TEST(Lookup, CoroutineResumesFromDeferredAnswers) {
  DeferredResolver r;
  auto task = count_mx(r, "example.org");
  EXPECT_EQ(run(r, task), 201);
}

// ---- RDATA decoding (RFC 1035 3.3, RFC 3596, RFC 6698) ----

std::string bytes(std::initializer_list<int> b) {
  std::string s;
  for (int c : b) s.push_back(static_cast<char>(c));
  return s;
}

// "mail.Example.org." in wire form.
const std::string kMailName = std::string("\x04mail\x07" "Example\x03org\x00", 18);

TEST(Rdata, AddressesAndNames) {
  Record r;
  ASSERT_TRUE(decode_rdata(RrType::kA, bytes({192, 0, 2, 1}), &r));
  EXPECT_EQ(r.text, "192.0.2.1");
  EXPECT_EQ(r.rdata.size(), 4u);
  ASSERT_TRUE(decode_rdata(RrType::kAaaa,
                           bytes({0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x25}),
                           &r));
  EXPECT_EQ(r.text, "2001:db8::25");
  EXPECT_FALSE(decode_rdata(RrType::kA, bytes({192, 0, 2}), &r));
  ASSERT_TRUE(decode_rdata(RrType::kCname, kMailName, &r));
  EXPECT_EQ(r.text, "mail.example.org");
  ASSERT_TRUE(decode_rdata(RrType::kPtr, std::string(1, '\0'), &r));
  EXPECT_EQ(r.text, "");  // the root
  ASSERT_TRUE(decode_rdata(RrType::kMx, bytes({0, 10}) + kMailName, &r));
  EXPECT_EQ(r.preference, 10);
  EXPECT_EQ(r.text, "mail.example.org");
  // Compression pointers are not allowed in uncompressed RDATA; nor trailing bytes.
  EXPECT_FALSE(decode_rdata(RrType::kNs, bytes({0xc0, 0x0c}), &r));
  EXPECT_FALSE(decode_rdata(RrType::kNs, kMailName + "x", &r));
  EXPECT_FALSE(decode_rdata(RrType::kMx, bytes({0, 10, 4, 'm', 'a'}), &r));
}

TEST(Rdata, TxtStringsAndTlsa) {
  Record r;
  ASSERT_TRUE(decode_rdata(RrType::kTxt, "\x06v=spf1\x05 -all" + std::string(1, '\0'), &r));
  ASSERT_EQ(r.strings.size(), 3u);
  EXPECT_EQ(r.strings[0], "v=spf1");
  EXPECT_EQ(r.strings[2], "");
  EXPECT_EQ(r.text, "v=spf1 -all");  // joined without spaces (RFC 7208 3.3)
  EXPECT_FALSE(decode_rdata(RrType::kTxt, "\x09short", &r));
  EXPECT_FALSE(decode_rdata(RrType::kTxt, "", &r));
  ASSERT_TRUE(decode_rdata(RrType::kTlsa, bytes({3, 1, 1, 0xab, 0xcd}), &r));
  EXPECT_EQ(r.tlsa[0], 3);
  EXPECT_EQ(r.tlsa[2], 1);
  EXPECT_EQ(r.data, bytes({0xab, 0xcd}));
  EXPECT_FALSE(decode_rdata(RrType::kTlsa, bytes({3, 1}), &r));
}

TEST(Rdata, ZoneLinesParseBack) {
  Record txt;
  txt.name = "example.org";
  txt.ttl = 300;
  ASSERT_TRUE(decode_rdata(RrType::kTxt, std::string("\x0asay \"hi\"\\\x01", 11) +
                                             std::string("\x03" "abc", 4), &txt));
  EXPECT_EQ(zone_line(txt), R"(example.org 300 TXT "say \"hi\"\\\001" "abc")");
  Record tlsa;
  tlsa.name = "_25._tcp.mail.example.org";
  ASSERT_TRUE(decode_rdata(RrType::kTlsa, bytes({3, 1, 1, 0x00, 0xff}), &tlsa));
  EXPECT_EQ(zone_line(tlsa), "_25._tcp.mail.example.org 0 TLSA 3 1 1 00ff");
  Record mx;
  mx.name = "example.org";
  mx.ttl = 60;
  ASSERT_TRUE(decode_rdata(RrType::kMx, bytes({0, 5}) + kMailName, &mx));
  EXPECT_EQ(zone_line(mx), "example.org 60 MX 5 mail.example.org");
  // What dns-query prints, ZoneResolver reads back to the same records.
  ZoneResolver z;
  ASSERT_TRUE(z.parse(zone_line(txt) + "\n" + zone_line(tlsa) + "\n" + zone_line(mx) + "\n"));
  Answer a = z.answer("example.org", RrType::kTxt);
  ASSERT_EQ(a.records.size(), 1u);
  EXPECT_EQ(a.records[0].strings, txt.strings);
  EXPECT_EQ(z.answer("_25._tcp.mail.example.org", RrType::kTlsa).records[0].data, tlsa.data);
  EXPECT_EQ(z.answer("example.org", RrType::kMx).records[0].text, "mail.example.org");
}

// A response: header, question, no answers, an SOA in the authority section.
std::string negative_response(uint32_t soa_ttl, uint32_t minimum) {
  auto u32 = [](uint32_t v) { return bytes({int(v >> 24), int(v >> 16 & 255), int(v >> 8 & 255), int(v & 255)}); };
  std::string m = bytes({0x12, 0x34, 0x81, 0x83, 0, 1, 0, 0, 0, 1, 0, 0});
  m += kMailName + bytes({0, 1, 0, 1});
  std::string soa_rdata = bytes({0xc0, 0x11, 0xc0, 0x11}) + u32(1) + u32(2) + u32(3) + u32(4) +
                          u32(minimum);
  m += bytes({0xc0, 0x11, 0, 6, 0, 1}) + u32(soa_ttl) + bytes({0, int(soa_rdata.size())}) + soa_rdata;
  return m;
}

TEST(Rdata, NegativeTtlFromSoa) {
  EXPECT_EQ(negative_ttl(negative_response(3600, 120)), 120u);
  EXPECT_EQ(negative_ttl(negative_response(30, 120)), 30u);  // RFC 2308 5: the smaller
  std::string truncated = negative_response(3600, 120);
  truncated.resize(truncated.size() - 10);
  EXPECT_EQ(negative_ttl(truncated), std::nullopt);
  EXPECT_EQ(negative_ttl("short"), std::nullopt);
}

// ---- the answer cache ----

Answer ok_answer(uint32_t ttl1, uint32_t ttl2) {
  Answer a;
  a.status = Status::kOk;
  a.records.push_back({.name = "example.org", .type = RrType::kA, .ttl = ttl1, .text = "192.0.2.1"});
  a.records.push_back({.name = "example.org", .type = RrType::kA, .ttl = ttl2, .text = "192.0.2.2"});
  return a;
}

TEST(AnswerCache, HonoursTheSmallestTtl) {
  base::FakeClock clock;
  AnswerCache cache(clock);
  cache.put("Example.ORG.", RrType::kA, ok_answer(300, 100));
  auto a = cache.get("example.org", RrType::kA);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->records.size(), 2u);
  EXPECT_FALSE(cache.get("example.org", RrType::kMx));
  clock.advance(std::chrono::seconds(40));
  a = cache.get("example.org", RrType::kA);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->records[0].ttl, 260u);  // counted down
  EXPECT_EQ(a->records[1].ttl, 60u);
  clock.advance(std::chrono::seconds(60));
  EXPECT_FALSE(cache.get("example.org", RrType::kA));
  EXPECT_EQ(cache.size(), 0u);
}

TEST(AnswerCache, NegativeAnswersAndFailures) {
  base::FakeClock clock;
  AnswerCache cache(clock, {.default_negative_ttl = 30});
  Answer nx;
  nx.status = Status::kNxDomain;
  cache.put("gone.example", RrType::kA, nx, 120);
  Answer nodata;
  nodata.status = Status::kNoData;
  cache.put("mail.example", RrType::kTxt, nodata);  // no SOA: the default
  Answer fail;
  fail.status = Status::kServFail;
  cache.put("broken.example", RrType::kA, fail);
  fail.status = Status::kTimeout;
  cache.put("slow.example", RrType::kA, fail);
  cache.put("zero.example", RrType::kA, ok_answer(0, 300));  // TTL 0: not cached
  EXPECT_EQ(cache.size(), 2u);
  clock.advance(std::chrono::seconds(31));
  EXPECT_FALSE(cache.get("mail.example", RrType::kTxt));
  auto a = cache.get("gone.example", RrType::kA);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->status, Status::kNxDomain);
  clock.advance(std::chrono::seconds(90));
  EXPECT_FALSE(cache.get("gone.example", RrType::kA));
}

TEST(AnswerCache, BoundedSize) {
  base::FakeClock clock;
  AnswerCache cache(clock, {.max_entries = 2});
  cache.put("a.example", RrType::kA, ok_answer(100, 100));
  cache.put("b.example", RrType::kA, ok_answer(50, 50));
  cache.put("c.example", RrType::kA, ok_answer(200, 200));
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_FALSE(cache.get("b.example", RrType::kA));  // the one closest to expiry went
  EXPECT_TRUE(cache.get("a.example", RrType::kA));
  EXPECT_TRUE(cache.get("c.example", RrType::kA));
}

// ---- the network engine, on loopback only ----

TEST(NetworkResolver, RejectsBadServersAndAnchors) {
  EXPECT_FALSE(make_network_resolver({.servers = {"mail.example.org:53"}}));
  EXPECT_FALSE(make_network_resolver({.servers = {"127.0.0.1:99999"}}));
  EXPECT_FALSE(make_network_resolver({.servers = {"[::1"}}));
  EXPECT_TRUE(make_network_resolver({.servers = {"127.0.0.1", "127.0.0.1:5353", "[::1]:53", "::1"}}));
  EXPECT_FALSE(make_network_resolver({.servers = {"127.0.0.1"}, .trust_anchor_file = "/nonexistent"}));
  // The system resolver: /etc/resolv.conf, or recursion when there is none (no lookup
  // is made here).
  EXPECT_TRUE(make_network_resolver({}));
  EXPECT_TRUE(make_resolver({.spec = "system"}));
}

TEST(ResolverFlags, CommandLineOverridesTheConfiguration) {
  ResolverOptions config{.servers = {"192.0.2.53:53"},
                         .timeout = std::chrono::milliseconds(5000),
                         .trust_anchor_file = "/etc/anchor"};
  {
    CLI::App app;
    ResolverFlags flags;
    add_resolver_options(app, flags);
    const char* argv[] = {"t", "--dns-server", "127.0.0.1:5353", "--dns-server", "[::1]:53",
                          "--dns-timeout", "250"};
    app.parse(7, const_cast<char**>(argv));
    ResolverOptions o = flags.over(config);
    EXPECT_EQ(o.servers, (std::vector<std::string>{"127.0.0.1:5353", "[::1]:53"}));
    EXPECT_EQ(o.timeout, std::chrono::milliseconds(250));
    EXPECT_EQ(o.trust_anchor_file, "/etc/anchor");  // not given: the configuration's
    EXPECT_EQ(o.spec, "");
  }
  {
    CLI::App app;
    ResolverFlags flags;
    add_resolver_options(app, flags);
    const char* argv[] = {"t", "--resolver", "file:x.zone", "--trust-anchor", "a.ds"};
    app.parse(5, const_cast<char**>(argv));
    ResolverOptions o = flags.over(config);
    EXPECT_EQ(o.servers, config.servers);
    EXPECT_EQ(o.timeout, config.timeout);
    EXPECT_EQ(o.spec, "file:x.zone");
    EXPECT_EQ(o.trust_anchor_file, "a.ds");
  }
}

// A UDP socket that never answers: lookups end in kTimeout, on time.
TEST(NetworkResolver, TimesOut) {
  base::UniqueFd sock(::socket(AF_INET, SOCK_DGRAM, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  ::getsockname(sock.get(), reinterpret_cast<sockaddr*>(&addr), &len);
  std::string server = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  auto r = make_resolver({.servers = {server}, .timeout = std::chrono::milliseconds(300)});
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_GE((*r)->fd(), 0);
  auto start = std::chrono::steady_clock::now();
  auto task = count_mx(**r, "example.org");
  EXPECT_EQ(run(**r, task), 0);
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_GE(took, std::chrono::milliseconds(550));  // two lookups, one after the other
  EXPECT_LT(took, std::chrono::milliseconds(3000));
  std::optional<Answer> got;
  (*r)->query("example.org", RrType::kTxt, [&](Answer a) { got = std::move(a); });
  while (!got) (*r)->wait();
  EXPECT_EQ(got->status, Status::kTimeout);
  EXPECT_FALSE(got->definite());
  (*r)->wait();  // nothing pending: returns at once
}

}  // namespace
}  // namespace postern::dns
