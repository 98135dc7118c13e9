// Unit tests of the Sender Rewriting Scheme (lib/mail/srs.h).
#include <gtest/gtest.h>

#include <string>

#include "mail/srs.h"

namespace postern::mail::srs {
namespace {

constexpr int64_t kNow = 1700000000;  // day 19675; 19675 % 1024 = 219 = "G3"
constexpr int64_t kDay = 86400;

Options opts(std::string domain = "fwd.example", std::vector<std::string> secrets = {"secret"}) {
  Options o;
  o.secrets = std::move(secrets);
  o.domain = std::move(domain);
  return o;
}

std::string fwd(std::string_view sender, const Options& o, int64_t now = kNow) {
  auto r = forward(sender, o, now);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message());
  return r.ok() ? *r : "";
}

std::string rev(std::string_view address, const Options& o, int64_t now = kNow) {
  auto r = reverse(address, o, now);
  EXPECT_TRUE(r.ok()) << address << ": " << (r.ok() ? "" : r.error().message());
  return r.ok() ? *r : "";
}

TEST(Srs, ForwardMatchesTheLibsrs2Format) {
  // Hash: base64(HMAC-SHA1("secret", "g3" "example.org" "ann"))[0:4], computed with Python's
  // hmac module: the format other SRS implementations read.
  EXPECT_EQ(fwd("ann@example.org", opts()), "SRS0=zo7z=G3=example.org=ann@fwd.example");
}

TEST(Srs, RoundTrip) {
  const auto o = opts();
  for (std::string_view s : {"ann@example.org", "a=b+c@example.org", "first.last+tag@Sub.Example.NET",
                             "x=y=z@example.org", "=lead@example.org"}) {
    const std::string r = fwd(s, o);
    EXPECT_TRUE(r.starts_with("SRS0=")) << r;
    EXPECT_TRUE(r.ends_with("@fwd.example")) << r;
    EXPECT_EQ(rev(r, o), s);
  }
}

TEST(Srs, NullSenderAndOurOwnDomainAreNotRewritten) {
  const auto o = opts();
  EXPECT_EQ(fwd("", o), "");
  EXPECT_EQ(fwd("bob@fwd.example", o), "bob@fwd.example");
  EXPECT_EQ(fwd("bob@FWD.Example", o), "bob@FWD.Example");
}

TEST(Srs, BadInputAndOptions) {
  EXPECT_FALSE(forward("no-domain", opts(), kNow).ok());
  EXPECT_FALSE(forward("x@", opts(), kNow).ok());
  EXPECT_EQ(forward("a@b.example", opts("fwd.example", {}), kNow).error().code(),
            base::ExitCode::kConfig);
  EXPECT_EQ(forward("a@b.example", opts(""), kNow).error().code(), base::ExitCode::kConfig);
  for (std::string_view bad : {"ann@fwd.example", "SRS0=zo7z=G3=example.org@fwd.example",
                               "SRS0=zo7z=G3@fwd.example", "SRS0=zo7z=!!=example.org=ann@fwd.example",
                               "SRS1=abcd@fwd.example", "SRS1=abcd=host.example=@fwd.example",
                               "SRS2=zo7z=G3=example.org=ann@fwd.example", ""}) {
    auto r = reverse(bad, opts(), kNow);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code(), base::ExitCode::kDataErr) << bad;
  }
}

TEST(Srs, HashIsCheckedWithoutRegardToCase) {
  const auto o = opts();
  EXPECT_EQ(rev("SRS0=ZO7Z=G3=example.org=ann@fwd.example", o), "ann@example.org");
  EXPECT_EQ(rev("srs0=zo7z=g3=example.org=ann@fwd.example", o), "ann@example.org");
  // An MTA that lower-cases the whole address: the hash covers lower-cased data.
  EXPECT_EQ(rev("srs0=zo7z=g3=EXAMPLE.ORG=Ann@fwd.example", o), "Ann@EXAMPLE.ORG");
  // Other separators after the tag (libsrs2 accepts '+' and '-').
  EXPECT_EQ(rev("SRS0+zo7z=G3=example.org=ann@fwd.example", o), "ann@example.org");
}

TEST(Srs, TamperingIsRefused) {
  const auto o = opts();
  EXPECT_FALSE(reverse("SRS0=zo7z=G3=example.org=eve@fwd.example", o, kNow).ok());
  EXPECT_FALSE(reverse("SRS0=zo7z=G3=evil.example=ann@fwd.example", o, kNow).ok());
  EXPECT_FALSE(reverse("SRS0=zo7z=G4=example.org=ann@fwd.example", o, kNow).ok());
  EXPECT_FALSE(reverse("SRS0=zo7=G3=example.org=ann@fwd.example", o, kNow).ok());
}

TEST(Srs, Expiry) {
  const auto o = opts();  // 21 days
  const std::string r = fwd("ann@example.org", o);
  EXPECT_EQ(rev(r, o, kNow + 21 * kDay), "ann@example.org");
  auto late = reverse(r, o, kNow + 22 * kDay);
  ASSERT_FALSE(late.ok());
  EXPECT_NE(late.error().message().find("expired"), std::string::npos);
  Options shorter = o;
  shorter.max_age_days = 3;
  EXPECT_TRUE(reverse(r, shorter, kNow + 3 * kDay).ok());
  EXPECT_FALSE(reverse(r, shorter, kNow + 4 * kDay).ok());
}

TEST(Srs, ExpiryAcrossTheDayCounterWrap) {
  const auto o = opts();
  const int64_t day1023 = (1024 * 20 + 1023) * kDay + 3600;  // stamp "77" (1023)
  const std::string r = fwd("ann@example.org", o, day1023);
  EXPECT_NE(r.find("=77="), std::string::npos) << r;
  EXPECT_EQ(rev(r, o, day1023 + 2 * kDay), "ann@example.org");  // stamp today is 1
  EXPECT_FALSE(reverse(r, o, day1023 + 30 * kDay).ok());
  // A stamp from "tomorrow" is not accepted as fresh.
  EXPECT_FALSE(reverse(r, o, day1023 - kDay).ok());
}

TEST(Srs, WrongSecretAndRotation) {
  const std::string r = fwd("ann@example.org", opts("fwd.example", {"old"}));
  EXPECT_FALSE(reverse(r, opts("fwd.example", {"new"}), kNow).ok());
  // After rotation: the new secret signs, the old one still verifies.
  const auto rotated = opts("fwd.example", {"new", "old"});
  EXPECT_EQ(rev(r, rotated), "ann@example.org");
  const std::string r2 = fwd("ann@example.org", rotated);
  EXPECT_NE(r2, r);
  EXPECT_EQ(rev(r2, opts("fwd.example", {"new"})), "ann@example.org");
  EXPECT_FALSE(reverse(r2, opts("fwd.example", {"old"}), kNow).ok());
}

TEST(Srs, Srs1FromSrs0AndBack) {
  const auto a = opts("a.example", {"secret-a"});
  const auto b = opts("b.example", {"secret-b"});
  const auto c = opts("c.example", {"secret-c"});
  const std::string at_a = fwd("ann@example.org", a);  // first forwarder
  ASSERT_TRUE(at_a.starts_with("SRS0="));
  const std::string at_b = fwd(at_a, b);  // second forwarder
  const std::string srs0_local = at_a.substr(0, at_a.find('@'));
  EXPECT_EQ(at_b.substr(0, 5), "SRS1=");
  EXPECT_TRUE(at_b.ends_with("=a.example=" + srs0_local.substr(4) + "@b.example")) << at_b;
  EXPECT_NE(at_b.find("=a.example=="), std::string::npos) << at_b;
  // A third forwarder keeps pointing at the first one.
  const std::string at_c = fwd(at_b, c);
  EXPECT_TRUE(at_c.starts_with("SRS1=")) << at_c;
  EXPECT_TRUE(at_c.ends_with("=a.example=" + srs0_local.substr(4) + "@c.example")) << at_c;
  // Bounces: C and B send straight to A, which finds the original sender.
  EXPECT_EQ(rev(at_c, c), at_a);
  EXPECT_EQ(rev(at_b, b), at_a);
  EXPECT_EQ(rev(at_a, a), "ann@example.org");
  EXPECT_FALSE(reverse(at_b, c, kNow).ok());  // not signed by C
  // The SRS1 hash, computed with Python's hmac module.
  EXPECT_EQ(fwd("SRS0=abcd=G3=orig.com=user@fwd1.example", opts("fwd2.example")),
            "SRS1=rMtb=fwd1.example==abcd=G3=orig.com=user@fwd2.example");
}

TEST(Srs, IsSrs) {
  EXPECT_TRUE(is_srs("SRS0=abcd=G3=example.org=ann"));
  EXPECT_TRUE(is_srs("srs1+x"));
  EXPECT_TRUE(is_srs("SRS0-x"));
  EXPECT_FALSE(is_srs("SRS0"));
  EXPECT_FALSE(is_srs("SRS2=x"));
  EXPECT_FALSE(is_srs("srsuser"));
  EXPECT_FALSE(is_srs("ann"));
}

}  // namespace
}  // namespace postern::mail::srs
