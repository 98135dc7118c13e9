// smtp-listen: the SMTP server — MX, submission, submissions and LMTP listeners from the
// configuration, the filter pipeline, and the durable queue. See smtp-listen(8).
#include <cstdlib>
#include <string>

#include <CLI/CLI.hpp>

#include "base/cli.h"
#include "base/log.h"
#include "base/service.h"
#include "config/config.h"
#include "config/smtp.h"
#include "config/store.h"
#include "smtp/server.h"

namespace {

namespace base = postern::base;
namespace config = postern::config;
namespace smtp = postern::smtp;

struct Options {
  bool stdio = false;
  std::string listener;
  int notify_fd = -1;
  bool check = false;
  std::string store_url;
  std::string blob_dir;
};

int run(const Options& o, const config::Config& cfg, const base::CommonOptions* common) {
  auto settings = config::smtp_settings(cfg);
  if (!settings) return base::fail(settings.error());
  if (settings->listeners.empty() && !o.stdio) {
    return base::fail(base::Error::config(
        "no SMTP listener (mode mx, submission, submissions or lmtp) in the configuration"));
  }
  smtp::StoreOpener opener = [&cfg, &o]() {
    return config::open_existing_store(cfg, o.store_url, o.blob_dir);
  };
  smtp::Reloader reload;
  if (!cfg.file().empty() && common) {
    std::string file = cfg.file();
    std::vector<std::string> sets = common->sets;
    reload = [file, sets]() -> base::Result<smtp::Settings> {
      auto next = config::load(file, sets);
      if (!next) return next.error();
      return config::smtp_settings(*next);
    };
  }
  smtp::Server server(std::move(*settings), opener, reload);
  if (auto st = server.prepare(); !st) return base::fail(st.error());
  if (o.check) return 0;
  if (o.notify_fd >= 0) base::set_notify_fd(o.notify_fd);
  if (o.stdio) {
    const char* ip = std::getenv("TCPREMOTEIP");
    auto st = server.run_stdio(0, 1, ip && *ip ? ip : "127.0.0.1", o.listener);
    return st ? 0 : base::fail(st.error());
  }
  auto inherited = base::inherited_sockets();
  if (!inherited) return base::fail(inherited.error());
  auto st = server.run(std::move(*inherited));
  return st ? 0 : base::fail(st.error());
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"receive mail over SMTP, submission and LMTP into the queue"};
  Options o;
  app.add_flag("--stdio", o.stdio,
               "serve one session on standard input and output (client address from "
               "$TCPREMOTEIP)");
  app.add_option("--listener", o.listener,
                 "with --stdio: behave as this listener of the configuration (its mode)")
      ->type_name("NAME");
  app.add_option("--notify-fd", o.notify_fd, "write a newline to FD when ready to serve")
      ->type_name("FD");
  app.add_flag("--check", o.check,
               "check the configuration, TLS files, filters and store, then exit");
  config::add_store_options(app, &o.store_url, &o.blob_dir);
  config::Config cfg;
  base::CommonOptions common;
  auto load = config::loader(&cfg);
  return base::run_main(
      argc, argv, app, {.name = "smtp-listen"}, [&] { return run(o, cfg, &common); },
      [&](const base::CommonOptions& c) {
        common = c;
        return load(c);
      });
}
