// tls-report: what queue-run recorded for SMTP TLS Reporting (RFC 8460) — list the
// counts, show the report a domain would get, send the reports that are due (as
// queue-run's daemon does every hour; for cron when no daemon runs). See tls-report(8).
#include <cctype>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "base/cli.h"
#include "base/clock.h"
#include "base/log.h"
#include "config/config.h"
#include "config/delivery.h"
#include "config/dns.h"
#include "config/store.h"
#include "dns/options.h"
#include "smtp/tls_report.h"
#include "smtp/tls_rpt.h"
#include "store/tls_results.h"

namespace {

namespace base = postern::base;
namespace config = postern::config;
namespace report = postern::smtp::tls_report;
namespace tr = postern::store::tls_results;

struct Args {
  postern::dns::ResolverFlags dns;
  std::string store_url, blob_dir;
  std::string day, domain;
  bool json = false, dry_run = false;
};

int64_t now() { return base::unix_seconds(base::system_clock().now()); }

// The report options from the delivery: section (its tls_rpt: keys, hostname, CA file).
base::Result<report::Options> options_of(const config::Config& cfg) {
  auto s = config::delivery_settings(cfg);
  if (!s) return s.error();
  report::Options o;
  o.organization = s->tls_rpt.organization;
  o.contact = s->tls_rpt.contact;
  o.from = s->tls_rpt.from;
  o.submitter = s->hostname;
  o.ca_file = s->tls_ca_file;
  return o;
}

std::optional<int64_t> day_arg(const Args& a, int* rc) {
  if (a.day.empty()) return std::nullopt;
  auto d = report::parse_day(a.day);
  if (!d) {
    *rc = base::fail(d.error());
    return std::nullopt;
  }
  return *d;
}

int list(const Args& a, const config::Config& cfg) {
  int rc = 0;
  auto day = day_arg(a, &rc);
  if (rc) return rc;
  auto st = config::open_existing_store(cfg, a.store_url, a.blob_dir);
  if (!st) return base::fail(st.error());
  auto rows = tr::list(**st, day.value_or(0), a.domain);
  if (!rows) return base::fail(rows.error());
  return base::write_stdout(report::list_text(*rows, a.json)) ? 0 : 75;
}

int show(const Args& a, const config::Config& cfg) {
  int rc = 0;
  auto day = day_arg(a, &rc);
  if (rc) return rc;
  auto o = options_of(cfg);
  if (!o) return base::fail(o.error());
  auto st = config::open_existing_store(cfg, a.store_url, a.blob_dir);
  if (!st) return base::fail(st.error());
  auto rows = tr::list(**st, day.value_or(0), a.domain);
  if (!rows) return base::fail(rows.error());
  if (rows->empty()) {
    return base::fail(base::Error::unavailable("nothing recorded for " + a.domain +
                                               (a.day.empty() ? "" : " on " + a.day)));
  }
  // Without --day: the latest day recorded for the domain.
  int64_t d = day.value_or(rows->back().day);
  std::vector<tr::Row> of_day;
  for (const auto& r : *rows) {
    if (r.day == d) of_day.push_back(r);
  }
  auto rep = report::build(*o, d, a.domain, of_day);
  return base::write_stdout(postern::smtp::tls_rpt::to_json(rep) + "\n") ? 0 : 75;
}

int send(const Args& a, const config::Config& cfg) {
  int rc = 0;
  auto day = day_arg(a, &rc);
  if (rc) return rc;
  auto o = options_of(cfg);
  if (!o) return base::fail(o.error());
  o->dry_run = a.dry_run;
  auto st = config::open_existing_store(cfg, a.store_url, a.blob_dir);
  if (!st) return base::fail(st.error());
  auto resolver = postern::dns::make_resolver(a.dns.over(config::resolver_options(cfg)));
  if (!resolver) return base::fail(resolver.error());
  auto res = report::send_due(**st, **resolver, *o, day, now());
  if (!res) return base::fail(res.error());
  std::string out;
  for (const auto& r : res->reports) out += report::outcome_text(r);
  if (!base::write_stdout(out)) return 75;
  return res->temporary_failure ? 75 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"list, show and send SMTP TLS reports (RFC 8460) from what queue-run recorded"};
  app.require_subcommand(1);
  Args a;
  config::add_store_options(app, &a.store_url, &a.blob_dir);
  CLI::App* l = app.add_subcommand("list", "what is recorded: day, domain, policy type, sessions ok and failed");
  l->fallthrough();
  l->add_flag("--json", a.json, "one JSON object per line");
  l->add_option("--day", a.day, "only this day (UTC)")->type_name("YYYY-MM-DD");
  l->add_option("--domain", a.domain, "only this policy domain")->type_name("DOMAIN");
  CLI::App* s = app.add_subcommand("show", "print the report JSON a domain would get");
  s->fallthrough();
  s->add_option("--domain", a.domain, "the policy domain")->type_name("DOMAIN")->required();
  s->add_option("--day", a.day, "the day (UTC); default: the latest recorded")->type_name("YYYY-MM-DD");
  CLI::App* d = app.add_subcommand("send", "send the reports that are due (days before today, UTC)");
  d->fallthrough();
  d->add_option("--day", a.day, "send this day's reports only (today's included)")->type_name("YYYY-MM-DD");
  d->add_flag("--dry-run", a.dry_run, "say what would be sent; send and remove nothing");
  postern::dns::add_resolver_options(*d, a.dns);
  config::Config cfg;
  return base::run_main(
      argc, argv, app, {.name = "tls-report"},
      [&]() -> int {
        for (char& c : a.domain) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (l->parsed()) return list(a, cfg);
        if (s->parsed()) return show(a, cfg);
        if (d->parsed()) return send(a, cfg);
        return base::fail(base::Error::usage("no subcommand"));
      },
      config::loader(&cfg));
}
