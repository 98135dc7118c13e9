// spf-check: evaluate SPF (RFC 7208) for an SMTP envelope, and print the result word, a
// JSON object, or the messages with Received-SPF / Authentication-Results prepended.
// See spf-check(1).
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <boost/json.hpp>
#include <ctime>
#include <string>
#include <vector>

#include "auth/results.h"
#include "auth/spf.h"
#include "base/cli.h"
#include "base/exit_code.h"
#include "base/fd.h"
#include "base/log.h"
#include "config/config.h"
#include "config/dns.h"
#include "dns/dns.h"
#include "mail/writer.h"

namespace {

namespace auth = postern::auth;
namespace dns = postern::dns;
using postern::base::Error;
using postern::base::ExitCode;

struct Options {
  std::string ip;
  std::string helo;
  std::string mail_from;
  std::string identity = "mailfrom";
  std::string authserv_id;
  bool received_spf = false;
  bool ar = false;
  bool headers_only = false;
  bool json = false;
  bool check = false;
  bool merge = false;
  std::vector<std::string> files;
};

std::string json_form(const auth::SpfRequest& req, const auth::SpfResult& r,
                      const std::string& authserv_id) {
  boost::json::object doc{
      {"result", auth::spf_code_name(r.code)},
      {"domain", r.domain},
      {"sender", r.sender},
      {"identity", req.identity == auth::SpfIdentity::kHelo ? "helo" : "mailfrom"},
      {"client_ip", req.ip.to_string()},
      {"helo", req.helo},
      {"mechanism", r.mechanism},
      {"explanation", r.explanation},
      {"problem", r.problem},
      {"dns_mechanisms", r.dns_mechanisms},
      {"void_lookups", r.void_lookups},
      {"authentication_results", auth::format_clause(auth::spf_result_clause(req, r))},
      {"authserv_id", authserv_id}};
  return boost::json::serialize(doc) + "\n";
}

// Exit status (see EXIT STATUS in spf-check(1)): only --check turns the answer into one.
int status_for(const Options& o, auth::SpfCode code) {
  if (!o.check) return 0;
  if (code == auth::SpfCode::kFail) return postern::base::to_int(ExitCode::kNo);
  if (code == auth::SpfCode::kTempError) return postern::base::to_int(ExitCode::kTempFail);
  return 0;
}

int run(Options& o, const dns::ResolverOptions& ro) {
  auto ip = auth::IpAddress::parse(o.ip);
  if (!ip) return postern::base::fail(Error::usage("--ip: not an IP address: " + o.ip));
  bool message_mode = !o.files.empty() || o.received_spf || o.ar || o.headers_only;
  if (message_mode && o.json) {
    return postern::base::fail(Error::usage("--json prints the result; it does not take messages"));
  }
  auth::SpfRequest req;
  req.ip = *ip;
  req.helo = o.helo;
  req.mail_from = o.mail_from;
  req.identity = o.identity == "helo" ? auth::SpfIdentity::kHelo : auth::SpfIdentity::kMailFrom;
  req.receiver = o.authserv_id;
  req.now = static_cast<int64_t>(std::time(nullptr));

  auto resolver = dns::make_resolver(ro);
  // A resolver that cannot start is a configuration problem (→ 75 on the delivery path).
  if (!resolver) return postern::base::fail(Error::config(resolver.error().message()));
  auto task = auth::check_host(**resolver, req);
  auth::SpfResult res = dns::run(**resolver, task);
  if (res.code == auth::SpfCode::kTempError || res.code == auth::SpfCode::kPermError) {
    postern::base::log_info("spf", {{"result", std::string(auth::spf_code_name(res.code))},
                                    {"domain", res.domain},
                                    {"problem", res.problem}});
  }
  int rc = status_for(o, res.code);
  if (!message_mode) {
    postern::base::write_stdout(o.json ? json_form(req, res, o.authserv_id)
                                       : std::string(auth::spf_code_name(res.code)) + "\n");
    return rc;
  }

  // Neither --received-spf nor --ar: both fields.
  bool want_rs = o.received_spf || !o.ar;
  bool want_ar = o.ar || !o.received_spf;
  std::string received_spf = want_rs ? auth::format_received_spf(req, res) : "";
  if (o.files.empty()) o.files.push_back("-");
  for (const auto& file : o.files) {
    auto bytes = postern::base::read_file(file);
    if (!bytes) {
      postern::base::log_error(bytes.error());
      rc = std::max(rc, postern::base::to_int(bytes.error().code()));
      continue;
    }
    std::string fields = received_spf;
    std::string msg = std::move(*bytes);
    if (want_ar) {
      std::vector<auth::ResultClause> earlier;
      if (o.merge) earlier = auth::our_results(msg, o.authserv_id);
      fields += auth::format_authentication_results(
          o.authserv_id, auth::merge_results(earlier, {auth::spf_result_clause(req, res)}));
      msg = auth::strip_authentication_results(msg, o.authserv_id);
    }
    std::string f = postern::mail::match_line_ending(fields, msg);
    if (!postern::base::write_stdout(o.headers_only ? f : f + msg)) break;
  }
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"evaluate SPF (RFC 7208) for an SMTP client and envelope"};
  Options o;
  app.add_option("--ip", o.ip, "the SMTP client's IP address (IPv4 or IPv6)")
      ->required()
      ->type_name("IP");
  app.add_option("--helo", o.helo, "the name the client gave in HELO/EHLO")->type_name("NAME");
  app.add_option("--mail-from", o.mail_from,
                 "the MAIL FROM address (empty: the null reverse-path, postmaster@HELO is checked)")
      ->type_name("ADDR");
  app.add_option("--identity", o.identity, "which identity to check (default mailfrom)")
      ->check(CLI::IsMember({"mailfrom", "helo"}));
  app.add_option(
         "--authserv-id", o.authserv_id,
         "our authserv-id for Authentication-Results and the %{r} macro (default: host name)")
      ->type_name("ID");
  app.add_flag("--received-spf", o.received_spf, "prepend a Received-SPF field to each message");
  app.add_flag("--ar", o.ar, "prepend an Authentication-Results field to each message");
  app.add_flag("--headers-only", o.headers_only, "print only the fields, not the messages");
  app.add_flag("-j,--json", o.json, "print the result as one JSON object");
  app.add_flag("--merge", o.merge,
               "keep other methods' results from our existing Authentication-Results");
  app.add_flag("--check", o.check, "exit 1 on fail, 75 on temperror (0 otherwise)");
  app.add_option("files", o.files, "messages to read ('-': standard input)")->type_name("FILE");
  return postern::config::run_with_resolver(
      argc, argv, app, {.name = "spf-check", .delivery_path = true},
      [&](const dns::ResolverOptions& r) { return run(o, r); }, &o.authserv_id);
}
