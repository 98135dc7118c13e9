// arc-verify: validate the ARC chain of messages (RFC 8617 5.2) and prepend an
// Authentication-Results field with its arc= result. See arc-verify(1).
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <boost/json.hpp>
#include <string>
#include <vector>

#include "auth/arc.h"
#include "auth/check.h"
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
namespace arc = postern::auth::arc;
namespace dns = postern::dns;
using postern::base::ExitCode;

struct Options {
  std::string authserv_id;
  std::string remote_ip;
  int64_t now = 0;
  bool legacy = false;
  bool json = false;
  bool check = false;
  bool headers_only = false;
  bool results_only = false;
  bool merge = false;
  std::vector<std::string> files;
};

std::string json_form(const std::string& file, const arc::ChainResult& r) {
  boost::json::object doc{{"file", file},
                          {"result", r.temperror ? "temperror" : arc::status_name(r.cv)},
                          {"reason", r.reason},
                          {"instances", r.instances},
                          {"oldest_pass", r.oldest_pass},
                          {"ams_domain", r.ams_domain},
                          {"as_domain", r.as_domain}};
  return boost::json::serialize(doc) + "\n";
}

// Exit status: 0; with --check 1 unless the chain passes, 75 on a temporary DNS failure.
int status_for(const Options& o, const arc::ChainResult& r) {
  if (!o.check || r.cv == arc::ChainStatus::kPass) return 0;
  return postern::base::to_int(r.temperror ? ExitCode::kTempFail : ExitCode::kNo);
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
        auto task = arc::validate(msg, **resolver, {.now = o.now, .legacy = o.legacy});
        arc::ChainResult r = dns::run(**resolver, task);
        rc = std::max(rc, status_for(o, r));
        if (r.cv == arc::ChainStatus::kFail) {
          postern::base::log_info("arc",
                                  {{"file", shown}, {"result", "fail"}, {"reason", r.reason}});
        }
        bool ok = true;
        std::string word(r.temperror ? "temperror" : arc::status_name(r.cv));
        if (o.json) {
          ok = postern::base::write_stdout(json_form(shown, r));
        } else if (o.results_only) {
          ok = postern::base::write_stdout((many ? shown + ": " : "") + word + "\n");
        } else {
          ok = postern::base::write_stdout(
              auth::stamp(msg, o.authserv_id,
                          auth::merge_results(earlier, {auth::arc_result_clause(r, o.remote_ip)}),
                          o.headers_only));
        }
        if (!ok) return std::nullopt;
        return rc;
      });
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"validate ARC chains (RFC 8617) and add Authentication-Results"};
  Options o;
  app.add_option("--authserv-id", o.authserv_id,
                 "our authserv-id for Authentication-Results (default: host name)")
      ->type_name("ID");
  app.add_option("--remote-ip", o.remote_ip, "the SMTP client address, for smtp.remote-ip")
      ->type_name("IP");
  app.add_option("--now", o.now, "the time for x= checks (Unix seconds; default now)")
      ->type_name("UNIX");
  app.add_flag("--legacy", o.legacy, "also accept rsa-sha1 and RSA keys under 1024 bits");
  app.add_flag("-j,--json", o.json, "print one JSON object per message instead of the message");
  app.add_flag("--results-only", o.results_only,
               "print the chain result (none, pass, fail) instead of the message");
  app.add_flag("--headers-only", o.headers_only, "print only the Authentication-Results field");
  app.add_flag("--merge", o.merge,
               "keep other methods' results from our existing Authentication-Results");
  app.add_flag("--check", o.check, "exit 1 unless the chain passes, 75 on temperror");
  app.add_option("files", o.files, "messages to read ('-': standard input)")->type_name("FILE");
  return postern::config::run_with_resolver(
      argc, argv, app, {.name = "arc-verify", .delivery_path = true},
      [&](const dns::ResolverOptions& r) { return run(o, r); }, &o.authserv_id);
}
