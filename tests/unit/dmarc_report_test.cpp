// Unit tests for lib/auth/dmarc_report (RFC 7489 7.2, Appendix C): grouping records into
// reports, the XML we write, the report message, and reading reports back — against our
// own output and against the stalwartlabs/mail-auth samples in
// ${POSTERN_TESTDATA}/stalwart-mail-auth/dmarc-feedback (see SOURCE.txt there), whose
// NNN.json files are that library's serialisation of each NNN.xml / NNN.eml.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <cmath>
#include <fstream>
#include <iostream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "auth/dmarc_report.h"
#include "auth/record.h"
#include "base/compress.h"
#include "mail/message.h"
#include "test_files.h"

namespace {

namespace auth = postern::auth;
namespace rep = postern::auth::dmarc_report;
namespace base = postern::base;
namespace json = boost::json;

using postern::test::slurp;

const std::string kSamples = std::string(POSTERN_TESTDATA) + "/stalwart-mail-auth/dmarc-feedback/";

// ---------------------------------------------------------------- the Stalwart samples

// Their enum spellings (Rust variant names) as our XML words. "Unspecified" is their
// "element absent"; MailFrom is the XML's "mfrom".
std::string word(const json::value& v) {
  if (v.is_null()) return "";
  if (!v.is_string()) return json::serialize(v);
  std::string s(v.get_string());
  if (s == "Unspecified") return "";
  if (s == "Relaxed") return "r";
  if (s == "Strict") return "s";
  if (s == "MailFrom") return "mfrom";
  if (s == "TempError" || s == "PermError" || s == "SoftFail") {
    std::string out;
    for (char c : s) out += static_cast<char>(std::tolower(c));
    return out;
  }
  // TrustedForwarder -> trusted_forwarder, Quarantine -> quarantine
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (std::isupper(static_cast<unsigned char>(s[i])) && i > 0) out += '_';
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(s[i])));
  }
  return out;
}

std::string str(const json::object& o, std::string_view k) {
  const json::value* v = o.if_contains(k);
  return v ? word(*v) : "";
}
std::string text(const json::object& o, std::string_view k) {  // free text, not an enum
  const json::value* v = o.if_contains(k);
  return v && v->is_string() ? std::string(v->get_string()) : "";
}
int64_t num(const json::object& o, std::string_view k) {
  const json::value* v = o.if_contains(k);
  return v && v->is_int64()    ? v->get_int64()
         : v && v->is_uint64() ? static_cast<int64_t>(v->get_uint64())
                               : -1;
}

// Both sides as "path=value" lines over the content the two models share.
std::vector<std::string> theirs(const json::object& d) {
  std::vector<std::string> out;
  auto add = [&](const std::string& k, const std::string& v) { out.push_back(k + "=" + v); };
  double version = d.at("version").is_double() ? d.at("version").get_double() : 0;
  add("version", version == 0 ? "" : std::to_string(version));
  const auto& m = d.at("report_metadata").get_object();
  add("org_name", text(m, "org_name"));
  add("email", text(m, "email"));
  add("extra_contact_info", text(m, "extra_contact_info"));
  add("report_id", text(m, "report_id"));
  add("begin", std::to_string(num(m.at("date_range").get_object(), "begin")));
  add("end", std::to_string(num(m.at("date_range").get_object(), "end")));
  for (const auto& e : m.at("error").get_array()) add("error", std::string(e.get_string()));
  add("generator", text(m, "generator"));
  const auto& p = d.at("policy_published").get_object();
  add("domain", text(p, "domain"));
  for (auto k : {"adkim", "aspf", "p", "sp", "np", "discovery_method"}) add(k, str(p, k));
  add("testing", p.at("testing").as_bool() ? "y" : "n");
  add("fo", text(p, "fo"));
  int i = 0;
  for (const auto& rv : d.at("record").get_array()) {
    const auto& r = rv.get_object();
    std::string n = "record" + std::to_string(++i) + ".";
    const auto& row = r.at("row").get_object();
    add(n + "source_ip", text(row, "source_ip"));
    add(n + "count", std::to_string(num(row, "count")));
    const auto& pe = row.at("policy_evaluated").get_object();
    for (auto k : {"disposition", "dkim", "spf"}) add(n + k, str(pe, k));
    for (const auto& x : pe.at("reason").get_array()) {
      add(n + "reason", str(x.get_object(), "type_") + "/" + text(x.get_object(), "comment"));
    }
    const auto& id = r.at("identifiers").get_object();
    for (auto k : {"envelope_to", "envelope_from", "header_from"}) add(n + k, text(id, k));
    const auto& ar = r.at("auth_results").get_object();
    for (const auto& x : ar.at("dkim").get_array()) {
      const auto& o = x.get_object();
      add(n + "dkim", text(o, "domain") + "/" + text(o, "selector") + "/" + str(o, "result") + "/" +
                          text(o, "human_result"));
    }
    for (const auto& x : ar.at("spf").get_array()) {
      const auto& o = x.get_object();
      add(n + "spf", text(o, "domain") + "/" + str(o, "scope") + "/" + str(o, "result") + "/" +
                         text(o, "human_result"));
    }
    for (const auto& x : r.at("extensions").get_array()) {
      add(n + "extension", text(x.get_object(), "name") + " " + text(x.get_object(), "definition"));
    }
  }
  for (const auto& x : d.at("extensions").get_array()) {
    add("extension", text(x.get_object(), "name") + " " + text(x.get_object(), "definition"));
  }
  return out;
}

std::vector<std::string> ours(const rep::Feedback& f) {
  std::vector<std::string> out;
  auto add = [&](const std::string& k, const std::string& v) { out.push_back(k + "=" + v); };
  add("version", f.version.empty() ? "" : std::to_string(std::stod(f.version)));
  const auto& m = f.metadata;
  add("org_name", m.org_name);
  add("email", m.email);
  add("extra_contact_info", m.extra_contact_info);
  add("report_id", m.report_id);
  add("begin", std::to_string(m.begin));
  add("end", std::to_string(m.end));
  for (const auto& e : m.errors) add("error", e);
  add("generator", m.generator);
  const auto& p = f.policy;
  add("domain", p.domain);
  add("adkim", p.adkim);
  add("aspf", p.aspf);
  add("p", p.p);
  add("sp", p.sp);
  add("np", p.np);
  add("discovery_method", p.discovery_method);
  add("testing", p.testing == "y" ? "y" : "n");
  add("fo", p.fo);
  int i = 0;
  for (const auto& r : f.rows) {
    std::string n = "record" + std::to_string(++i) + ".";
    add(n + "source_ip", r.source_ip);
    add(n + "count", std::to_string(r.count));
    add(n + "disposition", r.disposition);
    add(n + "dkim", r.dkim);
    add(n + "spf", r.spf);
    for (const auto& x : r.reasons) {
      // mail-auth reads reasons with the DMARCbis list, which has no sampled_out: "Other".
      add(n + "reason", (x.type == "sampled_out" ? "other" : x.type) + "/" + x.comment);
    }
    add(n + "envelope_to", r.envelope_to);
    add(n + "envelope_from", r.envelope_from);
    add(n + "header_from", r.header_from);
    for (const auto& d : r.dkim_results) {
      add(n + "dkim", d.domain + "/" + d.selector + "/" + d.result + "/" + d.human_result);
    }
    for (const auto& s : r.spf_results) {
      add(n + "spf", s.domain + "/" + s.scope + "/" + s.result + "/" + s.human_result);
    }
    for (const auto& x : r.extensions) add(n + "extension", x.name + " " + x.definition);
  }
  for (const auto& x : f.extensions) add("extension", x.name + " " + x.definition);
  return out;
}

TEST(DmarcReportSamples, StalwartCorpus) {
  std::vector<std::string> names = {"001.xml", "002.xml", "003.xml", "004.xml", "005.xml",
                                    "100.eml", "101.eml", "102.eml", "103.eml", "104.eml"};
  int passed = 0;
  for (const auto& name : names) {
    SCOPED_TRACE(name);
    std::string data = slurp(kSamples + name);
    ASSERT_FALSE(data.empty()) << "missing sample " << kSamples + name;
    auto expected = json::parse(slurp(kSamples + name.substr(0, 3) + ".json")).get_object();
    auto got = rep::read_reports(data, {});
    ASSERT_TRUE(got) << got.error().message();
    ASSERT_EQ(got->size(), 1u);
    auto a = ours(got->front()), b = theirs(expected);
    EXPECT_EQ(a, b);
    if (a == b) ++passed;
  }
  std::cout << "[ stalwart ] dmarc-feedback samples matching: " << passed << "/" << names.size()
            << "\n";
  EXPECT_EQ(passed, 10);
}

TEST(DmarcReportSamples, JsonShapeOfOneSample) {
  auto got = rep::read_reports(slurp(kSamples + "003.xml"), {});
  ASSERT_TRUE(got);
  auto doc = json::parse(rep::to_json(got->front(), "003.xml")).as_object();
  EXPECT_EQ(doc["file"].as_string(), "003.xml");
  EXPECT_EQ(doc["version"].as_string(), "1.0");
  EXPECT_EQ(doc["policy_published"].as_object()["pct"].as_int64(), 100);
  EXPECT_FALSE(doc["policy_published"].as_object().contains("adkim"));  // absent in the XML
  auto& rec = doc["record"].as_array()[0].as_object();
  EXPECT_EQ(rec["row"].as_object()["count"].to_number<uint64_t>(), 3u);
  auto& pe = rec["row"].as_object()["policy_evaluated"].as_object();
  EXPECT_EQ(pe["reason"].as_array()[0].as_object()["type"].as_string(), "trusted_forwarder");
  EXPECT_EQ(rec["auth_results"].as_object()["spf"].as_array()[0].as_object()["scope"].as_string(),
            "mfrom");
  EXPECT_FALSE(rec["identifiers"].as_object().contains("envelope_to"));
}

// ---------------------------------------------------------------- generating

auth::Record record(int64_t time, std::string ip, std::string domain = "example.org") {
  auth::Record r;
  r.time = time;
  r.reporter = "mx.example.net";
  r.source_ip = std::move(ip);
  r.helo = "mail.example.org";
  r.envelope_from = domain;
  r.envelope_to = "example.net";
  r.header_from = domain;
  r.spf_result = "pass";
  r.spf_domain = domain;
  r.dkim = {{domain, "s1", "pass", ""}};
  r.dmarc_result = "pass";
  r.disposition = "none";
  r.dkim_aligned = r.spf_aligned = true;
  auth::RecordPolicy p;
  p.domain = domain;
  p.p = "reject";
  p.rua = {"mailto:dmarc@" + domain + "!10m", "https://example.com/rua"};
  r.policy = p;
  return r;
}

const rep::Reporter kWho{"Example <Net> & Co", "dmarc@example.net", "https://example.net/dmarc",
                         "example.net"};
constexpr int64_t kDay = 1700006400;  // 2023-11-15 00:00:00 UTC, a multiple of 86400

TEST(DmarcReportGroup, AggregatesIdenticalRowsPerDomainAndDay) {
  std::vector<auth::Record> in;
  for (int i = 0; i < 3; ++i) in.push_back(record(kDay + 100 + i, "192.0.2.1"));
  in.push_back(record(kDay + 200, "192.0.2.2"));
  auto failing = record(kDay + 300, "192.0.2.1");
  failing.dkim[0].result = "fail";
  failing.dkim_aligned = false;
  failing.disposition = "reject";
  failing.reasons = {{"local_policy", "checked by hand"}};
  in.push_back(failing);
  in.push_back(record(kDay + 86400 + 5, "192.0.2.1"));              // the next day
  in.push_back(record(kDay + 400, "198.51.100.1", "example.com"));  // another domain
  auto none = record(kDay, "192.0.2.9");
  none.policy.reset();
  in.push_back(none);
  auto norua = record(kDay, "192.0.2.9");
  norua.policy->rua.clear();
  in.push_back(norua);
  in.push_back(record(kDay + 2 * 86400 + 1, "192.0.2.1"));  // a day not over yet

  auto g = rep::group_records(in, kWho, {.period = 86400, .now = kDay + 2 * 86400 + 10});
  EXPECT_EQ(g.no_policy, 1u);
  EXPECT_EQ(g.no_rua, 1u);
  EXPECT_EQ(g.incomplete, 1u);
  ASSERT_EQ(g.reports.size(), 3u);
  EXPECT_EQ(g.reports[0].domain, "example.com");
  const rep::Report& r = g.reports[1];
  EXPECT_EQ(r.domain, "example.org");
  EXPECT_EQ(r.messages, 5u);
  ASSERT_EQ(r.feedback.rows.size(), 3u);
  EXPECT_EQ(r.feedback.rows[0].count, 3u);
  EXPECT_EQ(r.feedback.rows[0].source_ip, "192.0.2.1");
  EXPECT_EQ(r.feedback.rows[2].disposition, "reject");
  EXPECT_EQ(r.feedback.rows[2].dkim, "fail");
  EXPECT_EQ(r.feedback.metadata.begin, kDay);
  EXPECT_EQ(r.feedback.metadata.end, kDay + 86399);
  EXPECT_EQ(r.filename, "example.net!example.org!1700006400!1700092799.xml.gz");
  EXPECT_EQ(r.feedback.policy.sp, "reject");  // sp defaults to p
  EXPECT_EQ(g.reports[2].feedback.metadata.begin, kDay + 86400);
  // Stable ids: the same reporter, domain and period give the same id; others differ.
  auto again = rep::group_records(in, kWho, {.period = 86400, .now = kDay + 3 * 86400});
  EXPECT_EQ(again.reports[1].feedback.metadata.report_id, r.feedback.metadata.report_id);
  EXPECT_NE(g.reports[2].feedback.metadata.report_id, r.feedback.metadata.report_id);
  EXPECT_EQ(r.feedback.metadata.report_id.size(), 32u);
}

TEST(DmarcReportGroup, ExplicitWindowAndHours) {
  std::vector<auth::Record> in = {record(kDay + 10, "192.0.2.1"), record(kDay + 4000, "192.0.2.1"),
                                  record(kDay - 1, "192.0.2.1")};
  auto w = rep::group_records(in, kWho, {.begin = kDay, .end = kDay + 3600});
  EXPECT_EQ(w.outside, 2u);
  ASSERT_EQ(w.reports.size(), 1u);
  EXPECT_EQ(w.reports[0].feedback.metadata.end, kDay + 3599);
  auto h = rep::group_records(in, kWho, {.period = 3600, .now = kDay + 86400});
  EXPECT_EQ(h.reports.size(), 3u);
}

// The element names of an XML text, in document order (start tags only).
std::vector<std::string> tags(const std::string& xml) {
  std::vector<std::string> out;
  std::regex start("<([a-z_]+)>");
  for (auto it = std::sregex_iterator(xml.begin(), xml.end(), start); it != std::sregex_iterator();
       ++it) {
    out.push_back((*it)[1]);
  }
  return out;
}

TEST(DmarcReportXml, FollowsTheAppendixCSchemaOrder) {
  auto r = record(kDay, "192.0.2.1");
  r.reasons = {{"forwarded", ""}};
  auto g = rep::group_records({r}, kWho, {.now = kDay + 86400});
  ASSERT_EQ(g.reports.size(), 1u);
  std::string xml = rep::to_xml(g.reports[0].feedback);
  EXPECT_EQ(xml.substr(0, 38), "<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
  std::vector<std::string> want = {"feedback",
                                   "version",
                                   "report_metadata",
                                   "org_name",
                                   "email",
                                   "extra_contact_info",
                                   "report_id",
                                   "date_range",
                                   "begin",
                                   "end",
                                   "policy_published",
                                   "domain",
                                   "adkim",
                                   "aspf",
                                   "p",
                                   "sp",
                                   "pct",
                                   "fo",
                                   "record",
                                   "row",
                                   "source_ip",
                                   "count",
                                   "policy_evaluated",
                                   "disposition",
                                   "dkim",
                                   "spf",
                                   "reason",
                                   "type",
                                   "identifiers",
                                   "envelope_to",
                                   "envelope_from",
                                   "header_from",
                                   "auth_results",
                                   "dkim",
                                   "domain",
                                   "selector",
                                   "result",
                                   "spf",
                                   "domain",
                                   "scope",
                                   "result"};
  EXPECT_EQ(tags(xml), want);
  EXPECT_NE(xml.find("<org_name>Example &lt;Net&gt; &amp; Co</org_name>"), std::string::npos);
}

TEST(DmarcReportXml, RoundTripThroughGzip) {
  std::vector<auth::Record> in;
  for (int i = 0; i < 50; ++i) {
    auto r = record(kDay + i, "192.0.2." + std::to_string(i % 7));
    if (i % 5 == 0)
      r.dkim.push_back({"esp.example", "sel", "fail", "body hash \"did\" not <verify>"});
    if (i % 11 == 0) r.envelope_to.clear();
    in.push_back(r);
  }
  auto g = rep::group_records(in, kWho, {.now = kDay + 86400});
  ASSERT_EQ(g.reports.size(), 1u);
  const rep::Feedback& f = g.reports[0].feedback;
  auto gz = base::gzip_compress(rep::to_xml(f));
  ASSERT_TRUE(gz);
  auto back = rep::read_reports(*gz, {});
  ASSERT_TRUE(back) << back.error().message();
  ASSERT_EQ(back->size(), 1u);
  rep::Feedback expect = f;
  expect.policy.np.clear();  // not written (not in the Appendix C schema)
  EXPECT_EQ(ours(back->front()), ours(expect));
  EXPECT_EQ(rep::to_json(back->front()), rep::to_json(expect));
}

TEST(DmarcReportMail, MessageFollowsRfc7489Section7211) {
  auto g = rep::group_records({record(kDay, "192.0.2.1")}, kWho, {.now = kDay + 86400});
  const rep::Report& r = g.reports[0];
  std::string gz = *base::gzip_compress(rep::to_xml(r.feedback));
  std::string msg = rep::report_message(r, gz, "DMARC <dmarc@example.net>",
                                        {"dmarc@example.org", "x@example.org"}, kDay + 86400 + 60);
  auto m = postern::mail::Message::parse(msg);
  ASSERT_TRUE(m);
  auto subject = m->header(m->root(), "Subject");
  ASSERT_TRUE(subject);
  std::string s(*subject);
  s.erase(std::remove_if(s.begin(), s.end(), [](char c) { return c == '\r' || c == '\n'; }),
          s.end());
  EXPECT_EQ(std::regex_replace(s, std::regex("\\s+"), " "),
            " Report Domain: example.org Submitter: example.net Report-ID: <" +
                r.feedback.metadata.report_id + ">");
  EXPECT_NE(std::string(*m->header(m->root(), "To")).find("dmarc@example.org, x@example.org"),
            std::string::npos);
  ASSERT_EQ(m->attachments().size(), 1u);
  const auto& att = m->part(m->attachments()[0]);
  EXPECT_EQ(att.content_type.type, "application");
  EXPECT_EQ(m->filename(att), r.filename);
  EXPECT_EQ(m->decoded_body(att), gz);
  // And the whole message reads back as the report.
  auto back = rep::read_reports(msg, {});
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(back->front().metadata.report_id, r.feedback.metadata.report_id);
}

TEST(DmarcReportMail, MailtoUris) {
  auto a = rep::parse_mailto_uri("mailto:dmarc@example.org!10m");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->address, "dmarc@example.org");
  EXPECT_EQ(a->max_size, 10u << 20);
  auto b = rep::parse_mailto_uri(" MAILTO:d%40x@example.org ");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->address, "d@x@example.org");
  EXPECT_EQ(b->max_size, 0u);
  EXPECT_EQ(rep::parse_mailto_uri("mailto:a@b.example!500")->max_size, 500u);
  EXPECT_FALSE(rep::parse_mailto_uri("https://example.org/rua"));
  EXPECT_FALSE(rep::parse_mailto_uri("mailto:a@b.example!lots"));
  EXPECT_FALSE(rep::parse_mailto_uri("mailto:nobody"));
}

// ---------------------------------------------------------------- reading, the hard cases

TEST(DmarcReportRead, ToleratesSloppyReports) {
  std::string xml =
      "<?xml version=\"1.0\" encoding=\"windows-1252\"?>\n"
      "<d:feedback xmlns:d=\"http://dmarc.org/dmarc-xml/0.1\"><d:report_metadata>"
      "<d:org_name>  Caf\xE9 Mail </d:org_name><d:date_range><d:begin> 10 </d:begin>"
      "<d:end>20</d:end></d:date_range><d:whatever>x</d:whatever></d:report_metadata>"
      "<d:policy_published><d:domain>Example.ORG</d:domain><d:p>Reject</d:p></d:policy_published>"
      "<d:record><d:row><d:source_ip>192.0.2.1</d:source_ip><d:count>2</d:count>"
      "<d:policy_evaluated><d:disposition>NONE</d:disposition></d:policy_evaluated></d:row>"
      "</d:record></d:feedback>";
  auto f = rep::parse_xml(xml);
  ASSERT_TRUE(f) << f.error().message();
  EXPECT_EQ(f->metadata.org_name, "Caf\xC3\xA9 Mail");  // windows-1252 read as Latin-1
  EXPECT_EQ(f->metadata.begin, 10);
  EXPECT_EQ(f->policy.domain, "example.org");
  EXPECT_EQ(f->policy.p, "reject");
  EXPECT_FALSE(f->policy.pct);
  ASSERT_EQ(f->rows.size(), 1u);
  EXPECT_EQ(f->rows[0].disposition, "none");
  EXPECT_TRUE(f->rows[0].spf_results.empty());
  // Undeclared Latin-1 after a UTF-8 byte order mark; a declared windows-1252 without one.
  auto latin = rep::parse_xml(
      "\xEF\xBB\xBF<feedback><report_metadata><org_name>Caf\xE9"
      "</org_name></report_metadata></feedback>");
  ASSERT_TRUE(latin) << latin.error().message();
  EXPECT_EQ(latin->metadata.org_name, "Caf\xC3\xA9");
  auto cp = rep::parse_xml(
      "<?xml version=\"1.0\" encoding=\"windows-1252\"?><feedback>"
      "<report_metadata><org_name>Caf\xE9</org_name></report_metadata></feedback>");
  ASSERT_TRUE(cp) << cp.error().message();
  EXPECT_EQ(cp->metadata.org_name, "Caf\xC3\xA9");
}

TEST(DmarcReportRead, Errors) {
  auto bad = rep::parse_xml("<feedback>\n  <report_metadata>\n</feedback>");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), base::ExitCode::kDataErr);
  EXPECT_NE(bad.error().message().find("line 3 col 3: mismatched tag"), std::string::npos)
      << bad.error().message();
  auto root = rep::parse_xml("<html><body/></html>");
  ASSERT_FALSE(root);
  EXPECT_NE(root.error().message().find("<html>"), std::string::npos);
  auto count =
      rep::parse_xml("<feedback><record><row><count>many</count></row></record></feedback>");
  ASSERT_FALSE(count);
  EXPECT_NE(count.error().message().find("record 1: <count> is not a number"), std::string::npos);
  auto nothing = rep::read_reports("Subject: hi\n\nno report here\n", {});
  ASSERT_FALSE(nothing);
  EXPECT_NE(nothing.error().message().find("no aggregate report"), std::string::npos);
  EXPECT_FALSE(rep::read_reports("just some words", {}));
  // A bomb: 20 MB of spaces gzip to about 20 kB; the limit refuses them.
  std::string big = "<feedback>" + std::string(20 << 20, ' ') + "</feedback>";
  auto gz = *base::gzip_compress(big);
  auto refused = rep::read_reports(gz, {.max_inflated = 1 << 20});
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message().find("limit"), std::string::npos);
  // Entity expansion ("billion laughs") is stopped by expat's amplification limit.
  std::string laughs = "<?xml version=\"1.0\"?><!DOCTYPE feedback [<!ENTITY a \"aaaaaaaaaa\">";
  for (char c = 'b'; c <= 'j'; ++c) {
    std::string prev(1, static_cast<char>(c - 1));
    laughs += std::string("<!ENTITY ") + c + " \"" + std::string(10, '&') + "\">";
    std::string ent;
    for (int i = 0; i < 10; ++i) ent += "&" + prev + ";";
    laughs.replace(laughs.rfind(std::string(10, '&')), 10, ent);
  }
  laughs += "]><feedback><report_metadata><org_name>&j;</org_name></report_metadata></feedback>";
  EXPECT_FALSE(rep::parse_xml(laughs));
}

}  // namespace
