// Unit tests for lib/auth/results.h (RFC 8601 Authentication-Results).
#include "auth/results.h"

#include <gtest/gtest.h>

namespace postern::auth {
namespace {

TEST(FormatTest, MatchesHeaderExample) {
  std::vector<ResultClause> clauses = {
      {.method = "spf", .result = "pass", .props = {{"smtp.mailfrom", "a@example.org"}}},
      {.method = "dkim",
       .result = "pass",
       .props = {{"header.d", "example.org"}, {"header.s", "sel"}}}};
  EXPECT_EQ(format_authentication_results("mx.example.net", clauses),
            "Authentication-Results: mx.example.net;\r\n\tspf=pass smtp.mailfrom=a@example.org;"
            "\r\n\tdkim=pass header.d=example.org header.s=sel\r\n");
}

TEST(FormatTest, NoClausesIsNone) {
  EXPECT_EQ(format_authentication_results("mx.example.net", {}),
            "Authentication-Results: mx.example.net; none\r\n");
}

TEST(FormatTest, QuotesValuesThatAreNotTokens) {
  ResultClause c{.method = "dkim",
                 .result = "fail",
                 .reason = "bad \"sig\"",
                 .comment = "key (2048) bits",
                 .props = {{"header.b", "ab/cd+ef"},
                           {"header.d", "example.org"},
                           {"smtp.mailfrom", "odd local@example.org"},
                           {"smtp.mailfrom", "@example.org"},
                           {"header.i", ""}}};
  EXPECT_EQ(format_clause(c),
            "dkim=fail (key \\(2048\\) bits) reason=\"bad \\\"sig\\\"\" header.b=\"ab/cd+ef\" "
            "header.d=example.org smtp.mailfrom=\"odd local@example.org\" "
            "smtp.mailfrom=@example.org header.i=\"\"");
}

TEST(FormatTest, QuotesAuthservIdWhenNeeded) {
  EXPECT_EQ(format_authentication_results("my id", {}),
            "Authentication-Results: \"my id\"; none\r\n");
}

TEST(AuthservIdTest, SkipsCfws) {
  EXPECT_EQ(authserv_id_of(" mx.example.net; spf=pass"), "mx.example.net");
  EXPECT_EQ(authserv_id_of(" (a (nested) comment)\r\n\tMX.example.net 1; none"), "MX.example.net");
  EXPECT_EQ(authserv_id_of(" \"quoted id\"; none"), "quoted id");
  EXPECT_EQ(authserv_id_of("   "), "");
  EXPECT_EQ(authserv_id_of(" ; spf=pass"), "");
  EXPECT_EQ(authserv_id_of("mx;spf=pass"), "mx");
}

TEST(StripTest, RemovesOnlyOurFieldsKeepingEverythingElse) {
  const std::string msg =
      "Received: from a\r\n\tby b\r\n"
      "Authentication-Results: mx.example.net;\r\n\tspf=pass smtp.mailfrom=x@y\r\n"
      "authentication-results:  (forged)  MX.Example.NET; dkim=pass\r\n"
      "Authentication-Results: other.example; spf=fail\r\n"
      "Subject: hi\r\n"
      "\r\n"
      "Authentication-Results: mx.example.net; body is kept\r\n";
  EXPECT_EQ(strip_authentication_results(msg, "mx.example.net"),
            "Received: from a\r\n\tby b\r\n"
            "Authentication-Results: other.example; spf=fail\r\n"
            "Subject: hi\r\n"
            "\r\n"
            "Authentication-Results: mx.example.net; body is kept\r\n");
}

TEST(StripTest, FoldedIdAndLfInput) {
  const std::string msg =
      "Authentication-Results:\n mx.example.net;\n spf=pass\n"
      "From: a@b\n\nbody\n";
  EXPECT_EQ(strip_authentication_results(msg, "mx.example.net"), "From: a@b\n\nbody\n");
}

TEST(StripTest, NoBodyAndNoChange) {
  const std::string msg = "From: a@b\r\nAuthentication-Results: x; none";
  EXPECT_EQ(strip_authentication_results(msg, "mx"), msg);
  EXPECT_EQ(strip_authentication_results(msg, "x"), "From: a@b\r\n");
  EXPECT_EQ(strip_authentication_results(msg, ""), msg);
}

TEST(ParseTest, ReadsClausesPropsAndReason) {
  auto ar = parse_authentication_results(
      " mx.example 1; SPF=Pass (ok) smtp.mailfrom=a@example.org;\r\n\tdkim/1=fail "
      "reason=\"bad; sig\" header.d=example.org");
  EXPECT_EQ(ar.id, "mx.example");
  ASSERT_EQ(ar.clauses.size(), 2u);
  EXPECT_EQ(ar.clauses[0].method, "spf");
  EXPECT_EQ(ar.clauses[0].result, "pass");
  EXPECT_EQ(ar.clauses[1].method, "dkim");
  EXPECT_EQ(ar.clauses[1].reason, "bad; sig");
  ASSERT_EQ(ar.clauses[1].props.size(), 1u);
  EXPECT_EQ(ar.clauses[1].props[0].second, "example.org");
}

TEST(MergeTest, OurResultsAreReadFromOurFieldsOnly) {
  std::string msg =
      "Authentication-Results: other.example; spf=fail\n"
      "Authentication-Results: MX.example;\n\tspf=pass smtp.mailfrom=a@example.org;\n"
      "\tarc=none\n"
      "Subject: x\n\n"
      "Authentication-Results: mx.example; dkim=pass\n";
  auto ours = our_results(msg, "mx.example");
  ASSERT_EQ(ours.size(), 2u);
  EXPECT_EQ(ours[0].method, "spf");
  EXPECT_EQ(ours[0].result, "pass");
  EXPECT_EQ(ours[1].method, "arc");
  EXPECT_TRUE(our_results(msg, "").empty());
}

TEST(MergeTest, AStageReplacesOnlyItsOwnMethod) {
  std::vector<ResultClause> earlier = {{.method = "spf", .result = "pass"},
                                       {.method = "dkim", .result = "fail"},
                                       {.method = "dkim", .result = "pass"},
                                       {.method = "arc", .result = "none"}};
  auto merged = merge_results(earlier, {{.method = "dkim", .result = "neutral"}});
  std::string words;
  for (const auto& c : merged) words += c.method + "=" + c.result + " ";
  EXPECT_EQ(words, "spf=pass arc=none dkim=neutral ");
  EXPECT_EQ(merge_results({}, {{.method = "spf", .result = "fail"}}).size(), 1u);
}

TEST(StampTest, FieldInTheMessagesLineEndingThenTheMessage) {
  std::vector<ResultClause> c = {{.method = "spf", .result = "pass"}};
  EXPECT_EQ(stamp("From: a\n\nbody\n", "mx", c),
            "Authentication-Results: mx;\n\tspf=pass\nFrom: a\n\nbody\n");
  EXPECT_EQ(stamp("From: a\r\n\r\nbody\r\n", "mx", c),
            "Authentication-Results: mx;\r\n\tspf=pass\r\nFrom: a\r\n\r\nbody\r\n");
  EXPECT_EQ(stamp("From: a\n\nbody\n", "mx", c, true), "Authentication-Results: mx;\n\tspf=pass\n");
}

}  // namespace
}  // namespace postern::auth
