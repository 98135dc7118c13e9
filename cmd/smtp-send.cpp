// smtp-send: send one message from standard input over SMTP or LMTP, to a given server
// or to each recipient domain's MX hosts (RFC 5321 5.1), with STARTTLS, DANE-less PKIX
// verification on request, and AUTH. See smtp-send(1).
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cctype>
#include <boost/json.hpp>
#include <iostream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "base/cli.h"
#include "base/exit_code.h"
#include "base/fd.h"
#include "config/dns.h"
#include "dns/dns.h"
#include "smtp/client.h"
#include "smtp/command.h"

namespace {

namespace client = postern::smtp::client;
using postern::base::Error;
using postern::base::ExitCode;

struct Options {
  std::string sender, server, tls = "opportunistic", ca_file, auth_user, auth_password_file, helo;
  bool verify = false, lmtp = false, json = false, no_pipelining = false, no_chunking = false;
  int port = 25;
  int timeout = 0;
  std::vector<std::string> recipients;
};

// One recipient's outcome.
struct Outcome {
  std::string address;
  client::Reply reply;
  std::string reason;  // no reply: why
  std::string peer;
  client::TlsResult tls;
};

// "host:port", "[v6]:port"; the port may be left out (then `def`).
postern::base::Result<std::pair<std::string, uint16_t>> split_server(const std::string& s, int def) {
  std::string host = s, port;
  if (!s.empty() && s.front() == '[') {
    size_t close = s.find(']');
    if (close == std::string::npos) return Error::usage("--server: bad address " + s);
    host = s.substr(0, close + 1);
    if (close + 1 < s.size()) {
      if (s[close + 1] != ':') return Error::usage("--server: bad address " + s);
      port = s.substr(close + 2);
    }
  } else if (size_t colon = s.rfind(':'); colon != std::string::npos && s.find(':') == colon) {
    host = s.substr(0, colon);
    port = s.substr(colon + 1);
  }
  if (port.empty()) return std::make_pair(host, static_cast<uint16_t>(def));
  if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
      std::stoi(port) == 0 || std::stoi(port) > 65535) {
    return Error::usage("--server: bad port in " + s);
  }
  return std::make_pair(host, static_cast<uint16_t>(std::stoi(port)));
}

std::string hostname() {
  char buf[256] = {0};
  return gethostname(buf, sizeof buf - 1) != 0 || !buf[0] ? "localhost" : buf;
}

// Delivers to one set of targets; appends one outcome per recipient.
void deliver(const std::vector<client::Target>& targets, const client::Options& co,
             client::Envelope env, const std::string& data, std::vector<Outcome>& out) {
  client::Delivery d = client::send_one(targets, co, env, data);
  for (size_t i = 0; i < env.recipients.size(); ++i) {
    Outcome o{env.recipients[i].address, {}, {}, d.peer, d.tls};
    if (d.result) {
      o.reply = d.result->outcome(i);
    } else {
      bool here = d.failure.reply.code == 0 && d.failure.permanent;  // refused before sending
      o.reply = here ? client::Reply{554, "5.3.0", {d.failure.reason}} : d.failure.reply;
      o.reason = here ? "" : d.failure.reason;
    }
    out.push_back(std::move(o));
  }
}

int run(const Options& o, const postern::dns::ResolverOptions& ro) {
  auto mode = client::parse_tls_mode(o.tls);
  if (!mode) return postern::base::fail(Error::usage("--tls: none, opportunistic, required or implicit"));
  if (o.auth_user.empty() != o.auth_password_file.empty()) {
    return postern::base::fail(Error::usage("--auth-user and --auth-password-file go together"));
  }
  if (o.port <= 0 || o.port > 65535) return postern::base::fail(Error::usage("--port: 1 to 65535"));
  client::Options co;
  co.helo_name = o.helo.empty() ? hostname() : o.helo;
  co.lmtp = o.lmtp;
  co.tls.mode = *mode;
  co.tls.verify_pkix = o.verify;
  co.tls.ca_file = o.ca_file;
  co.pipelining = !o.no_pipelining;
  co.chunking = !o.no_chunking;
  if (o.timeout > 0) {
    co.connect_timeout = co.greeting_timeout = co.command_timeout = co.data_timeout =
        std::chrono::seconds(o.timeout);
  }
  if (!o.auth_user.empty()) {
    auto pw = postern::base::read_file(o.auth_password_file);
    if (!pw) return postern::base::fail(Error::config("--auth-password-file: " + pw.error().message()));
    std::string p = *pw;
    while (!p.empty() && (p.back() == '\n' || p.back() == '\r')) p.pop_back();
    co.auth_user = o.auth_user;
    co.auth_password = p;
  }

  std::string raw((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  if (raw.empty()) return postern::base::fail(Error::bad_data("empty message on standard input"));
  std::string data = client::to_crlf(raw);
  client::Envelope env;
  env.sender = o.sender;
  env.body = postern::smtp::has_8bit(data) ? 1 : 0;
  env.smtputf8 = postern::smtp::has_8bit(o.sender);
  for (const auto& r : o.recipients) {
    if (!postern::smtp::valid_mailbox(r, true) && !(o.server.size() && r.find('@') == std::string::npos)) {
      return postern::base::fail(Error::usage("not a mailbox: " + r));
    }
    env.smtputf8 = env.smtputf8 || postern::smtp::has_8bit(r);
    env.recipients.push_back({r, "", 0});
  }
  if (!o.sender.empty() && !postern::smtp::valid_mailbox(o.sender, true)) {
    return postern::base::fail(Error::usage("-f: not a mailbox: " + o.sender));
  }
  if (auto st = client::check_message(data, env.body); !st) return postern::base::fail(st.error());

  auto resolver = postern::dns::make_resolver(ro);
  if (!resolver) return postern::base::fail(resolver.error());
  std::vector<Outcome> outcomes;
  auto lookup_failed = [&](const client::Envelope& e, const Error& err) {
    for (const auto& r : e.recipients) {
      client::Reply rep{err.smtp_code(), err.enhanced(), {err.message()}};
      outcomes.push_back({r.address, rep, "", "", {}});
    }
  };
  if (!o.server.empty()) {
    auto hp = split_server(o.server, o.port);
    if (!hp) return postern::base::fail(hp.error());
    auto targets = client::host_targets(**resolver, hp->first, hp->second);
    if (!targets) {
      lookup_failed(env, targets.error());
    } else {
      deliver(*targets, co, env, data, outcomes);
    }
  } else {
    // One transaction per recipient domain, in the order the domains first appear.
    std::vector<std::string> order;
    std::map<std::string, client::Envelope> by_domain;
    for (const auto& r : env.recipients) {
      std::string domain = r.address.substr(r.address.rfind('@') + 1);
      for (char& c : domain) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (!by_domain.count(domain)) {
        order.push_back(domain);
        client::Envelope e = env;
        e.recipients.clear();
        by_domain.emplace(domain, std::move(e));
      }
      by_domain.at(domain).recipients.push_back(r);
    }
    for (const auto& domain : order) {
      const client::Envelope& e = by_domain.at(domain);
      auto targets = client::mail_targets(**resolver, domain, static_cast<uint16_t>(o.port));
      if (!targets) {
        lookup_failed(e, targets.error());
      } else {
        deliver(*targets, co, e, data, outcomes);
      }
    }
  }

  int status = 0;
  bool temporary = false, permanent = false;
  for (const auto& r : outcomes) {
    bool ok = r.reply.positive();
    temporary = temporary || r.reply.transient();
    permanent = permanent || r.reply.permanent();
    if (o.json) {
      boost::json::object j{{"recipient", r.address},
                            {"status", ok ? "sent" : r.reply.permanent() ? "failed" : "deferred"},
                            {"code", r.reply.code},
                            {"enhanced", r.reply.enhanced},
                            {"reply", r.reply.code ? r.reply.text() : std::string()},
                            {"host", r.peer}};
      if (!r.reason.empty()) j["reason"] = r.reason;
      j["tls"] = boost::json::object{{"used", r.tls.used}, {"version", r.tls.version},
                                     {"cipher", r.tls.cipher}, {"verified", r.tls.verified},
                                     {"how", r.tls.how}};
      if (!postern::base::write_stdout(boost::json::serialize(j) + "\n")) break;
    }
    if (!ok) {
      std::cerr << "smtp-send: <" << r.address << ">: "
                << (r.reply.code ? r.reply.text() : r.reason.empty() ? "no reply" : r.reason);
      if (r.reply.code && !r.reason.empty() && r.reason.find(r.reply.text()) == std::string::npos) {
        std::cerr << " (" << r.reason << ")";
      }
      std::cerr << "\n";
    }
  }
  // A message some recipient refused for good cannot be fully delivered by retrying.
  if (permanent) status = postern::base::to_int(ExitCode::kUnavailable);
  else if (temporary) status = postern::base::to_int(ExitCode::kTempFail);
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"send a message from standard input over SMTP or LMTP"};
  Options o;
  app.add_option("-f,--from", o.sender, "envelope sender (MAIL FROM; default: the null sender <>)")
      ->type_name("SENDER");
  app.add_option("--server", o.server, "send to this server instead of the recipients' MX hosts")
      ->type_name("HOST:PORT");
  app.add_option("--port", o.port, "port of the MX hosts, or of --server without one (default 25)")
      ->type_name("PORT");
  app.add_option("--tls", o.tls, "none, opportunistic (default), required, or implicit (TLS from the start)")
      ->type_name("{none,opportunistic,required,implicit}");
  app.add_flag("--verify", o.verify, "verify the server's certificate chain and name (PKIX); "
               "a failure defers the message");
  app.add_option("--ca-file", o.ca_file, "trust anchors for --verify (default: the system store)")
      ->type_name("FILE");
  app.add_option("--auth-user", o.auth_user, "authenticate (AUTH PLAIN or LOGIN, after TLS)")
      ->type_name("USER");
  app.add_option("--auth-password-file", o.auth_password_file, "the password, in a file")
      ->type_name("FILE");
  app.add_option("--helo", o.helo, "our name in EHLO/LHLO (default: the host name)")->type_name("NAME");
  app.add_flag("--lmtp", o.lmtp, "speak LMTP (RFC 2033): LHLO, one reply per recipient");
  app.add_flag("--no-pipelining", o.no_pipelining, "do not pipeline commands even if offered");
  app.add_flag("--no-chunking", o.no_chunking, "use DATA even if CHUNKING is offered");
  app.add_option("--timeout", o.timeout, "one timeout for every step, instead of RFC 5321's")
      ->type_name("SECONDS");
  app.add_flag("-j,--json", o.json, "print one JSON object per recipient (JSON Lines)");
  app.add_option("recipients", o.recipients, "envelope recipients")->type_name("RCPT")->required();
  return postern::config::run_with_resolver(
      argc, argv, app, {.name = "smtp-send"},
      [&](const postern::dns::ResolverOptions& r) { return run(o, r); });
}
