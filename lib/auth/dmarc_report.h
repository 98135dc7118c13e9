// DMARC aggregate reports (RFC 7489 7.2 and Appendix C), both directions.
//
// Outgoing: the records `auth-check --record` writes (auth/record.h, one per evaluated
// message) are grouped per policy domain and reporting period, identical rows are counted,
// and each group becomes a Feedback, written as Appendix C XML, gzip-compressed, named per
// RFC 7489 7.2.1.1 and, for mailto: rua URIs, wrapped in a report message.
// Incoming: reports as XML, gzip, ZIP or a whole report message are read back into the same
// Feedback model (expat; tolerant of the sloppiness real reporters show) and shown as JSON.
//
//   Reporter who{.org_name = "Example Net", .email = "dmarc@example.net",
//                .receiver = "example.net"};
//   Grouping g = group_records(records, who, {.period = 86400, .now = now});
//   for (const Report& r : g.reports) {
//     std::string gz = *base::gzip_compress(to_xml(r.feedback));
//     write(r.filename, gz);                                     // example.net!example.org!...
//     auto mail = report_message(r, gz, "dmarc@example.net", now);   // with r.rua addresses
//   }
//
//   auto reports = read_reports(bytes, {});                      // XML, gzip, zip or e-mail
//   for (const Feedback& f : *reports) puts(to_json(f).c_str());
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/psl.h"
#include "auth/record.h"
#include "base/compress.h"
#include "base/result.h"
#include "base/task.h"
#include "dns/dns.h"

namespace postern::auth::dmarc_report {

// ---- the model: RFC 7489 Appendix C, plus the optional elements of the DMARCbis report
// draft that reporters already send (np, testing, discovery_method, generator,
// extensions). Enumerated values are kept as the lower-case words of the XML; an optional
// element that is absent (or empty) is an empty string / nullopt.

struct Extension {  // DMARCbis <extension name=... definition=...>; content not kept
  std::string name;
  std::string definition;
};

struct Metadata {  // ReportMetadataType
  std::string org_name;
  std::string email;
  std::string extra_contact_info;
  std::string report_id;
  int64_t begin = 0;  // date_range, Unix seconds (UTC)
  int64_t end = 0;
  std::vector<std::string> errors;
  std::string generator;
};

struct PolicyPublished {  // PolicyPublishedType
  std::string domain;
  std::string adkim;  // r s
  std::string aspf;
  std::string p;  // none quarantine reject
  std::string sp;
  std::string np;  // RFC 9091; read, not written (not in the Appendix C schema)
  std::optional<int64_t> pct;
  std::string fo;
  std::string testing;           // DMARCbis: y n
  std::string discovery_method;  // DMARCbis: psl treewalk
};

struct Reason {      // PolicyOverrideReason
  std::string type;  // forwarded sampled_out trusted_forwarder mailing_list local_policy other
  std::string comment;
};

struct DkimResult {  // DKIMAuthResultType
  std::string domain;
  std::string selector;
  std::string result;  // none pass fail policy neutral temperror permerror
  std::string human_result;
};

struct SpfResult {  // SPFAuthResultType
  std::string domain;
  std::string scope;         // helo mfrom
  std::string result;        // none neutral pass fail softfail temperror permerror
  std::string human_result;  // DMARCbis
};

struct Row {  // RecordType: row, identifiers, auth_results
  std::string source_ip;
  uint64_t count = 0;
  std::string disposition;  // policy_evaluated
  std::string dkim;         // pass fail (the DMARC-aligned result)
  std::string spf;
  std::vector<Reason> reasons;
  std::string envelope_to;  // identifiers
  std::string envelope_from;
  std::string header_from;
  std::vector<DkimResult> dkim_results;  // auth_results
  std::vector<SpfResult> spf_results;
  std::vector<Extension> extensions;
};

struct Feedback {
  std::string version;  // as written ("1.0"); empty when absent
  Metadata metadata;
  PolicyPublished policy;
  std::vector<Row> rows;
  std::vector<Extension> extensions;
};

// ---- writing

// Appendix C XML, elements in the schema's order, text escaped (XML 1.0 2.4), no
// namespace (as most reporters send it). Always writes what the schema requires: version
// "1.0" unless set, sp (p when absent), pct (100), fo ("0"), envelope_from (possibly
// empty), and one spf result (domain "", result none) for a row without any.
std::string to_xml(const Feedback& feedback);

// Who reports: RFC 7489 7.2.1.1 report_metadata and the "receiver" of the file name.
struct Reporter {
  std::string org_name;
  std::string email;
  std::string extra_contact_info;
  std::string receiver;  // a domain name
};

struct GroupOptions {
  int64_t period = 86400;  // report length in seconds; periods are aligned to the epoch (UTC)
  // Explicit window [begin, end): one report per domain for exactly this range; records
  // outside are left out. 0/0: periods of `period` seconds.
  int64_t begin = 0;
  int64_t end = 0;
  // Periods ending after `now` are not complete and are not reported (their records are
  // counted in Grouping::incomplete). Ignored with an explicit window.
  int64_t now = 0;
};

// A mailto: rua destination (RFC 7489 6.2, 7.1): the address and its "!size" limit in
// bytes (0: none).
struct MailtoUri {
  std::string address;
  uint64_t max_size = 0;
};

// Reads a records file (one JSON record per line, auth/record.h); blank lines are
// skipped, and a line that is not a record is reported as "line N: problem", not fatal.
struct RecordLines {
  std::vector<Record> records;
  std::vector<std::string> problems;
};
RecordLines parse_record_lines(std::string_view text);

// Parses one rua URI. Errors: not mailto: (the caller logs and skips it), or a bad size.
base::Result<MailtoUri> parse_mailto_uri(std::string_view uri);

struct Report {
  Feedback feedback;
  std::string domain;            // policy domain
  std::string filename;          // RFC 7489 7.2.1.1, ".xml.gz"
  std::vector<std::string> rua;  // as published by the newest record in the group
  uint64_t messages = 0;         // sum of the counts
};

// The mailto: addresses of a report's rua that accept `size` bytes; every other URI with
// the reason it was skipped (not mailto:, over its "!size" limit, malformed).
struct Recipients {
  std::vector<std::string> to;
  std::vector<std::pair<std::string, std::string>> skipped;  // URI, reason
};
Recipients mail_recipients(const std::vector<std::string>& rua, uint64_t size);

// RFC 7489 7.1: a recipient whose Organizational Domain differs from the policy domain's
// gets reports only if its domain publishes a TXT record beginning "v=DMARC1" at
// <policy-domain>._report._dmarc.<recipient-domain>. Returns `recipients` with the
// unauthorized ones moved to `skipped`; a DNS failure also skips the recipient and sets
// `temporary` (a later run may send).
struct CheckedRecipients {
  Recipients recipients;
  bool temporary = false;
};
base::Task<CheckedRecipients> check_destinations(dns::Resolver& resolver,
                                                 const PublicSuffixList& psl,
                                                 std::string policy_domain, Recipients recipients);

struct Grouping {
  std::vector<Report> reports;  // sorted by domain, then begin
  uint64_t no_policy = 0;       // records without a DMARC record (policy null)
  uint64_t no_rua = 0;          // records whose policy has no rua
  uint64_t outside = 0;         // records outside the explicit window
  uint64_t incomplete = 0;      // records in periods that have not ended by `now`
};

// Groups records per (policy domain, period) and aggregates identical rows (same
// source_ip, policy_evaluated, identifiers and auth_results) into one with a count. The
// policy_published of a report is that of the group's newest record. The report_id is
// stable: the same reporter, domain and period always give the same id (a hash of them),
// so a report generated twice is recognised as one by its receiver.
Grouping group_records(const std::vector<Record>& records, const Reporter& reporter,
                       const GroupOptions& options);

// The report as a message for `sendmail -t` (RFC 7489 7.2.1.1): From `from`, To `to`, the
// Subject "Report Domain: <domain> Submitter: <receiver> Report-ID: <id>", a short text
// part and the gzip file as an application/gzip attachment. CRLF line endings.
std::string report_message(const Report& report, std::string_view gzip_bytes, std::string_view from,
                           const std::vector<std::string>& to, int64_t now);

// ---- reading

struct ReadOptions {
  size_t max_inflated = base::kDefaultInflateLimit;  // per decompressed report
  size_t max_xml = base::kDefaultInflateLimit;       // per XML document
};

// Parses one XML document. Tolerant: unknown elements are ignored, namespaces (and
// prefixes) are dropped, text is trimmed, enum words lower-cased. Errors (bad_data):
// malformed XML ("line L col C: <expat message>"), a root element other than feedback, a
// count, begin, end or pct that is not a number.
base::Result<Feedback> parse_xml(std::string_view xml);

// Reads reports from any of the forms they travel in: XML, gzip, ZIP (every member that
// is not a directory), or a message whose parts hold one of these (each part is
// recognised by its content, whatever its Content-Type says). Errors (bad_data): nothing
// that looks like a report, or the first error of a part that looked like one.
base::Result<std::vector<Feedback>> read_reports(std::string_view data, const ReadOptions& options);

// One line of JSON (no newline): members named after the XML elements; repeated elements
// (error, record, reason, dkim, spf, extension) are arrays, always present; absent optional
// elements are left out. See dmarc-report(1).
std::string to_json(const Feedback& feedback, std::string_view file = {});

}  // namespace postern::auth::dmarc_report
