// Unit tests of the MIME parser (lib/mail/message.h), the transfer decoders, HTML to text,
// the JSON rendering and attachment file names.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>

#include "base/fd.h"
#include "mail/attachment.h"
#include "mail/html.h"
#include "mail/message.h"
#include "mail/message_json.h"
#include "mail/transfer.h"
#include "mail/writer.h"
#include "line_soup.h"

namespace postern::mail {
namespace {

Message parse_ok(std::string raw) {
  auto m = Message::parse(std::move(raw));
  EXPECT_TRUE(m.ok()) << (m.ok() ? "" : m.error().message());
  return std::move(*m);
}

std::string crlf(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '\n') out += '\r';
    out += c;
  }
  return out;
}

std::vector<std::string> ids(const Message& m, const std::vector<uint32_t>& list) {
  std::vector<std::string> out;
  for (uint32_t i : list) out.push_back(m.part(i).id);
  return out;
}

const char kMixed[] =
    "From: a@example.com\n"
    "Content-Type: multipart/mixed; boundary=\"frontier\"\n"
    "\n"
    "This is the preamble.\n"
    "--frontier\n"
    "Content-Type: text/plain\n"
    "\n"
    "first\n"
    "--frontier\n"
    "Content-Type: application/octet-stream\n"
    "Content-Transfer-Encoding: base64\n"
    "\n"
    "AAEC\n"
    "AwQ=\n"
    "--frontier--\n"
    "This is the epilogue.\n";

TEST(Transfer, Base64SizeAndCleanCheckAgreeWithTheDecoder) {
  for (std::string_view in :
       {"", "aGVsbG8=", "aGVs bG8\r\n", "aGVsbA", "aGVsbA==aGk=", "aGk=QQ", "a", "ab",
        "ab=c", "====", "aGVs*bG8", "aGVsbG8=\r\n\r\n", "Zm9vYmFy\tZm9v\fYmE"}) {
    Decoded d = decode_base64(in);
    EXPECT_EQ(base64_decoded_size(in), d.data.size()) << in;
    EXPECT_EQ(base64_is_clean(in), d.clean) << in;
  }
  // Long inputs take the 16-byte path; every kind of byte at every lane.
  std::string big;
  for (int i = 0; i < 5000; ++i) big += "QUJD+/9z\r\n\t \v\f";
  EXPECT_TRUE(base64_is_clean(big));
  EXPECT_EQ(base64_decoded_size(big), decode_base64(big).data.size());
  for (unsigned char junk : {'!', '\x80', '\xff', '\x01', '\x1f', '-', '@', '[', '`', '{'}) {
    for (size_t at : {0ul, 5ul, 15ul, 16ul, big.size() / 2 + 7, big.size() - 1}) {
      std::string b = big;
      b[at] = static_cast<char>(junk);
      EXPECT_FALSE(base64_is_clean(b)) << int(junk) << " at " << at;
      EXPECT_EQ(base64_decoded_size(b), decode_base64(b).data.size());
    }
  }
  std::string padded = big + "QQ==\r\n";
  EXPECT_EQ(base64_decoded_size(padded), decode_base64(padded).data.size());
}

TEST(Writer, ToCrlfEndsEveryLineWithCrlf) {
  using postern::mail::to_crlf;
  EXPECT_EQ(to_crlf("a\nb\r\nc\rd"), "a\r\nb\r\nc\r\nd");
  EXPECT_EQ(to_crlf("\r\r\n\n"), "\r\n\r\n\r\n");
  EXPECT_EQ(to_crlf("x\r"), "x\r\n");
  EXPECT_EQ(to_crlf(""), "");
  // Against the obvious byte loop: a CRLF pair stays, any other CR or LF becomes CRLF.
  for (const std::string& in : line_soup(4711, 20000)) {
    std::string want;
    for (size_t i = 0; i < in.size(); ++i) {
      if (in[i] == '\r' || in[i] == '\n') {
        want += "\r\n";
        if (in[i] == '\r' && i + 1 < in.size() && in[i + 1] == '\n') ++i;
      } else {
        want += in[i];
      }
    }
    ASSERT_EQ(to_crlf(in), want) << testing::PrintToString(in);
  }
}

TEST(Message, MultipartWithPreambleAndEpilogue) {
  for (const std::string& raw : {std::string(kMixed), crlf(kMixed)}) {
    Message m = parse_ok(raw);
    ASSERT_EQ(m.parts().size(), 3u);
    EXPECT_EQ(m.root().kind, PartKind::kMultipart);
    EXPECT_EQ(m.root().id, "0");
    ASSERT_EQ(m.root().children.size(), 2u);
    const Part& text = m.part(m.root().children[0]);
    const Part& bin = m.part(m.root().children[1]);
    EXPECT_EQ(text.id, "1");
    EXPECT_EQ(m.raw_body(text), "first");  // the line break before "--frontier" excluded
    EXPECT_EQ(bin.id, "2");
    EXPECT_EQ(m.decoded_body(bin), std::string("\x00\x01\x02\x03\x04", 5));
    EXPECT_EQ(ids(m, m.text_body()), std::vector<std::string>{"1"});
    EXPECT_EQ(ids(m, m.attachments()), std::vector<std::string>{"2"});
    EXPECT_EQ(m.root().offset_end, raw.size());
  }
}

TEST(Message, OffsetsPointAtTheRawBytes) {
  Message m = parse_ok(kMixed);
  const Part& root = m.root();
  auto hs = m.headers(root);
  ASSERT_EQ(hs.size(), 2u);
  EXPECT_EQ(m.field_name(root, hs[0]), "From");
  EXPECT_EQ(hs[0].offset_field, 0u);
  EXPECT_EQ(m.field_value(root, hs[0]), " a@example.com\n");
  EXPECT_EQ(m.raw_headers(root), std::string_view(kMixed).substr(0, root.offset_body));
  const Part& text = m.part(root.children[0]);
  EXPECT_EQ(m.raw_part(text), "Content-Type: text/plain\n\nfirst");
  EXPECT_EQ(m.header(text, "content-type").value_or(""), " text/plain\n");
}

TEST(Message, MixedLineEndings) {
  std::string raw =
      "Content-Type: multipart/mixed; boundary=b\r\n\n--b\nContent-Type: text/plain\r\n\r\n"
      "one\r\n--b\r\n\ntwo\n--b--\r\n";
  Message m = parse_ok(raw);
  ASSERT_EQ(m.root().children.size(), 2u);
  EXPECT_EQ(m.text(m.part(m.root().children[0])), "one");
  EXPECT_EQ(m.text(m.part(m.root().children[1])), "two");
}

TEST(Message, MissingFinalBoundaryRunsToTheEnd) {
  Message m = parse_ok("Content-Type: multipart/mixed; boundary=b\n\n--b\n\nlast words\n");
  ASSERT_EQ(m.root().children.size(), 1u);
  const Part& p = m.part(m.root().children[0]);
  EXPECT_TRUE(p.missing_delimiter);
  EXPECT_EQ(m.raw_body(p), "last words\n");
}

TEST(Message, BoundaryThatIsAPrefixOfAnother) {
  // The inner boundary "ab" starts with the outer "a": only the innermost delimiter ends
  // an inner part, so "--ab" lines do not close the outer multipart early.
  std::string raw =
      "Content-Type: multipart/mixed; boundary=a\n\n--a\n"
      "Content-Type: multipart/mixed; boundary=ab\n\n--ab\n\ninner one\n--ab\n\ninner two\n"
      "--ab--\n--a\n\nouter two\n--a--\n";
  Message m = parse_ok(raw);
  ASSERT_EQ(m.root().children.size(), 2u);
  const Part& inner = m.part(m.root().children[0]);
  ASSERT_EQ(inner.kind, PartKind::kMultipart);
  ASSERT_EQ(inner.children.size(), 2u);
  EXPECT_EQ(m.text(m.part(inner.children[1])), "inner two");
  EXPECT_EQ(m.part(inner.children[1]).id, "1.2");
  EXPECT_EQ(m.text(m.part(m.root().children[1])), "outer two");
}

TEST(Message, BoundaryNeverFoundKeepsTheBodyAsOnePart) {
  Message m = parse_ok("Content-Type: multipart/mixed; boundary=zz\n\njust text\n");
  EXPECT_EQ(m.parts().size(), 1u);
  EXPECT_EQ(m.root().kind, PartKind::kText);
  EXPECT_EQ(m.decoded_body(m.root()), "just text\n");
  EXPECT_EQ(ids(m, m.attachments()), std::vector<std::string>{"1"});
}

TEST(Message, EncapsulatedMessages) {
  std::string raw =
      "Subject: outer\nContent-Type: multipart/mixed; boundary=b\n\n--b\n\nhello\n--b\n"
      "Content-Type: message/rfc822\n\nSubject: inner\nContent-Type: multipart/alternative;"
      " boundary=c\n\n--c\n\ninner text\n--c\nContent-Type: text/html\n\n<b>inner</b>\n--c--\n"
      "--b\nContent-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\n"
      "U3ViamVjdDogZW5jb2RlZAoKZW5jb2RlZCBib2R5Cg==\n--b--\n";
  Message m = parse_ok(raw);
  const Part* msg = m.find("2");
  ASSERT_NE(msg, nullptr);
  ASSERT_EQ(msg->kind, PartKind::kMessage);
  const Part& inner_root = m.part(msg->children[0]);
  EXPECT_EQ(inner_root.id, "2.0");
  EXPECT_EQ(m.header(inner_root, "subject").value_or(""), " inner\n");
  ASSERT_NE(m.find("2.2"), nullptr);
  EXPECT_EQ(m.find("2.2")->kind, PartKind::kHtml);
  const MessageNode& node = m.messages()[msg->nested];
  EXPECT_EQ(ids(m, node.text_body), std::vector<std::string>{"2.1"});
  EXPECT_EQ(ids(m, node.html_body), std::vector<std::string>{"2.2"});
  // The base64-encoded message/rfc822 is decoded and parsed.
  const Part* enc = m.find("3");
  ASSERT_NE(enc, nullptr);
  ASSERT_EQ(enc->kind, PartKind::kMessage);
  const Part& enc_root = m.part(enc->children[0]);
  EXPECT_EQ(enc_root.id, "3.1");
  EXPECT_NE(enc_root.source, 0u);
  EXPECT_EQ(m.text(enc_root), "encoded body\n");
  EXPECT_EQ(ids(m, m.attachments()), (std::vector<std::string>{"2", "3"}));
}

TEST(Message, DeepNestingIsCapped) {
  std::string raw;
  for (int i = 0; i < 5000; ++i) raw += "Content-Type: message/rfc822\n\n";
  raw += "Subject: bottom\n\ntext\n";
  Message m = parse_ok(raw);
  int max_depth = 0;
  for (const Part& p : m.parts()) max_depth = std::max<int>(max_depth, p.depth);
  EXPECT_LE(max_depth, 101);
  bool limited = false;
  for (const Part& p : m.parts()) limited = limited || p.depth_limited;
  EXPECT_TRUE(limited);
  std::string nested_multipart;
  for (int i = 0; i < 3000; ++i) {
    nested_multipart += "Content-Type: multipart/mixed; boundary=b" + std::to_string(i) +
                        "\n\n--b" + std::to_string(i) + "\n";
  }
  Message n = parse_ok(nested_multipart);
  EXPECT_LE(n.parts().size(), 200u);
}

TEST(Message, BodySelectionFollowsRfc8621) {
  // The example tree of RFC 8621 4.1.4.
  std::string raw =
      "Content-Type: multipart/mixed; boundary=1\n\n"
      "--1\nContent-Type: text/plain\n\nA\n"
      "--1\nContent-Type: multipart/mixed; boundary=2\n\n"
      "--2\nContent-Type: multipart/alternative; boundary=3\n\n"
      "--3\nContent-Type: multipart/mixed; boundary=4\n\n"
      "--4\nContent-Type: text/plain\n\nB\n"
      "--4\nContent-Type: image/jpeg\nContent-Disposition: inline\n\nC\n"
      "--4\nContent-Type: text/plain\n\nD\n--4--\n"
      "--3\nContent-Type: multipart/related; boundary=5\n\n"
      "--5\nContent-Type: text/html\n\n<html>E</html>\n"
      "--5\nContent-Type: image/jpeg\n\nF\n--5--\n--3--\n"
      "--2\nContent-Type: image/jpeg\nContent-Disposition: attachment\n\nG\n"
      "--2\nContent-Type: application/x-excel\n\nH\n"
      "--2\nContent-Type: message/rfc822\n\nSubject: J\n\nJ\n--2--\n"
      "--1\nContent-Type: text/plain\n\nK\n--1--\n";
  Message m = parse_ok(raw);
  auto texts = [&](const std::vector<uint32_t>& l) {
    std::string s;
    for (uint32_t i : l) {
      const Part& p = m.part(i);
      s += p.kind == PartKind::kMessage ? "J" : m.text(p).substr(m.text(p).size() > 3 ? 6 : 0, 1);
    }
    return s;
  };
  EXPECT_EQ(texts(m.text_body()), "ABCDK");
  EXPECT_EQ(texts(m.html_body()), "AEK");
  EXPECT_EQ(texts(m.attachments()), "CFGHJ");
}

TEST(Message, HtmlOnlyAlternativeFillsTheTextBody) {
  Message m = parse_ok(
      "Content-Type: multipart/alternative; boundary=x\n\n--x\nContent-Type: text/html\n\n"
      "<p>only html</p>\n--x--\n");
  EXPECT_EQ(ids(m, m.text_body()), std::vector<std::string>{"1"});
  EXPECT_EQ(ids(m, m.html_body()), std::vector<std::string>{"1"});
  EXPECT_EQ(m.extract_text(), "only html\n");
}

TEST(Message, NamedTextPartAfterTheFirstIsAnAttachment) {
  Message m = parse_ok(
      "Content-Type: multipart/mixed; boundary=x\n\n--x\n\nbody\n--x\n"
      "Content-Type: text/plain; name=notes.txt\n\nnotes\n--x--\n");
  EXPECT_EQ(ids(m, m.text_body()), std::vector<std::string>{"1"});
  EXPECT_EQ(ids(m, m.attachments()), std::vector<std::string>{"2"});
  EXPECT_EQ(m.filename(*m.find("2")), "notes.txt");
}

TEST(Message, CharsetsAndUndeclaredEightBit) {
  Message latin = parse_ok("Content-Type: text/plain; charset=iso-8859-1\n\ncaf\xe9");
  EXPECT_EQ(latin.text(latin.root()), "caf\xc3\xa9");
  Message undeclared = parse_ok("Subject: x\n\ncaf\xe9");
  EXPECT_EQ(undeclared.text(undeclared.root()), "caf\xc3\xa9");
  Message utf8 = parse_ok("Subject: x\n\ncaf\xc3\xa9");
  EXPECT_EQ(utf8.text(utf8.root()), "caf\xc3\xa9");
}

TEST(Message, QuotedPrintableBody) {
  Message m = parse_ok(
      "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: Quoted-Printable\n\n"
      "caf=C3=A9 soft=\nbreak =XY end=\n");
  EXPECT_EQ(m.text(m.root()), "caf\xc3\xa9 softbreak =XY end");
}

TEST(Message, NotAMessage) {
  auto empty = Message::parse("");
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.error().code(), base::ExitCode::kDataErr);
  EXPECT_EQ(empty.error().message(), "not a message (empty input)");
  EXPECT_FALSE(Message::parse(std::string("\x89PNG\r\n\x1a\n\0\0\0", 11)).ok());
  EXPECT_FALSE(Message::parse("just some words\nand more\n").ok());
  EXPECT_TRUE(Message::parse("From mbox@example Sat Jan  1 00:00:00 2000\nSubject: x\n\nb").ok());
  EXPECT_TRUE(Message::parse("Subject: headers only").ok());
}

TEST(Message, MalformedInputsParseBestEffort) {
  const char* inputs[] = {
      "Content-Type: multipart/mixed; boundary=\"\"\n\n--\n--\n",
      "Content-Type: multipart/mixed; boundary=a\n\n--a",
      "Content-Type: multipart/mixed; boundary=a\n\n--a--",
      "Content-Type: multipart/mixed; boundary=a\n\n--a\n",
      "Content-Type: message/rfc822\n\n",
      "Content-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\n!!!",
      "X: \n \n \n\n",
      "A:\r",
      "Content-Type: text/plain\nContent-Transfer-Encoding: base64\n\n=",
      "Content-Type: multipart/digest; boundary=d\n\n--d\n\n--d\n\nx:y\n\n--d--",
  };
  for (const char* in : inputs) {
    auto m = Message::parse(in);
    ASSERT_TRUE(m.ok()) << in;
    for (const Part& p : m->parts()) {
      EXPECT_LE(p.offset_header, p.offset_body);
      EXPECT_LE(p.offset_body, p.offset_end);
      EXPECT_LE(p.offset_end, m->source(p).size());
      (void)m->decoded_body(p);
      (void)m->text(p);
    }
    (void)m->extract_text();
    (void)message_json(*m);
  }
}

TEST(Message, LargeMessageStaysCheap) {
  std::string raw = "Subject: big\nContent-Type: multipart/mixed; boundary=B\n\n";
  std::string line(76, 'A');
  for (int part = 0; part < 10; ++part) {
    raw += "--B\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n";
    for (int i = 0; i < 13000; ++i) raw += line + "\n";
  }
  raw += "--B--\n";
  Message m = parse_ok(raw);
  EXPECT_EQ(m.parts().size(), 11u);
  EXPECT_EQ(m.decoded_body(m.part(1)).size(), 13000u * 57u);
}

TEST(Transfer, Base64) {
  EXPECT_EQ(decode_base64("aGVs bG8=\r\n").data, "hello");
  EXPECT_EQ(decode_base64("aGVsbG8").data, "hello");  // missing padding
  EXPECT_EQ(decode_base64("aGk=aGk=").data, "hihi");  // concatenated blobs
  EXPECT_FALSE(decode_base64("... not base64 ...").clean);
  EXPECT_TRUE(decode_base64("aGk=\n\n").clean);
  EXPECT_EQ(parse_transfer_encoding(" BASE64 \r\n"), Encoding::kBase64);
  EXPECT_EQ(parse_transfer_encoding("quoted-printable (comment)"),
            Encoding::kQuotedPrintable);
  EXPECT_EQ(parse_transfer_encoding("8 bit"), Encoding::kIdentity);
  EXPECT_EQ(parse_transfer_encoding("x-uuencode"), Encoding::kIdentity);
}

TEST(Transfer, QuotedPrintable) {
  EXPECT_EQ(decode_quoted_printable("a=3Db=\r\nc").data, "a=bc");
  EXPECT_EQ(decode_quoted_printable("=e9=E9").data, "\xe9\xe9");
  EXPECT_EQ(decode_quoted_printable("100% =G1 =").data, "100% =G1 ");
  EXPECT_EQ(decode_quoted_printable("soft=  \nbreak").data, "softbreak");
}

TEST(Html, ToText) {
  EXPECT_EQ(html_to_text("<p>Caf&eacute; &amp; <b>bar</b></p><ul><li>one<li>two</ul>"),
            "Caf\xc3\xa9 & bar\n\n- one\n- two\n");
  EXPECT_EQ(html_to_text("<script>x()</script><style>p{}</style>a<br>b"), "a\nb\n");
  EXPECT_EQ(html_to_text("&#233;&#xE9;&#x1F600;&#150;&bogus;"),
            "\xc3\xa9\xc3\xa9\xf0\x9f\x98\x80\xe2\x80\x93&bogus;\n");
  EXPECT_EQ(html_to_text("a   b\n\n c"), "a b c\n");
  EXPECT_EQ(html_to_text("<pre>  x\n  y</pre>"), "  x\n  y\n");
  EXPECT_EQ(html_to_text("1 < 2 <!-- hidden --> ok"), "1 < 2 ok\n");
  EXPECT_EQ(html_to_text("<div>one</div><div>two</div><table><tr><td>a</td><td>b</td></tr>"
                         "</table>"),
            "one\ntwo\na b\n");
  EXPECT_EQ(html_to_text("<head><title>T</title></head><body>x&nbsp;&nbsp;y</body>"),
            "x  y\n");
}

TEST(Json, RendersTheStructure) {
  Message m = parse_ok(kMixed);
  auto v = boost::json::parse(message_json(m, {.file = "f.eml"}));
  EXPECT_EQ(v.at("file").as_string(), "f.eml");
  EXPECT_EQ(v.at("body").at("content_type").as_string(), "multipart/mixed");
  EXPECT_EQ(v.at("body").at("parts").as_array().size(), 2u);
  EXPECT_EQ(v.at("body").at("parts").at(1).at("size").to_number<int>(), 5);
  EXPECT_EQ(v.at("attachments").at(0).as_string(), "2");
  auto pretty = boost::json::parse(message_json(m, {.pretty = true}));
  EXPECT_EQ(pretty.at("text_body").at(0).as_string(), "1");
}

TEST(Attachment, SafeNames) {
  EXPECT_EQ(safe_filename("../../etc/passwd", "x"), "passwd");
  EXPECT_EQ(safe_filename("..\\..\\boot.ini", "x"), "boot.ini");
  EXPECT_EQ(safe_filename(".hidden", "x"), "hidden");
  EXPECT_EQ(safe_filename("a\nb\x01.txt", "x"), "ab.txt");
  EXPECT_EQ(safe_filename("..", "part-2.bin"), "part-2.bin");
  EXPECT_EQ(safe_filename("", "part-2.bin"), "part-2.bin");
  EXPECT_LE(safe_filename(std::string(500, 'a'), "x").size(), 200u);
}

TEST(Attachment, SaveNeverOverwrites) {
  base::TempDir dir("mail-test");
  auto a = save_file(dir.path(), "r.txt", "one");
  auto b = save_file(dir.path(), "r.txt", "two");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(*a, dir.path() + "/r.txt");
  EXPECT_EQ(*b, dir.path() + "/r-1.txt");
  EXPECT_EQ(*base::read_file(*a), "one");
  EXPECT_EQ(*base::read_file(*b), "two");
}

}  // namespace
}  // namespace postern::mail
