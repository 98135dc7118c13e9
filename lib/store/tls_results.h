// TLS-RPT session counts (RFC 8460): what queue-run saw of outbound TLS, tallied per day,
// policy domain, policy, receiving MX and result, until the day's report is sent.
//
// queue-run adds its in-memory tally now and then (add: one transaction, adding to rows
// that exist); the report run lists the (day, domain) pairs that are due and takes each
// one's rows away (take: read and delete in one transaction, so two report runs on one
// PostgreSQL never both get them). take_in() does the same inside a caller's transaction,
// where the report mail is queued too (queue::enqueue_in): sent once, never lost.
//
//   namespace tr = store::tls_results;
//   tr::add(store, {{.day = tr::day_of(now), .policy_domain = "example.org",
//                    .policy_type = "sts", .policy = "version: STSv1\nmode: enforce\n...",
//                    .mx_host = "mx.example.org", .receiving_ip = "192.0.2.25",
//                    .result_type = "", .sessions = 3}});
//   for (auto& due : *tr::due(store, tr::day_of(now))) {
//     auto rows = tr::take(store, due.day, due.domain);
//     ...
//   }
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"
#include "store/db.h"
#include "store/store.h"

namespace postern::store::tls_results {

struct Row {
  int64_t day = 0;             // Unix seconds of 00:00 UTC
  std::string policy_domain;   // the recipient domain, lower-case
  std::string policy_type;     // "sts", "tlsa", "no-policy-found" (RFC 8460 4.4)
  std::string policy;          // the policy strings, "\n"-joined ("" for none)
  std::string mx_host;         // the receiving MX host name
  std::string receiving_ip;
  std::string result_type;     // "" success, else an RFC 8460 4.3 result type
  std::string reason;          // failure-reason-code ("" for a success)
  int64_t sessions = 0;
};

// 00:00 UTC of the day `unix_seconds` falls in.
int64_t day_of(int64_t unix_seconds);

// Adds every row's sessions to the row with the same key (or inserts it), in one
// transaction: all or none.
base::Status add(Store& store, const std::vector<Row>& rows);

struct Due {
  int64_t day = 0;
  std::string domain;
};
// The (day, domain) pairs with rows for days before `before_day` (0: every day), oldest
// day first, then by domain.
base::Result<std::vector<Due>> due(Store& store, int64_t before_day);

// Every row (day 0: all days; domain "": all domains), ordered by day, domain, type, policy,
// host, address, result. Nothing is removed.
base::Result<std::vector<Row>> list(Store& store, int64_t day = 0, const std::string& domain = "");

// Reads and deletes one (day, domain)'s rows in one transaction. Empty when another
// process took them first.
base::Result<std::vector<Row>> take(Store& store, int64_t day, const std::string& domain);
// The same inside the caller's write transaction `tx`.
base::Result<std::vector<Row>> take_in(Db& tx, int64_t day, const std::string& domain);

}  // namespace postern::store::tls_results
