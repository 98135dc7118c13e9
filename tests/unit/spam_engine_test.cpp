// lib/spam: analysis (URLs, HTML features, attachments), regex sets (both engines, the
// PCRE2 fallback, the cache), meta expressions, the chi-square classifier, the engine's
// scoring and the X-Spam-* fields.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "config/spam.h"
#include "spam/analysis.h"
#include "spam/bayes.h"
#include "spam/engine.h"
#include "spam/regex_set.h"
#include "spam/rules.h"

namespace postern::spam {
namespace {

std::string html_message(const std::string& html) {
  return "From: a@example.net\r\nSubject: s\r\nMIME-Version: 1.0\r\nContent-Type: text/html\r\n\r\n" +
         html + "\r\n";
}

TEST(SpamAnalysis, UrlHostsAndTextUrls) {
  EXPECT_EQ(url_host("HTTP://User:pw@Exa.Mple.:8080/x?y"), "exa.mple");
  EXPECT_EQ(url_host("https://[2001:db8::1]/"), "2001:db8::1");
  EXPECT_EQ(url_host("https://%65xample.org/"), "example.org");
  EXPECT_EQ(url_host("mailto:a@b.example"), "");
  auto urls = find_urls("see www.example.org/a, and (https://b.example/c).", 10);
  ASSERT_EQ(urls.size(), 2u);
  EXPECT_EQ(urls[0], "http://www.example.org/a");
  EXPECT_EQ(urls[1], "https://b.example/c");
}

TEST(SpamAnalysis, HtmlLinksFormsAndHiddenText) {
  auto a = analyze(html_message(
      "<p>Hi <a href=\"https://evil.example/login\">https://bank.example</a></p>"
      "<form action=\"https://collect.example/p\"><input type=password></form>"
      "<span style=\"display: none\">hidden words here</span>"
      "<div style=\"color:#FFF;background-color:white\">white on white</div>"
      "<img src=\"https://img.example/x.png\"><script>var x = '<b>';</script>"));
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->html_only);
  EXPECT_EQ(a->html_features.forms, 1u);
  EXPECT_EQ(a->html_features.password_inputs, 1u);
  EXPECT_EQ(a->html_features.images, 1u);
  EXPECT_TRUE(a->html_features.has_script);
  EXPECT_EQ(a->html_features.hidden_chars, std::string("hiddenwordsherewhiteonwhite").size());
  ASSERT_GE(a->urls.size(), 3u);
  EXPECT_EQ(a->urls[0].host, "evil.example");
  EXPECT_EQ(a->urls[0].anchor_text, "https://bank.example");
  EXPECT_TRUE(a->urls[1].form_action);
  EXPECT_TRUE(a->urls[2].image);
  EXPECT_NE(a->body.find("Hi https://bank.example"), std::string::npos);
}

TEST(SpamAnalysis, AttachmentsAndZipNames) {
  // A stored (uncompressed) zip with one entry "run.exe", built by hand.
  std::string name = "run.exe";
  std::string local = std::string("PK\x03\x04", 4) + std::string(22, '\0') +
                      std::string(1, static_cast<char>(name.size())) + std::string(3, '\0') + name;
  std::string central = std::string("PK\x01\x02", 4) + std::string(24, '\0') +
                        std::string(1, static_cast<char>(name.size())) + std::string(17, '\0') + name;
  std::string eocd = std::string("PK\x05\x06", 4) + std::string(6, '\0') + std::string("\x01\x00", 2) +
                     std::string(4, '\0');
  uint32_t cd_off = static_cast<uint32_t>(local.size());
  eocd += std::string(reinterpret_cast<const char*>(&cd_off), 4) + std::string(2, '\0');
  // central directory size field (4 bytes at +12) left 0: not used by the reader.
  std::string zip = local + central + eocd;
  static const char* b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string enc;
  for (size_t i = 0; i < zip.size(); i += 3) {
    uint32_t n = static_cast<unsigned char>(zip[i]) << 16;
    if (i + 1 < zip.size()) n |= static_cast<unsigned char>(zip[i + 1]) << 8;
    if (i + 2 < zip.size()) n |= static_cast<unsigned char>(zip[i + 2]);
    enc += b64[(n >> 18) & 63];
    enc += b64[(n >> 12) & 63];
    enc += i + 1 < zip.size() ? b64[(n >> 6) & 63] : '=';
    enc += i + 2 < zip.size() ? b64[n & 63] : '=';
  }
  std::string msg =
      "From: a@example.net\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
      "--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
      "--b\r\nContent-Type: application/zip\r\nContent-Disposition: attachment; filename=docs.zip\r\n"
      "Content-Transfer-Encoding: base64\r\n\r\n" + enc + "\r\n--b--\r\n";
  auto a = analyze(msg);
  ASSERT_TRUE(a);
  ASSERT_EQ(a->attachments.size(), 1u);
  EXPECT_EQ(a->attachments[0].filename, "docs.zip");
  EXPECT_EQ(a->attachments[0].magic, "zip");
  ASSERT_EQ(a->attachments[0].archive_names.size(), 1u);
  EXPECT_EQ(a->attachments[0].archive_names[0], "run.exe");
}

TEST(SpamAnalysis, OnlyOurAuthenticationResultsCount) {
  std::string msg =
      "Authentication-Results: mx.example.com; spf=fail smtp.mailfrom=a@b.example; dkim=pass "
      "header.d=b.example; dmarc=fail header.from=b.example\r\n"
      "Authentication-Results: forged.example; spf=pass; dmarc=pass\r\n"
      "From: a@b.example\r\n\r\nx\r\n";
  auto a = analyze(msg, {.authserv_ids = {"mx.example.com"}});
  ASSERT_TRUE(a);
  EXPECT_EQ(a->auth.spf, "fail");
  EXPECT_EQ(a->auth.dkim, "pass");
  EXPECT_EQ(a->auth.dmarc, "fail");
  auto none = analyze(msg, {.authserv_ids = {"other.example"}});
  EXPECT_FALSE(none->auth.present);
}

TEST(SpamRegexSet, BothEnginesAgreeAndLookaroundFallsBack) {
  std::vector<RegexSet::Pattern> p = {{"v[i1]agra", "i"}, {"^free$", "m"},
                                      {"pay(?!pal)", ""},  {"(a)\\1", ""},
                                      {"é+", ""}};
  for (RegexEngine e : {RegexEngine::kHyperscan, RegexEngine::kPcre2}) {
    auto set = RegexSet::compile(p, {.engine = e});
    ASSERT_TRUE(set) << set.error().message();
    RegexSet::Scratch s(**set);
    EXPECT_EQ((*set)->scan("Buy VIAGRA\nfree\n", s), (std::vector<uint32_t>{0, 1}));
    EXPECT_EQ((*set)->scan("paypal only", s), (std::vector<uint32_t>{}));
    EXPECT_EQ((*set)->scan("payday, aa, caféé", s), (std::vector<uint32_t>{2, 3, 4}));
    if (e == RegexEngine::kHyperscan) {
      EXPECT_EQ((*set)->pcre2_count(), 2u);
    }
  }
  auto bad = RegexSet::compile({{"a(", ""}}, {});
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("a("), std::string::npos);
}

TEST(SpamRegexSet, CompiledSetIsCached) {
  std::string dir = ::testing::TempDir() + "spam-cache-" + std::to_string(::getpid());
  std::vector<RegexSet::Pattern> p = {{"lottery", "i"}, {"x(?=y)", ""}};
  auto first = RegexSet::compile(p, {.cache_dir = dir});
  ASSERT_TRUE(first);
  EXPECT_FALSE((*first)->from_cache());
  auto second = RegexSet::compile(p, {.cache_dir = dir});
  ASSERT_TRUE(second);
  EXPECT_TRUE((*second)->from_cache());
  RegexSet::Scratch s(**second);
  EXPECT_EQ((*second)->scan("LOTTERY xy", s), (std::vector<uint32_t>{0, 1}));
  std::filesystem::remove_all(dir);
}

// A new rule set's cache sweeps sets nobody has loaded for 30 days; loading one keeps it.
TEST(SpamRegexSet, AbandonedCachedSetsAreSwept) {
  namespace fs = std::filesystem;
  std::string dir = ::testing::TempDir() + "spam-sweep-" + std::to_string(::getpid());
  auto files = [&] {
    std::set<std::string> out;
    for (const auto& e : fs::directory_iterator(dir)) out.insert(e.path().filename().string());
    return out;
  };
  auto age = [&](const std::set<std::string>& names, int days) {
    for (const auto& n : names) {
      fs::last_write_time(dir + "/" + n, fs::file_time_type::clock::now() - std::chrono::hours(24 * days));
    }
  };
  std::vector<RegexSet::Pattern> a = {{"lottery", "i"}}, b = {{"casino", "i"}},
                                 c = {{"jackpot", "i"}};
  ASSERT_TRUE(RegexSet::compile(a, {.cache_dir = dir}));
  auto set_a = files();
  ASSERT_EQ(set_a.size(), 2u);  // the database and its PCRE2 list
  ASSERT_TRUE(RegexSet::compile(b, {.cache_dir = dir}));
  auto set_b = files();
  for (const auto& n : set_a) set_b.erase(n);
  ASSERT_EQ(set_b.size(), 2u);
  std::ofstream(dir + "/notes.txt") << "not ours";
  age(set_a, 40);
  age(set_b, 40);
  age({"notes.txt"}, 40);
  // b is loaded again: touched, so it stays; a is 40 days unused and goes.
  auto again = RegexSet::compile(b, {.cache_dir = dir});
  ASSERT_TRUE(again && (*again)->from_cache());
  ASSERT_TRUE(RegexSet::compile(c, {.cache_dir = dir}));
  auto now = files();
  for (const auto& n : set_a) EXPECT_FALSE(now.contains(n)) << n;
  for (const auto& n : set_b) EXPECT_TRUE(now.contains(n)) << n;
  EXPECT_TRUE(now.contains("notes.txt"));
  EXPECT_EQ(now.size(), 5u);  // b, c and notes.txt
  fs::remove_all(dir);
}

TEST(SpamMeta, ExpressionsAndErrors) {
  std::map<std::string, size_t> names = {{"A", 0}, {"B", 1}, {"C", 2}};
  auto e = MetaExpr::parse("A && (B || !C)", names);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->eval({1, 0, 0}), 1);
  EXPECT_EQ(e->eval({1, 0, 1}), 0);
  auto sum = MetaExpr::parse("(A + B + C) >= 2", names);
  ASSERT_TRUE(sum);
  EXPECT_EQ(sum->eval({1, 0, 1}), 1);
  EXPECT_EQ(sum->eval({0, 0, 1}), 0);
  EXPECT_FALSE(MetaExpr::parse("A &&", names));
  EXPECT_FALSE(MetaExpr::parse("A && D", names));
  EXPECT_FALSE(MetaExpr::parse("(A", names));
}

TEST(SpamBayes, ChiSquareLeansTheRightWay) {
  store::spam_model::Model m;
  m.totals = {300, 300};
  auto t = [](const char* s) { return token_hash(s); };
  for (const char* w : {"viagra", "lottery", "winner", "prize"}) m.tokens[t(w)] = {200, 1};
  for (const char* w : {"meeting", "agenda", "minutes", "patch"}) m.tokens[t(w)] = {1, 200};
  BayesOptions o;
  EXPECT_GT(bayes_probability(m, {t("viagra"), t("lottery"), t("winner"), t("prize")}, o), 0.99);
  EXPECT_LT(bayes_probability(m, {t("meeting"), t("agenda"), t("minutes"), t("patch")}, o), 0.01);
  EXPECT_DOUBLE_EQ(bayes_probability(m, {t("unknown")}, o), 0.5);
  m.totals = {10, 300};
  EXPECT_EQ(bayes_probability(m, {t("viagra")}, o), -1);  // too little spam learned
}

TEST(SpamBayes, StrongestTokensAreTheFurthestFromEven) {
  store::spam_model::Model m;
  m.totals = {300, 300};
  auto t = [](const char* s) { return token_hash(s); };
  m.tokens[t("lottery")] = {200, 1};
  m.tokens[t("agenda")] = {2, 200};
  m.tokens[t("prize")] = {50, 20};
  m.tokens[t("today")] = {100, 100};  // even: never listed
  auto a = analyze("From: x@example.net\r\nSubject: hi\r\n\r\nprize agenda today lottery\r\n", {});
  ASSERT_TRUE(a);
  auto top = strongest_tokens(m, *a, 2);
  ASSERT_EQ(top.size(), 2u);
  EXPECT_EQ(top[0].token, "lottery");
  EXPECT_GT(top[0].probability, 0.99);
  EXPECT_EQ(top[1].token, "agenda");
  EXPECT_LT(top[1].probability, 0.02);
  auto all = strongest_tokens(m, *a, 10);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[2].token, "prize");
  m.totals = {10, 300};
  EXPECT_TRUE(strongest_tokens(m, *a, 10).empty());
}

TEST(SpamEngine, ScoresChecksRulesAndMetasAndWritesFields) {
  Settings s;
  s.thresholds = {.add_header = 2, .junk = 4, .reject = 10};
  ASSERT_TRUE(config::parse_spam_rules(
      "rules:\n"
      "  - {name: EXE, check: attachment_executable, score: 3}\n"
      "  - {name: SUBJ, header: Subject, regex: 'invoice', flags: i, score: 0.5}\n"
      "  - {name: NOT_SUBJ, header: Subject, regex: 'nothing', negate: true, score: 0.1}\n"
      "  - {name: __SUB, body: 'pay now', score: 0}\n"
      "  - {name: BOTH, meta: 'EXE && __SUB', score: 1}\n",
      "test", s.rules));
  auto e = Engine::create(s);
  ASSERT_TRUE(e) << e.error().message();
  Engine::Scratch scratch(**e);
  std::string msg =
      "From: a@example.net\r\nSubject: Your INVOICE\r\nMIME-Version: 1.0\r\n"
      "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n"
      "pay now\r\n--b\r\nContent-Type: application/octet-stream; name=a.scr\r\n\r\nMZxx\r\n--b--\r\n";
  auto v = (*e)->score(msg, {}, scratch);
  ASSERT_TRUE(v);
  EXPECT_DOUBLE_EQ(v->score, 4.6);
  EXPECT_TRUE(v->spam);
  EXPECT_EQ(v->action, Action::kJunk);
  ASSERT_EQ(v->hits.size(), 4u);  // __SUB is not reported
  EXPECT_EQ(v->hits[0].name, "EXE");
  EXPECT_EQ(v->hits[0].detail, "a.scr");
  std::string fields = spam_headers(*v, s.thresholds);
  EXPECT_EQ(fields.substr(0, 18), "X-Spam-Flag: YES\r\n");
  EXPECT_NE(fields.find("X-Spam-Score: 4.6\r\n"), std::string::npos);
  EXPECT_NE(fields.find("X-Spam-Level: ****\r\n"), std::string::npos);
  EXPECT_NE(fields.find("X-Spam-Status: Yes, score=4.6 required=4.0 tests=EXE=3.0,BOTH=1.0,"),
            std::string::npos);
  for (size_t at = 0, nl; (nl = fields.find("\r\n", at)) != std::string::npos; at = nl + 2) {
    EXPECT_LE(nl - at, 78u) << fields;
  }
}

TEST(SpamEngine, StripsIncomingSpamFieldsOnly) {
  std::string in =
      "X-Spam-Flag: YES\r\nReceived: x\r\nX-Spam-Status: Yes,\r\n\ttests=A\r\nSubject: s\r\n\r\n"
      "X-Spam-Flag: in the body stays\r\n";
  EXPECT_EQ(strip_spam_headers(in),
            "Received: x\r\nSubject: s\r\n\r\nX-Spam-Flag: in the body stays\r\n");
}

}  // namespace
}  // namespace postern::spam
