// The whole receiving-side authentication of one message in one pass: SPF (RFC 7208),
// DKIM (RFC 6376), ARC (RFC 8617) and DMARC (RFC 7489), the one Authentication-Results
// field (RFC 8601) that reports them, and the record for DMARC aggregate reports. This is
// what `auth-check` runs and what `smtp-listen` runs after DATA.
//
//   auth::CheckRequest req;
//   req.ip = *auth::IpAddress::parse("192.0.2.1");
//   req.helo = "mail.example.org";
//   req.mail_from = "alice@example.org";
//   req.authserv_id = "mx.example.net";
//   auto task = auth::check_message(message, resolver, *psl, req);
//   auth::CheckResult r = dns::run(resolver, task);
//   std::string field = auth::format_authentication_results(req.authserv_id,
//                                                           auth::result_clauses(req, r));
//   out = field + auth::strip_authentication_results(message, req.authserv_id);
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "auth/arc.h"
#include "auth/dkim.h"
#include "auth/dmarc.h"
#include "auth/psl.h"
#include "auth/record.h"
#include "auth/results.h"
#include "auth/spf.h"
#include "base/task.h"
#include "dns/dns.h"

namespace postern::auth {

struct CheckRequest {
  IpAddress ip;           // the SMTP client
  std::string helo;       // its HELO/EHLO name
  std::string mail_from;  // RFC5321.MailFrom; "" for the null reverse-path
  std::string rcpt_to;    // the first RFC5321.RcptTo (for the report's envelope_to); may be ""
  std::string authserv_id;
  int64_t now = 0;      // Unix time for DKIM/ARC x= and t= checks; 0: the system clock
  bool legacy = false;  // RFC 8301 relaxations for DKIM and ARC (see dkim::VerifyOptions)
  // DMARC local policy override (RFC 7489 6.7, RFC 8617 7.2.1): when DMARC fails but the
  // ARC chain passes and its newest sealer (AS d=) is one of these domains, the policy is
  // not applied (disposition none, reason trusted_forwarder).
  std::vector<std::string> trusted_arc_sealers;
  std::function<int()> roll;  // DMARC pct sampling draw 0..99; empty: random
};

struct CheckResult {
  SpfRequest spf_request;
  SpfResult spf;
  std::vector<dkim::SignatureResult> dkim;
  arc::ChainResult arc;
  dmarc::Evaluation dmarc;
  dmarc::Policy disposition = dmarc::Policy::kNone;  // the policy to apply after overrides
  std::vector<RecordReason> overrides;               // why disposition != dmarc.policy
};

// Never fails: DNS trouble shows as temperror in the method concerned.
base::Task<CheckResult> check_message(std::string message, dns::Resolver& resolver,
                                      const PublicSuffixList& psl, CheckRequest request);

// RFC 8601 clauses for one method each (the same ones the single-method tools write).
std::vector<ResultClause> dkim_result_clauses(const std::vector<dkim::SignatureResult>& results);
ResultClause arc_result_clause(const arc::ChainResult& result, std::string_view remote_ip);

// spf, dkim (one per signature), arc, dmarc, in that order.
std::vector<ResultClause> result_clauses(const CheckRequest& request, const CheckResult& result);

// "spf=pass dkim=pass arc=none dmarc=pass policy=none": each clause's method and result,
// then the policy to apply; for logs and `auth-check --results-only`.
std::string result_words(const CheckRequest& request, const CheckResult& result);

// The aggregate-report record of this evaluation (`time`: Unix seconds).
Record to_record(const CheckRequest& request, const CheckResult& result, int64_t time);

// Is a DNS failure the reason the answer is not final: DMARC temperror, or DMARC not
// passing while SPF or a DKIM key lookup failed temporarily (a retry could pass)?
bool is_temporary(const CheckResult& result);

}  // namespace postern::auth
