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

}  // namespace
}  // namespace postern::auth
