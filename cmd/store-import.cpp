// store-import: import Maildir folders (Dovecot, Courier, mutt), mbox files and .eml
// files into an account's mailboxes, keeping flags, keywords and received dates. Running
// it again on the same source imports only what is new. See store-import(8).
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>
#include <vector>

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
  std::string account, format, mailbox, date_from = "mtime";
  bool create_mailboxes = false, quiet = false, no_index = false;
  std::vector<std::string> sources;
  std::string store_url, blob_dir;
};

int run(const Options& o, const postern::config::Config& cfg) {
  io::ImportOptions io_opts;
  if (!o.format.empty()) {
    io_opts.format = io::parse_format(o.format);
    if (!io_opts.format) return base::fail(Error::usage("--format: maildir, mbox or eml"));
  }
  if (o.date_from != "mtime" && o.date_from != "name") {
    return base::fail(Error::usage("--date-from: mtime or name"));
  }
  io_opts.date_from_name = o.date_from == "name";
  io_opts.mailbox = o.mailbox;
  while (!io_opts.mailbox.empty() && io_opts.mailbox.back() == '/') io_opts.mailbox.pop_back();
  io_opts.create_mailboxes = o.create_mailboxes;

  auto s = postern::config::open_existing_store(cfg, o.store_url, o.blob_dir);
  if (!s) return base::fail(s.error());
  store::Store& st = **s;
  auto acct = postern::config::require_account(st, o.account);
  if (!acct) return base::fail(acct.error());
  io_opts.account = acct->id;

  bool tty = !o.quiet && isatty(STDERR_FILENO);
  uint64_t shown = 0;
  io_opts.on_bad = [&](const std::string& where, const Error& why) {
    if (tty && shown) std::fputs("\n", stderr);
    shown = 0;
    base::log_warn("bad_message", {{"file", where}, {"error", why.message()}});
  };
  io_opts.progress = [&](const io::ImportStats& p) {
    uint64_t done = p.imported + p.present + p.bad;
    if (!tty || done - shown < 50) return;
    shown = done;
    std::fprintf(stderr, "\r%llu messages", static_cast<unsigned long long>(done));
  };

  io::ImportStats stats;
  for (const auto& src : o.sources) {
    std::string source = src;
    while (source.size() > 1 && source.back() == '/') source.pop_back();
    auto r = io::import_source(st, base::real_fs(), source, io_opts, stats);
    if (!r) {
      if (tty && shown) std::fputs("\n", stderr);
      return base::fail(r.error().with_context(source));
    }
  }
  if (tty && shown) std::fputs("\r", stderr);
  // The imported text, indexed in batches now rather than by the first search.
  size_t indexed = 0;
  if (!o.no_index) {
    auto n = st.index_pending(acct->id);
    if (!n) return base::fail(n.error().with_context("indexing the imported messages"));
    indexed = *n;
  }
  base::write_stdout("mailboxes " + std::to_string(stats.mailboxes) + " (" +
                     std::to_string(stats.created) + " created)\n" + "messages " +
                     std::to_string(stats.imported) + " imported, " +
                     std::to_string(stats.present) + " already present, " +
                     std::to_string(stats.bad) + " bad\n" + "bytes " +
                     std::to_string(stats.bytes) + "\n" + "indexed " + std::to_string(indexed) +
                     "\n");
  return stats.bad > 0 ? base::to_int(base::ExitCode::kDataErr) : 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"import Maildir, mbox and .eml mail into an account, keeping flags and dates"};
  Options o;
  postern::config::add_store_options(app, &o.store_url, &o.blob_dir);
  app.add_option("-a,--account", o.account, "the account (address) to import into")
      ->type_name("ADDRESS")
      ->required();
  app.add_option("-f,--format", o.format, "source format (default: detected)")
      ->type_name("{maildir,mbox,eml}");
  app.add_option("-m,--mailbox", o.mailbox,
                 "mailbox for the source's root, its folders below it (default: Inbox, "
                 "folders by name and role)")
      ->type_name("PATH");
  app.add_flag("--create-mailboxes", o.create_mailboxes, "create the --mailbox when missing");
  app.add_option("--date-from", o.date_from,
                 "Maildir received date: file mtime (Dovecot's, default) or name timestamp")
      ->type_name("{mtime,name}");
  app.add_flag("-q,--quiet", o.quiet, "no progress count on a terminal");
  app.add_flag("--no-index", o.no_index,
               "leave the text indexing to the first search or store-search --index");
  app.add_option("sources", o.sources, "Maildir directories, mbox files or trees, .eml files or trees")
      ->type_name("SOURCE")
      ->required();
  postern::config::Config cfg;
  return base::run_main(
      argc, argv, app, {.name = "store-import"}, [&] { return run(o, cfg); },
      postern::config::loader(&cfg));
}
