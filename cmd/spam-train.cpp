// spam-train: teaches the statistical classifier messages as spam or ham (global model, or
// one account's with --user), or makes it forget them. See spam-train(1).
#include <CLI/CLI.hpp>
#include <algorithm>
#include <ctime>
#include <string>
#include <vector>

#include "base/cli.h"
#include "base/file_list.h"
#include "base/log.h"
#include "config/spam.h"
#include "config/store.h"
#include "spam/analysis.h"
#include "spam/bayes.h"
#include "store/blob.h"
#include "store/spam_model.h"

namespace {

namespace base = postern::base;
namespace spam = postern::spam;
namespace sm = postern::store::spam_model;

struct Options {
  std::vector<std::string> files;
  std::string files_from;
  bool spam = false, ham = false, forget = false, stats = false;
  std::string user, mailbox;
  std::string store_url, blob_dir;
};

int run(Options& o, const postern::config::Config& cfg) {
  if (o.spam + o.ham + o.stats != 1) {
    return base::fail(base::Error::usage("give exactly one of --spam, --ham or --stats"));
  }
  if (!o.mailbox.empty() && (o.user.empty() || !o.files.empty() || !o.files_from.empty())) {
    return base::fail(base::Error::usage("--mailbox needs --user, and no files"));
  }
  if (!o.files_from.empty()) {
    if (auto st = base::append_file_list(o.files_from, o.files); !st) return base::fail(st.error());
  }
  auto settings = postern::config::spam_settings(cfg);
  if (!settings) return base::fail(settings.error());
  auto store = postern::config::open_existing_store(cfg, o.store_url, o.blob_dir);
  if (!store) return base::fail(store.error());
  int64_t account = 0;
  if (!o.user.empty()) {
    auto a = postern::config::require_account(**store, o.user);
    if (!a) return base::fail(a.error());
    account = a->id;
  }
  std::string scope = o.user.empty() ? "global model" : "model of " + o.user;
  if (o.stats) {
    auto t = sm::totals(**store, account);
    if (!t) return base::fail(t.error());
    base::write_stdout(scope + ": " + std::to_string(t->nspam) + " spam, " +
                       std::to_string(t->nham) + " ham learned\n");
    return 0;
  }
  spam::AnalyzeOptions ao;
  ao.authserv_ids = settings->authserv_ids;
  std::vector<sm::Lesson> batch;
  sm::Outcome total;
  size_t forgotten = 0;
  int64_t now = static_cast<int64_t>(std::time(nullptr));
  auto flush = [&]() -> base::Status {
    if (batch.empty()) return {};
    if (o.forget) {
      auto n = sm::forget(**store, account, batch);
      if (!n) return n.error();
      forgotten += *n;
    } else {
      auto r = sm::learn(**store, account, batch, now);
      if (!r) return r.error();
      total.learned += r->learned;
      total.moved += r->moved;
      total.already += r->already;
    }
    batch.clear();
    return {};
  };
  auto teach = [&](const std::string& shown, std::string& bytes) -> std::optional<int> {
    std::string digest = postern::store::blob_id_of(bytes);  // SHA-256, hex
    auto a = spam::analyze(std::move(bytes), ao);
    if (!a) {
      base::log_error(a.error().with_context(shown));
      return base::to_int(a.error().code());
    }
    batch.push_back({digest, o.spam, spam::tokens(*a)});
    if (batch.size() >= 200) {
      if (auto st = flush(); !st) return base::fail(st.error());
    }
    return 0;
  };
  int rc = 0;
  if (!o.mailbox.empty()) {
    // The messages the user filed there (a cron job: Junk as spam, say), by UID.
    auto mb = (*store)->find_mailbox_nocase(account, o.mailbox);
    if (!mb) return base::fail(mb.error());
    if (!*mb) return base::fail(base::Error::no_user(o.user + " has no mailbox " + o.mailbox));
    for (uint32_t after = 0;;) {
      auto page = (*store)->members((*mb)->id, after, 500);
      if (!page) return base::fail(page.error());
      if (page->empty()) break;
      for (const postern::store::Member& m : *page) {
        after = m.uid;
        auto bytes = (*store)->read_message(account, m.email_id);
        if (!bytes) return base::fail(bytes.error());
        rc = std::max(rc, teach(o.mailbox + " uid " + std::to_string(m.uid), *bytes).value_or(0));
      }
    }
  } else {
    rc = base::for_each_input(o.files, teach);
  }
  if (auto st = flush(); !st) return base::fail(st.error());
  if (o.forget) {
    base::write_stdout(scope + ": forgot " + std::to_string(forgotten) + " messages\n");
  } else {
    base::write_stdout(scope + ": learned " + std::to_string(total.learned) + " as " +
                       (o.spam ? "spam" : "ham") + ", moved " + std::to_string(total.moved) +
                       ", already known " + std::to_string(total.already) + "\n");
  }
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"train the spam filter's statistical classifier with spam or ham"};
  Options o;
  app.add_option("files", o.files, "messages to read ('-': standard input)")->type_name("FILE");
  app.add_option("--files-from", o.files_from, "read the message file names from LIST, one a line")
      ->type_name("LIST");
  app.add_flag("-s,--spam", o.spam, "learn the messages as spam");
  app.add_flag("-H,--ham", o.ham, "learn the messages as ham (not spam)");
  app.add_flag("--forget", o.forget, "with --spam or --ham: take the messages out of the model");
  app.add_flag("--stats", o.stats, "print how many messages the model has learned");
  app.add_option("-u,--user", o.user, "the account whose own model to train (default: global)")
      ->type_name("ADDR");
  app.add_option("-m,--mailbox", o.mailbox,
                 "with --user: learn the messages of that account's mailbox, not files")
      ->type_name("NAME");
  postern::config::add_store_options(app, &o.store_url, &o.blob_dir);
  postern::config::Config config;
  return base::run_main(
      argc, argv, app, {.name = "spam-train"}, [&] { return run(o, config); },
      postern::config::loader(&config));
}
