// The scoring engine: rules (regex sets compiled once), builtin checks, the statistical
// classifier, and extra hits from elsewhere (DNSBL at connect time, Pyzor, the LLM),
// summed into a score and an action, and written as SpamAssassin-compatible fields.
//
//   auto engine = spam::Engine::create(settings);      // compiles (or loads) the rule set
//   spam::Engine::Scratch scratch(**engine);            // one per thread
//   auto v = (*engine)->score(bytes, {.model = &model}, scratch);
//   out = spam::spam_headers(*v, settings.thresholds) + spam::strip_spam_headers(bytes);
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "spam/analysis.h"
#include "spam/bayes.h"
#include "spam/dnsbl.h"
#include "spam/llm.h"
#include "spam/regex_set.h"
#include "spam/rules.h"

namespace postern::spam {

struct Thresholds {
  double add_header = 4.0;  // X-Spam-* fields say so (below: they are still written)
  double junk = 5.0;        // X-Spam-Flag: YES; store-deliver files it into Junk
  double reject = 15.0;     // the in-server stage rejects at DATA (550 5.7.1)
};

struct Settings {
  Thresholds thresholds;
  std::vector<RuleDef> rules;
  std::vector<std::string> authserv_ids;       // whose Authentication-Results to trust
  std::vector<std::string> protected_domains;  // the local domains + a configured list
  std::vector<std::string> shorteners;         // URL shortener hosts
  RegexOptions regex;                          // engine and cache directory
  std::string psl_path;                        // "" = the default
  bool bayes = true;
  BayesOptions bayes_options;
  // DNS blocklists (none by default) and the LLM classifier (off by default); scan.h.
  std::vector<DnsblZone> dnsbl;
  DnsblOptions dnsbl_options;
  // The dnsbl stage refuses a client whose listings in the IP zones add up to this; what
  // scores less is only counted by spam-score (as postscreen's dnsbl threshold).
  double dnsbl_reject = 1.5;
  LlmSettings llm;
  // An LLM verdict adds LLM_<CATEGORY> with this score times its confidence.
  std::map<std::string, double> llm_scores = {
      {"spam", 4.0}, {"phishing", 6.0}, {"malware", 6.0}, {"scam", 5.0}, {"ham", -1.5}};
  double llm_min_confidence = 0.6;
  // Pyzor (none by default): a digest reported at least pyzor_min_count times, and
  // whitelisted fewer than pyzor_max_whitelist times, on the first server that answers
  // adds PYZOR_CHECK with pyzor_score.
  std::vector<std::string> pyzor_servers;
  int64_t pyzor_min_count = 5;
  int64_t pyzor_max_whitelist = 10;
  double pyzor_score = 2.0;
  int pyzor_timeout_ms = 3000;
};

// The builtin checks a rule can name with `check:`.
const std::vector<std::string>& builtin_checks();

struct Hit {
  std::string name;
  double score = 0;
  std::string detail;  // what fired, for --explain
};

enum class Action { kNone, kAddHeader, kJunk, kReject };
std::string_view action_name(Action a);  // "no action", "add header", "junk", "reject"
std::string format_score(double s);      // one decimal, as in the X-Spam-* fields: "-0.0" never

struct Verdict {
  double score = 0;
  std::vector<Hit> hits;  // reported rules, highest contribution first
  Action action = Action::kNone;
  bool spam = false;      // score >= junk: X-Spam-Flag: YES
  double bayes = -1;      // the classifier's probability, -1 when not used
  std::vector<TokenProbability> bayes_tokens;  // its strongest tokens (ScoreInput::explain_tokens)
};

struct ScoreInput {
  std::string rcpt;                                // for display-name checks ("" = none)
  const store::spam_model::Model* model = nullptr;  // the classifier's model, if any
  std::vector<Hit> extra;                          // hits found elsewhere (DNSBL, Pyzor, LLM)
  size_t explain_tokens = 0;                       // fill Verdict::bayes_tokens with this many
};

class Engine {
 public:
  static base::Result<std::shared_ptr<const Engine>> create(Settings settings);
  ~Engine();

  class Scratch {
   public:
    explicit Scratch(const Engine& e);
    ~Scratch();

   private:
    friend class Engine;
    std::vector<std::unique_ptr<RegexSet::Scratch>> sets_;
  };

  base::Result<Verdict> score(std::string message, const ScoreInput& in, Scratch& s) const;
  // The same, over an analysis made before (the caller may have needed it for tokens).
  Verdict score(const Analysis& a, const ScoreInput& in, Scratch& s) const;
  AnalyzeOptions analyze_options() const;

  const Settings& settings() const { return settings_; }
  size_t rule_count() const { return settings_.rules.size(); }
  bool rules_from_cache() const;

  struct Impl;

 private:
  Engine() = default;
  Settings settings_;
  std::unique_ptr<Impl> impl_;
};

// The X-Spam-Flag (only when spam), X-Spam-Score, X-Spam-Level and X-Spam-Status fields,
// CRLF-terminated, SpamAssassin-style:
//   X-Spam-Status: Yes, score=7.3 required=5.0 tests=BAYES_99=3.5,HTML_FORM=1.0 version=postern
std::string spam_headers(const Verdict& v, const Thresholds& t);
// The message without any X-Spam-* field (anyone may have written them upstream).
std::string strip_spam_headers(std::string_view message);

}  // namespace postern::spam
