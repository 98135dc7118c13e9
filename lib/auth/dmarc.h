// DMARC (RFC 7489): does the author domain (RFC5322.From) publish a policy, do SPF or
// DKIM pass for a domain aligned with it, and what should be done with the message?
//
// evaluate() is a coroutine over dns::Resolver, like auth::check_host(): it discovers
// the record (RFC 7489 6.6.3: _dmarc.<From domain>, then _dmarc.<Organizational Domain>),
// checks identifier alignment (RFC 7489 3.1) of the SPF-authenticated MAIL FROM domain
// and the d= of every passing DKIM signature, and picks the policy to apply (p, sp or the
// RFC 9091 np, after pct sampling, RFC 7489 6.6.4). SPF and DKIM are not evaluated here:
// their results come in (from check_host()/dkim::verify() in-process, or from upstream
// Authentication-Results fields).
//
//   auto psl = auth::PublicSuffixList::shared();
//   auth::dmarc::Request req;
//   req.from_domain = *auth::dmarc::from_domain(message);   // RFC 7489 6.6.1
//   req.spf = auth::SpfCode::kPass;
//   req.spf_domain = "bounces.example.org";
//   req.dkim_pass_domains = {"example.org"};
//   auto task = auth::dmarc::evaluate(*resolver, **psl, req);
//   auth::dmarc::Evaluation ev = dns::run(*resolver, task);
//   // ev.result == Code::kPass, ev.policy == Policy::kNone
//   auto clause = auth::dmarc::result_clause(ev);   // dmarc=pass header.from=example.org ...
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/psl.h"
#include "auth/results.h"
#include "auth/spf.h"
#include "base/result.h"
#include "base/task.h"
#include "dns/dns.h"

namespace postern::auth::dmarc {

// RFC 7489 11.2 (the RFC 8601 words).
enum class Code { kNone, kPass, kFail, kTempError, kPermError };
std::string_view code_name(Code c);

enum class Policy { kNone, kQuarantine, kReject };
std::string_view policy_name(Policy p);

enum class Alignment { kRelaxed, kStrict };  // RFC 7489 3.1.1, 3.1.2

// RFC 7489 6.3. Tags with invalid values keep their defaults (RFC 7489 6.3: syntax errors
// in the remainder of the record are discarded); unknown tags are ignored.
struct Record {
  Policy p = Policy::kNone;
  std::optional<Policy> sp;  // subdomain policy; absent: p
  std::optional<Policy> np;  // RFC 9091 non-existent subdomains
  int pct = 100;
  Alignment adkim = Alignment::kRelaxed;
  Alignment aspf = Alignment::kRelaxed;
  std::vector<std::string> rua;  // URIs as written (with any !size suffix)
  std::vector<std::string> ruf;
  std::string fo = "0";
  std::string rf = "afrf";
  uint32_t ri = 86400;
  bool p_assumed = false;  // p was missing or invalid, p=none assumed for a valid rua
  std::string text;        // the TXT record as published
};

// Is this TXT text a DMARC record: the first tag is v=DMARC1 (RFC 7489 6.4, 6.6.3 step 2)?
bool is_dmarc_record(std::string_view txt);
// Parses a record (is_dmarc_record() must hold). An Error means the record is unusable
// (→ permerror): a broken tag list, or no valid p and no valid rua (RFC 7489 6.6.3).
base::Result<Record> parse_record(std::string_view txt);

// RFC 7489 6.6.1: the domain of the RFC5322.From address, lower-case A-labels. Errors
// (→ permerror): no From field, more than one From field, no address, or addresses in
// different domains (several addresses in one domain are accepted).
base::Result<std::string> from_domain(std::string_view message);

// Relaxed or strict alignment of two domains (RFC 7489 3.1); case-insensitive, IDN-aware.
bool aligned(std::string_view a, std::string_view b, Alignment mode, const PublicSuffixList& psl);
// The Organizational Domain (RFC 7489 3.2); a public suffix is its own.
std::string org_domain(std::string_view domain, const PublicSuffixList& psl);

struct Request {
  std::string from_domain;                     // RFC5322.From domain
  SpfCode spf = SpfCode::kNone;                // the SPF result for...
  std::string spf_domain;                      // ...this RFC5321.MailFrom domain (or HELO)
  std::vector<std::string> dkim_pass_domains;  // d= of each passing DKIM signature
  // pct sampling (RFC 7489 6.6.4): returns 0..99; the policy applies when it is < pct.
  // Empty: a process-wide pseudo-random source.
  std::function<int()> roll;
};

struct Evaluation {
  Code result = Code::kNone;
  Policy policy = Policy::kNone;     // the policy to apply: none unless result is fail
  Policy requested = Policy::kNone;  // what the record asks for this domain (p or sp)
  bool sampled = true;               // pct let the requested policy apply
  bool subdomain_policy = false;     // sp (or its p default) was used: From is below the record
  bool nonexistent_policy = false;   // np was used: the From domain does not exist (RFC 9091)
  std::string from_domain;
  std::string org_domain;
  std::string record_domain;  // where the record was found ("" when none)
  std::optional<Record> record;
  bool spf_aligned = false;
  bool dkim_aligned = false;
  std::string dkim_domain;  // the aligned d= ("" when none)
  std::string problem;      // why: none/temperror/permerror, in words
};

// RFC 7489 6.6.2-6.6.4. Never fails: DNS trouble is temperror, bad records permerror.
base::Task<Evaluation> evaluate(dns::Resolver& resolver, const PublicSuffixList& psl,
                                Request request);

// The Authentication-Results clause (RFC 7489 11.2, RFC 8601 2.7): "dmarc=fail
// (p=reject sp=none pct=100) header.from=example.org policy.dmarc=reject", where
// policy.dmarc is the policy to apply.
ResultClause result_clause(const Evaluation& ev);

// ---- reading upstream results ----

// The SPF and DKIM inputs a message carries for us: the spf and dkim clauses of every
// Authentication-Results field under `authserv_id`, else (for SPF) a Received-SPF field
// whose receiver= is `authserv_id` (RFC 7208 9.1).
struct UpstreamResults {
  bool have_spf = false;
  SpfCode spf = SpfCode::kNone;
  std::string spf_domain;
  std::vector<std::string> dkim_pass_domains;
  // Every clause of those fields (spf, dkim, arc, ...), plus an spf clause made from
  // Received-SPF when they had none: what an --ar stage carries forward.
  std::vector<ResultClause> clauses;
};
UpstreamResults upstream_results(std::string_view message, std::string_view authserv_id);

}  // namespace postern::auth::dmarc
