// dmarc-report: DMARC aggregate reports (RFC 7489 7.2). `generate` turns the records of
// `auth-check --record` into gzip'd Appendix C XML reports (and report messages for the
// mailto: rua); `parse` reads reports received (XML, gzip, ZIP or the whole message) and
// prints them as JSON. See dmarc-report(1).
#include <CLI/CLI.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "auth/dmarc_report.h"
#include "auth/record.h"
#include "base/cli.h"
#include "base/clock.h"
#include "base/compress.h"
#include "base/exit_code.h"
#include "base/fd.h"
#include "base/fs.h"
#include "base/log.h"
#include "config/dns.h"
#include "dns/dns.h"
#include "mail/header.h"
#include "mail/writer.h"

namespace {

namespace auth = postern::auth;
namespace rep = postern::auth::dmarc_report;
namespace base = postern::base;
namespace dns = postern::dns;
using base::Error;
using base::ExitCode;

struct GenerateOptions {
  std::vector<std::string> records;
  std::string org_name, email, extra_contact_info, receiver;
  std::string period = "day";
  int64_t begin = 0, end = 0, now = -1;
  std::string out_dir = ".";
  bool mail = false;
  std::string from;
  bool json = false;
  std::string psl = std::string(auth::kDefaultPslPath);
};

struct ParseOptions {
  std::vector<std::string> files;
  size_t max_size = base::kDefaultInflateLimit;
};

std::string shown(const std::string& f) { return f == "-" ? "<stdin>" : f; }

base::Result<std::vector<auth::Record>> read_records(const std::vector<std::string>& files,
                                                     size_t& bad) {
  std::vector<auth::Record> out;
  for (const auto& file : files) {
    auto bytes = base::read_file(file);
    if (!bytes) return bytes.error();
    rep::RecordLines got = rep::parse_record_lines(*bytes);
    for (const auto& p : got.problems)
      base::log_warn("bad record", {{"file", shown(file)}, {"problem", p}});
    bad += got.problems.size();
    std::move(got.records.begin(), got.records.end(), std::back_inserter(out));
  }
  return out;
}

int generate(GenerateOptions& o, const dns::ResolverOptions& ro) {
  rep::GroupOptions g;
  if (o.period == "day")
    g.period = 86400;
  else if (o.period == "hour")
    g.period = 3600;
  else if (o.period.find_first_not_of("0123456789") == std::string::npos && o.period.size() < 10 &&
           std::stoll(o.period) >= 60)
    g.period = std::stoll(o.period);
  else
    return base::fail(Error::usage("--period: day, hour or a number of seconds (at least 60)"));
  if ((o.begin != 0 || o.end != 0) && o.end <= o.begin) {
    return base::fail(Error::usage("--end must be after --begin"));
  }
  g.begin = o.begin;
  g.end = o.end;
  g.now = o.now >= 0 ? o.now
                     : std::chrono::duration_cast<std::chrono::seconds>(
                           base::system_clock().now().time_since_epoch())
                           .count();
  size_t at = o.email.rfind('@');
  if (at == std::string::npos || at + 1 == o.email.size()) {
    return base::fail(Error::usage("--email: an address is needed, got \"" + o.email + "\""));
  }
  rep::Reporter who{o.org_name, o.email, o.extra_contact_info,
                    o.receiver.empty() ? o.email.substr(at + 1) : o.receiver};
  std::string from;
  if (o.mail) {
    auto list = postern::mail::parse_address_list(o.from.empty() ? o.email : o.from).flatten();
    if (list.size() != 1 || !list[0].address) {
      return base::fail(Error::usage("--from: one address is needed"));
    }
    from = postern::mail::format_address(list[0]);
  }
  std::unique_ptr<dns::Resolver> resolver;
  const auth::PublicSuffixList* psl = nullptr;
  if (o.mail) {  // RFC 7489 7.1 checks of the rua destinations need DNS and the PSL
    auto r = dns::make_resolver(ro);
    if (!r) return base::fail(Error::config(r.error().message()));
    resolver = std::move(*r);
    auto p = auth::PublicSuffixList::shared(o.psl);
    if (!p) return base::fail(Error::config(p.error().message()));
    psl = *p;
  }
  bool retry = false;
  if (o.records.empty()) o.records.push_back("-");
  size_t bad = 0;
  auto records = read_records(o.records, bad);
  if (!records) return base::fail(records.error());
  rep::Grouping grouping = rep::group_records(*records, who, g);
  for (auto [n, why] : {std::pair{grouping.no_policy, "no DMARC record"},
                        {grouping.no_rua, "no rua in the DMARC record"},
                        {grouping.outside, "outside --begin/--end"},
                        {grouping.incomplete, "period not over yet"}}) {
    if (n) base::log_info("records skipped", {{"count", std::to_string(n)}, {"reason", why}});
  }
  base::FileSystem& fs = base::real_fs();
  if (auto st = fs.make_dir(o.out_dir); !st) return base::fail(st.error());
  for (const rep::Report& r : grouping.reports) {
    auto gz = base::gzip_compress(rep::to_xml(r.feedback));
    if (!gz) return base::fail(gz.error());
    std::string path = o.out_dir == "." ? r.filename : o.out_dir + "/" + r.filename;
    if (auto st = base::write_file_atomic(fs, path, *gz); !st) return base::fail(st.error());
    std::string mail_path;
    std::vector<std::string> to;
    if (o.mail) {
      auto task = rep::check_destinations(*resolver, *psl, r.domain,
                                          rep::mail_recipients(r.rua, gz->size()));
      rep::CheckedRecipients checked = dns::run(*resolver, task);
      retry = retry || checked.temporary;
      rep::Recipients& rc = checked.recipients;
      for (const auto& [uri, why] : rc.skipped) {
        base::log_info("rua skipped", {{"domain", r.domain}, {"uri", uri}, {"reason", why}});
      }
      to = std::move(rc.to);
      if (to.empty()) {
        base::log_warn("no report message",
                       {{"domain", r.domain}, {"reason", "no usable mailto: rua"}});
      } else {
        mail_path = path.substr(0, path.size() - std::string_view(".xml.gz").size()) + ".eml";
        std::string msg = rep::report_message(r, *gz, from, to, g.now);
        if (auto st = base::write_file_atomic(fs, mail_path, msg); !st) {
          return base::fail(st.error());
        }
      }
    }
    std::string line;
    if (o.json) {
      boost::json::array rcpt(to.begin(), to.end());
      boost::json::object doc{{"domain", r.domain},
                              {"report_id", r.feedback.metadata.report_id},
                              {"begin", r.feedback.metadata.begin},
                              {"end", r.feedback.metadata.end},
                              {"records", r.feedback.rows.size()},
                              {"messages", r.messages},
                              {"file", path},
                              {"size", gz->size()}};
      if (o.mail) {
        doc["mail"] =
            mail_path.empty() ? boost::json::value(nullptr) : boost::json::value(mail_path);
        doc["to"] = std::move(rcpt);
      }
      line = boost::json::serialize(doc) + "\n";
    } else {
      line = path + "\n" + (mail_path.empty() ? "" : mail_path + "\n");
    }
    if (!base::write_stdout(line)) break;
  }
  if (bad) {
    return base::fail(Error::bad_data(std::to_string(bad) + " record line(s) could not be read"));
  }
  if (retry) return base::fail(Error::temporary("some rua destinations could not be checked"));
  return 0;
}

int parse(ParseOptions& o) {
  rep::ReadOptions ro{.max_inflated = o.max_size, .max_xml = o.max_size};
  return base::for_each_input(o.files, [&](const std::string& name,
                                           std::string& bytes) -> std::optional<int> {
    auto reports = rep::read_reports(bytes, ro);
    if (!reports) {
      base::log_error(reports.error().with_context(name));
      return base::to_int(reports.error().code());
    }
    for (const auto& f : *reports) {
      if (!base::write_stdout(rep::to_json(f, name) + "\n")) return std::nullopt;
    }
    return 0;
  });
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"DMARC aggregate reports (RFC 7489 7.2): generate and parse"};
  app.require_subcommand(1);
  GenerateOptions g;
  CLI::App* gen = app.add_subcommand("generate", "write aggregate reports from auth-check records");
  gen->add_option("--records", g.records, "a records file of auth-check --record ('-': stdin)")
      ->type_name("FILE")
      ->allow_extra_args(false);
  gen->add_option("--org-name", g.org_name, "our organization, for report_metadata")
      ->type_name("NAME")
      ->required();
  gen->add_option("--email", g.email, "our contact address, for report_metadata")
      ->type_name("ADDR")
      ->required();
  gen->add_option("--extra-contact-info", g.extra_contact_info, "more contact information")
      ->type_name("URI");
  gen->add_option("--receiver", g.receiver,
                  "our domain in file names and subjects (default: the domain of --email)")
      ->type_name("DOMAIN");
  auto* period = gen->add_option("--period", g.period, "report length: day, hour or SECONDS")
                     ->type_name("{day,hour,SECONDS}");
  auto* begin = gen->add_option("--begin", g.begin, "one report over [BEGIN, END) instead")
                    ->type_name("UNIX");
  auto* end = gen->add_option("--end", g.end, "end of that window (exclusive)")->type_name("UNIX");
  begin->needs(end)->excludes(period);
  end->needs(begin)->excludes(period);
  gen->add_option("--now", g.now, "the current time (for tests)")->type_name("UNIX");
  gen->add_option("--out-dir", g.out_dir, "where to write the reports (default: .)")
      ->type_name("DIR");
  gen->add_flag("--mail", g.mail, "also write a report message (.eml) for the mailto: rua");
  gen->add_option("--from", g.from, "From of the report messages (default: --email)")
      ->type_name("ADDR");
  gen->add_flag("-j,--json", g.json, "print one JSON object per report");
  ParseOptions p;
  CLI::App* par = app.add_subcommand("parse", "print received aggregate reports as JSON");
  par->add_option("--max-size", p.max_size, "refuse reports larger than this decompressed")
      ->type_name("BYTES");
  par->add_option("files", p.files, "reports: XML, gzip, ZIP or messages ('-': stdin)")
      ->type_name("FILE");
  gen->add_option("--psl", g.psl, "the Public Suffix List file")->type_name("FILE");
  gen->fallthrough();  // the common and resolver options may follow the subcommand
  par->fallthrough();
  return postern::config::run_with_resolver(
      argc, argv, app, {.name = "dmarc-report"},
      [&](const dns::ResolverOptions& ro) { return gen->parsed() ? generate(g, ro) : parse(p); });
}
