// store-search: full-text search of one account, as IMAP SEARCH (substrings) and JMAP
// (words) see it. See store-search(8).
#include <CLI/CLI.hpp>
#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "base/cli.h"
#include "base/log.h"
#include "config/config.h"
#include "config/store.h"
#include "mail/header.h"
#include "mail/writer.h"
#include "store/store.h"

namespace {

namespace base = postern::base;
namespace store = postern::store;
namespace json = boost::json;

struct Options {
  std::string account, mailbox, field = "text", queries_file;
  std::vector<std::string> terms;
  bool words = false, json = false, index = false;
  std::string store_url, blob_dir;
};

base::Result<store::TextCondition> condition(const Options& o, std::string value) {
  static const std::vector<std::pair<std::string, store::TextField>> kFields = {
      {"text", store::TextField::kText},       {"body", store::TextField::kBody},
      {"subject", store::TextField::kSubject}, {"from", store::TextField::kFrom},
      {"to", store::TextField::kTo},           {"cc", store::TextField::kCc},
      {"bcc", store::TextField::kBcc},         {"attachment", store::TextField::kAttachmentName}};
  store::TextCondition c;
  c.value = std::move(value);
  c.match = o.words ? store::TextMatch::kWords : store::TextMatch::kSubstring;
  if (o.field.rfind("header:", 0) == 0 && o.field.size() > 7) {
    c.field = store::TextField::kHeader;
    c.header = o.field.substr(7);
    return c;
  }
  for (const auto& [name, f] : kFields) {
    if (name == o.field) {
      c.field = f;
      return c;
    }
  }
  return base::Error::usage("--field: unknown field \"" + o.field + "\"");
}

int print_matches(store::Store& st, const Options& o, store::Id account,
                  const std::vector<store::Id>& ids) {
  for (store::Id id : ids) {
    auto e = st.email(account, id);
    if (!e) return base::fail(e.error());
    if (!*e) continue;  // destroyed meanwhile
    const store::Email& m = **e;
    std::string date = postern::mail::format_date(m.received_at, 0);
    if (o.json) {
      json::object j{{"id", m.id},           {"thread_id", m.thread_id}, {"received_at", m.received_at},
                     {"from", m.from},       {"subject", m.subject},     {"size", m.size},
                     {"blob_id", m.blob_id}};
      json::array kw;
      for (const auto& k : m.keywords) kw.emplace_back(k);
      j["keywords"] = std::move(kw);
      if (!base::write_stdout(json::serialize(j) + "\n")) return 0;
    } else if (!base::write_stdout(std::to_string(m.id) + "\t" + date + "\t" + m.from + "\t" +
                                   m.subject + "\n")) {
      return 0;
    }
  }
  return 0;
}

// One query per line: prints "hits<TAB>milliseconds<TAB>query", then p50/p99.
int run_queries(store::Store& st, const Options& o, store::Id account,
                std::optional<store::Id> mailbox) {
  std::ifstream in(o.queries_file);
  if (!in) return base::fail(base::Error::usage("cannot read " + o.queries_file));
  std::vector<double> ms;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    auto c = condition(o, line);
    if (!c) return base::fail(c.error());
    auto t0 = std::chrono::steady_clock::now();
    auto ids = st.search(account, mailbox, {*c});
    auto t1 = std::chrono::steady_clock::now();
    if (!ids) return base::fail(ids.error());
    double d = std::chrono::duration<double, std::milli>(t1 - t0).count();
    ms.push_back(d);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%zu\t%.3f\t", ids->size(), d);
    if (!base::write_stdout(buf + line + "\n")) return 0;
  }
  if (ms.empty()) return 0;
  std::sort(ms.begin(), ms.end());
  auto pct = [&](double p) {
    size_t i = static_cast<size_t>(std::ceil(p * static_cast<double>(ms.size()))) - 1;
    return ms[std::min(i, ms.size() - 1)];
  };
  char buf[128];
  std::snprintf(buf, sizeof buf, "# %zu queries: p50 %.3f ms, p99 %.3f ms\n", ms.size(),
                pct(0.50), pct(0.99));
  base::write_stdout(buf);
  return 0;
}

// --index: the deferred text indexing of one account or all, as a cron job would run it.
int run_index(store::Store& st, const Options& o) {
  std::optional<store::Id> account;
  if (!o.account.empty()) {
    auto acct = postern::config::require_account(st, o.account);
    if (!acct) return base::fail(acct.error());
    account = acct->id;
  }
  auto t0 = std::chrono::steady_clock::now();
  auto n = st.index_pending(account);
  if (!n) return base::fail(n.error());
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  char buf[96];
  std::snprintf(buf, sizeof buf, "indexed %zu emails in %.2f s\n", *n, s);
  base::write_stdout(buf);
  return 0;
}

int run(Options& o, const postern::config::Config& cfg) {
  if (o.index && (!o.terms.empty() || !o.queries_file.empty())) {
    return base::fail(base::Error::usage("--index takes no QUERY or --queries"));
  }
  if (!o.index && (o.terms.empty() && o.queries_file.empty())) {
    return base::fail(base::Error::usage("give a QUERY, --queries FILE or --index"));
  }
  if (!o.index && o.account.empty()) return base::fail(base::Error::usage("--account is required"));
  auto st = postern::config::open_existing_store(cfg, o.store_url, o.blob_dir);
  if (!st) return base::fail(st.error());
  if (o.index) return run_index(**st, o);
  auto acct = postern::config::require_account(**st, o.account);
  if (!acct) return base::fail(acct.error());
  std::optional<store::Id> mailbox;
  if (!o.mailbox.empty()) {
    auto m = (*st)->find_mailbox(acct->id, o.mailbox);
    if (!m) return base::fail(m.error());
    if (!*m) return base::fail(base::Error::bad_data("no such mailbox: " + o.mailbox));
    mailbox = (*m)->id;
  }
  if (!o.queries_file.empty()) return run_queries(**st, o, acct->id, mailbox);
  std::vector<store::TextCondition> all;
  for (const auto& t : o.terms) {
    auto c = condition(o, t);
    if (!c) return base::fail(c.error());
    all.push_back(*c);
  }
  auto ids = (*st)->search(acct->id, mailbox, all);
  if (!ids) return base::fail(ids.error());
  return print_matches(**st, o, acct->id, *ids);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"search one account's mail by text, as IMAP and JMAP do"};
  Options o;
  app.add_option("-a,--account", o.account, "the account's address (with --index: all when omitted)")
      ->type_name("ADDRESS");
  app.add_option("-m,--mailbox", o.mailbox, "only this mailbox")->type_name("PATH");
  app.add_option("-f,--field", o.field,
                 "where to look: text (headers and body, the default), body, subject, from, "
                 "to, cc, bcc, attachment, header:NAME")
      ->type_name("FIELD");
  app.add_flag("-w,--words", o.words,
               "match whole words (JMAP) instead of substrings (IMAP SEARCH)");
  app.add_option("--queries", o.queries_file,
                 "run one query per line of FILE and print hits and milliseconds for each")
      ->type_name("FILE");
  app.add_flag("--json", o.json, "print one JSON object per match");
  app.add_flag("--index", o.index,
               "index the text of emails delivered since the last search or --index, and exit");
  app.add_option("query", o.terms, "text to find; several must all match")->type_name("QUERY");
  postern::config::add_store_options(app, &o.store_url, &o.blob_dir);
  postern::config::Config config;
  return base::run_main(argc, argv, app, {.name = "store-search"}, [&] { return run(o, config); },
                        postern::config::loader(&config));
}
