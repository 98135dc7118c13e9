// The DATA reader and the line-ending policy (lib/smtp/data.h): end of data only at
// CRLF.CRLF, dot-unstuffing, the smuggling variants, size limits, BDAT content checks.
#include <gtest/gtest.h>

#include <string>

#include "smtp/data.h"

namespace postern::smtp {
namespace {

struct Read {
  bool done = false;
  size_t used = 0;
  std::string message;
  std::string problem;  // the reply, "" when accepted
};

Read read(std::string_view in, ContentPolicy policy = {}, size_t step = 0) {
  DotReader r(policy);
  Read out;
  if (step == 0) step = in.size() + 1;
  while (out.used < in.size() && !r.done()) {
    out.used += r.feed(in.substr(out.used, std::min(step, in.size() - out.used)));
  }
  out.done = r.done();
  if (auto e = r.problem()) out.problem = e->smtp_reply();
  out.message = r.take();
  return out;
}

TEST(DotReader, EndsAtCrlfDotCrlfAndUnstuffs) {
  std::string in = "Subject: x\r\n\r\n..one\r\n.two\r\nthree\r\n.\r\nQUIT\r\n";
  for (size_t step : {0, 1, 2, 3, 7}) {
    Read r = read(in, {}, step);
    EXPECT_TRUE(r.done);
    EXPECT_EQ(r.used, in.size() - 6);  // QUIT is left for the command reader
    EXPECT_EQ(r.message, "Subject: x\r\n\r\n.one\r\ntwo\r\nthree\r\n");
    EXPECT_EQ(r.problem, "");
  }
}

TEST(DotReader, EmptyMessageEndsAtOnce) {
  Read r = read(".\r\n");  // the DATA line's CRLF counts as the line before
  EXPECT_TRUE(r.done);
  EXPECT_EQ(r.message, "");
}

// Each sequence a lax or strict next hop might read as the end of data: with the default
// policy the ones with a bare LF are content (normalized), the others refuse the message.
TEST(DotReader, SmugglingSequencesNeverEndTheData) {
  using namespace std::string_literals;
  struct Case {
    std::string seq;
    bool refused;
  } cases[] = {{"\n.\n"s, false},   {"\n.\r\n"s, false}, {"\r\n.\n"s, false},
               {"\r.\r"s, true},    {"\r\n.\r"s, true},  {"\r\n\0.\r\n"s, true},
               {"\r.\r\n"s, true}};
  for (const auto& c : cases) {
    const std::string& seq = c.seq;
    std::string in = "first" + seq + "MAIL FROM:<evil@x>\r\nsecond\r\n.\r\n";
    Read r = read(in);
    SCOPED_TRACE(testing::PrintToString(seq));
    EXPECT_TRUE(r.done);
    EXPECT_EQ(r.used, in.size());  // the end is the final CRLF.CRLF, nothing earlier
    EXPECT_EQ(!r.problem.empty(), c.refused) << r.problem;
    if (!c.refused) {
      EXPECT_NE(r.message.find("MAIL FROM:<evil@x>\r\nsecond\r\n"), std::string::npos);
      EXPECT_EQ(r.message.find("\r\n.\r\n"), std::string::npos);
    }
  }
}

TEST(DotReader, StrictPolicyRefusesBareLf) {
  Read r = read("a\nb\r\n.\r\n", {.bare_lf = BareLf::kReject});
  EXPECT_TRUE(r.done);
  EXPECT_EQ(r.problem, "550 5.5.2 message refused: bare LF in content (RFC 5321 2.3.8)");
}

TEST(DotReader, OversizeIsReadToTheEndAndRefused) {
  std::string in = std::string(5000, 'x') + "\r\n.\r\nNOOP\r\n";
  Read r = read(in, {.max_size = 1024}, 100);
  EXPECT_TRUE(r.done);
  EXPECT_EQ(r.used, in.size() - 6);
  EXPECT_EQ(r.problem.substr(0, 10), "552 5.3.4 ");
  EXPECT_LE(r.message.size(), 1024u);
}

TEST(CheckContent, BdatPolicy) {
  std::string m = "a\nb\r\n.\r\nc";
  EXPECT_FALSE(check_content(m, {}));
  EXPECT_EQ(m, "a\r\nb\r\n.\r\nc");  // normalized; a dot line is content in BDAT
  std::string cr = "a\rb\r\n";
  EXPECT_TRUE(check_content(cr, {}));
  std::string nul("a\0b\r\n", 5);
  EXPECT_TRUE(check_content(nul, {}));
  EXPECT_FALSE(check_content(nul, {.binary = true}));
  std::string lf = "a\nb";
  EXPECT_TRUE(check_content(lf, {.bare_lf = BareLf::kReject}));
}

}  // namespace
}  // namespace postern::smtp
