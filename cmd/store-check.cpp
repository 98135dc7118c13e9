// store-check: verifies the store's invariants (blobs, reference counts, UIDs, modseqs,
// quotas, mailboxes, search rows) and with --repair fixes what can be fixed without
// losing mail. See store-check(8).
#include <CLI/CLI.hpp>
#include <boost/json.hpp>
#include <string>

#include "base/cli.h"
#include "base/exit_code.h"
#include "config/config.h"
#include "config/store.h"
#include "store/check.h"

namespace {

namespace base = postern::base;
namespace store = postern::store;
namespace json = boost::json;

struct Options {
  std::string store_url, blob_dir;
  store::CheckOptions check;
  bool json = false;
};

std::string line(const store::Problem& p) {
  std::string s = p.message;
  if (p.repaired) {
    s += " (repaired)";
  } else if (!p.repair_error.empty()) {
    s += " (repair failed: " + p.repair_error + ")";
  } else if (!p.repairable) {
    s += " (cannot be repaired)";
  }
  return s + "\n";
}

std::string summary(const store::CheckReport& r, bool repair) {
  std::string s = "checked " + std::to_string(r.accounts) + " accounts, " +
                  std::to_string(r.mailboxes) + " mailboxes, " + std::to_string(r.emails) +
                  " emails (" + std::to_string(r.pending) + " waiting for text indexing), " +
                  std::to_string(r.blobs) + " blobs: ";
  size_t left = r.left();
  size_t fixed = r.problems.size() - left;
  if (r.problems.empty()) return s + "no problems\n";
  s += std::to_string(r.problems.size()) + (r.problems.size() == 1 ? " problem" : " problems");
  if (repair) s += ", " + std::to_string(fixed) + " repaired";
  if (left > 0) s += ", " + std::to_string(left) + " left";
  return s + "\n";
}

json::object to_json(const store::CheckReport& r) {
  json::array problems;
  for (const auto& p : r.problems) {
    json::object o{{"kind", p.kind},
                   {"account", p.account},
                   {"message", p.message},
                   {"repairable", p.repairable},
                   {"repaired", p.repaired}};
    if (!p.repair_error.empty()) o["repair_error"] = p.repair_error;
    problems.push_back(std::move(o));
  }
  return {{"store", r.store},
          {"accounts", r.accounts},
          {"mailboxes", r.mailboxes},
          {"emails", r.emails},
          {"pending", r.pending},
          {"queued", r.queued},
          {"blobs", r.blobs},
          {"blob_files", r.blob_files},
          {"problems", std::move(problems)},
          {"left", r.left()}};
}

int run(Options& o, const postern::config::Config& cfg) {
  if (o.check.grace_seconds < 0) {
    return base::fail(base::Error::usage("--grace: a number of seconds, 0 or more"));
  }
  // Never create a store while checking one: a mistyped path is an error, not a new store.
  auto st = postern::config::open_store(cfg, o.store_url, o.blob_dir, false);
  if (!st) return base::fail(st.error());
  auto report = store::check_store(**st, o.check);
  if (!report) return base::fail(report.error());
  if (o.json) {
    base::write_stdout(json::serialize(to_json(*report)) + "\n");
  } else {
    for (const auto& p : report->problems) {
      if (!base::write_stdout(line(p))) break;
    }
    base::write_stdout(summary(*report, o.check.repair));
  }
  // fsck's convention: problems left uncorrected are a non-zero exit.
  return report->left() == 0 ? 0 : base::to_int(base::ExitCode::kNo);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"verify the store's invariants and repair what can be repaired"};
  Options o;
  app.add_option("--account", o.check.account, "check only this account (and the blobs it uses)")
      ->type_name("ADDRESS");
  app.add_flag("--deep", o.check.deep, "read every blob and verify it hashes to its id");
  app.add_flag("--repair", o.check.repair,
               "fix reference counts, quotas, UID counters, modseqs, emails in no mailbox, "
               "search rows, and remove orphaned blobs");
  app.add_option("--grace", o.check.grace_seconds,
                 "unreferenced blobs younger than this are not orphans (default 3600)")
      ->type_name("SECONDS");
  app.add_flag("--json", o.json, "print one JSON object instead of lines");
  postern::config::add_store_options(app, &o.store_url, &o.blob_dir);
  postern::config::Config config;
  return base::run_main(
      argc, argv, app, {.name = "store-check"}, [&] { return run(o, config); },
      postern::config::loader(&config));
}
