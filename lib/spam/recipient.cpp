// RecipientVerdicts: a recipient's own model over a message the spam stage scored.
#include "spam/recipient.h"

#include <cstdlib>
#include <set>

#include "base/log.h"
#include "store/local_delivery.h"

namespace postern::spam {

std::vector<Hit> status_tests(std::string_view value) {
  std::vector<Hit> out;
  size_t at = value.find("tests=");
  if (at == std::string_view::npos) return out;
  std::string_view rest = value.substr(at + 6);
  // The list ends at the next blank ("version=..."); unfolding left single blanks.
  size_t end = rest.find_first_of(" \t\r\n");
  std::string_view list = rest.substr(0, end);
  while (!list.empty()) {
    size_t comma = list.find(',');
    std::string_view item = list.substr(0, comma);
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    size_t eq = item.find('=');
    if (eq == std::string_view::npos || eq == 0) continue;  // "none"
    std::string score(item.substr(eq + 1));
    char* stop = nullptr;
    double v = std::strtod(score.c_str(), &stop);
    if (stop == score.c_str()) continue;
    out.push_back({std::string(item.substr(0, eq)), v, ""});
  }
  return out;
}

base::Result<std::optional<Verdict>> RecipientVerdicts::verdict(store::Store& store, int64_t account,
                                                                std::string_view message) const {
  const Settings& s = engine_->settings();
  if (!s.bayes || !models_) return std::optional<Verdict>();
  auto status = store::trusted_field(message, "X-Spam-Status");
  if (!status) return std::optional<Verdict>();
  auto own = models_->own(store, account);
  if (!own) return own.error();
  if (!*own) return std::optional<Verdict>();
  // Scored as the stage scored it: without the X-Spam-* fields it wrote.
  auto a = analyze(strip_spam_headers(message), engine_->analyze_options());
  if (!a) return a.error();
  ScoreInput in;
  in.model = own->get();
  auto acct = store.account(static_cast<store::Id>(account));
  if (acct && *acct) in.rcpt = (*acct)->address;
  std::set<std::string> rules;
  for (const RuleDef& r : s.rules) rules.insert(r.name);
  for (Hit& h : status_tests(*status)) {
    if (!rules.contains(h.name)) in.extra.push_back(std::move(h));
  }
  Engine::Scratch scratch(*engine_);
  return std::optional<Verdict>(engine_->score(*a, in, scratch));
}

std::optional<bool> RecipientVerdicts::junk(store::Store& store, int64_t account,
                                            std::string_view message) const {
  auto v = verdict(store, account, message);
  if (!v) {
    base::log_warn("spam_recipient_verdict", {{"account", std::to_string(account)},
                                              {"error", v.error().message()}});
    return std::nullopt;
  }
  if (!*v) return std::nullopt;
  return (*v)->spam;
}

}  // namespace postern::spam
