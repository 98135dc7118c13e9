// Unit tests of delivery status notifications (lib/mail/dsn.h), read back with our own MIME
// parser. tests/e2e/dsn-python.bats reads the same reports with Python's email package:
// with POSTERN_DSN_OUT set, DsnOut.WriteSamples writes them there.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "mail/downconvert.h"
#include "mail/dsn.h"
#include "mail/header.h"
#include "mail/message.h"

namespace postern::mail::dsn {
namespace {

constexpr int64_t kNow = 1700000000;

const std::string kHeader =
    "Return-Path: <ann@example.org>\r\n"
    "Received: from client.example.org ([192.0.2.1])\r\n"
    "\tby mx.example.org with ESMTPS id Q1234; Tue, 14 Nov 2023 22:00:00 +0000\r\n"
    "From: Ann <ann@example.org>\r\n"
    "To: bob@example.net, carol@example.net\r\n"
    "Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?=\r\n"
    "Message-ID: <orig-1@example.org>\r\n"
    "Date: Tue, 14 Nov 2023 21:59:00 +0000\r\n"
    "X-Odd:   spacing\t kept  \r\n";
const std::string kBody = "Hello Bob,\r\n\r\nsee you.\r\n-- \r\nAnn\r\n";
const std::string kOriginal = kHeader + "\r\n" + kBody;

Report failed_report() {
  Report r;
  r.reporting_mta = "mx.example.org";
  r.sender = "ann@example.org";
  r.arrival = kNow - 3600;
  r.queue_id = "Q1234";
  r.envid = "env-42";
  RecipientReport bob;
  bob.final_recipient = "bob@example.net";
  bob.original_recipient = "rfc822;Bob@Example.NET";
  bob.action = Action::kFailed;
  bob.status = "5.1.1";
  bob.remote_mta = "mx.example.net";
  bob.diagnostic = "550 5.1.1 <bob@example.net>: no such user";
  bob.last_attempt = kNow - 60;
  r.recipients.push_back(bob);
  return r;
}

Message parse_ok(const std::string& raw) {
  auto m = Message::parse(raw);
  EXPECT_TRUE(m.ok());
  return std::move(*m);
}

// The top-level parts of the report: text, status, original (if any).
std::vector<const Part*> report_parts(const Message& m) {
  std::vector<const Part*> out;
  for (uint32_t c : m.root().children) out.push_back(&m.part(c));
  return out;
}

std::string header_value(const Message& m, const Part& p, std::string_view name) {
  auto v = m.header(p, name);
  return v ? unfold(*v) : std::string();
}

std::string boundary_of(const Message& m) {
  const std::string* b = m.root().content_type.param("boundary");
  return b ? *b : std::string();
}

void expect_clean_lines(const std::string& out) {
  size_t line = 0;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == '\n') {
      ASSERT_TRUE(i > 0 && out[i - 1] == '\r') << "bare LF at " << i;
      line = 0;
    } else if (out[i] == '\r') {
      ASSERT_TRUE(i + 1 < out.size() && out[i + 1] == '\n') << "bare CR at " << i;
    } else {
      ASSERT_LE(++line, 998u);
    }
  }
}

TEST(Dsn, FailedReportHeadersOnly) {
  const std::string out = build(failed_report(), kOriginal, kNow);
  expect_clean_lines(out);
  EXPECT_TRUE(is_7bit(out));
  const Message m = parse_ok(out);
  const Part& root = m.root();
  EXPECT_TRUE(root.content_type.is("multipart", "report"));
  ASSERT_NE(root.content_type.param("report-type"), nullptr);
  EXPECT_EQ(*root.content_type.param("report-type"), "delivery-status");
  EXPECT_EQ(header_value(m, root, "From"), "\"Mail Delivery System\" <MAILER-DAEMON@mx.example.org>");
  EXPECT_EQ(header_value(m, root, "To"), "ann@example.org");
  EXPECT_EQ(header_value(m, root, "Subject"), "Undelivered Mail Returned to Sender");
  EXPECT_EQ(header_value(m, root, "Auto-Submitted"), "auto-replied");
  EXPECT_EQ(header_value(m, root, "Date"), "Tue, 14 Nov 2023 22:13:20 +0000");
  EXPECT_EQ(header_value(m, root, "MIME-Version"), "1.0");
  const auto ids = parse_message_ids(header_value(m, root, "Message-ID"));
  ASSERT_EQ(ids.size(), 1u);
  EXPECT_TRUE(ids[0].ends_with("@mx.example.org"));

  const auto parts = report_parts(m);
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_TRUE(parts[0]->content_type.is("text", "plain"));
  EXPECT_TRUE(parts[1]->content_type.is("message", "delivery-status"));
  EXPECT_TRUE(parts[2]->content_type.is("text", "rfc822-headers"));

  EXPECT_EQ(header_value(m, *parts[0], "Content-Transfer-Encoding"), "7bit");
  const std::string text = m.text(*parts[0]);
  EXPECT_NE(text.find("<bob@example.net>: delivery failed (5.1.1)"), std::string::npos) << text;
  EXPECT_NE(text.find("mx.example.net replied:\r\n        550 5.1.1 <bob@example.net>: no such user"),
            std::string::npos) << text;
  EXPECT_NE(text.find("Queue ID: Q1234"), std::string::npos);
  EXPECT_NE(text.find("postmaster@mx.example.org"), std::string::npos);

  const std::string status(m.raw_body(*parts[1]));
  EXPECT_EQ(status,
            "Original-Envelope-Id: env-42\r\n"
            "Reporting-MTA: dns; mx.example.org\r\n"
            "X-Postern-Queue-ID: Q1234\r\n"
            "Arrival-Date: Tue, 14 Nov 2023 21:13:20 +0000\r\n"
            "\r\n"
            "Original-Recipient: rfc822;Bob@Example.NET\r\n"
            "Final-Recipient: rfc822; bob@example.net\r\n"
            "Action: failed\r\n"
            "Status: 5.1.1\r\n"
            "Remote-MTA: dns; mx.example.net\r\n"
            "Diagnostic-Code: smtp; 550 5.1.1 <bob@example.net>: no such user\r\n"
            "Last-Attempt-Date: Tue, 14 Nov 2023 22:12:20 +0000\r\n");
  // The original's header, byte for byte, and nothing of its body.
  EXPECT_EQ(std::string(m.raw_body(*parts[2])), kHeader);
  EXPECT_EQ(out.find("see you."), std::string::npos);
  EXPECT_TRUE(is_dsn(out));
}

TEST(Dsn, FullMessageWhenAsked) {
  Report r = failed_report();
  r.full_message = true;
  const std::string out = build(r, kOriginal, kNow);
  expect_clean_lines(out);
  const Message m = parse_ok(out);
  const auto parts = report_parts(m);
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_TRUE(parts[2]->content_type.is("message", "rfc822"));
  EXPECT_EQ(parts[2]->kind, PartKind::kMessage);
  EXPECT_EQ(std::string(m.raw_body(*parts[2])), kOriginal);
  EXPECT_FALSE(m.header(*parts[2], "Content-Transfer-Encoding").has_value());
  EXPECT_NE(m.text(*parts[0]).find("Your message is attached below."), std::string::npos);
}

TEST(Dsn, TooLargeOriginalGetsItsHeaderOnly) {
  Report r = failed_report();
  r.full_message = true;
  const std::string out = build(r, kOriginal, kNow, kOriginal.size() - 1);
  const Message m = parse_ok(out);
  const auto parts = report_parts(m);
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_TRUE(parts[2]->content_type.is("text", "rfc822-headers"));
  EXPECT_EQ(std::string(m.raw_body(*parts[2])), kHeader);
  EXPECT_NE(m.text(*parts[0]).find("Only the header"), std::string::npos);
  // Even the header too large: no third part.
  const std::string tiny = build(r, kOriginal, kNow, 10);
  const Message t = parse_ok(tiny);
  EXPECT_EQ(report_parts(t).size(), 2u);
  EXPECT_NE(t.text(*report_parts(t)[0]).find("not attached"), std::string::npos);
}

TEST(Dsn, UnsendableOriginalGetsItsHeaderOnly) {
  Report r = failed_report();
  r.full_message = true;
  const std::string long_line = kHeader + "\r\n" + std::string(1200, 'x') + "\r\n";
  const Message m = parse_ok(build(r, long_line, kNow));
  ASSERT_EQ(report_parts(m).size(), 3u);
  EXPECT_TRUE(report_parts(m)[2]->content_type.is("text", "rfc822-headers"));
  const std::string nul = kHeader + "\r\n" + std::string("bin\0ary\r\n", 9);
  const Message n = parse_ok(build(r, nul, kNow));
  EXPECT_TRUE(report_parts(n)[2]->content_type.is("text", "rfc822-headers"));
}

TEST(Dsn, LfOriginalComesBackWithCrlf) {
  std::string lf;
  for (char c : kOriginal)
    if (c != '\r') lf += c;
  Report r = failed_report();
  r.full_message = true;
  const std::string out = build(r, lf, kNow);
  expect_clean_lines(out);
  const Message m = parse_ok(out);
  EXPECT_EQ(std::string(m.raw_body(*report_parts(m)[2])), kOriginal);
}

TEST(Dsn, DelayedAndSuccessReports) {
  Report r = failed_report();
  r.recipients[0].action = Action::kDelayed;
  r.recipients[0].status = "4.4.1";
  r.recipients[0].diagnostic = "connect to mx.example.net: Connection timed out";
  r.recipients[0].will_retry_until = kNow + 4 * 86400;
  std::string out = build(r, kOriginal, kNow);
  Message m = parse_ok(out);
  EXPECT_EQ(header_value(m, m.root(), "Subject"), "Delayed Mail (still being retried)");
  std::string status(m.raw_body(*report_parts(m)[1]));
  EXPECT_NE(status.find("Action: delayed\r\n"), std::string::npos);
  EXPECT_NE(status.find("Status: 4.4.1\r\n"), std::string::npos);
  EXPECT_NE(status.find("Will-Retry-Until: Sat, 18 Nov 2023 22:13:20 +0000\r\n"), std::string::npos);
  // Not an SMTP reply: a diagnostic type of our own.
  EXPECT_NE(status.find("Diagnostic-Code: x-postern; connect to"), std::string::npos);
  EXPECT_TRUE(is_dsn(out));

  r.recipients[0].action = Action::kDelivered;
  r.recipients[0].status = "2.0.0";
  r.recipients[0].diagnostic = "250 2.0.0 Ok: queued as 4711";
  out = build(r, kOriginal, kNow);
  m = parse_ok(out);
  EXPECT_EQ(header_value(m, m.root(), "Subject"), "Successful Mail Delivery Report");
  status = std::string(m.raw_body(*report_parts(m)[1]));
  EXPECT_NE(status.find("Action: delivered\r\n"), std::string::npos);
  EXPECT_EQ(status.find("Will-Retry-Until"), std::string::npos);

  // Mixed: a failure makes it a bounce, every recipient has its block.
  RecipientReport carol = r.recipients[0];
  carol.final_recipient = "carol@example.net";
  carol.original_recipient = "";
  carol.action = Action::kFailed;
  carol.status = "bogus";
  carol.diagnostic = "";
  carol.remote_mta = "";
  r.recipients.push_back(carol);
  out = build(r, kOriginal, kNow);
  m = parse_ok(out);
  EXPECT_EQ(header_value(m, m.root(), "Subject"), "Undelivered Mail Returned to Sender");
  status = std::string(m.raw_body(*report_parts(m)[1]));
  EXPECT_NE(status.find("\r\n\r\nFinal-Recipient: rfc822; carol@example.net\r\nAction: failed\r\n"
                        "Status: 5.0.0\r\n"),
            std::string::npos) << status;
}

TEST(Dsn, FieldsCannotBeInjected) {
  Report r = failed_report();
  r.recipients[0].diagnostic = "550 no\r\nX-Evil: 1\nFinal-Recipient: rfc822; eve@example.com";
  r.envid = "e\r\nX-Evil: 2";
  r.sender = "ann@example.org\r\nBcc: eve@example.com";
  const std::string out = build(r, kOriginal, kNow);
  EXPECT_EQ(out.find("\nX-Evil"), std::string::npos);
  EXPECT_EQ(out.find("\nBcc"), std::string::npos);
  EXPECT_EQ(out.find("\nFinal-Recipient: rfc822; eve"), std::string::npos);
  expect_clean_lines(out);
}

TEST(Dsn, EightBitBodyStaysMessageRfc822) {
  const std::string orig = kHeader + "Content-Type: text/plain; charset=utf-8\r\n"
                                     "Content-Transfer-Encoding: 8bit\r\n\r\nGrüße\r\n";
  Report r = failed_report();
  r.full_message = true;
  const std::string out = build(r, orig, kNow);
  const Message m = parse_ok(out);
  EXPECT_EQ(*m.root().content_type.param("report-type"), "delivery-status");
  EXPECT_EQ(header_value(m, m.root(), "Content-Transfer-Encoding"), "8bit");
  const auto parts = report_parts(m);
  EXPECT_TRUE(parts[1]->content_type.is("message", "delivery-status"));
  EXPECT_TRUE(parts[2]->content_type.is("message", "rfc822"));
  EXPECT_EQ(header_value(m, *parts[2], "Content-Transfer-Encoding"), "8bit");
  EXPECT_EQ(std::string(m.raw_body(*parts[2])), orig);
  // Headers only: 7-bit again.
  r.full_message = false;
  const std::string h = build(r, orig, kNow);
  EXPECT_TRUE(is_7bit(h));
  EXPECT_EQ(h.find("Content-Transfer-Encoding: 8bit\r\n\r\nThis"), std::string::npos);
}

TEST(Dsn, SmtputfEightOriginalUsesTheGlobalTypes) {
  const std::string header = "From: Zoë <zoë@bücher.example>\r\nTo: jürgen@example.net\r\n"
                             "Subject: Grüße\r\n";
  const std::string orig = header + "\r\nHallo\r\n";
  Report r = failed_report();
  r.sender = "zoë@bücher.example";
  r.recipients[0].final_recipient = "jürgen@example.net";
  r.recipients[0].original_recipient = "utf-8;jürgen@example.net";
  const std::string out = build(r, orig, kNow);
  expect_clean_lines(out);
  const Message m = parse_ok(out);
  EXPECT_EQ(*m.root().content_type.param("report-type"), "global-delivery-status");
  const auto parts = report_parts(m);
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_TRUE(parts[1]->content_type.is("message", "global-delivery-status"));
  EXPECT_TRUE(parts[2]->content_type.is("message", "global-headers"));
  EXPECT_EQ(std::string(m.raw_body(*parts[2])), header);
  const std::string status(m.raw_body(*parts[1]));
  EXPECT_NE(status.find("Final-Recipient: utf-8; jürgen@example.net\r\n"), std::string::npos);
  EXPECT_NE(status.find("Original-Recipient: utf-8;jürgen@example.net\r\n"), std::string::npos);
  // The text part stays 7-bit (quoted-printable), and says the same.
  EXPECT_EQ(header_value(m, *parts[0], "Content-Transfer-Encoding"), "quoted-printable");
  EXPECT_NE(m.text(*parts[0]).find("<jürgen@example.net>: delivery failed"), std::string::npos);
  r.full_message = true;
  const Message f = parse_ok(build(r, orig, kNow));
  EXPECT_TRUE(report_parts(f)[2]->content_type.is("message", "global"));
  EXPECT_EQ(std::string(f.raw_body(*report_parts(f)[2])), orig);
}

TEST(Dsn, BoundaryNeverInTheContent) {
  Report r = failed_report();
  r.full_message = true;
  for (int i = 0; i < 20; ++i) {
    const std::string out = build(r, kOriginal, kNow);
    const Message m = parse_ok(out);
    const std::string b = boundary_of(m);
    ASSERT_FALSE(b.empty());
    for (const Part* p : report_parts(m)) {
      EXPECT_EQ(m.raw_part(*p).find(b), std::string_view::npos);
    }
    // Exactly three delimiters and one close-delimiter.
    size_t count = 0;
    for (size_t at = out.find("--" + b); at != std::string::npos; at = out.find("--" + b, at + 1))
      ++count;
    EXPECT_EQ(count, 4u);
  }
}

TEST(Dsn, PostmasterAddress) {
  Report r = failed_report();
  r.postmaster = "help@example.org";
  EXPECT_NE(build(r, kOriginal, kNow).find("write to help@example.org"), std::string::npos);
  r.postmaster = "hostmaster";
  EXPECT_NE(build(r, kOriginal, kNow).find("write to hostmaster@mx.example.org"), std::string::npos);
}

TEST(Dsn, IsDsn) {
  EXPECT_FALSE(is_dsn(kOriginal));
  EXPECT_FALSE(is_dsn(""));
  EXPECT_TRUE(is_dsn("From: x\nContent-Type: multipart/report;\n report-type=\"delivery-status\";"
                     " boundary=b\n\n--b--\n"));
  EXPECT_TRUE(is_dsn("content-type : Multipart/Report; Report-Type=Global-Delivery-Status; "
                     "boundary=b\r\n\r\n"));
  EXPECT_FALSE(is_dsn("Content-Type: multipart/report; report-type=disposition-notification;"
                      " boundary=b\r\n\r\n"));
  EXPECT_FALSE(is_dsn("Content-Type: multipart/mixed; boundary=b\r\n\r\n"));
  // Only the header counts, not a report quoted in the body.
  EXPECT_FALSE(is_dsn("Subject: fwd\r\n\r\nContent-Type: multipart/report; "
                      "report-type=delivery-status\r\n"));
}

// Writes sample reports for tests/e2e/dsn-python.bats, which checks them with Python's
// email package: NAME.eml (the report) and NAME.orig (the original) for each case.
TEST(DsnOut, WriteSamples) {
  const char* dir = std::getenv("POSTERN_DSN_OUT");
  if (dir == nullptr || *dir == '\0') GTEST_SKIP() << "POSTERN_DSN_OUT not set";
  auto write = [&](const std::string& name, const std::string& data) {
    std::ofstream f(std::string(dir) + "/" + name, std::ios::binary);
    f << data;
    ASSERT_TRUE(f.good()) << name;
  };
  auto sample = [&](const std::string& name, const Report& r, const std::string& orig) {
    write(name + ".orig", orig);
    write(name + ".eml", build(r, orig, kNow));
  };
  Report r = failed_report();
  sample("failed-headers", r, kOriginal);
  r.full_message = true;
  sample("failed-full", r, kOriginal);
  Report d = failed_report();
  d.recipients[0].action = Action::kDelayed;
  d.recipients[0].status = "4.4.1";
  d.recipients[0].will_retry_until = kNow + 86400;
  RecipientReport ok = d.recipients[0];
  ok.final_recipient = "carol@example.net";
  ok.original_recipient = "";
  ok.action = Action::kDelivered;
  ok.status = "2.0.0";
  ok.diagnostic = "250 2.0.0 Ok";
  d.recipients.push_back(ok);
  sample("delayed-two", d, kOriginal);
  const std::string mime =
      "From: Ann <ann@example.org>\r\nTo: bob@example.net\r\nSubject: parts\r\n"
      "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"=_dsn_x\"\r\n\r\n"
      "--=_dsn_x\r\nContent-Type: text/plain; charset=utf-8\r\n"
      "Content-Transfer-Encoding: 8bit\r\n\r\nGrüße aus Köln\r\n--=_dsn_x--\r\n";
  sample("eightbit-full", r, mime);
  Report g = failed_report();
  g.full_message = true;
  g.sender = "zoë@bücher.example";
  g.recipients[0].final_recipient = "jürgen@example.net";
  sample("utf8-full", g,
         "From: Zoë <zoë@bücher.example>\r\nTo: jürgen@example.net\r\nSubject: Grüße\r\n"
         "\r\nHallo\r\n");
}

}  // namespace
}  // namespace postern::mail::dsn
