// Authentication-Results (RFC 8601): the one header field every authentication stage
// (SPF, DKIM, ARC, DMARC) reports through, under one authserv-id.
//
//   std::vector<ResultClause> clauses = {
//       {.method = "spf", .result = "pass", .props = {{"smtp.mailfrom", "a@example.org"}}},
//       {.method = "dkim", .result = "pass", .props = {{"header.d", "example.org"},
//                                                       {"header.s", "sel"}}}};
//   std::string field = format_authentication_results("mx.example.net", clauses);
//   // "Authentication-Results: mx.example.net;\r\n\tspf=pass smtp.mailfrom=a@example.org;\r\n"
//   //  "\tdkim=pass header.d=example.org header.s=sel\r\n"
//   std::string cleaned = strip_authentication_results(message, "mx.example.net");
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace postern::auth {

struct ResultClause {
  std::string method;   // "spf", "dkim", "dmarc", "arc", "auth", "iprev"
  std::string result;   // "pass", "fail", "softfail", "neutral", "none", "temperror", ...
  std::string reason;   // optional; written as reason="..." (RFC 8601 2.7)
  std::string comment;  // optional; written as a (comment) after the result
  // ptype.property=value pairs in order: "smtp.mailfrom", "smtp.helo", "header.d",
  // "header.s", "header.b", "header.from", "policy.dmarc", ...
  std::vector<std::pair<std::string, std::string>> props;
};

// The whole field, "Authentication-Results: " included, folded with CRLF + TAB between
// clauses, ending in CRLF. With no clauses: "authserv-id; none" (RFC 8601 2.2).
// Values that are not RFC 2045 tokens are quoted.
std::string format_authentication_results(std::string_view authserv_id,
                                          const std::vector<ResultClause>& clauses);

// What a filter writes for one message: that field, in the message's own line ending
// (LF or CRLF), followed by the message, or the field alone with `headers_only`.
std::string stamp(std::string_view message, std::string_view authserv_id,
                  const std::vector<ResultClause>& clauses, bool headers_only = false);

// One clause as it appears in the field ("spf=pass smtp.mailfrom=a@example.org").
std::string format_clause(const ResultClause& clause);

// The message with every Authentication-Results field whose authserv-id equals ours
// (case-insensitive) removed, as RFC 8601 5 requires of a border MTA. Other fields and
// the body are kept byte for byte; LF or CRLF input alike.
std::string strip_authentication_results(std::string_view message, std::string_view authserv_id);

// The authserv-id of an Authentication-Results field value (after "Authentication-Results:"),
// skipping CFWS and an optional version; empty when it has none.
std::string authserv_id_of(std::string_view field_value);

// ---- reading fields back ----

// One Authentication-Results field value (the text after the colon) parsed into clauses:
// comments dropped, quoted values unquoted, method and result lower-cased, reason= in
// `reason`; the authserv-id in `id`. Best effort: never fails.
struct ParsedResults {
  std::string id;
  std::vector<ResultClause> clauses;
};
ParsedResults parse_authentication_results(std::string_view field_value);

// Every clause of every Authentication-Results field of the message that claims
// `authserv_id`, top to bottom: what earlier stages of our own pipeline found.
std::vector<ResultClause> our_results(std::string_view message, std::string_view authserv_id);

// The merge rule for one pipeline writing one field: the `earlier` clauses whose method
// none of `ours` has, in order, followed by `ours`. A stage thus replaces only its own
// method's results (spf-check replaces spf=, dkim-verify every dkim=, ...).
std::vector<ResultClause> merge_results(std::vector<ResultClause> earlier,
                                        const std::vector<ResultClause>& ours);

}  // namespace postern::auth
