// dkim-verify: verify every DKIM-Signature of messages (RFC 6376, RFC 8463) under the
// RFC 8301 policy and prepend one Authentication-Results field. See dkim-verify(1).
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <boost/json.hpp>
#include <string>
#include <vector>

#include "auth/check.h"
#include "auth/dkim.h"
#include "auth/results.h"
#include "base/cli.h"
#include "base/exit_code.h"
#include "base/fd.h"
#include "base/log.h"
#include "config/config.h"
#include "config/dns.h"
#include "dns/dns.h"

namespace {

namespace auth = postern::auth;
namespace dkim = postern::auth::dkim;
namespace dns = postern::dns;
using postern::base::ExitCode;

struct Options {
  std::string authserv_id;
  bool legacy = false;
  int64_t now = 0;
  bool json = false;
  bool check = false;
  bool headers_only = false;
  bool results_only = false;
  bool merge = false;
  std::vector<std::string> files;
};

std::string json_form(const std::string& file, const std::vector<dkim::SignatureResult>& rs) {
  boost::json::array sigs;
  for (const auto& r : rs) {
    sigs.push_back(boost::json::object{{"result", r.result},
                                       {"reason", r.detail},
                                       {"domain", r.domain},
                                       {"selector", r.selector},
                                       {"identity", r.identity},
                                       {"algorithm", r.algorithm},
                                       {"key_bits", r.key_bits},
                                       {"testing", r.testing},
                                       {"b", r.b.substr(0, 8)}});
  }
  std::string best = "none";
  for (const auto& r : rs) {
    if (r.result == "pass")
      best = "pass";
    else if (best == "none")
      best = r.result;
  }
  boost::json::object doc{{"file", file}, {"result", best}, {"signatures", sigs}};
  return boost::json::serialize(doc) + "\n";
}

// Exit status: 0; with --check 1 unless a signature passes, 75 when none passes and a
// key lookup failed temporarily.
int status_for(const Options& o, const std::vector<dkim::SignatureResult>& rs) {
  if (!o.check) return 0;
  bool temp = false;
  for (const auto& r : rs) {
    if (r.result == "pass") return 0;
    temp = temp || r.result == "temperror";
  }
  return postern::base::to_int(temp ? ExitCode::kTempFail : ExitCode::kNo);
}

int run(Options& o, const dns::ResolverOptions& ro) {
  auto resolver = dns::make_resolver(ro);
  if (!resolver) return postern::base::fail(resolver.error());
  bool many = o.files.size() > 1;
  return postern::base::for_each_input(
      o.files, [&](const std::string& shown, std::string& bytes) -> std::optional<int> {
        int rc = 0;
        std::vector<auth::ResultClause> earlier;
        if (o.merge) earlier = auth::our_results(bytes, o.authserv_id);
        std::string msg = auth::strip_authentication_results(bytes, o.authserv_id);
        // The message is handed over, not copied, unless it is printed below.
        bool printed = !o.json && !o.results_only;
        auto task = dkim::verify(printed ? msg : std::move(msg), **resolver,
                                 {.now = o.now, .legacy = o.legacy});
        std::vector<dkim::SignatureResult> rs = dns::run(**resolver, task);
        int status = status_for(o, rs);
        rc = std::max(rc, status);
        for (const auto& r : rs) {
          if (r.result == "pass") continue;
          postern::base::log_info("dkim", {{"file", shown},
                                           {"result", r.result},
                                           {"d", r.domain},
                                           {"s", r.selector},
                                           {"reason", r.detail}});
        }
        bool ok = true;
        if (o.json) {
          ok = postern::base::write_stdout(json_form(shown, rs));
        } else if (o.results_only) {
          std::string words = many ? shown + ":" : "";
          if (rs.empty()) words += many ? " none" : "none";
          for (size_t i = 0; i < rs.size(); ++i) words += (i > 0 || many ? " " : "") + rs[i].result;
          ok = postern::base::write_stdout(words + "\n");
        } else {
          ok = postern::base::write_stdout(auth::stamp(
              msg, o.authserv_id, auth::merge_results(earlier, auth::dkim_result_clauses(rs)),
              o.headers_only));
        }
        if (!ok) return std::nullopt;
        return rc;
      });
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"verify DKIM signatures (RFC 6376, RFC 8463) and add Authentication-Results"};
  Options o;
  app.add_option("--authserv-id", o.authserv_id,
                 "our authserv-id for Authentication-Results (default: host name)")
      ->type_name("ID");
  app.add_flag(
      "--legacy", o.legacy,
      "also accept rsa-sha1, RSA keys under 1024 bits and draft signatures (RFC 8301 off)");
  app.add_option("--now", o.now, "the time for x= and t= checks (Unix seconds; default now)")
      ->type_name("UNIX");
  app.add_flag("-j,--json", o.json, "print one JSON object per message instead of the message");
  app.add_flag("--results-only", o.results_only,
               "print the result words (one per signature) instead of the message");
  app.add_flag("--headers-only", o.headers_only, "print only the Authentication-Results field");
  app.add_flag("--merge", o.merge,
               "keep other methods' results from our existing Authentication-Results");
  app.add_flag("--check", o.check, "exit 1 unless a signature passes, 75 on temperror");
  app.add_option("files", o.files, "messages to read ('-': standard input)")->type_name("FILE");
  return postern::config::run_with_resolver(
      argc, argv, app, {.name = "dkim-verify", .delivery_path = true},
      [&](const dns::ResolverOptions& r) { return run(o, r); }, &o.authserv_id);
}
