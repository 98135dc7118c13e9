// store-migrate: copy a whole store (rows and blobs) between SQLite and PostgreSQL,
// resumable after a crash, verified at the end. See store-migrate(8).
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <string>

#include "base/cli.h"
#include "base/log.h"
#include "config/config.h"
#include "config/store.h"
#include "store/migrate.h"

namespace {

namespace base = postern::base;
namespace store = postern::store;
namespace json = boost::json;

struct Options {
  std::string from, from_blobs, to, to_blobs;
  bool force = false;
  int64_t batch = 500;
  bool progress = false, no_progress = false;
  bool json = false;
};

// One status line on stderr, redrawn with \r at most ten times a second.
class Bar {
 public:
  explicit Bar(bool on) : on_(on) {}
  ~Bar() { end(); }

  void draw(const store::MigrateProgress& p) {
    if (!on_) return;
    auto now = std::chrono::steady_clock::now();
    if (p.table != table_ || p.phase != phase_) {
      table_ = p.table;
      phase_ = p.phase;
      since_ = now;
      first_ = p.done;
    } else if (now - last_ < std::chrono::milliseconds(100) && p.done < p.total) {
      return;
    }
    last_ = now;
    double secs = std::chrono::duration<double>(now - since_).count();
    double rate = secs > 0 ? static_cast<double>(p.done - first_) / secs : 0;
    const char* verb = p.phase == store::MigrateProgress::Phase::kVerify ? "verifying" : "copying";
    int pct = p.total > 0 ? static_cast<int>(100 * p.done / p.total) : 100;
    char line[200];
    std::snprintf(line, sizeof line, "\r%s %-12s %lld/%lld %3d%% %8.0f/s\033[K", verb,
                  p.table.c_str(), static_cast<long long>(p.done),
                  static_cast<long long>(p.total), pct, rate);
    std::fputs(line, stderr);
    std::fflush(stderr);
    drawn_ = true;
  }

  void end() {
    if (drawn_) std::fputs("\r\033[K", stderr);
    drawn_ = false;
  }

 private:
  bool on_;
  bool drawn_ = false;
  std::string table_;
  store::MigrateProgress::Phase phase_{};
  int64_t first_ = 0;
  std::chrono::steady_clock::time_point since_, last_;
};

std::string human_bytes(int64_t n) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u ? "%.1f %s" : "%.0f %s", v, units[u]);
  return buf;
}

double per_second(int64_t n, double secs) { return secs > 0 ? static_cast<double>(n) / secs : 0; }

std::string text_summary(const store::MigrateReport& r) {
  char line[400];
  std::snprintf(line, sizeof line,
                "%s %s -> %s: %zu tables, %lld rows, %lld blobs (%s) verified; this run copied "
                "%lld rows and %lld blobs in %.1f s, %.0f messages/s\n",
                r.resumed ? "resumed and finished" : "migrated", r.source.c_str(),
                r.target.c_str(), r.tables.size(), static_cast<long long>(r.rows),
                static_cast<long long>(r.blobs), human_bytes(r.blob_bytes).c_str(),
                static_cast<long long>(r.rows_copied), static_cast<long long>(r.blobs_copied),
                r.seconds, per_second(r.messages_copied, r.seconds));
  std::string out = line;
  for (const auto& t : r.tables) {
    std::snprintf(line, sizeof line, "  %-14s %10lld rows  sha256 %s\n", t.name.c_str(),
                  static_cast<long long>(t.rows), t.sha256.c_str());
    out += line;
  }
  return out;
}

json::object json_summary(const store::MigrateReport& r) {
  json::array tables;
  for (const auto& t : r.tables) {
    tables.push_back(
        json::object{{"name", t.name}, {"rows", t.rows}, {"copied", t.copied}, {"sha256", t.sha256}});
  }
  return {{"result", "ok"},
          {"source", r.source},
          {"target", r.target},
          {"resumed", r.resumed},
          {"tables", tables},
          {"rows", r.rows},
          {"rows_copied", r.rows_copied},
          {"messages", r.messages},
          {"messages_copied", r.messages_copied},
          {"blobs", r.blobs},
          {"blobs_copied", r.blobs_copied},
          {"blob_bytes", r.blob_bytes},
          {"seconds", r.seconds},
          {"messages_per_second", per_second(r.messages_copied, r.seconds)}};
}

int run(const Options& o, const postern::config::Config& cfg) {
  if (o.progress && o.no_progress) {
    return base::fail(base::Error::usage("--progress and --no-progress exclude each other"));
  }
  // The source must exist; the target is created (and migrated) when needed.
  auto from = postern::config::open_store(cfg, o.from, o.from_blobs, false);
  if (!from) return base::fail(from.error().with_context("source"));
  auto to = postern::config::open_store(cfg, o.to, o.to_blobs, true);
  if (!to) return base::fail(to.error().with_context("target"));
  Bar bar(o.progress || (!o.no_progress && isatty(STDERR_FILENO)));
  store::MigrateOptions mo;
  mo.batch = o.batch;
  mo.force = o.force;
  mo.progress = [&](const store::MigrateProgress& p) { bar.draw(p); };
  auto report = store::migrate_store(**from, **to, mo);
  bar.end();
  if (!report) return base::fail(report.error());
  base::log_info("migrated", {{"source", report->source},
                              {"target", report->target},
                              {"resumed", report->resumed ? "yes" : "no"},
                              {"rows", std::to_string(report->rows)},
                              {"blobs", std::to_string(report->blobs)}});
  base::write_stdout(o.json ? json::serialize(json_summary(*report)) + "\n"
                            : text_summary(*report));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"copy a whole store between SQLite and PostgreSQL, resumable and verified"};
  Options o;
  app.add_option("--from", o.from, "the source store: sqlite:PATH, or a PostgreSQL URL/conninfo")
      ->type_name("URL")
      ->required();
  app.add_option("--from-blob-dir", o.from_blobs,
                 "the source's message files, or \"db\" (default: blobs/ beside a SQLite "
                 "file; inside a PostgreSQL database)")
      ->type_name("DIR");
  app.add_option("--to", o.to, "the target store (created when missing)")
      ->type_name("URL")
      ->required();
  app.add_option("--to-blob-dir", o.to_blobs, "the target's message files, or \"db\"")
      ->type_name("DIR");
  app.add_flag("--force", o.force, "empty a target that already holds data, then copy");
  app.add_option("--batch", o.batch, "rows per target transaction (default 500)")
      ->type_name("N")
      ->check(CLI::Range(int64_t{1}, int64_t{1000000}));
  app.add_flag("--progress", o.progress, "draw a progress line on stderr even when not a terminal");
  app.add_flag("--no-progress", o.no_progress, "no progress line, even on a terminal");
  app.add_flag("--json", o.json, "print the summary as one JSON object");
  postern::config::Config config;
  return base::run_main(
      argc, argv, app, {.name = "store-migrate"}, [&] { return run(o, config); },
      postern::config::loader(&config));
}
