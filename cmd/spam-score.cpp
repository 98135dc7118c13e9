// spam-score: scores messages with the rules, the builtin checks and the statistical
// classifier; prints each message with X-Spam-* fields prepended, the rules' contributions
// (--explain) or JSON. See spam-score(1).
#include <CLI/CLI.hpp>
#include <boost/json.hpp>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "base/cli.h"
#include "base/exit_code.h"
#include "base/file_list.h"
#include "base/log.h"
#include "config/dns.h"
#include "config/spam.h"
#include "config/store.h"
#include "spam/engine.h"
#include "spam/models.h"
#include "spam/scan.h"

namespace {

namespace base = postern::base;
namespace spam = postern::spam;
namespace json = boost::json;

struct Options {
  std::vector<std::string> files;
  std::string files_from;
  std::vector<std::string> rules;
  std::string rcpt;
  std::string ip;
  std::string store_url, blob_dir;
  bool json = false, explain = false, headers_only = false, check = false, no_bayes = false;
  size_t tokens = 0;
};

std::string explain(const std::string& file, bool many, const spam::Verdict& v,
                    const spam::Thresholds& t) {
  std::string out = (many ? file + ": " : "") + std::string(v.spam ? "spam" : "ham") +
                    " score=" + spam::format_score(v.score) + " required=" + spam::format_score(t.junk) +
                    " action=" + std::string(spam::action_name(v.action)) + "\n";
  for (const spam::Hit& h : v.hits) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%6.1f  ", h.score);
    out += buf + h.name + (h.detail.empty() ? "" : "  (" + h.detail + ")") + "\n";
  }
  if (!v.bayes_tokens.empty()) {
    out += "classifier's strongest tokens (spam probability):\n";
    for (const spam::TokenProbability& t : v.bayes_tokens) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "  %6.4f  ", t.probability);
      out += buf + t.token + "\n";
    }
  }
  return out;
}

std::string json_form(const std::string& file, const spam::Verdict& v) {
  json::object o;
  o["file"] = file;
  o["score"] = std::round(v.score * 1000) / 1000;
  o["spam"] = v.spam;
  o["action"] = std::string(spam::action_name(v.action));
  if (v.bayes >= 0) o["bayes"] = v.bayes;
  json::array rules;
  for (const spam::Hit& h : v.hits) {
    json::object r;
    r["name"] = h.name;
    r["score"] = h.score;
    if (!h.detail.empty()) r["detail"] = h.detail;
    rules.push_back(std::move(r));
  }
  o["rules"] = std::move(rules);
  if (!v.bayes_tokens.empty()) {
    json::array toks;
    for (const spam::TokenProbability& t : v.bayes_tokens) {
      toks.push_back(json::object{{"token", t.token}, {"probability", t.probability}});
    }
    o["bayes_tokens"] = std::move(toks);
  }
  return json::serialize(o) + "\n";
}

int run(Options& o, const postern::config::Config& cfg, const postern::dns::ResolverOptions& ro) {
  if (o.json + o.explain + o.headers_only > 1) {
    return base::fail(base::Error::usage("--json, --explain and --headers-only exclude each other"));
  }
  if (o.tokens > 0 && !o.json && !o.explain) {
    return base::fail(base::Error::usage("--tokens needs --explain or --json"));
  }
  if (!o.files_from.empty()) {
    if (auto st = base::append_file_list(o.files_from, o.files); !st) return base::fail(st.error());
  }
  auto settings = postern::config::spam_settings(cfg, o.rules);
  if (!settings) return base::fail(settings.error());
  if (o.no_bayes) settings->bayes = false;
  // The store: the classifier's model, and the local domains to protect.
  std::unique_ptr<postern::store::Store> store;
  if (!o.store_url.empty() || !cfg.file().empty()) {
    auto s = postern::config::open_existing_store(cfg, o.store_url, o.blob_dir);
    if (!s) return base::fail(s.error());
    store = std::move(*s);
    auto domains = store->domains();
    if (!domains) return base::fail(domains.error());
    for (const auto& d : *domains) settings->protected_domains.push_back(d.name);
  }
  auto engine = spam::Engine::create(*settings);
  if (!engine) return base::fail(engine.error());
  const spam::Engine& e = **engine;
  std::unique_ptr<spam::Models> models;
  if (store && e.settings().bayes) {
    models = std::make_unique<spam::Models>(e.settings().bayes_options);
  }
  // DNS for the blocklists and the LLM, only when they are configured.
  std::unique_ptr<postern::dns::Resolver> resolver;
  if (!e.settings().dnsbl.empty() || e.settings().llm.enabled) {
    auto r = postern::dns::make_resolver(ro);
    if (!r) return base::fail(base::Error::config(r.error().message()));
    resolver = std::move(*r);
  }
  spam::ScanContext ctx{.resolver = resolver.get(), .models = models.get(), .store = store.get(),
                        .rcpt = o.rcpt, .client_ip = o.ip, .explain_tokens = o.tokens};
  spam::Engine::Scratch scratch(e);
  bool many = o.files.size() > 1;
  return base::for_each_input(o.files, [&](const std::string& shown, std::string& bytes) -> std::optional<int> {
    std::string clean = spam::strip_spam_headers(bytes);
    auto v = spam::scan(e, clean, ctx, scratch);
    if (!v) {
      base::log_error(v.error().with_context(shown));
      return base::to_int(v.error().code());
    }
    bool ok;
    if (o.json) {
      ok = base::write_stdout(json_form(shown, *v));
    } else if (o.explain) {
      ok = base::write_stdout(explain(shown, many, *v, e.settings().thresholds));
    } else {
      std::string fields = spam::spam_headers(*v, e.settings().thresholds);
      ok = base::write_stdout(o.headers_only ? fields : fields + clean);
    }
    if (!ok) return std::nullopt;
    return o.check && v->spam ? base::to_int(base::ExitCode::kNo) : 0;
  });
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"score messages for spam: rules, builtin checks and the statistical classifier"};
  Options o;
  app.add_option("files", o.files, "messages to read ('-': standard input)")->type_name("FILE");
  app.add_option("--files-from", o.files_from, "read the message file names from LIST, one a line")
      ->type_name("LIST");
  app.add_option("-r,--rules", o.rules, "more rule files or directories, after spam.rules")
      ->type_name("FILE")
      ->allow_extra_args(false);
  app.add_option("--rcpt", o.rcpt,
                 "the recipient: its own classifier model, and display-name checks against "
                 "its domain")
      ->type_name("ADDR");
  app.add_option("--ip", o.ip, "the SMTP client's address, looked up in the IP blocklists")
      ->type_name("IP");
  app.add_flag("-j,--json", o.json, "print one JSON object per message");
  app.add_flag("-e,--explain", o.explain, "print each rule's contribution instead of the message");
  app.add_flag("--headers-only", o.headers_only, "print only the X-Spam-* fields");
  app.add_flag("--check", o.check, "exit 1 when a message is spam (score at or above spam.junk)");
  app.add_flag("--no-bayes", o.no_bayes, "do not use the statistical classifier");
  app.add_option("--tokens", o.tokens,
                 "with --explain or --json: the classifier's N strongest tokens and their spam probabilities")
      ->type_name("N");
  postern::config::add_store_options(app, &o.store_url, &o.blob_dir);
  postern::config::Config config;
  return postern::config::run_with_resolver(
      argc, argv, app, {.name = "spam-score", .delivery_path = true},
      [&](const postern::dns::ResolverOptions& r) { return run(o, config, r); }, nullptr, &config);
}
