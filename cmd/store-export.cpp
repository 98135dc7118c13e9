// store-export: write an account's mailboxes as a Maildir (Dovecot's layout), mbox files
// (mboxrd) or .eml files, with flags, keywords and received dates where the format can
// hold them. See store-export(8).
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>

#include "base/cli.h"
#include "base/exit_code.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/result.h"
#include "config/config.h"
#include "config/store.h"
#include "store/mailbox_io.h"
#include "store/store.h"

namespace {

namespace base = postern::base;
namespace store = postern::store;
namespace io = postern::store::io;
using base::Error;

struct Options {
  std::string account, format, mailbox, dest, host;
  bool quiet = false;
  std::string store_url, blob_dir;
};

int run(const Options& o, const postern::config::Config& cfg) {
  io::ExportOptions eo;
  auto format = io::parse_format(o.format);
  if (!format) return base::fail(Error::usage("--format: maildir, mbox or eml"));
  eo.format = *format;
  eo.mailbox = o.mailbox;
  while (!eo.mailbox.empty() && eo.mailbox.back() == '/') eo.mailbox.pop_back();
  if (!o.host.empty()) {
    eo.host = o.host;
  } else {
    char name[256] = {};
    if (gethostname(name, sizeof name - 1) == 0 && name[0]) eo.host = name;
  }

  auto s = postern::config::open_existing_store(cfg, o.store_url, o.blob_dir);
  if (!s) return base::fail(s.error());
  store::Store& st = **s;
  auto acct = postern::config::require_account(st, o.account);
  if (!acct) return base::fail(acct.error());
  eo.account = acct->id;

  bool tty = !o.quiet && isatty(STDERR_FILENO);
  uint64_t shown = 0;
  eo.progress = [&](const io::ExportStats& p) {
    if (!tty || p.messages - shown < 50) return;
    shown = p.messages;
    std::fprintf(stderr, "\r%llu messages", static_cast<unsigned long long>(p.messages));
  };
  std::string dest = o.dest;
  while (dest.size() > 1 && dest.back() == '/') dest.pop_back();
  auto r = io::export_account(st, base::real_fs(), dest, eo);
  if (tty && shown) std::fputs("\n", stderr);
  if (!r) return base::fail(r.error().with_context(dest));
  if (r->dropped_keywords > 0) {
    base::log_warn("keywords_dropped",
                   {{"count", std::to_string(r->dropped_keywords)},
                    {"reason", "a Maildir folder holds at most 26 custom keywords"}});
  }
  base::write_stdout("mailboxes " + std::to_string(r->mailboxes) + "\nmessages " +
                     std::to_string(r->messages) + "\nbytes " + std::to_string(r->bytes) + "\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"export an account's mail as Maildir, mbox or .eml files, with flags and dates"};
  Options o;
  postern::config::add_store_options(app, &o.store_url, &o.blob_dir);
  app.add_option("-a,--account", o.account, "the account (address) to export")
      ->type_name("ADDRESS")
      ->required();
  app.add_option("-f,--format", o.format, "what to write")
      ->type_name("{maildir,mbox,eml}")
      ->required();
  app.add_option("-m,--mailbox", o.mailbox, "export only this mailbox (default: all)")
      ->type_name("PATH");
  app.add_option("--host", o.host, "host name in Maildir file names (default: this host's)")
      ->type_name("NAME");
  app.add_flag("-q,--quiet", o.quiet, "no progress count on a terminal");
  app.add_option("dest", o.dest, "directory to write (created when missing)")
      ->type_name("DIR")
      ->required();
  postern::config::Config cfg;
  return base::run_main(
      argc, argv, app, {.name = "store-export"}, [&] { return run(o, cfg); },
      postern::config::loader(&cfg));
}
