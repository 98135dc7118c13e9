// SPF + DKIM + ARC + DMARC in one pass. See check.h.
#include "auth/check.h"

#include <utility>

#include "auth/lexical.h"
#include "mail/header.h"

namespace postern::auth {
namespace {

std::string domain_part(std::string_view address) {
  size_t at = address.rfind('@');
  if (at == std::string_view::npos) return "";
  return mail::to_lower(address.substr(at + 1));
}

char alignment_name(dmarc::Alignment a) { return a == dmarc::Alignment::kStrict ? 's' : 'r'; }

RecordPolicy published(const dmarc::Evaluation& ev) {
  const dmarc::Record& r = *ev.record;
  RecordPolicy p;
  p.domain = ev.record_domain;
  p.p = std::string(dmarc::policy_name(r.p));
  if (r.sp) p.sp = std::string(dmarc::policy_name(*r.sp));
  if (r.np) p.np = std::string(dmarc::policy_name(*r.np));
  p.pct = r.pct;
  p.adkim = alignment_name(r.adkim);
  p.aspf = alignment_name(r.aspf);
  p.fo = r.fo;
  p.ri = r.ri;
  p.rua = r.rua;
  return p;
}

}  // namespace

base::Task<CheckResult> check_message(std::string message, dns::Resolver& resolver,
                                      const PublicSuffixList& psl, CheckRequest req) {
  CheckResult out;
  // SPF for MAIL FROM; for the null reverse-path check_host() checks postmaster@HELO,
  // which is also the identity DMARC then aligns (RFC 7489 3.1.2).
  out.spf_request.ip = req.ip;
  out.spf_request.helo = req.helo;
  out.spf_request.mail_from = req.mail_from;
  out.spf_request.receiver = req.authserv_id.empty() ? "unknown" : req.authserv_id;
  out.spf_request.now = req.now;
  out.spf = co_await check_host(resolver, out.spf_request);

  dkim::VerifyOptions vo{.now = req.now, .legacy = req.legacy};
  out.dkim = co_await dkim::verify(message, resolver, vo);
  out.arc = co_await arc::validate(message, resolver, {.now = req.now, .legacy = req.legacy});

  dmarc::Request dr;
  dr.spf = out.spf.code;
  dr.spf_domain = out.spf.domain;
  for (const auto& s : out.dkim) {
    if (s.result == "pass") dr.dkim_pass_domains.push_back(mail::to_lower(s.domain));
  }
  dr.roll = req.roll;
  auto from = dmarc::from_domain(message);
  if (from) {
    dr.from_domain = *from;
    out.dmarc = co_await dmarc::evaluate(resolver, psl, dr);
  } else {
    out.dmarc.result = dmarc::Code::kPermError;  // RFC 7489 6.6.1
    out.dmarc.problem = from.error().message();
  }

  out.disposition = out.dmarc.policy;
  if (out.dmarc.result == dmarc::Code::kFail && !out.dmarc.sampled) {
    out.overrides.push_back({"sampled_out", "pct=" + std::to_string(out.dmarc.record->pct)});
  }
  if (out.dmarc.result == dmarc::Code::kFail && out.disposition != dmarc::Policy::kNone &&
      out.arc.cv == arc::ChainStatus::kPass) {
    for (const auto& d : req.trusted_arc_sealers) {
      if (!mail::iequals(d, out.arc.as_domain)) continue;
      out.disposition = dmarc::Policy::kNone;
      out.overrides.push_back({"trusted_forwarder", "arc=pass as.d=" + out.arc.as_domain});
      break;
    }
  }
  co_return out;
}

std::vector<ResultClause> dkim_result_clauses(const std::vector<dkim::SignatureResult>& rs) {
  std::vector<ResultClause> out;
  if (rs.empty()) out.push_back({.method = "dkim", .result = "none"});
  for (const auto& r : rs) {
    ResultClause c{.method = "dkim", .result = r.result, .reason = r.detail};
    if (r.testing) c.comment = "key in test mode";
    if (!r.domain.empty()) c.props.push_back({"header.d", r.domain});
    if (!r.identity.empty() && r.identity != "@" + r.domain) {
      c.props.push_back({"header.i", r.identity});
    }
    if (!r.selector.empty()) c.props.push_back({"header.s", r.selector});
    if (!r.algorithm.empty()) c.props.push_back({"header.a", r.algorithm});
    if (!r.b.empty()) c.props.push_back({"header.b", r.b.substr(0, 8)});  // RFC 6008
    out.push_back(std::move(c));
  }
  return out;
}

ResultClause arc_result_clause(const arc::ChainResult& r, std::string_view remote_ip) {
  // RFC 8617 10.1 / RFC 8601 2.7: arc=<cv> with smtp.remote-ip and header.oldest-pass.
  ResultClause c{.method = "arc", .result = std::string(arc::status_name(r.cv))};
  if (r.temperror) c.result = "temperror";
  c.reason = r.reason;
  if (r.instances > 0) c.comment = "i=" + std::to_string(r.instances);
  if (!r.as_domain.empty()) c.comment += " as.d=" + r.as_domain;
  if (!remote_ip.empty()) c.props.push_back({"smtp.remote-ip", std::string(remote_ip)});
  if (r.cv == arc::ChainStatus::kPass) {
    c.props.push_back({"header.oldest-pass", std::to_string(r.oldest_pass)});
  }
  return c;
}

std::vector<ResultClause> result_clauses(const CheckRequest& req, const CheckResult& r) {
  std::vector<ResultClause> out;
  out.push_back(spf_result_clause(r.spf_request, r.spf));
  for (auto& c : dkim_result_clauses(r.dkim)) out.push_back(std::move(c));
  out.push_back(arc_result_clause(r.arc, req.ip.to_string()));
  dmarc::Evaluation shown = r.dmarc;
  shown.policy = r.disposition;  // policy.dmarc is what is applied, after overrides
  ResultClause d = dmarc::result_clause(shown);
  for (const auto& o : r.overrides) d.comment += (d.comment.empty() ? "" : " ") + o.type;
  out.push_back(std::move(d));
  return out;
}

Record to_record(const CheckRequest& req, const CheckResult& r, int64_t time) {
  Record rec;
  rec.time = time;
  rec.reporter = req.authserv_id;
  rec.source_ip = req.ip.to_string();
  rec.helo = req.helo;
  rec.envelope_from = domain_part(req.mail_from);
  rec.envelope_to = domain_part(req.rcpt_to);
  rec.header_from = r.dmarc.from_domain;
  rec.spf_result = spf_code_name(r.spf.code);
  rec.spf_domain = r.spf.domain;
  rec.spf_scope = req.mail_from.empty() ? "helo" : "mfrom";
  for (const auto& s : r.dkim) rec.dkim.push_back({s.domain, s.selector, s.result, s.detail});
  rec.arc = r.arc.temperror ? "temperror" : std::string(arc::status_name(r.arc.cv));
  rec.dmarc_result = dmarc::code_name(r.dmarc.result);
  rec.disposition = dmarc::policy_name(r.disposition);
  rec.dkim_aligned = r.dmarc.dkim_aligned;
  rec.spf_aligned = r.dmarc.spf_aligned;
  rec.reasons = r.overrides;
  if (r.dmarc.record) rec.policy = published(r.dmarc);
  return rec;
}

bool is_temporary(const CheckResult& r) {
  if (r.dmarc.result == dmarc::Code::kTempError) return true;
  if (r.dmarc.result == dmarc::Code::kPass) return false;
  if (r.spf.code == SpfCode::kTempError) return true;
  for (const auto& s : r.dkim) {
    if (s.result == "temperror") return true;
  }
  return false;
}

std::string result_words(const CheckRequest& request, const CheckResult& result) {
  std::string out;
  for (const auto& c : result_clauses(request, result)) out += c.method + "=" + c.result + " ";
  return out + "policy=" + std::string(dmarc::policy_name(result.disposition));
}

}  // namespace postern::auth
