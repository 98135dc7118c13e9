// spf-check: evaluate SPF (RFC 7208) for an SMTP envelope, and print the result word, a
// JSON object, or the messages with Received-SPF / Authentication-Results prepended.
// See spf-check(1).
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <boost/json.hpp>
#include <ctime>
#include <string>
#include <utility>
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
  std::string batch;
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

// --batch: one check per input line "IP HELO MAIL-FROM" ("<>" or nothing for the null
// reverse-path), one answer per output line, in order. A line that cannot be read answers
// "invalid" (so the lines stay paired) and makes the exit status 65.
int run_batch(const Options& o, const dns::ResolverOptions& ro) {
  if (!o.files.empty() || o.received_spf || o.ar || o.headers_only || !o.ip.empty()) {
    return postern::base::fail(Error::usage("--batch reads envelopes, not --ip or messages"));
  }
  auto input = postern::base::read_file(o.batch);
  if (!input) return postern::base::fail(input.error());
  auto resolver = dns::make_resolver(ro);
  if (!resolver) return postern::base::fail(Error::config(resolver.error().message()));
  int rc = 0;
  std::string out;
  std::string_view rest = *input;
  for (size_t lineno = 1; !rest.empty(); ++lineno) {
    size_t nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    // Tab-separated when the line has a tab (a HELO or local part may hold spaces), else
    // white-space-separated.
    std::vector<std::string> f;
    bool tabs = line.find('\t') != std::string_view::npos;
    for (size_t i = 0; i <= line.size();) {
      size_t b = tabs ? i : line.find_first_not_of(' ', i);
      if (b == std::string_view::npos) break;
      size_t e = line.find(tabs ? '\t' : ' ', b);
      f.emplace_back(line.substr(b, e == std::string_view::npos ? e : e - b));
      i = e == std::string_view::npos ? line.size() + 1 : e + 1;
    }
    if (f.empty() || f[0].empty() || f[0][0] == '#') continue;
    auto ip = auth::IpAddress::parse(f[0]);
    if (!ip || f.size() < 2 || f.size() > 3) {
      std::string name = o.batch == "-" ? "<stdin>" : o.batch;
      postern::base::log_error(
          Error::bad_data(name + ":" + std::to_string(lineno) + ": expected IP HELO [MAIL-FROM]"));
      rc = std::max(rc, postern::base::to_int(ExitCode::kDataErr));
      out += "invalid\n";
      continue;
    }
    auth::SpfRequest req;
    req.ip = *ip;
    req.helo = f[1];
    req.mail_from = f.size() == 3 && f[2] != "<>" ? f[2] : "";
    req.identity = o.identity == "helo" ? auth::SpfIdentity::kHelo : auth::SpfIdentity::kMailFrom;
    req.receiver = o.authserv_id;
    req.now = static_cast<int64_t>(std::time(nullptr));
    auto task = auth::check_host(**resolver, req);
    auth::SpfResult res = dns::run(**resolver, task);
    rc = std::max(rc, status_for(o, res.code));
    out += o.json ? json_form(req, res, o.authserv_id)
                  : std::string(auth::spf_code_name(res.code)) + "\n";
    if (out.size() >= 65536 && !postern::base::write_stdout(std::exchange(out, {}))) return rc;
  }
  postern::base::write_stdout(out);
  return rc;
}

int run(Options& o, const dns::ResolverOptions& ro) {
  if (!o.batch.empty()) return run_batch(o, ro);
  if (o.ip.empty()) return postern::base::fail(Error::usage("--ip is required (or --batch)"));
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
  int written = postern::base::for_each_input(o.files, [&](const std::string&, std::string& bytes) {
    std::string fields = received_spf;
    std::string msg = std::move(bytes);
    if (want_ar) {
      std::vector<auth::ResultClause> earlier;
      if (o.merge) earlier = auth::our_results(msg, o.authserv_id);
      fields += auth::format_authentication_results(
          o.authserv_id, auth::merge_results(earlier, {auth::spf_result_clause(req, res)}));
      msg = auth::strip_authentication_results(msg, o.authserv_id);
    }
    std::string f = postern::mail::match_line_ending(fields, msg);
    return postern::base::write_stdout(o.headers_only ? f : f + msg) ? std::optional<int>(0)
                                                                     : std::nullopt;
  });
  return std::max(rc, written);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"evaluate SPF (RFC 7208) for an SMTP client and envelope"};
  Options o;
  app.add_option("--ip", o.ip, "the SMTP client's IP address (IPv4 or IPv6)")->type_name("IP");
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
  app.add_option("--batch", o.batch,
                 "check one 'IP HELO MAIL-FROM' line of FILE ('-': stdin) after another")
      ->type_name("FILE");
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
