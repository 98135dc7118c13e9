// auth-check: SPF, DKIM, ARC and DMARC for received messages in one pass; prints each
// message with one Authentication-Results field prepended (ours from upstream removed),
// the result words, or JSON, and appends report records. See auth-check(1).
#include <fcntl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <boost/json.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>
#include <vector>

#include "auth/check.h"
#include "base/cli.h"
#include "base/clock.h"
#include "base/exit_code.h"
#include "base/fd.h"
#include "base/log.h"
#include "config/dns.h"
#include "dns/dns.h"

namespace {

namespace auth = postern::auth;
namespace dns = postern::dns;
namespace json = boost::json;
using postern::base::Error;
using postern::base::ExitCode;

struct Options {
  auth::CheckRequest req;
  std::string ip;
  std::string record_file;
  std::string psl = std::string(auth::kDefaultPslPath);
  int roll = -1;
  bool json = false;
  bool results_only = false;
  bool headers_only = false;
  bool check = false;
  std::vector<std::string> files;
};

std::string json_form(const std::string& file, const auth::CheckRequest& req,
                      const auth::CheckResult& r) {
  // The record's members, plus the file and the field we would write.
  json::object doc = auth::record_to_object(auth::to_record(req, r, 0));
  doc.erase("time");
  doc.erase("v");
  doc["file"] = file;
  doc["authentication_results"] =
      auth::format_authentication_results(req.authserv_id, auth::result_clauses(req, r));
  return json::serialize(doc) + "\n";
}

// EXIT STATUS in auth-check(1).
int status_for(const Options& o, const auth::CheckResult& r) {
  if (!o.check) return 0;
  if (auth::is_temporary(r)) return postern::base::to_int(ExitCode::kTempFail);
  if (r.disposition == auth::dmarc::Policy::kReject) return postern::base::to_int(ExitCode::kNo);
  return 0;
}

int run(Options& o, const dns::ResolverOptions& ro) {
  auto ip = auth::IpAddress::parse(o.ip);
  if (!ip) return postern::base::fail(Error::usage("--ip: not an IP address: " + o.ip));
  o.req.ip = *ip;
  if (o.json + o.results_only + o.headers_only > 1) {
    return postern::base::fail(
        Error::usage("--json, --results-only and --headers-only exclude each other"));
  }
  if (o.roll >= 0) o.req.roll = [&o] { return o.roll; };
  auto psl = auth::PublicSuffixList::shared(o.psl);
  if (!psl) return postern::base::fail(Error::config(psl.error().message()));
  auto resolver = dns::make_resolver(ro);
  if (!resolver) return postern::base::fail(Error::config(resolver.error().message()));
  postern::base::UniqueFd record;
  if (!o.record_file.empty()) {
    record = postern::base::UniqueFd(
        ::open(o.record_file.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640));
    if (!record)
      return postern::base::fail(
          Error::config("--record " + o.record_file + ": " + std::strerror(errno)));
  }
  bool many = o.files.size() > 1;
  return postern::base::for_each_input(
      o.files, [&](const std::string& shown, std::string& bytes) -> std::optional<int> {
        std::string msg = auth::strip_authentication_results(bytes, o.req.authserv_id);
        auto task = auth::check_message(msg, **resolver, **psl, o.req);
        auth::CheckResult r = dns::run(**resolver, task);
        int rc = status_for(o, r);
        if (r.disposition != auth::dmarc::Policy::kNone || auth::is_temporary(r)) {
          postern::base::log_info("auth", {{"file", shown}, {"results", auth::result_words(o.req, r)}});
        }
        if (record) {
          // One write() per line on an O_APPEND descriptor: concurrent writers never interleave.
          int64_t now = o.req.now ? o.req.now
                                  : postern::base::unix_seconds(postern::base::system_clock().now());
          auto st = postern::base::write_all(record.get(),
                                             auth::record_to_json(auth::to_record(o.req, r, now)));
          if (!st) {
            postern::base::log_error(st.error());
            rc = postern::base::to_int(ExitCode::kTempFail);
          }
        }
        bool ok = true;
        if (o.json) {
          ok = postern::base::write_stdout(json_form(shown, o.req, r));
        } else if (o.results_only) {
          ok = postern::base::write_stdout((many ? shown + ": " : "") + auth::result_words(o.req, r) + "\n");
        } else {
          ok = postern::base::write_stdout(
              auth::stamp(msg, o.req.authserv_id, auth::result_clauses(o.req, r), o.headers_only));
        }
        if (!ok) return std::nullopt;
        return rc;
      });
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"check SPF, DKIM, ARC and DMARC of received messages in one pass"};
  Options o;
  app.add_option("--ip", o.ip, "the SMTP client's IP address (IPv4 or IPv6)")
      ->required()
      ->type_name("IP");
  app.add_option("--helo", o.req.helo, "the name the client gave in HELO/EHLO")->type_name("NAME");
  app.add_option("--mail-from", o.req.mail_from, "the MAIL FROM address (empty: null sender)")
      ->type_name("ADDR");
  app.add_option("--rcpt-to", o.req.rcpt_to, "the first RCPT TO address (for --record)")
      ->type_name("ADDR");
  app.add_option("--authserv-id", o.req.authserv_id,
                 "our authserv-id for Authentication-Results (default: host name)")
      ->type_name("ID");
  app.add_option("--record", o.record_file, "append one JSON line per message to FILE")
      ->type_name("FILE");
  app.add_option("--trusted-arc-sealer", o.req.trusted_arc_sealers,
                 "do not apply a failing DMARC policy when an ARC chain sealed by DOMAIN passes")
      ->type_name("DOMAIN")
      ->allow_extra_args(false);
  app.add_flag("--legacy", o.req.legacy, "also accept rsa-sha1 and RSA keys under 1024 bits");
  app.add_option("--now", o.req.now, "the time for x= and t= checks (Unix seconds; default now)")
      ->type_name("UNIX");
  app.add_option("--psl", o.psl, "the Public Suffix List file")->type_name("FILE");
  app.add_option("--pct-roll", o.roll, "use this 0-99 draw for DMARC pct sampling (for tests)")
      ->check(CLI::Range(0, 99));
  app.add_flag("-j,--json", o.json, "print one JSON object per message instead of the message");
  app.add_flag("--results-only", o.results_only, "print method=result words per message");
  app.add_flag("--headers-only", o.headers_only, "print only the Authentication-Results field");
  app.add_flag("--check", o.check, "exit 1 when the policy to apply is reject, 75 on temperror");
  app.add_option("files", o.files, "messages to read ('-': standard input)")->type_name("FILE");
  return postern::config::run_with_resolver(
      argc, argv, app, {.name = "auth-check", .delivery_path = true},
      [&](const dns::ResolverOptions& r) { return run(o, r); }, &o.req.authserv_id);
}
