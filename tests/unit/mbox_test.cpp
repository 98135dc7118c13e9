// Unit tests for lib/mail/mbox: splitting mboxo/mboxrd files, mboxrd quoting both ways,
// From_ line dates, the Status/X-Status/X-Keywords metadata, and write-then-read.
#include "mail/mbox.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

namespace mbox = postern::mail::mbox;
using Strings = std::vector<std::string>;

TEST(FromLine, Dates) {
  // 2026-11-28 23:29:27 UTC
  EXPECT_EQ(mbox::parse_from_line_date("From ann@example.org Sat Nov 28 23:29:27 2026"), 1795908567);
  // Single-digit day padded with a space, as asctime writes it.
  EXPECT_EQ(mbox::parse_from_line_date("From a@b Thu Jan  1 00:00:00 1970"), 0);
  EXPECT_EQ(mbox::parse_from_line_date("From a@b Thu Jan  1 00:00 1970"), 0);
  // Numeric zone before or after the year.
  EXPECT_EQ(mbox::parse_from_line_date("From a@b Thu Jan  1 01:00:00 +0100 1970"), 0);
  EXPECT_EQ(mbox::parse_from_line_date("From a@b Thu Jan  1 01:00:00 1970 +0100"), 0);
  EXPECT_EQ(mbox::parse_from_line_date("From a@b Wed Dec 31 19:00:00 EST 1969 -0500"), 0);
  EXPECT_EQ(mbox::parse_from_line_date("From a@b Thu Jan  1 00:00:00 1970\r"), 0);
  // "remote from" trailers (UUCP) are ignored.
  EXPECT_EQ(mbox::parse_from_line_date("From a Thu Jan  1 00:00:10 1970 remote from x"), 10);
  EXPECT_FALSE(mbox::parse_from_line_date("From the desk of the director"));
  EXPECT_FALSE(mbox::parse_from_line_date("From a@b Thu Foo  1 00:00:00 1970"));
  EXPECT_FALSE(mbox::parse_from_line_date("Subject: x"));
}

TEST(FromLine, Writes) {
  EXPECT_EQ(mbox::from_line("ann@example.org", 1795908567),
            "From ann@example.org Sat Nov 28 23:29:27 2026\n");
  EXPECT_EQ(mbox::from_line("", 0), "From MAILER-DAEMON Thu Jan  1 00:00:00 1970\n");
  EXPECT_EQ(mbox::from_line("a b", 86400 * 59), "From a_b Sun Mar  1 00:00:00 1970\n");
  for (int64_t t : {int64_t{0}, int64_t{951782400}, int64_t{1700000000}, int64_t{4102444799}}) {
    EXPECT_EQ(mbox::parse_from_line_date(mbox::from_line("x", t)), t);
  }
}

TEST(Quoting, BothWays) {
  const std::string body = "From here\n>From there\n>>From far\nFrom\n>From_\n From x\n";
  const std::string quoted = ">From here\n>>From there\n>>>From far\nFrom\n>From_\n From x\n";
  EXPECT_EQ(mbox::quote(body), quoted);
  EXPECT_EQ(mbox::unquote(quoted), body);
  EXPECT_EQ(mbox::unquote(mbox::quote("x\r\nFrom y\r\n")), "x\r\nFrom y\r\n");
  EXPECT_EQ(mbox::quote("From x"), ">From x");  // last line without newline
}

TEST(Split, MboxrdFile) {
  const std::string file =
      "From ann@example.org Sat Nov 28 23:29:27 2026\n"
      "Status: RO\n"
      "X-Status: AF\n"
      "X-Keywords: Junk $Label1\n"
      "X-UID: 7\n"
      "Subject: one\n"
      "\n"
      ">From the body\n"
      ">>From deeper\n"
      "\n"
      "From bob@example.org Thu Jan  1 00:00:00 1970\n"
      "Subject: two\n"
      "Content-Length: 5\n"
      "\n"
      "body\n"
      "\n";
  auto msgs = mbox::split(file);
  ASSERT_EQ(msgs.size(), 2u);
  EXPECT_EQ(msgs[0].sender, "ann@example.org");
  EXPECT_EQ(msgs[0].received_at, 1795908567);
  EXPECT_EQ(msgs[0].line, 1u);
  EXPECT_EQ(msgs[0].bytes, "Subject: one\n\nFrom the body\n>From deeper\n");
  EXPECT_EQ(msgs[0].keywords, (Strings{"$answered", "$flagged", "$label1", "$seen", "junk"}));
  EXPECT_EQ(msgs[1].bytes, "Subject: two\n\nbody\n");
  EXPECT_EQ(msgs[1].keywords, Strings{});
  EXPECT_EQ(msgs[1].received_at, 0);
  EXPECT_EQ(msgs[1].line, 11u);
}

TEST(Split, UnquotedFromInBodyDoesNotSplit) {
  // mboxo writers leave "From " lines in bodies; without a date they are body text.
  const std::string file =
      "From a@b Thu Jan  1 00:00:00 1970\n"
      "Subject: x\n"
      "\n"
      "From the desk of the director:\n"
      "\n"
      "From the desk of the director, again\n";
  auto msgs = mbox::split(file);
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(msgs[0].bytes,
            "Subject: x\n\nFrom the desk of the director:\n\nFrom the desk of the director, again\n");
}

TEST(Split, NeedsBlankLineBeforeSeparator) {
  const std::string file =
      "From a@b Thu Jan  1 00:00:00 1970\n"
      "Subject: x\n"
      "\n"
      "text\n"
      "From a@b Thu Jan  1 00:00:00 1970\n";
  EXPECT_EQ(mbox::split(file).size(), 1u);
}

TEST(Split, CrlfFileAndStrayPreamble) {
  const std::string file =
      "garbage before\n"
      "From a@b Thu Jan  1 00:00:00 1970\r\n"
      "Subject: x\r\n"
      "\r\n"
      "b\r\n"
      "\r\n"
      "From a@b Thu Jan  1 00:00:05 1970\r\n"
      "Subject: y\r\n"
      "\r\n";
  auto msgs = mbox::split(file);
  // Text before the first From_ line (after a blank line) is not a message.
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(msgs[0].bytes, "Subject: y\r\n");
  auto real = mbox::split(file.substr(15));
  ASSERT_EQ(real.size(), 2u);
  EXPECT_EQ(real[0].bytes, "Subject: x\r\n\r\nb\r\n");
  EXPECT_EQ(real[1].bytes, "Subject: y\r\n");
  EXPECT_EQ(real[1].received_at, 5);
}

TEST(Metadata, StripsOnlyHeaderSection) {
  std::string m =
      "Subject: s\n"
      "status: R\n"
      "X-Status:\n  D\n"
      "X-Keywords: a, b\n"
      "\n"
      "Status: RO\n";
  auto kw = mbox::strip_metadata(m);
  EXPECT_EQ(m, "Subject: s\n\nStatus: RO\n");
  EXPECT_EQ(kw, (Strings{"$deleted", "$seen", "a", "b"}));
  EXPECT_EQ(mbox::keywords_from_status("O", "T", std::nullopt), Strings{"$draft"});
}

TEST(Write, RoundTrip) {
  const std::string a = "Subject: a\n\nFrom me\n>From you\n\n";
  const std::string b = "Subject: b\n\nno newline at end";
  std::string file = mbox::format_message("ann@example.org", 1700000000,
                                          {"$seen", "$answered", "$forwarded", "work"}, a) +
                     mbox::format_message("", 1600000000, {}, b);
  EXPECT_TRUE(file.starts_with("From ann@example.org Tue Nov 14 22:13:20 2023\nStatus: RO\n"
                               "X-Status: A\nX-Keywords: $Forwarded work\nSubject: a\n\n>From me\n"
                               ">>From you\n\n\nFrom MAILER-DAEMON"))
      << file;
  EXPECT_TRUE(mbox::looks_like_mbox(file));
  auto msgs = mbox::split(file);
  ASSERT_EQ(msgs.size(), 2u);
  EXPECT_EQ(msgs[0].bytes, a);
  EXPECT_EQ(msgs[0].received_at, 1700000000);
  EXPECT_EQ(msgs[0].keywords, (Strings{"$answered", "$forwarded", "$seen", "work"}));
  EXPECT_EQ(msgs[1].bytes, b + "\n");  // the format needs the final newline
  EXPECT_EQ(msgs[1].received_at, 1600000000);
  EXPECT_EQ(msgs[1].keywords, Strings{});
}

}  // namespace
