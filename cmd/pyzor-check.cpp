// pyzor-check: Pyzor digests of messages, and check/report/whitelist/ping against Pyzor
// servers (protocol 2.1). See pyzor-check(1).
#include <CLI/CLI.hpp>
#include <cmath>
#include <string>
#include <vector>

#include "base/cli.h"
#include "base/exit_code.h"
#include "base/fd.h"
#include "base/log.h"
#include "spam/pyzor.h"

namespace {

namespace pyzor = postern::spam::pyzor;
using postern::base::ExitCode;
using postern::base::to_int;

struct Options {
  std::vector<std::string> servers;
  std::string accounts_file;
  double timeout = 5;
  int retries = 1;
  std::vector<std::string> files;
};

struct Context {
  std::vector<pyzor::Server> servers;
  std::vector<pyzor::AccountEntry> accounts;
  pyzor::ClientOptions client;
};

// Python's repr of a short string, as `pyzor` prints its (code, diag) tuples.
std::string repr(const std::string& s) {
  bool dq = s.find('\'') != std::string::npos && s.find('"') == std::string::npos;
  char q = dq ? '"' : '\'';
  std::string out(1, q);
  for (char c : s) {
    if (c == q || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back(q);
  return out;
}

std::string head(int code, const std::string& diag) {
  return "(" + std::to_string(code) + ", " + repr(diag) + ")";
}

// One request to every server; prints one line per server. Returns the exit status:
// for check 0 when listed (a report count and no whitelist count), 1 when not; for the
// other ops 0. A server error answer gives 69, no answer 75, a garbled answer 65.
int ask_all(const Context& ctx, pyzor::Op op, const std::string& digest, const std::string& prefix,
            bool& out_ok) {
  int worst_error = 0;
  bool hit = false, whitelisted = false;
  for (const pyzor::Server& server : ctx.servers) {
    pyzor::Request req{.op = op,
                       .digest = digest,
                       .account = pyzor::account_for(ctx.accounts, server.host, server.port)};
    std::string line = prefix + server.to_string() + "\t";
    auto resp = pyzor::exchange(server, req, ctx.client);
    int status = 0;
    if (!resp) {
      const auto& e = resp.error();
      postern::base::log_warn("pyzor", {{"server", server.to_string()}, {"error", e.message()}});
      status =
          e.code() == ExitCode::kDataErr ? to_int(ExitCode::kDataErr) : to_int(ExitCode::kTempFail);
      line += head(status == to_int(ExitCode::kTempFail) ? 504 : 400, e.message()) + "\n";
    } else if (resp->code != 200) {
      status = to_int(ExitCode::kUnavailable);
      line += head(resp->code, resp->diag) + "\n";
    } else if (op == pyzor::Op::kCheck || op == pyzor::Op::kPong || op == pyzor::Op::kInfo) {
      int64_t count = resp->count.value_or(0), wl = resp->wl_count.value_or(0);
      if (wl > 0)
        whitelisted = true;
      else if (count > 0)
        hit = true;
      line += head(resp->code, resp->diag) + "\t" + std::to_string(count) + "\t" +
              std::to_string(wl) + "\n";
    } else {
      line += head(resp->code, resp->diag) + "\n";
    }
    worst_error = std::max(worst_error, status);
    if (!postern::base::write_stdout(line)) out_ok = false;
  }
  if (worst_error) return worst_error;
  if (op == pyzor::Op::kCheck) return hit && !whitelisted ? 0 : to_int(ExitCode::kNo);
  return 0;
}

int run(const std::string& command, const Options& o) {
  Context ctx;
  if (o.timeout <= 0 || o.timeout > 3600) {
    return postern::base::fail(postern::base::Error::usage("--timeout must be in (0, 3600]"));
  }
  ctx.client.timeout_ms = static_cast<int>(std::lround(o.timeout * 1000));
  ctx.client.retries = o.retries;
  std::vector<std::string> names = o.servers;
  if (names.empty()) names.emplace_back(pyzor::kDefaultServer);
  for (const auto& n : names) {
    auto s = pyzor::parse_server(n);
    if (!s) return postern::base::fail(s.error());
    ctx.servers.push_back(*s);
  }
  if (!o.accounts_file.empty()) {
    auto text = postern::base::read_file(o.accounts_file);
    if (!text) return postern::base::fail(text.error().with_context(o.accounts_file));
    auto acc = pyzor::parse_accounts(*text);
    if (!acc) return postern::base::fail(acc.error().with_context(o.accounts_file));
    ctx.accounts = std::move(*acc);
  }
  if (command == "ping") {
    bool ok = true;
    return ask_all(ctx, pyzor::Op::kPing, "", "", ok);
  }
  pyzor::Op op = command == "check"    ? pyzor::Op::kCheck
                 : command == "report" ? pyzor::Op::kReport
                                       : pyzor::Op::kWhitelist;
  bool many = o.files.size() > 1;
  return postern::base::for_each_input(
      o.files, [&](const std::string& shown, std::string& bytes) -> std::optional<int> {
        if (command == "predigest") {
          std::vector<std::string> lines = pyzor::digest_lines(bytes);
          std::string out;
          for (size_t i : pyzor::sampled_indexes(lines.size())) out += lines[i] + "\n";
          return postern::base::write_stdout(out) ? std::optional<int>(0) : std::nullopt;
        }
        std::string d = pyzor::digest(std::string_view(bytes));
        if (command == "digest")
          return postern::base::write_stdout(d + "\n") ? std::optional<int>(0) : std::nullopt;
        bool ok = true;
        int rc = ask_all(ctx, op, d, many ? shown + "\t" : "", ok);
        if (!ok) return std::nullopt;
        return rc;
      });
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Pyzor digests, and check, report, whitelist and ping against Pyzor servers"};
  Options o;
  app.require_subcommand(1);
  app.add_option("-s,--server", o.servers,
                 "Pyzor server HOST:PORT or [ADDR]:PORT, repeatable (default " +
                     std::string(pyzor::kDefaultServer) + ")")
      ->type_name("HOST:PORT");
  app.add_option("--accounts", o.accounts_file,
                 "Pyzor accounts file (host : port : user : salt,key); default: anonymous")
      ->type_name("FILE");
  app.add_option("-t,--timeout", o.timeout, "seconds to wait for each answer (default 5)")
      ->type_name("SECONDS");
  app.add_option("--retries", o.retries, "times to resend after a timeout (default 1)")
      ->type_name("N")
      ->check(CLI::Range(0, 10));
  std::string command;
  auto add = [&](const char* name, const char* help, bool takes_files) {
    CLI::App* c = app.add_subcommand(name, help);
    c->fallthrough();
    c->callback([&command, name] { command = name; });
    if (takes_files)
      c->add_option("files", o.files, "messages to read ('-': standard input)")->type_name("FILE");
  };
  add("digest", "print each message's Pyzor digest", true);
  add("predigest", "print the normalised lines that feed each digest", true);
  add("check", "look each message up: exit 0 when listed, 1 when not", true);
  add("report", "report each message as spam", true);
  add("whitelist", "report each message as not spam", true);
  add("ping", "check that the servers answer", false);
  return postern::base::run_main(argc, argv, app, {.name = "pyzor-check"},
                                 [&] { return run(command, o); });
}
