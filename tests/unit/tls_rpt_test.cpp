// SMTP TLS Reporting (RFC 8460): TXT record, aggregation, the JSON report read back with
// Boost.JSON, gzip round trip, the report message.
#include <algorithm>

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "base/compress.h"
#include "mail/message.h"
#include "smtp/tls_rpt.h"

namespace postern {
namespace {

namespace rpt = smtp::tls_rpt;
namespace json = boost::json;

TEST(TlsRptTxt, Parses) {
  auto r = rpt::parse_txt("v=TLSRPTv1; rua=mailto:reports@example.com");  // RFC 8460 3.1
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->rua, std::vector<std::string>{"mailto:reports@example.com"});
  EXPECT_EQ(r->mailto(), std::vector<std::string>{"reports@example.com"});
  auto two = rpt::parse_txt(
      "v=TLSRPTv1;rua=mailto:a%2Bx@example.com?subject=x , "
      "https://reporting.example.com/v1/tlsrpt; ext=1;");
  ASSERT_TRUE(two) << two.error().message();
  EXPECT_EQ(two->rua.size(), 2u);
  EXPECT_EQ(two->mailto(), std::vector<std::string>{"a+x@example.com"});
  EXPECT_EQ(two->https(), std::vector<std::string>{"https://reporting.example.com/v1/tlsrpt"});
  // Unknown schemes are skipped when another URI remains.
  auto mixed = rpt::parse_txt("v=TLSRPTv1; rua=ftp://x.example/r,mailto:r@example.org");
  ASSERT_TRUE(mixed);
  EXPECT_EQ(mixed->rua, std::vector<std::string>{"mailto:r@example.org"});
}

TEST(TlsRptTxt, Refusals) {
  for (const char* bad : {
           "",
           "v=TLSRPTv1",
           "v=TLSRPTv1;",
           "v=tlsrptv1; rua=mailto:a@example.org",
           "v=TLSRPTv2; rua=mailto:a@example.org",
           "rua=mailto:a@example.org; v=TLSRPTv1",
           "v=TLSRPTv1; rua=",
           "v=TLSRPTv1; rua=mailto:a@example.org,",
           "v=TLSRPTv1; rua=mailto:a@example.org; rua=mailto:b@example.org",
           "v=TLSRPTv1; rua=http://insecure.example/",
           "v=TLSRPTv1; rua=mailto:nobody",
           "v=TLSRPTv1; rua=mailto:a@example.org;; x=y",
           "v=TLSRPTv1; rua=mailto:a b@example.org",
       }) {
    EXPECT_FALSE(rpt::parse_txt(bad)) << bad;
  }
  EXPECT_TRUE(rpt::select_txt({"v=spf1 -all", "v=TLSRPTv1; rua=mailto:a@example.org"}));
  EXPECT_FALSE(rpt::select_txt({"v=spf1 -all"}));
  EXPECT_FALSE(rpt::select_txt(
      {"v=TLSRPTv1; rua=mailto:a@example.org", "v=TLSRPTv1; rua=mailto:b@example.org"}));
}

TEST(TlsRpt, NamesOfRfc8460) {
  EXPECT_EQ(rpt::result_type_name(rpt::ResultType::kStarttlsNotSupported),
            "starttls-not-supported");
  EXPECT_EQ(rpt::result_type_name(rpt::ResultType::kCertificateHostMismatch),
            "certificate-host-mismatch");
  EXPECT_EQ(rpt::result_type_name(rpt::ResultType::kCertificateExpired), "certificate-expired");
  EXPECT_EQ(rpt::result_type_name(rpt::ResultType::kCertificateNotTrusted),
            "certificate-not-trusted");
  EXPECT_EQ(rpt::result_type_name(rpt::ResultType::kValidationFailure), "validation-failure");
  EXPECT_EQ(rpt::result_type_name(rpt::ResultType::kTlsaInvalid), "tlsa-invalid");
  EXPECT_EQ(rpt::result_type_name(rpt::ResultType::kDnssecInvalid), "dnssec-invalid");
  EXPECT_EQ(rpt::result_type_name(rpt::ResultType::kDaneRequired), "dane-required");
  EXPECT_EQ(rpt::result_type_name(rpt::ResultType::kStsPolicyFetchError), "sts-policy-fetch-error");
  EXPECT_EQ(rpt::result_type_name(rpt::ResultType::kStsPolicyInvalid), "sts-policy-invalid");
  EXPECT_EQ(rpt::result_type_name(rpt::ResultType::kStsWebpkiInvalid), "sts-webpki-invalid");
  EXPECT_EQ(rpt::policy_type_name(rpt::PolicyType::kNoPolicyFound), "no-policy-found");
}

class TlsRptReport : public ::testing::Test {
 protected:
  static constexpr int64_t kDay = 1772323200;  // 2026-03-01T00:00:00Z

  void SetUp() override {
    info_.organization_name = "Example Net";
    info_.contact_info = "tlsrpt@example.net";
    info_.submitter = "mail.example.net";
    info_.report_id = "2026-03-01_example.org@example.net";
    info_.start = kDay;
    info_.end = kDay + 86400;
    std::vector<std::string> sts_lines{"version: STSv1", "mode: enforce", "mx: *.example.org",
                                       "max_age: 86400"};
    auto sts = [&](rpt::ResultType t, std::string mx, std::string ip) {
      rpt::ResultRecord r;
      r.time = kDay + 100;
      r.policy_domain = "example.org";
      r.policy_type = rpt::PolicyType::kSts;
      r.policy_strings = sts_lines;
      r.mx_host = {"*.example.org"};
      r.result = t;
      r.sending_mta_ip = "192.0.2.1";
      r.receiving_mx_hostname = std::move(mx);
      r.receiving_ip = std::move(ip);
      return r;
    };
    for (int i = 0; i < 5; ++i)
      recs_.push_back(sts(rpt::ResultType::kSuccess, "mx1.example.org", "198.51.100.1"));
    for (int i = 0; i < 3; ++i)
      recs_.push_back(sts(rpt::ResultType::kCertificateExpired, "mx1.example.org", "198.51.100.1"));
    auto other = sts(rpt::ResultType::kValidationFailure, "mx2.example.org", "198.51.100.2");
    other.failure_reason_code = "X509_V_ERR_CERT_UNTRUSTED";
    recs_.push_back(other);
    rpt::ResultRecord none;
    none.time = kDay + 200;
    none.policy_domain = "example.org";
    none.result = rpt::ResultType::kStarttlsNotSupported;
    none.sending_mta_ip = "192.0.2.1";
    none.receiving_mx_hostname = "mx1.example.org";
    none.receiving_mx_helo = "mx1";
    recs_.push_back(none);
    // Outside the range, and another domain: not counted.
    auto late = sts(rpt::ResultType::kSuccess, "mx1.example.org", "198.51.100.1");
    late.time = kDay + 86400;
    recs_.push_back(late);
    auto elsewhere = sts(rpt::ResultType::kSuccess, "mx.other.example", "198.51.100.9");
    elsewhere.policy_domain = "other.example";
    recs_.push_back(elsewhere);
  }

  rpt::ReportInfo info_;
  std::vector<rpt::ResultRecord> recs_;
};

TEST_F(TlsRptReport, AggregatesPerPolicy) {
  rpt::Report r = rpt::aggregate(info_, "example.org", recs_);
  ASSERT_EQ(r.policies.size(), 2u);
  EXPECT_EQ(r.policies[0].type, rpt::PolicyType::kSts);
  EXPECT_EQ(r.policies[0].successful, 5);
  EXPECT_EQ(r.policies[0].failed, 4);
  ASSERT_EQ(r.policies[0].failure_details.size(), 2u);
  EXPECT_EQ(r.policies[0].failure_details[0].failed_session_count, 3);
  EXPECT_EQ(r.policies[1].type, rpt::PolicyType::kNoPolicyFound);
  EXPECT_EQ(r.policies[1].failed, 1);
}

// A record standing for several sessions (the counts queue-run stores) counts as many.
TEST_F(TlsRptReport, RecordsCarryTheirSessionCounts) {
  std::vector<rpt::ResultRecord> folded;
  for (const auto& r : recs_) {
    auto same = std::find_if(folded.begin(), folded.end(), [&](const rpt::ResultRecord& f) {
      return f.time / 86400 == r.time / 86400 && f.policy_domain == r.policy_domain &&
             f.policy_type == r.policy_type && f.result == r.result &&
             f.receiving_ip == r.receiving_ip && f.failure_reason_code == r.failure_reason_code;
    });
    if (same != folded.end()) {
      same->sessions += r.sessions;
    } else {
      folded.push_back(r);
    }
  }
  ASSERT_LT(folded.size(), recs_.size());
  rpt::Report a = rpt::aggregate(info_, "example.org", recs_);
  rpt::Report b = rpt::aggregate(info_, "example.org", folded);
  EXPECT_EQ(rpt::to_json(a), rpt::to_json(b));
  EXPECT_EQ(b.policies[0].successful, 5);
  EXPECT_EQ(b.policies[0].failure_details[0].failed_session_count, 3);
}

TEST_F(TlsRptReport, JsonReadsBack) {
  rpt::Report r = rpt::aggregate(info_, "example.org", recs_);
  std::string text = rpt::to_json(r);
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  ASSERT_FALSE(ec) << text;
  const json::object& o = v.as_object();
  EXPECT_EQ(o.at("organization-name").as_string(), "Example Net");
  EXPECT_EQ(o.at("contact-info").as_string(), "tlsrpt@example.net");
  EXPECT_EQ(o.at("report-id").as_string(), "2026-03-01_example.org@example.net");
  EXPECT_EQ(o.at("date-range").at("start-datetime").as_string(), "2026-03-01T00:00:00Z");
  EXPECT_EQ(o.at("date-range").at("end-datetime").as_string(), "2026-03-01T23:59:59Z");
  const json::array& pols = o.at("policies").as_array();
  ASSERT_EQ(pols.size(), 2u);
  const json::object& p0 = pols[0].as_object();
  const json::object& pol = p0.at("policy").as_object();
  EXPECT_EQ(pol.at("policy-type").as_string(), "sts");
  EXPECT_EQ(pol.at("policy-domain").as_string(), "example.org");
  ASSERT_EQ(pol.at("policy-string").as_array().size(), 4u);
  EXPECT_EQ(pol.at("policy-string").as_array()[1].as_string(), "mode: enforce");
  EXPECT_EQ(pol.at("mx-host").as_array()[0].as_string(), "*.example.org");
  EXPECT_EQ(p0.at("summary").at("total-successful-session-count").as_int64(), 5);
  EXPECT_EQ(p0.at("summary").at("total-failure-session-count").as_int64(), 4);
  const json::array& fd = p0.at("failure-details").as_array();
  ASSERT_EQ(fd.size(), 2u);
  EXPECT_EQ(fd[0].at("result-type").as_string(), "certificate-expired");
  EXPECT_EQ(fd[0].at("sending-mta-ip").as_string(), "192.0.2.1");
  EXPECT_EQ(fd[0].at("receiving-mx-hostname").as_string(), "mx1.example.org");
  EXPECT_EQ(fd[0].at("receiving-ip").as_string(), "198.51.100.1");
  EXPECT_EQ(fd[0].at("failed-session-count").as_int64(), 3);
  EXPECT_FALSE(fd[0].as_object().contains("failure-reason-code"));  // empty: left out
  EXPECT_EQ(fd[1].at("failure-reason-code").as_string(), "X509_V_ERR_CERT_UNTRUSTED");
  const json::object& p1 = pols[1].as_object();
  EXPECT_EQ(p1.at("policy").at("policy-type").as_string(), "no-policy-found");
  EXPECT_FALSE(p1.at("policy").as_object().contains("policy-string"));
  EXPECT_EQ(p1.at("failure-details").as_array()[0].at("result-type").as_string(),
            "starttls-not-supported");
  EXPECT_EQ(p1.at("failure-details").as_array()[0].at("receiving-mx-helo").as_string(), "mx1");
}

TEST_F(TlsRptReport, EmptyReportIsValidJson) {
  rpt::Report r = rpt::aggregate(info_, "nobody.example", recs_);
  json::value v = json::parse(rpt::to_json(r));
  EXPECT_TRUE(v.at("policies").as_array().empty());
}

TEST_F(TlsRptReport, GzipRoundTripAndMessage) {
  rpt::Report r = rpt::aggregate(info_, "example.org", recs_);
  std::string js = rpt::to_json(r);
  auto gz = base::gzip_compress(js);
  ASSERT_TRUE(gz);
  EXPECT_TRUE(base::is_gzip(*gz));
  auto back = base::gzip_decompress(*gz, base::kDefaultInflateLimit);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, js);

  EXPECT_EQ(rpt::filename(r), "mail.example.net!example.org!1772323200!1772409600.json.gz");
  EXPECT_EQ(rpt::filename(r, "001"),
            "mail.example.net!example.org!1772323200!1772409600!001.json.gz");

  std::string msg =
      rpt::report_message(r, *gz, "tlsrpt@example.net", {"tlsrpt@example.org"}, kDay + 90000);
  EXPECT_NE(msg.find("TLS-Report-Domain: example.org\r\n"), std::string::npos);
  EXPECT_NE(msg.find("TLS-Report-Submitter: mail.example.net\r\n"), std::string::npos);
  EXPECT_NE(msg.find("Report Domain: example.org"), std::string::npos);
  EXPECT_NE(msg.find("multipart/report; report-type=\"tlsrpt\""), std::string::npos)
      << msg.substr(0, 800);
  EXPECT_NE(msg.find("application/tlsrpt+gzip"), std::string::npos);
  EXPECT_NE(msg.find("mail.example.net!example.org!1772323200!1772409600.json.gz"),
            std::string::npos);

  // The attachment decodes back to the same report.
  auto parsed = mail::Message::parse(msg);
  ASSERT_TRUE(parsed) << parsed.error().message();
  bool found = false;
  EXPECT_EQ(parsed->parts()[0].content_type.type, "multipart");
  EXPECT_EQ(*parsed->parts()[0].content_type.subtype, "report");
  for (const auto& part : parsed->parts()) {
    if (part.content_type.type == "application" && part.content_type.subtype == "tlsrpt+gzip") {
      auto body = parsed->decoded_body(part);
      auto json_back = base::gzip_decompress(body, base::kDefaultInflateLimit);
      ASSERT_TRUE(json_back);
      EXPECT_EQ(*json_back, js);
      found = true;
    }
  }
  EXPECT_TRUE(found);
}

}  // namespace
}  // namespace postern
