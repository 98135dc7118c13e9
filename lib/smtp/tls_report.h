// Sending TLS-RPT aggregate reports (RFC 8460) from the counts queue-run keeps in the
// store (store/tls_results.h). For each (day, policy domain) that is due, the domain's
// `_smtp._tls` TXT record says where reports go: none, or not valid, and the counts are
// dropped (nobody asked). `mailto:` — the report mail (tls_rpt::report_message) is queued
// from `from` to the addresses with envelope listener "tlsrpt" (queue-run DKIM-signs it,
// RFC 8460 5.3), in the same store transaction that removes the counts: two report runs
// on one PostgreSQL never both send it, and a crash never loses it. `https:` — the gzip'd
// JSON is POSTed as application/tlsrpt+gzip (RFC 8460 5.2), names resolved through
// lib/dns; if no destination took it the counts go back for the next run, unless they
// are older than three days (then dropped, logged). Every report sent or dropped is
// logged (event tlsrpt_*, with domain, day, rua, sessions).
//
// Blocking (store, DNS, HTTPS): queue-run runs it on a worker, tls-report(8) directly.
//
//   smtp::tls_report::Options o{.organization = "Example Net", .contact = "postmaster@example.net",
//                               .from = "noreply-tlsrpt@example.net", .submitter = "mx.example.net"};
//   auto r = smtp::tls_report::send_due(store, resolver, o, std::nullopt, now);
//   if (r && r->temporary_failure) ...;            // some report waits for the next run
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "dns/dns.h"
#include "smtp/tls_rpt.h"
#include "store/store.h"
#include "store/tls_results.h"

namespace postern::smtp::tls_report {

struct Options {
  std::string organization;  // organization-name
  std::string contact;       // contact-info
  std::string from;          // From: and envelope sender of mailed reports
  std::string submitter;     // our host name (TLS-Report-Submitter, report ids)
  std::string ca_file;       // extra trust anchors for https: destinations
  std::chrono::milliseconds timeout{30000};  // one POST
  int64_t keep_failed = 3 * 86400;  // an https: report older than this is dropped on failure
  bool dry_run = false;              // report what would be sent; change nothing
};

// "2026-03-01T00:00:00Z_example.org@mx.example.net": unique per day and domain.
std::string report_id(int64_t day, const std::string& domain, const std::string& submitter);

// The stored rows as TLS-RPT records (one per row, with its session count).
std::vector<tls_rpt::ResultRecord> records_of(const std::vector<store::tls_results::Row>& rows);

// The aggregate report of one (day, domain)'s rows.
tls_rpt::Report build(const Options& options, int64_t day, const std::string& domain,
                      const std::vector<store::tls_results::Row>& rows);

struct Outcome {
  enum Kind { kQueued, kPosted, kDropped, kFailed, kDryRun } kind = kDropped;
  int64_t day = 0;
  std::string domain;
  std::string rua;       // the destinations, comma-separated ("" when none)
  int64_t sessions = 0;  // total, successful and failed
  std::string why;       // dropped or failed: the reason
  std::string queue_id;  // kQueued: the report mail
};
std::string_view kind_name(Outcome::Kind k);  // "queued", "posted", "dropped", "failed", "dry-run"

struct RunResult {
  std::vector<Outcome> reports;
  bool temporary_failure = false;  // a report could not be sent (or its TXT record looked up) now
};

// Sends what is due: every (day, domain) before today (UTC, of `now`), or only `day`
// (Unix seconds of 00:00 UTC, today's included) when given. Errors only for the store
// itself; a domain's failure is its Outcome.
base::Result<RunResult> send_due(store::Store& store, dns::Resolver& resolver, const Options& options,
                                 std::optional<int64_t> day, int64_t now);

// ---- for tls-report(8) ----

// "2026-03-01" → Unix seconds of its 00:00 UTC; Error::usage otherwise.
base::Result<int64_t> parse_day(std::string_view yyyy_mm_dd);
std::string format_day(int64_t day);  // "2026-03-01"

// What is recorded, one line per (day, domain, policy type):
// "2026-03-01  example.org  sts  successful=3 failed=1", or with `json` one object per
// line: {"day":"2026-03-01","domain":...,"policy_type":...,"successful":3,"failed":1}.
std::string list_text(const std::vector<store::tls_results::Row>& rows, bool json);

// One line per outcome of send_due: "queued 2026-03-01 example.org rua=... sessions=4 ...".
std::string outcome_text(const Outcome& o);

}  // namespace postern::smtp::tls_report
