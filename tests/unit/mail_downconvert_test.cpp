// Unit tests of 8BITMIME down-conversion (lib/mail/downconvert.h): the converted message
// is 7-bit, keeps its structure and header fields, and every part decodes to the same
// bytes as before. tests/e2e/dsn-python.bats checks the same with Python's email package
// (DowncvtOut.WriteSamples writes the samples when POSTERN_DSN_OUT is set).
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "mail/downconvert.h"
#include "mail/header.h"
#include "mail/message.h"

namespace postern::mail {
namespace {

std::string lf(std::string_view s) {
  std::string out;
  for (char c : s)
    if (c != '\r') out += c;
  return out;
}

std::string convert_ok(std::string_view in) {
  auto r = downconvert_8bit(in);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message());
  if (!r.ok()) return {};
  EXPECT_TRUE(is_7bit(*r));
  return *r;
}

Message parse_ok(const std::string& raw) {
  auto m = Message::parse(raw);
  EXPECT_TRUE(m.ok());
  return std::move(*m);
}

// Every part: same id, same type, same decoded bytes.
void expect_same_content(const std::string& before, const std::string& after) {
  const Message a = parse_ok(before);
  const Message b = parse_ok(after);
  ASSERT_EQ(a.parts().size(), b.parts().size());
  for (size_t i = 0; i < a.parts().size(); ++i) {
    const Part& p = a.parts()[i];
    const Part& q = b.parts()[i];
    EXPECT_EQ(p.id, q.id);
    EXPECT_EQ(p.kind, q.kind) << p.id;
    EXPECT_EQ(p.content_type.type, q.content_type.type) << p.id;
    EXPECT_EQ(p.content_type.subtype, q.content_type.subtype) << p.id;
    if (p.is_leaf()) {
      EXPECT_EQ(a.decoded_body(p), b.decoded_body(q)) << "part " << p.id;
    }
  }
}

std::string cte(const Message& m, const Part& p) {
  auto v = m.header(p, "Content-Transfer-Encoding");
  return v ? to_lower(unfold(*v)) : "";
}

const char kMixed[] =
    "From: Ann <ann@example.org>\r\n"
    "To: bob@example.net\r\n"
    "Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?=\r\n"
    "DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=s; h=from:to:subject;\r\n"
    "\tbh=abc; b=def\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=\"frontier\"\r\n"
    "Content-Transfer-Encoding: 8bit\r\n"
    "\r\n"
    "This is the preamble.\r\n"
    "--frontier\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: 8bit\r\n"
    "\r\n"
    "Grüße aus Köln,\r\n"
    "eine Zeile mit = und Tab\tund Leerzeichen am Ende \r\n"
    "--frontier\r\n"
    "Content-Type: text/plain; charset=us-ascii\r\n"
    "\r\n"
    "plain ascii part\r\n"
    "--frontier\r\n"
    "Content-Type: application/octet-stream; name=blob.bin\r\n"
    "Content-Transfer-Encoding: binary\r\n"
    "\r\n"
    "\x01\x02\xff\xfe\x80 bytes\r\n"
    "--frontier\r\n"
    "Content-Type: message/rfc822\r\n"
    "Content-Transfer-Encoding: 8bit\r\n"
    "\r\n"
    "From: carol@example.net\r\n"
    "Subject: inner\r\n"
    "Content-Type: text/html; charset=iso-8859-1\r\n"
    "\r\n"
    "<p>caf\xe9</p>\r\n"
    "--frontier--\r\n"
    "epilogue\r\n";

TEST(Downconvert, Is7bit) {
  EXPECT_TRUE(is_7bit("Subject: x\r\n\r\nhello\r\n"));
  EXPECT_TRUE(is_7bit(""));
  EXPECT_TRUE(is_7bit(std::string(998, 'a') + "\r\n"));
  EXPECT_FALSE(is_7bit(std::string(999, 'a') + "\r\n"));
  EXPECT_FALSE(is_7bit("Subject: x\r\n\r\ncaf\xc3\xa9\r\n"));
  EXPECT_FALSE(is_7bit(std::string("a\0b", 3)));
}

TEST(Downconvert, SevenBitMessageIsUnchanged) {
  const std::string m = "From: a@example.org\r\nSubject: hi\r\n\r\nhello\r\n";
  EXPECT_EQ(convert_ok(m), m);
}

TEST(Downconvert, SinglePartText) {
  const std::string in =
      "From: a@example.org\r\nContent-Type: text/plain; charset=utf-8\r\n"
      "Content-Transfer-Encoding: 8bit\r\nX-After: kept\r\n\r\nGrüße\r\nzwei\r\n";
  const std::string out = convert_ok(in);
  EXPECT_EQ(out,
            "From: a@example.org\r\nContent-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding: quoted-printable\r\nX-After: kept\r\n\r\n"
            "Gr=C3=BC=C3=9Fe\r\nzwei\r\n");
  expect_same_content(in, out);
}

TEST(Downconvert, MissingCteIsAddedAfterTheLastField) {
  const std::string in = "From: a@example.org\r\nSubject: s\r\n\r\ncaf\xc3\xa9";
  const std::string out = convert_ok(in);
  EXPECT_EQ(out, "From: a@example.org\r\nSubject: s\r\nContent-Transfer-Encoding: "
                 "quoted-printable\r\n\r\ncaf=C3=A9");
  expect_same_content(in, out);
}

TEST(Downconvert, MultipartKeepsStructureAndHeaders) {
  const std::string in = kMixed;
  const std::string out = convert_ok(in);
  expect_same_content(in, out);
  const Message m = parse_ok(out);
  // Header block: identical except the relabelled CTE.
  std::string expected_header(in.substr(0, in.find("\r\n\r\n") + 2));
  expected_header.replace(expected_header.find("Encoding: 8bit"), 14, "Encoding: 7bit");
  EXPECT_EQ(std::string(m.raw_headers(m.root())), expected_header + "\r\n");
  EXPECT_EQ(cte(m, *m.find("1")), "quoted-printable");
  EXPECT_EQ(cte(m, *m.find("2")), "");  // ASCII part untouched
  EXPECT_NE(out.find("--frontier\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
                     "plain ascii part\r\n--frontier\r\n"),
            std::string::npos);
  EXPECT_EQ(cte(m, *m.find("3")), "base64");
  EXPECT_EQ(cte(m, *m.find("4")), "7bit");  // message/rfc822 relabelled
  const Part* inner = m.find("4.1");
  ASSERT_NE(inner, nullptr);
  EXPECT_TRUE(inner->content_type.is("text", "html"));
  EXPECT_EQ(cte(m, *inner), "quoted-printable");
  EXPECT_EQ(m.text(*inner), "<p>café</p>");
  // Preamble, epilogue and the delimiters as they were.
  EXPECT_TRUE(out.ends_with("--frontier--\r\nepilogue\r\n"));
  EXPECT_NE(out.find("\r\n\r\nThis is the preamble.\r\n--frontier\r\n"), std::string::npos);
  // A body that did not end in a line break (the break belongs to the delimiter) gains none.
  EXPECT_NE(out.find("am Ende=20\r\n--frontier\r\n"), std::string::npos) << out;
}

TEST(Downconvert, LfMessageKeepsLfLineEnds) {
  const std::string in = lf(kMixed);
  const std::string out = convert_ok(in);
  EXPECT_EQ(out.find('\r'), std::string::npos);
  expect_same_content(in, out);
}

TEST(Downconvert, EightBitHeadersAreRefused) {
  for (std::string in : {
           std::string("Subject: Grüße\r\n\r\nbody\xc3\xa9\r\n"),
           std::string("Subject: ok\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
                       "--b\r\nContent-Type: text/plain; name=\"é.txt\"\r\n\r\nx\xc3\xa9\r\n--b--\r\n"),
           // inside an encapsulated message/rfc822
           std::string("Subject: ok\r\nContent-Type: message/rfc822\r\n\r\n"
                       "Subject: Grüße\r\n\r\nx\r\n"),
       }) {
    auto r = downconvert_8bit(in);
    ASSERT_FALSE(r.ok()) << in;
    EXPECT_EQ(r.error().code(), base::ExitCode::kDataErr);
  }
}

TEST(Downconvert, EightBitOutsideAnyPartIsRefused) {
  const std::string in =
      "Subject: ok\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\nPräambel\r\n"
      "--b\r\n\r\nx\r\n--b--\r\n";
  auto r = downconvert_8bit(in);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), base::ExitCode::kDataErr);
}

TEST(Downconvert, Base64BodyWithEightBitIsRefusedQuotedPrintableIsRepaired) {
  EXPECT_FALSE(downconvert_8bit("Subject: x\r\nContent-Transfer-Encoding: base64\r\n\r\n"
                                "YWJj\xc3\xa9\r\n")
                   .ok());
  const std::string qp = "Subject: x\r\nContent-Transfer-Encoding: quoted-printable\r\n"
                         "\r\ncaf=C3=A9 und caf\xc3\xa9\r\n";
  EXPECT_EQ(convert_ok(qp), "Subject: x\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
                            "caf=C3=A9 und caf=C3=A9\r\n");
}

TEST(Downconvert, RepeatedCteFieldsBecomeOne) {
  const std::string in = "Subject: x\r\nContent-Transfer-Encoding: 8bit\r\nX-Mid: 1\r\n"
                         "Content-transfer-encoding:\r\n 8bit\r\n\r\ncaf\xc3\xa9\r\n";
  EXPECT_EQ(convert_ok(in), "Subject: x\r\nContent-Transfer-Encoding: quoted-printable\r\n"
                            "X-Mid: 1\r\n\r\ncaf=C3=A9\r\n");
}

TEST(Downconvert, MessageGlobalIsEncodedWhole) {
  const std::string in =
      "Subject: report\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
      "--b\r\nContent-Type: message/global\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
      "From: zoë@bücher.example\r\nSubject: Grüße\r\n\r\nHallo\r\n--b--\r\n";
  const std::string out = convert_ok(in);
  const Message m = parse_ok(out);
  const Part* g = m.find("1");
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(cte(m, *g), "base64");
  EXPECT_EQ(m.decoded_body(*g), "From: zoë@bücher.example\r\nSubject: Grüße\r\n\r\nHallo");
}

TEST(Downconvert, QuotedPrintableThatWouldFakeADelimiterBecomesBase64) {
  // A soft line break after 75 characters would start a line with "--abc".
  const std::string text = std::string(75, 'x') + "--abc mid-line, then \xc3\xa9";
  const std::string in = "Subject: x\r\nContent-Type: multipart/mixed; boundary=abc\r\n\r\n"
                         "--abc\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" +
                         text + "\r\n--abc--\r\n";
  const std::string out = convert_ok(in);
  const Message m = parse_ok(out);
  ASSERT_EQ(m.root().children.size(), 1u);
  EXPECT_EQ(cte(m, *m.find("1")), "base64");
  EXPECT_EQ(m.decoded_body(*m.find("1")), text);
  // Without the clash the same text is quoted-printable.
  const std::string ok = "Subject: x\r\nContent-Type: multipart/mixed; boundary=zzz\r\n\r\n"
                         "--zzz\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" +
                         text + "\r\n--zzz--\r\n";
  const Message n = parse_ok(convert_ok(ok));
  EXPECT_EQ(cte(n, *n.find("1")), "quoted-printable");
  EXPECT_EQ(n.decoded_body(*n.find("1")), text);
}

TEST(Downconvert, LongLinesAndNulsAreEncodedToo) {
  const std::string long_line = std::string(1500, 'a');
  const std::string in = "Subject: x\r\n\r\n" + long_line + "\r\n";
  const std::string out = convert_ok(in);
  EXPECT_NE(out.find("Content-Transfer-Encoding: quoted-printable"), std::string::npos);
  expect_same_content(in, out);
  const std::string nul = "Subject: x\r\nContent-Type: application/x-thing\r\n\r\n" +
                          std::string("a\0b\r\n", 5);
  const std::string out2 = convert_ok(nul);
  EXPECT_NE(out2.find("Content-Transfer-Encoding: base64\r\n\r\nYQBiDQo=\r\n"), std::string::npos)
      << out2;
}

TEST(Downconvert, CompositeThatCannotBeEncodedIsRefused) {
  // A multipart whose boundary never appears is kept as one opaque part; it may not be
  // base64-encoded (RFC 2045 6.4).
  auto r = downconvert_8bit("Subject: x\r\nContent-Type: multipart/mixed; boundary=nowhere\r\n"
                            "\r\nGrüße\r\n");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), base::ExitCode::kDataErr);
}

// Writes NAME.in / NAME.out pairs for tests/e2e/dsn-python.bats.
TEST(DowncvtOut, WriteSamples) {
  const char* dir = std::getenv("POSTERN_DSN_OUT");
  if (dir == nullptr || *dir == '\0') GTEST_SKIP() << "POSTERN_DSN_OUT not set";
  auto write = [&](const std::string& name, const std::string& in) {
    std::ofstream(std::string(dir) + "/" + name + ".in", std::ios::binary) << in;
    std::ofstream(std::string(dir) + "/" + name + ".out", std::ios::binary) << convert_ok(in);
  };
  write("mixed", kMixed);
  write("mixed-lf", lf(kMixed));
  write("single", "From: a@example.org\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
                  "Grüße, ça va? " + std::string(200, 'y') + "\r\nend\r\n");
  write("latin1", "From: a@example.org\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
                  "Content-Transfer-Encoding: 8bit\r\n\r\ncaf\xe9 cr\xe8me\r\n");
}

}  // namespace
}  // namespace postern::mail
