// arc-seal: add an ARC set (RFC 8617 5.1) to messages: an ARC-Authentication-Results
// copying our Authentication-Results, an ARC-Message-Signature and an ARC-Seal.
// See arc-seal(1).
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "auth/arc.h"
#include "auth/dkim.h"
#include "base/cli.h"
#include "base/exit_code.h"
#include "base/fd.h"
#include "base/log.h"
#include "config/config.h"
#include "config/dns.h"
#include "dns/dns.h"
#include "mail/writer.h"

namespace {

namespace arc = postern::auth::arc;
namespace dkim = postern::auth::dkim;
namespace dns = postern::dns;

struct Options {
  std::string domain;
  std::string selector;
  std::string key_file;
  std::string authserv_id;
  std::string cv = "auto";
  std::string headers;  // h=, colon-separated
  int64_t now = 0;
  std::vector<std::string> files;
};

int run(Options& o, const dns::ResolverOptions& ro) {
  auto pem = postern::base::read_file(o.key_file);
  if (!pem) return postern::base::fail(pem.error());
  auto key = dkim::load_private_key(*pem);
  if (!key) return postern::base::fail(key.error());
  std::unique_ptr<dns::Resolver> resolver;
  if (o.cv == "auto") {
    auto r = dns::make_resolver(ro);
    if (!r) return postern::base::fail(r.error());
    resolver = std::move(*r);
  }
  std::vector<std::string> h;
  for (size_t p = 0; !o.headers.empty() && p <= o.headers.size();) {
    size_t c = std::min(o.headers.find(':', p), o.headers.size());
    h.push_back(o.headers.substr(p, c - p));
    p = c + 1;
  }
  return postern::base::for_each_input(
      o.files, [&](const std::string& shown, std::string& text) -> std::optional<int> {
        const std::string* msg = &text;
        std::vector<std::string> results = arc::collect_results(*msg, o.authserv_id);
        arc::ChainStatus cv = arc::ChainStatus::kNone;
        if (o.cv == "auto") {
          auto task = arc::validate(*msg, *resolver, {.now = o.now});
          arc::ChainResult r = dns::run(*resolver, task);
          cv = r.cv;
          bool has_arc = false;
          for (const auto& res : results) has_arc = has_arc || res.rfind("arc=", 0) == 0;
          if (!has_arc) results.push_back("arc=" + std::string(arc::status_name(cv)));
        } else {
          cv = *arc::parse_status(o.cv);
        }
        arc::SealOptions so{.domain = o.domain,
                            .selector = o.selector,
                            .key = &*key,
                            .authserv_id = o.authserv_id,
                            .results = results,
                            .cv = cv,
                            .headers = h,
                            .timestamp = o.now};
        auto set = arc::seal(*msg, so);
        if (!set) {
          // RFC 8617 5.1.2: a failed chain gets no further set; the message passes unchanged.
          postern::base::log_warn("arc-seal", {{"file", shown}, {"reason", set.error().message()}});
          if (!postern::base::write_stdout(*msg)) return std::nullopt;
          return 0;
        }
        if (!postern::base::write_stdout(postern::mail::match_line_ending(*set, *msg) + *msg)) {
          return std::nullopt;
        }
        return 0;
      });
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"add an ARC set (RFC 8617) to messages"};
  Options o;
  app.add_option("-d,--domain", o.domain, "signing domain (d=)")->required()->type_name("DOMAIN");
  app.add_option("-s,--selector", o.selector, "key selector (s=)")->required()->type_name("SEL");
  app.add_option("-k,--key", o.key_file, "private key (PEM, RSA or Ed25519)")
      ->required()
      ->type_name("FILE");
  app.add_option("--authserv-id", o.authserv_id,
                 "whose Authentication-Results to copy into the AAR")
      ->required()
      ->type_name("ID");
  app.add_option("--cv", o.cv, "chain status for the seal (auto: validate the chain first)")
      ->check(CLI::IsMember({"none", "pass", "fail", "auto"}))
      ->type_name("{none,pass,fail,auto}");
  app.add_option("--headers", o.headers, "AMS h= list, colon-separated (default: DKIM's)")
      ->type_name("LIST");
  app.add_option("--now", o.now, "the time for t= (Unix seconds; default now)")->type_name("UNIX");
  app.add_option("files", o.files, "messages to read ('-': standard input)")->type_name("FILE");
  return postern::config::run_with_resolver(
      argc, argv, app, {.name = "arc-seal", .delivery_path = true},
      [&](const dns::ResolverOptions& r) { return run(o, r); });
}
