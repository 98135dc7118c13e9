// dmarc-check: evaluate DMARC (RFC 7489) from SPF and DKIM results given as flags or found in
// our Authentication-Results; print the result word, JSON, or the messages with an
// Authentication-Results field prepended. See dmarc-check(1).
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <boost/json.hpp>
#include <string>
#include <vector>

#include "auth/dmarc.h"
#include "base/cli.h"
#include "base/exit_code.h"
#include "base/fd.h"
#include "base/log.h"
#include "config/config.h"
#include "config/dns.h"
#include "dns/dns.h"

namespace {

namespace auth = postern::auth;
namespace dmarc = postern::auth::dmarc;
namespace dns = postern::dns;
using postern::base::Error;
using postern::base::ExitCode;

struct Options {
  std::string spf;
  std::string spf_domain;
  std::vector<std::string> dkim_pass;
  std::string authserv_id;
  std::string psl = std::string(auth::kDefaultPslPath);
  int roll = -1;
  bool ar = false;
  bool headers_only = false;
  bool json = false;
  bool check = false;
  std::vector<std::string> files;
};

std::string json_form(const std::string& file, const dmarc::Request& req,
                      const dmarc::Evaluation& ev) {
  boost::json::array dkim;
  for (const auto& d : req.dkim_pass_domains) dkim.emplace_back(d);
  boost::json::object doc{
      {"file", file},
      {"result", dmarc::code_name(ev.result)},
      {"policy", dmarc::policy_name(ev.policy)},
      {"requested_policy", dmarc::policy_name(ev.requested)},
      {"sampled", ev.sampled},
      {"subdomain_policy", ev.subdomain_policy},
      {"from_domain", ev.from_domain},
      {"org_domain", ev.org_domain},
      {"record_domain", ev.record_domain},
      {"record", ev.record ? ev.record->text : ""},
      {"spf",
       {{"result", auth::spf_code_name(req.spf)},
        {"domain", req.spf_domain},
        {"aligned", ev.spf_aligned},
        {"mode", ev.record && ev.record->aspf == dmarc::Alignment::kStrict ? "s" : "r"}}},
      {"dkim",
       {{"pass_domains", dkim},
        {"aligned", ev.dkim_aligned},
        {"domain", ev.dkim_domain},
        {"mode", ev.record && ev.record->adkim == dmarc::Alignment::kStrict ? "s" : "r"}}},
      {"problem", ev.problem},
      {"authentication_results", auth::format_clause(dmarc::result_clause(ev))}};
  return boost::json::serialize(doc) + "\n";
}

// EXIT STATUS in dmarc-check(1): quarantine is not a "no" (it is delivered, as junk).
int status_for(const Options& o, const dmarc::Evaluation& ev) {
  if (!o.check) return 0;
  if (ev.policy == dmarc::Policy::kReject) return postern::base::to_int(ExitCode::kNo);
  if (ev.result == dmarc::Code::kTempError) return postern::base::to_int(ExitCode::kTempFail);
  return 0;
}

int run(Options& o, const dns::ResolverOptions& ro) {
  if (o.json && (o.ar || o.headers_only)) {
    return postern::base::fail(Error::usage("--json prints the result; it does not take --ar"));
  }
  std::optional<auth::SpfCode> spf;
  if (!o.spf.empty()) {
    for (auto c :
         {auth::SpfCode::kNone, auth::SpfCode::kNeutral, auth::SpfCode::kPass, auth::SpfCode::kFail,
          auth::SpfCode::kSoftFail, auth::SpfCode::kTempError, auth::SpfCode::kPermError}) {
      if (o.spf == auth::spf_code_name(c)) spf = c;
    }
  }
  auto psl = auth::PublicSuffixList::shared(o.psl);
  if (!psl) return postern::base::fail(Error::config(psl.error().message()));
  auto resolver = dns::make_resolver(ro);
  if (!resolver) return postern::base::fail(Error::config(resolver.error().message()));
  return postern::base::for_each_input(
      o.files, [&](const std::string& shown, std::string& bytes) -> std::optional<int> {
        int rc = 0;
        dmarc::UpstreamResults up = dmarc::upstream_results(bytes, o.authserv_id);
        dmarc::Request req;
        req.spf = spf ? *spf : up.spf;
        req.spf_domain = spf || !o.spf_domain.empty() ? o.spf_domain : up.spf_domain;
        req.dkim_pass_domains = o.dkim_pass.empty() ? up.dkim_pass_domains : o.dkim_pass;
        if (o.roll >= 0) req.roll = [&o] { return o.roll; };
        dmarc::Evaluation ev;
        auto from = dmarc::from_domain(bytes);
        if (from) {
          req.from_domain = *from;
          auto task = dmarc::evaluate(**resolver, **psl, req);
          ev = dns::run(**resolver, task);
        } else {
          ev.result = dmarc::Code::kPermError;  // RFC 7489 6.6.1, see dmarc-check(1)
          ev.problem = from.error().message();
        }
        if (ev.result == dmarc::Code::kTempError || ev.result == dmarc::Code::kPermError) {
          postern::base::log_info("dmarc", {{"file", shown},
                                            {"result", std::string(dmarc::code_name(ev.result))},
                                            {"from", ev.from_domain},
                                            {"problem", ev.problem}});
        }
        rc = std::max(rc, status_for(o, ev));
        bool ok = true;
        if (o.json) {
          ok = postern::base::write_stdout(json_form(shown, req, ev));
        } else if (o.ar || o.headers_only) {
          // dmarc-check is a later stage by nature: it keeps what earlier stages wrote.
          auto clauses = auth::merge_results(up.clauses, {dmarc::result_clause(ev)});
          ok = postern::base::write_stdout(
              auth::stamp(auth::strip_authentication_results(bytes, o.authserv_id), o.authserv_id,
                          clauses, o.headers_only));
        } else {
          ok = postern::base::write_stdout((o.files.size() > 1 ? shown + ": " : "") +
                                           std::string(dmarc::code_name(ev.result)) + "\n");
        }
        if (!ok) return std::nullopt;
        return rc;
      });
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"evaluate DMARC (RFC 7489) for messages"};
  Options o;
  app.add_option("--spf", o.spf, "the SPF result (default: from our Authentication-Results)")
      ->check(
          CLI::IsMember({"none", "neutral", "pass", "fail", "softfail", "temperror", "permerror"}));
  app.add_option("--spf-domain", o.spf_domain, "the MAIL FROM (or HELO) domain SPF checked")
      ->type_name("DOMAIN");
  app.add_option("--dkim-pass", o.dkim_pass, "d= of a passing DKIM signature (repeatable)")
      ->type_name("DOMAIN")
      ->allow_extra_args(false);
  app.add_option("--authserv-id", o.authserv_id,
                 "our authserv-id for Authentication-Results (default: host name)")
      ->type_name("ID");
  app.add_option("--psl", o.psl, "the Public Suffix List file")->type_name("FILE");
  app.add_option("--pct-roll", o.roll, "use this 0-99 draw for pct sampling (for tests)")
      ->check(CLI::Range(0, 99));
  app.add_flag("--ar", o.ar, "print each message with an Authentication-Results field prepended");
  app.add_flag("--headers-only", o.headers_only, "print only the Authentication-Results field");
  app.add_flag("-j,--json", o.json, "print one JSON object per message");
  app.add_flag("--check", o.check, "exit 1 when the policy to apply is reject, 75 on temperror");
  app.add_option("files", o.files, "messages to read ('-': standard input)")->type_name("FILE");
  return postern::config::run_with_resolver(
      argc, argv, app, {.name = "dmarc-check", .delivery_path = true},
      [&](const dns::ResolverOptions& r) { return run(o, r); }, &o.authserv_id);
}
