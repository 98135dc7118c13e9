// SMTP TLS Reporting (RFC 8460): where a domain wants reports (the `_smtp._tls` TXT
// record), the result of each outbound TLS attempt as a record, and the daily aggregate
// report built from those records — JSON (RFC 8460 4.4), gzip, and the e-mail that carries
// it (RFC 8460 5.3). Storing the records between attempts and the report run is the
// queue's business; this module only shapes them.
//
//   auto rua = tls_rpt::parse_txt("v=TLSRPTv1; rua=mailto:tlsrpt@example.org");
//   std::vector<tls_rpt::ResultRecord> recs = ...;            // one per session
//   tls_rpt::ReportInfo info{.organization_name = "Example Net",
//                            .contact_info = "tlsrpt@example.net",
//                            .submitter = "mail.example.net",
//                            .report_id = "2026-03-01T00:00:00Z_example.org@example.net",
//                            .start = day, .end = day + 86400};
//   tls_rpt::Report r = tls_rpt::aggregate(info, "example.org", recs);
//   std::string json = tls_rpt::to_json(r);
//   std::string gz = *base::gzip_compress(json);
//   std::string mail = tls_rpt::report_message(r, gz, "tlsrpt@example.net",
//                                              {"tlsrpt@example.org"}, now);
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace postern::smtp::tls_rpt {

// ---- the TXT record (RFC 8460 3): "v=TLSRPTv1; rua=mailto:a@example.org,https://..."
struct TxtRecord {
  std::vector<std::string> rua;  // "mailto:..." and "https://..." URIs, in order
  // The mailto: addresses (percent-decoded, without "mailto:") and https: URLs apart.
  std::vector<std::string> mailto() const;
  std::vector<std::string> https() const;
};
// "v=TLSRPTv1" first, exactly one rua with one or more comma-separated mailto:/https:
// URIs, extension fields allowed; bad_data otherwise.
base::Result<TxtRecord> parse_txt(std::string_view text);
// The one record among a domain's TXT strings that starts with "v=TLSRPTv1" (several or
// none: bad_data, RFC 8460 3).
base::Result<TxtRecord> select_txt(const std::vector<std::string>& texts);

// ---- one session's result
enum class PolicyType { kSts, kTlsa, kNoPolicyFound };
std::string_view policy_type_name(PolicyType t);  // "sts", "tlsa", "no-policy-found"

// RFC 8460 4.3.
enum class ResultType {
  kSuccess,               // not a failure: counted in total-successful-session-count
  kStarttlsNotSupported,  // 4.3.1
  kCertificateHostMismatch,
  kCertificateExpired,
  kCertificateNotTrusted,
  kValidationFailure,
  kTlsaInvalid,  // 4.3.2.1
  kDnssecInvalid,
  kDaneRequired,
  kStsPolicyFetchError,  // 4.3.2.2
  kStsPolicyInvalid,
  kStsWebpkiInvalid,
};
std::string_view result_type_name(ResultType t);  // "starttls-not-supported", ...

struct ResultRecord {
  int64_t time = 0;           // Unix seconds of the session
  std::string policy_domain;  // the recipient domain
  PolicyType policy_type = PolicyType::kNoPolicyFound;
  std::vector<std::string> policy_strings;  // STS policy lines / TLSA records as text
  std::vector<std::string> mx_host;         // STS: the policy's mx patterns
  ResultType result = ResultType::kSuccess;
  std::string sending_mta_ip;
  std::string receiving_mx_hostname;
  std::string receiving_mx_helo;
  std::string receiving_ip;
  std::string additional_information;  // a URI
  std::string failure_reason_code;     // e.g. an OpenSSL verify error name
  int64_t sessions = 1;                // how many sessions this record stands for
};

// ---- the aggregate report (RFC 8460 4.4)
struct FailureDetail {
  ResultType result = ResultType::kValidationFailure;
  std::string sending_mta_ip, receiving_mx_hostname, receiving_mx_helo, receiving_ip;
  std::string additional_information, failure_reason_code;
  int64_t failed_session_count = 0;
};

struct PolicyReport {
  PolicyType type = PolicyType::kNoPolicyFound;
  std::string domain;
  std::vector<std::string> strings;
  std::vector<std::string> mx_host;
  int64_t successful = 0;
  int64_t failed = 0;
  std::vector<FailureDetail> failure_details;
};

struct ReportInfo {
  std::string organization_name;
  std::string contact_info;  // an address or URI
  std::string submitter;     // the reporting domain (TLS-Report-Submitter, file names)
  std::string report_id;
  int64_t start = 0;  // date-range, Unix seconds: [start, end)
  int64_t end = 0;
};

struct Report {
  ReportInfo info;
  std::string policy_domain;
  std::vector<PolicyReport> policies;  // in the order first seen
};

// The records of `policy_domain` timed in [info.start, info.end): one PolicyReport per
// distinct policy (type, strings, mx-host), identical failures counted together.
Report aggregate(const ReportInfo& info, std::string_view policy_domain,
                 const std::vector<ResultRecord>& records);

// RFC 8460 4.4 JSON; date-range as RFC 3339 UTC ("2026-03-01T00:00:00Z"), end-datetime the
// last second of the range.
std::string to_json(const Report& report);

// RFC 8460 5.1: submitter "!" policy-domain "!" begin "!" end [ "!" unique-id ] ".json.gz"
std::string filename(const Report& report, std::string_view unique_id = "");

// RFC 8460 5.3: multipart/report; report-type="tlsrpt" with a text/plain summary and the
// gzip'd JSON as application/tlsrpt+gzip; TLS-Report-Domain, TLS-Report-Submitter and
// the recommended Subject. CRLF line endings, ready to queue (DKIM-sign it first).
std::string report_message(const Report& report, std::string_view gzip_json, std::string_view from,
                           const std::vector<std::string>& to, int64_t now);

}  // namespace postern::smtp::tls_rpt
