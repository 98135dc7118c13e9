// postern-dns: the DNS records a mail domain must publish for this server (`records`), and
// whether they are published (`check`). Reached as `postern dns ...`. See postern-dns(8).
#include <CLI/CLI.hpp>
#include <string>

#include "admin/dns_records.h"
#include "base/cli.h"
#include "base/exit_code.h"
#include "config/config.h"
#include "config/dns.h"
#include "dns/dns.h"
#include "dns/options.h"

namespace {

namespace admin = postern::admin;
namespace base = postern::base;
namespace dns = postern::dns;

struct Options {
  std::string domain;
  bool json = false;
};

int records(const Options& o, const postern::config::Config& cfg) {
  auto s = admin::domain_settings(cfg, o.domain);
  if (!s) return base::fail(s.error());
  auto recs = admin::expected_records(*s);
  base::write_stdout(o.json ? admin::records_json(recs) : admin::zone_fragment(*s, recs));
  return 0;
}

int check(const Options& o, const postern::config::Config& cfg, const dns::ResolverFlags& flags) {
  auto s = admin::domain_settings(cfg, o.domain);
  if (!s) return base::fail(s.error());
  auto resolver = dns::make_resolver(flags.over(postern::config::resolver_options(cfg)));
  if (!resolver) return base::fail(resolver.error());
  auto results = admin::check_records(**resolver, admin::expected_records(*s), s->hostname);
  base::write_stdout(o.json ? admin::check_json(results) : admin::check_text(results));
  return admin::check_exit_code(results);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"print the DNS records a mail domain needs, or check what it publishes"};
  app.require_subcommand(1);
  Options o;
  dns::ResolverFlags flags;
  dns::add_resolver_options(app, flags);

  CLI::App* rec = app.add_subcommand(
      "records", "print the records to publish for a domain, as a zone-file fragment or JSON");
  CLI::App* chk = app.add_subcommand(
      "check", "look the records up and say which are ok, missing or wrong");
  for (CLI::App* c : {rec, chk}) {
    c->fallthrough();  // -c, --set and the resolver options may follow the subcommand
    c->add_option("-d,--domain", o.domain, "the mail domain")->type_name("DOMAIN")->required();
    c->add_flag("-j,--json", o.json, "print JSON instead of text");
  }

  postern::config::Config config;
  return base::run_main(
      argc, argv, app, {.name = "postern-dns"},
      [&]() -> int {
        if (rec->parsed()) return records(o, config);
        return check(o, config, flags);
      },
      postern::config::loader(&config));
}
