// Unit tests for lib/spam/homograph: UTS #39 mixed-script and whole-script confusable
// labels, look-alikes of protected domains (on the Public Suffix List's registrable
// domains, Debian's list as lib/auth loads it), IDNA decoding for display.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "auth/psl.h"
#include "spam/homograph.h"

namespace {

namespace spam = postern::spam;
using Findings = std::vector<spam::HomographFinding>;

const spam::HomographChecker& checker() {
  static const spam::HomographChecker* const kChecker = [] {
    auto c = spam::HomographChecker::create(
        {"paypal.com", "Microsoft.com.", "apple.com", "google.com", "mail.example.org"});
    if (!c) {
      ADD_FAILURE() << c.error().message();
      std::abort();
    }
    return new spam::HomographChecker(std::move(*c));
  }();
  return *kChecker;
}

std::vector<std::string> kinds(const Findings& fs) {
  std::vector<std::string> out;
  for (const auto& f : fs) out.push_back(f.kind);
  return out;
}

const spam::HomographFinding* find(const Findings& fs, std::string_view kind) {
  for (const auto& f : fs) {
    if (f.kind == kind) return &f;
  }
  return nullptr;
}

using Kinds = std::vector<std::string>;

// ---------------------------------------------------------------- IDNA

TEST(HomographIdna, ToUnicode) {
  EXPECT_EQ(spam::HomographChecker::to_unicode("xn--mnchen-3ya.de"), "münchen.de");
  EXPECT_EQ(spam::HomographChecker::to_unicode("XN--MNCHEN-3YA.DE."), "münchen.de");
  EXPECT_EQ(spam::HomographChecker::to_unicode("xn--pypal-4ve.com"), "p\u0430ypal.com");
  EXPECT_EQ(spam::HomographChecker::to_unicode("xn--r8jz45g.jp"), "例え.jp");
  EXPECT_EQ(spam::HomographChecker::to_unicode("Example.COM"), "example.com");
  // Invalid input comes back as given.
  EXPECT_EQ(spam::HomographChecker::to_unicode("xn--abc-.com"), "xn--abc-.com");
  EXPECT_EQ(spam::HomographChecker::to_unicode("xn--a.com"), "xn--a.com");
}

TEST(HomographIdna, ToAscii) {
  EXPECT_EQ(spam::HomographChecker::to_ascii("München.DE"), "xn--mnchen-3ya.de");
  EXPECT_EQ(spam::HomographChecker::to_ascii("пример.рф"), "xn--e1afmkfd.xn--p1ai");
  EXPECT_EQ(spam::HomographChecker::to_ascii("例え.jp."), "xn--r8jz45g.jp");
  // Nontransitional (IDNA2008): ß stays ß, not "ss".
  EXPECT_EQ(spam::HomographChecker::to_ascii("faß.de"), "xn--fa-hia.de");
  EXPECT_EQ(spam::HomographChecker::to_ascii("r3---sn-4g5e.googlevideo.com"),
            "r3---sn-4g5e.googlevideo.com");
  EXPECT_EQ(spam::HomographChecker::to_ascii("pay\u200Dpal.com"), "");  // CONTEXTJ
  EXPECT_EQ(spam::HomographChecker::to_ascii("bad\xff.com"), "");
  EXPECT_EQ(spam::HomographChecker::to_ascii(""), "");
}

TEST(HomographIdna, RoundTrips) {
  for (const char* u : {"münchen.de", "пример.рф", "例え.jp", "bücher.de", "ελλάδα.gr",
                        "p\u0430ypal.com", "مثال.إختبار", "faß.de"}) {
    std::string a = spam::HomographChecker::to_ascii(u);
    ASSERT_FALSE(a.empty()) << u;
    EXPECT_EQ(a.find_first_of("\x80\xff"), std::string::npos) << a;
    EXPECT_EQ(spam::HomographChecker::to_unicode(a), u) << a;
    EXPECT_EQ(spam::HomographChecker::to_ascii(spam::HomographChecker::to_unicode(a)), a);
  }
}

// ---------------------------------------------------------------- findings

TEST(Homograph, OrdinaryDomainsHaveNoFindings) {
  for (const char* d : {"example.com",
                        "github.com",
                        "mail.google.com",
                        "bücher.de",
                        "xn--bcher-kva.de",
                        "münchen.de",
                        "xn--mnchen-3ya.de",
                        "例え.jp",
                        "xn--r8jz45g.jp",
                        "пример.рф",
                        "xn--e1afmkfd.xn--p1ai",
                        "ελλάδα.gr",
                        "r3---sn-4g5e.googlevideo.com",
                        "paypal.net",
                        "google.de",
                        "amazon.co.uk",
                        "login.microsoftonline.com",
                        "_dmarc.example.net",
                        "EXAMPLE.COM.",
                        "localhost",
                        "com",
                        "paypal.com.evil.net",
                        "secure-paypal.com"}) {
    EXPECT_EQ(kinds(checker().check(d)), Kinds{}) << d;
  }
}

TEST(Homograph, LatinMixedWithCyrillicInPunycode) {
  // Cyrillic а (U+0430) in "paypal".
  Findings fs = checker().check("xn--pypal-4ve.com");
  EXPECT_EQ(kinds(fs), (Kinds{"mixed_script", "confusable_protected"}));
  const auto* m = find(fs, "mixed_script");
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->domain, "xn--pypal-4ve.com");
  EXPECT_EQ(m->display, "p\u0430ypal.com");
  EXPECT_EQ(m->detail, "Latin+Cyrillic in label 'p\u0430ypal'");
  const auto* c = find(fs, "confusable_protected");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->protected_domain, "paypal.com");
}

TEST(Homograph, LatinMixedWithCyrillicInUtf8) {
  Findings fs = checker().check("\u0430pple.com");  // Cyrillic а
  EXPECT_EQ(kinds(fs), (Kinds{"mixed_script", "confusable_protected"}));
  EXPECT_EQ(find(fs, "confusable_protected")->protected_domain, "apple.com");
  EXPECT_EQ(find(fs, "mixed_script")->detail, "Cyrillic+Latin in label '\u0430pple'");
  // Upper case and a subdomain: the same look-alike registrable domain.
  fs = checker().check("WWW.\u0410PPLE.COM.");
  EXPECT_EQ(kinds(fs), (Kinds{"mixed_script", "confusable_protected"}));
  EXPECT_EQ(fs[0].display, "www.\u0430pple.com");
}

TEST(Homograph, GreekOmicronInMicrosoft) {
  Findings fs = checker().check("micr\u03BFsoft.com");
  EXPECT_EQ(kinds(fs), (Kinds{"mixed_script", "confusable_protected"}));
  EXPECT_EQ(find(fs, "mixed_script")->detail, "Latin+Greek in label 'micr\u03BFsoft'");
  EXPECT_EQ(find(fs, "confusable_protected")->protected_domain, "microsoft.com");
}

TEST(Homograph, WholeScriptCyrillic) {
  // а р р ӏ е, all Cyrillic: no mixing, but it reads as Latin.
  Findings fs = checker().check("\u0430\u0440\u0440\u04CF\u0435.com");
  ASSERT_EQ(kinds(fs), Kinds{"whole_script_confusable"});
  EXPECT_EQ(fs[0].detail,
            "all-Cyrillic label '\u0430\u0440\u0440\u04CF\u0435' reads as Latin 'appie'");
  EXPECT_EQ(spam::HomographChecker::to_ascii(fs[0].display), "xn--80ak6aa92e.com");
  EXPECT_EQ(kinds(checker().check("xn--80ak6aa92e.com")), Kinds{"whole_script_confusable"});
  // Cyrillic "раураӏ" reads "paypai", not paypal's skeleton: whole-script only.
  EXPECT_EQ(kinds(checker().check("\u0440\u0430\u0443\u0440\u0430\u04CF.com")),
            Kinds{"whole_script_confusable"});
  // "соса" is a Russian word and reads "coca": it fires under .com, not under a Cyrillic
  // top-level domain.
  EXPECT_EQ(kinds(checker().check("\u0441\u043E\u0441\u0430.com")),
            Kinds{"whole_script_confusable"});
  EXPECT_EQ(kinds(checker().check("\u0441\u043E\u0441\u0430.\u0440\u0444")), Kinds{});
  // Greek whole-script look-alike.
  EXPECT_EQ(kinds(checker().check("\u03BF\u03BD\u03BF.com")), Kinds{"whole_script_confusable"});
}

TEST(Homograph, AsciiLookAlikesOfProtectedDomains) {
  struct Case {
    const char* domain;
    const char* imitates;
  };
  for (const Case& c : {Case{"paypa1.com", "paypal.com"}, Case{"rnicrosoft.com", "microsoft.com"},
                        Case{"g00gle.com", "google.com"}, Case{"login.paypa1.com", "paypal.com"},
                        Case{"paypa1.net", "paypal.com"}, Case{"paypa1.co.uk", "paypal.com"},
                        Case{"paypal.corn", "paypal.com"}, Case{"exarnple.org", "mail.example.org"},
                        Case{"MICR0S0FT.COM", "microsoft.com"}}) {
    Findings fs = checker().check(c.domain);
    ASSERT_EQ(kinds(fs), Kinds{"confusable_protected"}) << c.domain;
    EXPECT_EQ(fs[0].protected_domain, c.imitates) << c.domain;
  }
  Findings fs = checker().check("paypa1.com");
  EXPECT_EQ(fs[0].detail, "'paypa1.com' is confusable with protected 'paypal.com'");
  fs = checker().check("paypa1.net");
  EXPECT_EQ(fs[0].detail,
            "label 'paypa1' of 'paypa1.net' is confusable with 'paypal' of protected "
            "'paypal.com' (both read 'paypal')");
}

TEST(Homograph, ProtectedDomainsAndTheirSubdomainsNeverFire) {
  for (const char* d : {"paypal.com", "www.paypal.com", "PAYPAL.COM.", "microsoft.com",
                        "mail.example.org", "example.org", "other.example.org"}) {
    EXPECT_EQ(kinds(checker().check(d)), Kinds{}) << d;
  }
  // Not even a mixed-script label under a protected organisation's own domain.
  EXPECT_EQ(kinds(checker().check("p\u0430y.paypal.com")), Kinds{});
  // Subdomains of a look-alike registrable domain's name do fire.
  EXPECT_EQ(kinds(checker().check("paypal.com.paypa1.com")), Kinds{"confusable_protected"});
}

TEST(Homograph, WithoutProtectedDomains) {
  auto c = spam::HomographChecker::create({});
  ASSERT_TRUE(c);
  EXPECT_EQ(kinds(c->check("paypa1.com")), Kinds{});
  EXPECT_EQ(kinds(c->check("xn--pypal-4ve.com")), Kinds{"mixed_script"});
}

TEST(Homograph, MixedDigitsAndAllowedMixtures) {
  // Latin + Han + Hiragana (Japanese) and Latin + Arabic pass Moderately Restrictive.
  EXPECT_EQ(kinds(checker().check("abc\u6F22\u5B57\u3072\u3089.jp")), Kinds{});
  EXPECT_EQ(kinds(checker().check("abc\u0645\u062B\u0627\u0644.com")), Kinds{});
  // ASCII 1 beside Arabic-Indic digit two.
  Findings fs = checker().check("\u0645\u062B\u0627\u06441\u0662.com");
  ASSERT_EQ(kinds(fs), Kinds{"mixed_script"});
  EXPECT_NE(fs[0].detail.find("digits of several numbering systems"), std::string::npos);
}

TEST(Homograph, InvalidIdna) {
  Findings fs = checker().check("xn--abc-.com");
  ASSERT_EQ(kinds(fs), Kinds{"idna_invalid"});
  EXPECT_EQ(fs[0].display, "xn--abc-.com");
  EXPECT_EQ(fs[0].detail, "label 'xn--abc-' is not valid punycode");
  fs = checker().check("www.xn--a.example");
  ASSERT_EQ(kinds(fs), Kinds{"idna_invalid"});
  EXPECT_EQ(fs[0].detail, "label 'xn--a' is not valid punycode");
  // An A-label holding only ASCII: nothing to decode.
  fs = checker().check("xn--paypal-.com");
  ASSERT_EQ(kinds(fs), Kinds{"idna_invalid"});
  EXPECT_EQ(fs[0].detail, "label 'xn--paypal-' is not valid punycode");
  // Valid labels beside the bad one are not reported; several bad ones are.
  fs = checker().check("xn--a.xn--mnchen-3ya.xn--b.de");
  ASSERT_EQ(kinds(fs), (Kinds{"idna_invalid", "idna_invalid"}));
  EXPECT_EQ(fs[1].detail, "label 'xn--b' is not valid punycode");
  // A zero-width joiner hidden inside a Latin word (CONTEXTJ).
  fs = checker().check("pay\u200Dpal.com");
  ASSERT_EQ(kinds(fs), Kinds{"idna_invalid"});
  EXPECT_EQ(fs[0].detail, "label 'pay\u200Dpal' is not allowed by IDNA (UTS #46)");
  // Ill-formed UTF-8 is reported printable.
  fs = checker().check("bad\xff.com");
  ASSERT_EQ(kinds(fs), Kinds{"idna_invalid"});
  EXPECT_EQ(fs[0].display, "bad\uFFFD.com");
}

TEST(Homograph, CreateRejectsAnInvalidProtectedDomain) {
  auto c = spam::HomographChecker::create({"paypal.com", "xn--abc-.com"});
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message().find("xn--abc-.com"), std::string::npos);
}

TEST(Homograph, ExplicitListAndProtectedIdn) {
  auto psl = postern::auth::PublicSuffixList::parse("com\nde\nco.uk\n");
  ASSERT_TRUE(psl);
  auto c = spam::HomographChecker::create({"xn--bcher-kva.de"}, &*psl);
  ASSERT_TRUE(c);
  EXPECT_EQ(kinds(c->check("bücher.de")), Kinds{});
  // "bu" + combining diaeresis + "cher" is the same name once normalised (NFC).
  EXPECT_EQ(kinds(c->check("bu\u0308cher.de")), Kinds{});
  Findings fs = c->check("b\u00FCcner.de");  // "n" for "h": not a skeleton match
  EXPECT_EQ(kinds(fs), Kinds{});
  fs = c->check("b\u00FCcher.com");  // the same label under another suffix
  EXPECT_EQ(kinds(fs), Kinds{});
  fs = c->check("b\u00FC\u0441her.com");  // Cyrillic с
  ASSERT_EQ(kinds(fs), (Kinds{"mixed_script", "confusable_protected"}));
  EXPECT_EQ(fs[1].protected_domain, "bücher.de");
}

TEST(Homograph, ThreadSafeAndFast) {
  const std::vector<std::string> domains = {
      "example.com",       "mail.google.com",   "xn--pypal-4ve.com", "paypa1.com",
      "münchen.de",        "rnicrosoft.com",    "www.github.com",    "\u0430pple.com",
      "cdn.example.co.uk", "xn--80ak6aa92e.com"};
  std::vector<size_t> expected;
  for (const auto& d : domains) expected.push_back(checker().check(d).size());
  constexpr int kRounds = 2000;
  auto worker = [&](int* mismatches) {
    for (int r = 0; r < kRounds; ++r) {
      for (size_t i = 0; i < domains.size(); ++i) {
        if (checker().check(domains[i]).size() != expected[i]) ++*mismatches;
      }
    }
  };
  int m1 = 0, m2 = 0;
  auto t0 = std::chrono::steady_clock::now();
  std::thread a(worker, &m1), b(worker, &m2);
  a.join();
  b.join();
  double us =
      std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() /
      (2.0 * kRounds * static_cast<double>(domains.size()));
  std::printf("homograph: %.2f us per check (2 threads, wall time / calls)\n", us);
  EXPECT_EQ(m1, 0);
  EXPECT_EQ(m2, 0);
  // About 4-13 us here on a loaded machine, ~55 us under ASan: the bound only catches a
  // pathological regression, not noise.
  EXPECT_LT(us, 500.0);
}

}  // namespace
