// queue-run: delivers what the queue holds — local recipients into the store, remote ones
// over SMTP (MX, transports, STARTTLS, MTA-STS, DANE) — with retries and DSNs. A daemon
// under the supervisor, or one pass with --once. See queue-run(8).
#include <iostream>
#include <string>

#include <CLI/CLI.hpp>

#include "base/cli.h"
#include "base/service.h"
#include "config/config.h"
#include "config/delivery.h"
#include "config/store.h"
#include "smtp/delivery.h"

namespace {

namespace base = postern::base;
namespace config = postern::config;
namespace delivery = postern::smtp::delivery;

struct Options {
  bool once = false;
  int notify_fd = -1;
  bool check = false;
  std::string store_url;
  std::string blob_dir;
};

int run(const Options& o, const config::Config& cfg, const base::CommonOptions* common) {
  auto settings = config::delivery_settings(cfg);
  if (!settings) return base::fail(settings.error());
  delivery::StoreOpener opener = [&cfg, &o]() {
    return config::open_existing_store(cfg, o.store_url, o.blob_dir);
  };
  delivery::Reloader reload;
  if (!cfg.file().empty() && common) {
    std::string file = cfg.file();
    std::vector<std::string> sets = common->sets;
    reload = [file, sets]() -> base::Result<delivery::Settings> {
      auto next = config::load(file, sets);
      if (!next) return next.error();
      return config::delivery_settings(*next);
    };
  }
  delivery::Runner runner(std::move(*settings), opener, reload);
  if (auto st = runner.prepare(); !st) return base::fail(st.error());
  if (o.check) return 0;
  if (o.once) {
    auto stats = runner.run_once();
    if (!stats) return base::fail(stats.error());
    std::string line = "attempts=" + std::to_string(stats->attempts) +
                       " delivered=" + std::to_string(stats->delivered) +
                       " deferred=" + std::to_string(stats->deferred) +
                       " bounced=" + std::to_string(stats->failed) +
                       " dsns=" + std::to_string(stats->dsns) +
                       " forwarded=" + std::to_string(stats->forwarded) + "\n";
    return base::write_stdout(line) ? 0 : base::fail(base::Error::temporary("cannot write to standard output"));
  }
  if (o.notify_fd >= 0) base::set_notify_fd(o.notify_fd);
  auto inherited = base::inherited_sockets();
  if (!inherited) return base::fail(inherited.error());
  auto st = runner.run(std::move(*inherited));
  return st ? 0 : base::fail(st.error());
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"deliver queued mail: to local mailboxes and over SMTP, with retries and DSNs"};
  Options o;
  app.add_flag("--once", o.once,
               "attempt every message that is due now once, print a summary, and exit (cron, tests)");
  app.add_option("--notify-fd", o.notify_fd, "write a newline to FD when running")->type_name("FD");
  app.add_flag("--check", o.check, "check the configuration, keys and store, then exit");
  config::add_store_options(app, &o.store_url, &o.blob_dir);
  config::Config cfg;
  base::CommonOptions common;
  auto load = config::loader(&cfg);
  return base::run_main(
      argc, argv, app, {.name = "queue-run"}, [&] { return run(o, cfg, &common); },
      [&](const base::CommonOptions& c) {
        common = c;
        return load(c);
      });
}
