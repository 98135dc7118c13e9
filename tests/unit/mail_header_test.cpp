// Header-value layer: unit tests (including malformed input) and the stalwart-mail-parser
// conformance vectors (../shared/testdata/stalwart-mail-parser/headers/*.json).
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <sstream>
#include <string>

#include "mail/charset.h"
#include "mail/header.h"
#include "mail/writer.h"

namespace json = boost::json;
using namespace postern::mail;

namespace {

json::value opt_str(const std::optional<std::string>& s) {
  return s ? json::value(*s) : json::value(nullptr);
}

json::value address_json(const Address& a) {
  return json::object{{"name", opt_str(a.name)}, {"address", opt_str(a.address)}};
}

json::value to_json(const AddressList& l) {
  if (l.is_group()) {
    json::array groups;
    for (const auto& g : l.groups) {
      json::array addrs;
      for (const auto& a : g.addresses) addrs.push_back(address_json(a));
      groups.push_back(json::object{{"name", opt_str(g.name)}, {"addresses", addrs}});
    }
    return json::object{{"Group", groups}};
  }
  if (l.list.empty()) return nullptr;
  json::array list;
  for (const auto& a : l.list) list.push_back(address_json(a));
  return json::object{{"List", list}};
}

json::value to_json(const ContentType& ct) {
  if (ct.type.empty()) return nullptr;
  json::array attrs;
  for (const auto& [k, v] : ct.params) {
    // mail-parser lists RFC 2231 languages as a "<name>-language" attribute right before
    // the value; ContentType keeps them apart in `languages`.
    for (const auto& [lk, lv] : ct.languages)
      if (lk == k) attrs.push_back(json::array{json::value(k + "-language"), json::value(lv)});
    attrs.push_back(json::array{json::value(k), json::value(v)});
  }
  return json::object{{"c_type", ct.type},
                      {"c_subtype", opt_str(ct.subtype)},
                      {"attributes", attrs.empty() ? json::value(nullptr) : json::value(attrs)}};
}

json::value to_json(const std::optional<DateTime>& d) {
  if (!d) return nullptr;
  return json::object{{"year", d->year},         {"month", d->month},
                      {"day", d->day},           {"hour", d->hour},
                      {"minute", d->minute},     {"second", d->second},
                      {"tz_before_gmt", d->tz_before_gmt}, {"tz_hour", d->tz_hour},
                      {"tz_minute", d->tz_minute}};
}

json::value to_json(const std::vector<std::string>& v) {
  if (v.empty()) return nullptr;
  json::array a;
  for (const auto& s : v) a.push_back(json::value(s));
  return a;
}

json::value host_json(const std::optional<ReceivedHost>& h) {
  if (!h) return nullptr;
  return json::object{{h->kind == ReceivedHost::Kind::kName ? "Name" : "IpAddr", h->value}};
}

json::value to_json(const std::optional<Received>& r) {
  if (!r) return nullptr;
  return json::object{{"from", host_json(r->from)},       {"by", host_json(r->by)},
                      {"helo", host_json(r->helo)},       {"from_iprev", opt_str(r->from_iprev ? std::optional<std::string>(r->from_iprev->value) : std::nullopt)},
                      {"from_ip", opt_str(r->from_ip)},   {"ident", opt_str(r->ident)},
                      {"via", opt_str(r->via)},           {"with", opt_str(r->with)},
                      {"id", opt_str(r->id)},             {"for_", opt_str(r->for_)},
                      {"tls_version", opt_str(r->tls_version)},
                      {"tls_cipher", opt_str(r->tls_cipher)},
                      {"helo_cmd", opt_str(r->helo_cmd)}, {"date", to_json(r->date)}};
}

// Structural equality where an absent object key equals null.
bool same(const json::value& a, const json::value& b) {
  if (a.is_object() && b.is_object()) {
    const auto& oa = a.as_object();
    const auto& ob = b.as_object();
    for (const auto& kv : oa) {
      auto it = ob.find(kv.key());
      if (!same(kv.value(), it == ob.end() ? json::value(nullptr) : it->value())) return false;
    }
    for (const auto& kv : ob)
      if (!oa.contains(kv.key()) && !kv.value().is_null()) return false;
    return true;
  }
  if (a.is_array() && b.is_array()) {
    const auto& xa = a.as_array();
    const auto& xb = b.as_array();
    if (xa.size() != xb.size()) return false;
    for (size_t i = 0; i < xa.size(); ++i)
      if (!same(xa[i], xb[i])) return false;
    return true;
  }
  if (a.is_number() && b.is_number()) return a.to_number<double>() == b.to_number<double>();
  return a == b;
}

std::string vectors_dir() {
  return std::string(POSTERN_TESTDATA) + "/stalwart-mail-parser/headers/";
}

// Runs one vector file; returns the number of matching cases.
int run_vectors(const std::string& name, const std::function<json::value(std::string_view)>& parse,
                int* total) {
  std::ifstream in(vectors_dir() + name + ".json", std::ios::binary);
  EXPECT_TRUE(in.good()) << "missing vector file " << name;
  std::stringstream ss;
  ss << in.rdbuf();
  const json::value doc = json::parse(ss.str());
  int ok = 0;
  const auto& cases = doc.as_array();
  *total = static_cast<int>(cases.size());
  for (size_t i = 0; i < cases.size(); ++i) {
    const auto& c = cases[i].as_object();
    const std::string header(c.at("header").as_string());
    const json::value& expected = c.contains("expected") ? c.at("expected") : json::value(nullptr);
    const json::value got = parse(header);
    if (same(got, expected)) {
      ++ok;
    } else if (std::getenv("POSTERN_VECTORS_VERBOSE")) {
      std::cout << "  [" << name << " #" << i << "] " << json::serialize(json::value(header))
                << "\n    expected " << json::serialize(expected) << "\n    got      "
                << json::serialize(got) << "\n";
    }
  }
  std::cout << "header vectors " << name << ": " << ok << "/" << *total << std::endl;
  return ok;
}

}  // namespace

// ---- conformance vectors ----
// Floors are what this implementation reaches; mismatches are listed per file below.

// address (2 mismatches):
//  #9  "Pete(A nice \n \\\n ) chap)...": unfolded, "\ " is a quoted-pair (RFC 5322 3.2.1)
//      escaping the space, so the following ")" closes the comment; mail-parser instead
//      lets the backslash escape across the fold. We follow the unfolded text.
//  #13 "<@node.test:mary@example.net>": we drop the obsolete source route as RFC 5322 4.4
//      says to; mail-parser keeps "@node.test:" in the address.
TEST(HeaderVectors, Address) {
  int n = 0;
  const int ok = run_vectors("address", [](std::string_view h) { return to_json(parse_address_list(h)); }, &n);
  EXPECT_GE(ok, 58) << "address vectors regressed";
  EXPECT_EQ(n, 60);
}

// content_type (2 mismatches):
//  #34 name="=?iso-8859-1?B?4Q==?= =?utf-8?B?w6k=?= ...": RFC 2047 6.2 drops the white space
//      between adjacent encoded words ("áéí.jpeg"); mail-parser keeps it inside quotes
//      ("á é í.jpeg") but drops it across a fold (#101). We apply 6.2 consistently.
//  #61 "malicious/attempt; 1*2*=a; 3**=b; ...": none of these names is RFC 2231 syntax
//      (name*N or name*N* only), so we drop them instead of guessing; mail-parser's
//      output here is an artefact of its state machine.
TEST(HeaderVectors, ContentType) {
  int n = 0;
  const int ok = run_vectors("content_type", [](std::string_view h) { return to_json(parse_content_type(h)); }, &n);
  EXPECT_GE(ok, 101) << "content_type vectors regressed";
  EXPECT_EQ(n, 103);
}

// date: all match.
TEST(HeaderVectors, Date) {
  int n = 0;
  const int ok = run_vectors("date", [](std::string_view h) { return to_json(parse_date(h)); }, &n);
  EXPECT_GE(ok, 40) << "date vectors regressed";
  EXPECT_EQ(n, 40);
}

// id: all match.
TEST(HeaderVectors, Id) {
  int n = 0;
  const int ok = run_vectors("id", [](std::string_view h) { return to_json(parse_message_ids(h)); }, &n);
  EXPECT_GE(ok, 11) << "id vectors regressed";
  EXPECT_EQ(n, 11);
}

// list: all match.
TEST(HeaderVectors, List) {
  int n = 0;
  const int ok = run_vectors("list", [](std::string_view h) { return to_json(parse_comma_list(h)); }, &n);
  EXPECT_GE(ok, 7) << "list vectors regressed";
  EXPECT_EQ(n, 7);
}

// received (31 mismatches; mail-parser's Received date parser differs from its Date one):
//  #48 #49 #57 #76 #96 #116 #131 #140 #162 #179 #180: "GMT"/"UT"/no zone: mail-parser sets
//      tz_before_gmt for these; RFC 5322 4.3 says GMT/UT are +0000, and a zero offset is
//      not "before GMT" (header.h: true for negative offsets). Same instant either way.
//  #67 #163 "PST"/"PDT": RFC 5322 4.3 gives -0800/-0700; mail-parser gives 0.
//  #13 #117 #118 #151 asctime dates ("Fri Feb 07 10:18:12 2003"): we read them; mail-parser
//      produces impossible dates (month 13, second 211).
//  #89 #90 #128 two-digit years "03"/"04": RFC 5322 4.3 says 2003/2004; mail-parser 1903.
//  #144 "07:53:55.516": we keep the seconds (55); mail-parser reads 0 and -0000.
//  #28 #29 #30 "id EE/20-30863-33CE1054": the whole token is the queue id; mail-parser
//      cuts at '/'. #39 "ident=[W9V.../O]" and #6 "uXDGrn@SYT0/k" likewise, #116 ident.
//  #125 "from Unknown/Local": the token as written; mail-parser cuts at '/'.
//  #123 "by alpha by uid 7791": the first by-clause wins; mail-parser takes the last.
//  #128 "...; date for <asrg@ietf.org>": a for-clause after the date is not RFC 5321
//      syntax; we do not look for clauses after the ';'.
//  #155 "tower-with AES256-GCM-SHA384 encrypted SMTP": free text outside any comment or
//      clause; we do not mine it for a cipher.
//  #165 #171 "(qmail ... invoked from network)", "(Postfix, from userid 1002)": clauses
//      inside a comment are comments (RFC 5321 4.4); we only unwrap a leading "(from ...)".
TEST(HeaderVectors, Received) {
  int n = 0;
  const int ok = run_vectors("received", [](std::string_view h) { return to_json(parse_received(h)); }, &n);
  EXPECT_GE(ok, 150) << "received vectors regressed";
  EXPECT_EQ(n, 181);
}

// unstructured: all match.
TEST(HeaderVectors, Unstructured) {
  int n = 0;
  const int ok = run_vectors("unstructured", [](std::string_view h) { return json::value(decode_unstructured(h)); }, &n);
  EXPECT_GE(ok, 30) << "unstructured vectors regressed";
  EXPECT_EQ(n, 30);
}

// ---- charset ----

TEST(Charset, ConvertsCommonCharsets) {
  EXPECT_EQ(to_utf8("caf\xe9", "iso-8859-1").value(), "café");
  EXPECT_EQ(to_utf8("caf\xe9", "LATIN1").value(), "café");
  EXPECT_EQ(to_utf8("caf\xe9", "iso_8859-1").value(), "café");
  EXPECT_EQ(to_utf8("\x80", "windows-1252").value(), "€");
  EXPECT_EQ(to_utf8("\x80", "us-ascii").value(), "€");  // 8-bit under ASCII: read as 1252
  EXPECT_EQ(to_utf8("\xb1\xa1", "iso-8859-2").value(), "ąĄ");
  EXPECT_EQ(to_utf8("\xc4\xe3\xba\xc3", "gb2312").value(), "你好");
  EXPECT_EQ(to_utf8("\x81\x40", "gb2312").value(), "丂");  // GBK-only character
  EXPECT_EQ(to_utf8("\xbe\xc8\xb3\xe7", "ks_c_5601-1987").value(), "안녕");
  EXPECT_EQ(to_utf8("\x82\xa0", "shift_jis").value(), "あ");
  EXPECT_EQ(to_utf8("\x1b$B$\"\x1b(B", "iso-2022-jp").value(), "あ");
  EXPECT_EQ(to_utf8("Hi Mom -+Jjo--!", "utf-7").value(), "Hi Mom -☺-!");
  EXPECT_EQ(to_utf8("+AGEAYgBj-", "unicode-1-1-utf-7").value(), "abc");
  EXPECT_EQ(to_utf8("\xc3\xa9", "UTF8").value(), "é");
  EXPECT_EQ(to_utf8("\xd0\xc1", "koi8-r").value(), "па");
  EXPECT_EQ(to_utf8("abc", "utf-8*en").value(), "abc");  // RFC 2231 language suffix
}

TEST(Charset, InvalidAndUnknown) {
  EXPECT_FALSE(to_utf8("abc", "x-no-such-charset").has_value());
  EXPECT_FALSE(to_utf8("abc", "").has_value());
  EXPECT_EQ(to_utf8("a\xff" "b", "utf-8").value(), "a\xEF\xBF\xBD" "b");
  EXPECT_EQ(to_utf8("\xc4", "gb2312").value(), "\xEF\xBF\xBD");  // truncated DBCS
  EXPECT_TRUE(is_valid_utf8(to_utf8("\x80\xff\xfe", "shift_jis").value()));
}

TEST(Charset, Utf8Validation) {
  EXPECT_TRUE(is_valid_utf8(""));
  EXPECT_TRUE(is_valid_utf8("héllo ☺ 𝄞"));
  EXPECT_FALSE(is_valid_utf8("\xc0\xaf"));          // overlong
  EXPECT_FALSE(is_valid_utf8("\xed\xa0\x80"));      // surrogate
  EXPECT_FALSE(is_valid_utf8("\xf4\x90\x80\x80"));  // > U+10FFFF
  EXPECT_FALSE(is_valid_utf8("\xe2\x98"));          // truncated
  EXPECT_EQ(sanitize_utf8("a\xe2\x98" "b"), "a\xEF\xBF\xBD" "b");  // one maximal subpart
  EXPECT_EQ(sanitize_utf8("\xff\xfe"), "\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(utf8_or_latin1("caf\xc3\xa9"), "café");
  EXPECT_EQ(utf8_or_latin1("caf\xe9 \x93q\x94"), "café “q”");
}

// ---- unfold / unstructured / encoded words ----

TEST(Unstructured, Unfold) {
  EXPECT_EQ(unfold(" a\r\n b \r\n"), "a b");
  EXPECT_EQ(unfold("a\n\tb\nNext: x\n"), "a\tb");
  EXPECT_EQ(unfold(""), "");
  EXPECT_EQ(unfold("\r\n"), "");
}

TEST(Unstructured, EncodedWords) {
  EXPECT_EQ(decode_unstructured("=?iso-8859-1?q?caf=E9?="), "café");
  EXPECT_EQ(decode_unstructured("=?UTF-8?B?w6k=?= =?UTF-8?B?w6k=?="), "éé");
  EXPECT_EQ(decode_unstructured("=?utf-8?q?a?= b =?utf-8?q?c?="), "a b c");
  EXPECT_EQ(decode_unstructured("=?US-ASCII*EN?Q?Keith_Moore?="), "Keith Moore");
  // A 3-byte character split across two words of the same charset.
  EXPECT_EQ(decode_unstructured("=?utf-8?q?=E2=98?= =?utf-8?q?=BA?="), "☺");
  EXPECT_EQ(decode_unstructured("=?utf-8?b?4pg=?=\r\n =?utf-8?b?ug==?="), "☺");
  // Different charsets are converted separately.
  EXPECT_EQ(decode_unstructured("=?iso-8859-1?q?=E9?= =?utf-8?q?=C3=A9?="), "éé");
  // Unknown charset: bytes shown as UTF-8 or Latin-1.
  EXPECT_EQ(decode_unstructured("=?x-bogus?q?caf=C3=A9?="), "café");
  EXPECT_EQ(decode_unstructured("=?x-bogus?q?caf=E9?="), "café");
  // Malformed: not encoded words, kept literally.
  EXPECT_EQ(decode_unstructured("=?utf-8?x?abc?="), "=?utf-8?x?abc?=");
  EXPECT_EQ(decode_unstructured("=??q?abc?="), "=??q?abc?=");
  EXPECT_EQ(decode_unstructured("=?utf-8?q?abc"), "=?utf-8?q?abc");
  EXPECT_EQ(decode_unstructured("a =?utf-8?q?b?"), "a =?utf-8?q?b?");
  // Raw 8-bit: UTF-8 or Latin-1.
  EXPECT_EQ(decode_unstructured("Gr\xfc\xdf" "e"), "Grüße");
  EXPECT_EQ(decode_unstructured("Grüße"), "Grüße");
  // Invalid UTF-8 in a utf-8 word becomes U+FFFD.
  EXPECT_EQ(decode_unstructured("=?utf-8?q?a=FFb?="), "a\xEF\xBF\xBD" "b");
  // Folds collapse; other whitespace is kept.
  EXPECT_EQ(decode_unstructured("a  b\r\n \tc"), "a  b c");
  EXPECT_EQ(decode_encoded_words("x =?utf-8?q?y?=z"), "x yz");
}

// ---- addresses ----

TEST(Address, Basic) {
  auto l = parse_address_list(" \"Joe Q. Public\" <john.q.public@example.com>\r\n");
  ASSERT_EQ(l.list.size(), 1u);
  EXPECT_EQ(l.list[0].name.value(), "Joe Q. Public");
  EXPECT_EQ(l.list[0].address.value(), "john.q.public@example.com");
  EXPECT_FALSE(l.is_group());

  l = parse_address_list("a@b.c, \"Last, First\" <f@l.com>, <x@y>");
  ASSERT_EQ(l.list.size(), 3u);
  EXPECT_FALSE(l.list[0].name.has_value());
  EXPECT_EQ(l.list[1].name.value(), "Last, First");
  EXPECT_EQ(l.list[2].address.value(), "x@y");
}

TEST(Address, Groups) {
  auto l = parse_address_list("a@x, Team: b@x, C <c@x>; d@x");
  ASSERT_TRUE(l.is_group());
  ASSERT_EQ(l.groups.size(), 3u);
  EXPECT_FALSE(l.groups[0].name.has_value());
  EXPECT_EQ(l.groups[1].name.value(), "Team");
  EXPECT_EQ(l.groups[1].addresses.size(), 2u);
  EXPECT_EQ(l.flatten().size(), 4u);
  EXPECT_EQ(l.flatten()[3].address.value(), "d@x");

  l = parse_address_list("undisclosed-recipients:;");
  ASSERT_EQ(l.groups.size(), 1u);
  EXPECT_TRUE(l.groups[0].addresses.empty());
  l = parse_address_list("Unterminated: a@b, c@d");  // missing ';'
  ASSERT_EQ(l.groups.size(), 1u);
  EXPECT_EQ(l.groups[0].addresses.size(), 2u);
}

TEST(Address, Malformed) {
  // Unbalanced quote runs to the end.
  auto l = parse_address_list("\"Unbalanced <a@b>");
  ASSERT_EQ(l.list.size(), 1u);
  EXPECT_EQ(l.list[0].name.value(), "Unbalanced");
  EXPECT_EQ(l.list[0].address.value(), "a@b");
  // Missing closing bracket.
  l = parse_address_list("Name <a@b");
  ASSERT_EQ(l.list.size(), 1u);
  EXPECT_EQ(l.list[0].address.value(), "a@b");
  // Quoted local part, route, comments.
  l = parse_address_list("<@r1,@r2:\"john doe\"@example.com> (John)");
  ASSERT_EQ(l.list.size(), 1u);
  EXPECT_EQ(l.list[0].address.value(), "\"john doe\"@example.com");
  EXPECT_EQ(l.list[0].name.value(), "John");
  // Encoded word inside quotes, non-ASCII raw name.
  l = parse_address_list("\"=?utf-8?q?J=C3=B6rg?=\" <j@x>, J\xf6rg <k@x>");
  ASSERT_EQ(l.list.size(), 2u);
  EXPECT_EQ(l.list[0].name.value(), "Jörg");
  EXPECT_EQ(l.list[1].name.value(), "Jörg");
  // Nothing at all.
  EXPECT_TRUE(parse_address_list("").flatten().empty());
  EXPECT_TRUE(parse_address_list(" , ,, ").flatten().empty());
  EXPECT_TRUE(parse_address_list("<>").list.size() == 1u);
  EXPECT_FALSE(parse_address_list("<>").list[0].address.has_value());
  // Deep nesting and stray specials must not hurt.
  EXPECT_NO_THROW(parse_address_list(std::string(5000, '(') + "x" + std::string(10, ')')));
  EXPECT_NO_THROW(parse_address_list("\\\\\\\"<>>>;;::@@,,"));
}

// ---- content type ----

TEST(ContentType, Basic) {
  auto ct = parse_content_type("text/plain; charset*=us-ascii'en'%41bc");
  EXPECT_EQ(ct.type, "text");
  EXPECT_EQ(ct.subtype.value(), "plain");
  ASSERT_NE(ct.param("CHARSET"), nullptr);
  EXPECT_EQ(*ct.param("charset"), "Abc");
  ASSERT_EQ(ct.languages.size(), 1u);
  EXPECT_EQ(ct.languages[0].second, "en");
  EXPECT_TRUE(ct.is("TEXT", "Plain"));
  EXPECT_EQ(ct.param("missing"), nullptr);
}

TEST(ContentType, Rfc2231) {
  auto ct = parse_content_type(
      "attachment; filename*0*=utf-8''%E2%98; filename*1*=%BA.txt; size=3");
  EXPECT_EQ(*ct.param("filename"), "☺.txt");  // split character joined before decoding
  EXPECT_EQ(*ct.param("size"), "3");
  ct = parse_content_type("attachment; filename=\"fallback.txt\"; filename*=UTF-8''r%C3%A9al.txt");
  ASSERT_EQ(ct.params.size(), 1u);
  EXPECT_EQ(*ct.param("filename"), "réal.txt");
  ct = parse_content_type("a/b; x*=bogus-charset''caf%E9");  // unknown charset → Latin-1
  EXPECT_EQ(*ct.param("x"), "café");
  ct = parse_content_type("a/b; x*=%41%4");  // no charset quotes, broken escape
  EXPECT_EQ(*ct.param("x"), "A%4");
}

TEST(ContentType, Malformed) {
  auto ct = parse_content_type("text/html charset=utf-8");  // missing ';'
  EXPECT_EQ(*ct.param("charset"), "utf-8");
  ct = parse_content_type("application/octet-stream; name=My File.pdf");
  EXPECT_EQ(*ct.param("name"), "My File.pdf");
  ct = parse_content_type("application/octet-stream; name=\"=?utf-8?B?w6kucGRm?=\"");
  EXPECT_EQ(*ct.param("name"), "é.pdf");
  ct = parse_content_type("text/plain; name=\"unterminated");
  EXPECT_EQ(*ct.param("name"), "unterminated");
  EXPECT_TRUE(parse_content_type("").type.empty());
  EXPECT_TRUE(parse_content_type("/plain").type.empty());
  EXPECT_NO_THROW(parse_content_type("a/b; x*99999999999999999999=1; y*0*=''; *=; ="));
}

// ---- dates ----

TEST(Date, Formats) {
  auto d = parse_date("Fri, 21 Nov 1997 09:55:06 -0600");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->to_rfc3339(), "1997-11-21T09:55:06-06:00");
  EXPECT_EQ(d->to_unix(), 880127706);
  d = parse_date("21 Nov 97 09:55 EST");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->to_rfc3339(), "1997-11-21T09:55:00-05:00");
  d = parse_date("Mon, 1 Jan 49 00:00:00 +0000");
  EXPECT_EQ(d->year, 2049);
  d = parse_date("Mon, 1 Jan 50 00:00:00 +0000");
  EXPECT_EQ(d->year, 1950);
  d = parse_date("Fri Feb  7 10:18:12 2003");  // asctime
  ASSERT_TRUE(d);
  EXPECT_EQ(d->to_rfc3339(), "2003-02-07T10:18:12+00:00");
  d = parse_date("Thu, 13 Feb 1969 23:32:54 PDT (Pacific)");
  EXPECT_EQ(d->to_rfc3339(), "1969-02-13T23:32:54-07:00");
  d = parse_date("1 Jan 2000 00:00:00 Z");
  EXPECT_EQ(d->to_unix(), 946684800);
  d = parse_date("Tuesday, 1 July 2003 10:52:37 +0200");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->month, 7);
}

TEST(Date, Invalid) {
  EXPECT_FALSE(parse_date(""));
  EXPECT_FALSE(parse_date("yesterday"));
  EXPECT_FALSE(parse_date("32 Jan 2003 10:00:00 +0000"));
  EXPECT_FALSE(parse_date("1 Jan 2003 25:00:00 +0000"));
  EXPECT_FALSE(parse_date("1 Foo 2003 10:00:00 +0000"));
  EXPECT_FALSE(parse_date("1 Jan 2003"));
  EXPECT_FALSE(parse_date("99999999999 Jan 99999999999 99999999999:9"));
}

// ---- ids and lists ----

TEST(Ids, Parse) {
  auto ids = parse_message_ids("<a@b> (comment) <c@d>\r\n\t<e@f>");
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_EQ(ids[2], "e@f");
  ids = parse_message_ids("Your message of Tue <x@y>");
  ASSERT_EQ(ids.size(), 1u);
  EXPECT_EQ(ids[0], "x@y");
  ids = parse_message_ids("<unterminated@x");
  ASSERT_EQ(ids.size(), 1u);
  EXPECT_EQ(ids[0], "unterminated@x");
  EXPECT_TRUE(parse_message_ids("").empty());
  EXPECT_TRUE(parse_message_ids("<> <  >").empty());
}

TEST(List, Parse) {
  auto l = parse_comma_list("one, =?utf-8?q?t,wo?=, \"three\" , ,");
  ASSERT_EQ(l.size(), 3u);
  EXPECT_EQ(l[1], "t,wo");  // the comma inside the encoded word does not split
  EXPECT_TRUE(parse_comma_list(" , ").empty());
}

// ---- Received ----

TEST(Received, Postfix) {
  auto r = parse_received(
      "from mail.example.org (mail.example.org [IPv6:2001:db8::1])\r\n"
      "\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits))\r\n"
      "\tby mx.example.net (Postfix) with ESMTPS id 4ABC for <u@example.net>;\r\n"
      "\tTue, 29 Aug 2023 16:20:12 +0000 (UTC)\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->from->value, "mail.example.org");
  EXPECT_EQ(r->from_ip.value(), "2001:db8::1");
  EXPECT_EQ(r->from_iprev->value, "mail.example.org");
  EXPECT_EQ(r->by->value, "mx.example.net");
  EXPECT_EQ(r->with.value(), "ESMTPS");
  EXPECT_EQ(r->id.value(), "4ABC");
  EXPECT_EQ(r->for_.value(), "u@example.net");
  EXPECT_EQ(r->tls_version.value(), "TLSv1_3");
  EXPECT_EQ(r->tls_cipher.value(), "TLS_AES_256_GCM_SHA384");
  EXPECT_EQ(r->date->to_unix(), 1693326012);
}

TEST(Received, Malformed) {
  EXPECT_FALSE(parse_received(""));
  EXPECT_FALSE(parse_received("just some words"));
  auto r = parse_received("from [1.2.3.4] (HELO x) by [::1]");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->from->kind, ReceivedHost::Kind::kIpv4);
  EXPECT_EQ(r->by->kind, ReceivedHost::Kind::kIpv6);
  EXPECT_EQ(r->helo_cmd.value(), "Helo");
  EXPECT_FALSE(r->date);
  EXPECT_NO_THROW(parse_received("from ((((((( by [[[[ ;;;; with ( id"));
  EXPECT_NO_THROW(parse_received("from (helo= ident= [ ]) by"));
}

// ---- writer, and round trips through the parsers ----

TEST(Writer, EncodeHeaderValue) {
  EXPECT_EQ(encode_header_value("Hello world", 7), "Hello world");
  const std::string enc = encode_header_value("Grüße aus Köln", 7);
  EXPECT_EQ(enc.find_first_of("\x80\xff"), std::string::npos);
  EXPECT_EQ(decode_unstructured(enc), "Grüße aus Köln");
  // Long text folds at 78 columns and still round-trips, including 4-byte characters.
  std::string long_text;
  for (int i = 0; i < 40; ++i) long_text += "日本語 𝄞 ";
  long_text.pop_back();
  const std::string folded = fold_header("Subject", encode_header_value(long_text, 7));
  size_t start = 0;
  while (start < folded.size()) {
    const size_t end = folded.find("\r\n", start);
    ASSERT_NE(end, std::string::npos);
    EXPECT_LE(end - start, 78u) << folded.substr(start, end - start);
    start = end + 2;
  }
  EXPECT_EQ(decode_unstructured(folded.substr(9)), long_text);
  // Text that would read as an encoded word is protected.
  EXPECT_EQ(decode_unstructured(encode_header_value("=?utf-8?q?x?=", 7)), "=?utf-8?q?x?=");
  const std::string ascii_long(200, 'a');
  EXPECT_EQ(decode_unstructured(encode_header_value("x " + ascii_long + " y", 7)),
            "x " + ascii_long + " y");
}

TEST(Writer, FoldHeader) {
  EXPECT_EQ(fold_header("Subject", "hi"), "Subject: hi\r\n");
  // No header injection through a bare line break.
  EXPECT_EQ(fold_header("Subject", "a\r\nBcc: evil@x"), "Subject: a Bcc: evil@x\r\n");
  std::string words;
  for (int i = 0; i < 30; ++i) words += "word" + std::to_string(i) + " ";
  const std::string f = fold_header("X-Long", words);
  EXPECT_NE(f.find("\r\n "), std::string::npos);
  EXPECT_EQ(unfold(f.substr(8)), words.substr(0, words.size() - 1));
}

TEST(Writer, FormatAddress) {
  const std::vector<Address> cases = {
      {"Joe Public", "joe@example.com"},
      {"Public, Joe \"JQ\"", "joe@example.com"},
      {"Zoë Ünïcödé 日本", "zoe@example.com"},
      {std::nullopt, "bare@example.com"},
      {"=?utf-8?q?not-a-word?=", "w@example.com"},
  };
  for (const auto& a : cases) {
    const std::string s = format_address(a);
    auto l = parse_address_list(s);
    ASSERT_EQ(l.list.size(), 1u) << s;
    EXPECT_EQ(l.list[0].address, a.address) << s;
    EXPECT_EQ(l.list[0].name, a.name) << s;
  }
  EXPECT_EQ(format_address({"Joe Public", "joe@example.com"}), "Joe Public <joe@example.com>");
  auto l = parse_address_list(format_address_list(cases));
  EXPECT_EQ(l.list.size(), cases.size());
}

TEST(Writer, FormatDate) {
  EXPECT_EQ(format_date(880127706, -360), "Fri, 21 Nov 1997 09:55:06 -0600");
  EXPECT_EQ(format_date(0, 0), "Thu, 01 Jan 1970 00:00:00 +0000");
  EXPECT_EQ(format_date(-1, 0), "Wed, 31 Dec 1969 23:59:59 +0000");
  for (int64_t t : {0LL, 951782400LL, 1700000000LL, 4102444800LL}) {
    for (int off : {0, 60, -210, 345, -720}) {
      auto d = parse_date(format_date(t, off));
      ASSERT_TRUE(d);
      EXPECT_EQ(d->to_unix(), t);
    }
  }
}

namespace {
std::string b64_decode(std::string_view in) {
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    int v;
    if (c >= 'A' && c <= 'Z') v = c - 'A';
    else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
    else if (c >= '0' && c <= '9') v = c - '0' + 52;
    else if (c == '+') v = 62;
    else if (c == '/') v = 63;
    else continue;
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  return out;
}
}  // namespace

TEST(Writer, MimeBuilder) {
  std::string binary;
  for (int i = 0; i < 1000; ++i) binary.push_back(static_cast<char>(i * 7));
  const std::string long_line(200, 'x');
  MimeBuilder mb("mixed");
  mb.header("From", format_address({"Ann", "ann@example.org"}))
      .header("Subject", encode_header_value("Bericht für Köln", 7))
      .text("Hello,\nplain ascii.\n")
      .text("Grüße\n" + long_line + "\ntrailing space \n", "plain")
      .attachment(binary, "application/octet-stream", "données.bin");
  const std::string msg = mb.build();
  // Every line ends in CRLF and is at most 78 characters.
  size_t start = 0;
  while (start < msg.size()) {
    const size_t end = msg.find("\r\n", start);
    ASSERT_NE(end, std::string::npos);
    EXPECT_LE(end - start, 78u) << msg.substr(start, end - start);
    EXPECT_EQ(msg.substr(start, end - start).find('\n'), std::string::npos);
    start = end + 2;
  }
  const size_t ct_pos = msg.find("Content-Type: multipart/mixed");
  ASSERT_NE(ct_pos, std::string::npos);
  const auto ct = parse_content_type(msg.substr(ct_pos + 14, msg.find("\r\n\r\n", ct_pos) - ct_pos - 14));
  ASSERT_NE(ct.param("boundary"), nullptr);
  const std::string delim = "--" + *ct.param("boundary");
  size_t parts = 0, p = 0;
  while ((p = msg.find(delim, p)) != std::string::npos) {
    ++parts;
    p += delim.size();
  }
  EXPECT_EQ(parts, 4u);  // three parts and the close delimiter
  // The attachment decodes back to the input and its name round-trips via RFC 2231.
  const size_t att = msg.find("Content-Disposition: attachment");
  ASSERT_NE(att, std::string::npos);
  const size_t disp_end = msg.find("\r\n", att);
  const auto disp = parse_content_type(msg.substr(att + 21, disp_end - att - 21));
  EXPECT_EQ(*disp.param("filename"), "données.bin");
  const size_t body = msg.find("\r\n\r\n", att) + 4;
  const size_t body_end = msg.find("\r\n" + delim, body);
  EXPECT_EQ(b64_decode(msg.substr(body, body_end - body)), binary);
  EXPECT_NE(msg.find("Content-Transfer-Encoding: quoted-printable"), std::string::npos);
  EXPECT_NE(msg.find("trailing space=20"), std::string::npos);
  const size_t subj = msg.find("Subject: ");
  EXPECT_EQ(decode_unstructured(msg.substr(subj + 9)), "Bericht für Köln");
}

namespace postern::mail {
namespace {

TEST(Writer, MatchLineEndingFollowsTheMessage) {
  std::string fields = "A: 1\r\nB: 2\r\n";
  EXPECT_EQ(match_line_ending(fields, "From: x\r\n\r\nbody\r\n"), fields);
  EXPECT_EQ(match_line_ending(fields, "From: x\n\nbody\n"), "A: 1\nB: 2\n");
  EXPECT_EQ(match_line_ending(fields, "no line break"), fields);
}

}  // namespace
}  // namespace postern::mail
