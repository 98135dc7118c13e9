// Each recipient's own spam verdict at delivery. The in-server spam-score stage scores a
// message once, with the global classifier model, and writes X-Spam-* into the message
// every recipient shares. An account whose own model has learned enough
// (spam.bayes_min_learned of each kind) gets its own verdict here: the message scored
// again with that model, plus the hits the stage found on the network (DNS blocklists,
// the LLM: tests in its X-Spam-Status that are no rule of the engine). The result goes to
// store::DeliveryOptions::judge, which files the message and keeps the verdict as the
// email's $junk or $notjunk keyword.
//
//   spam::RecipientVerdicts rv(engine, models);
//   options.judge = [&](store::Id account, std::string_view msg) { return rv.junk(store, account, msg); };
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "spam/engine.h"
#include "spam/models.h"
#include "store/store.h"

namespace postern::spam {

// The tests of an X-Spam-Status value ("Yes, score=7.3 required=5.0 tests=A=1.0,B=2.5
// version=postern"), as name and score; empty for "tests=none" or none at all.
std::vector<Hit> status_tests(std::string_view value);

class RecipientVerdicts {
 public:
  RecipientVerdicts(std::shared_ptr<const Engine> engine, std::shared_ptr<Models> models)
      : engine_(std::move(engine)), models_(std::move(models)) {}

  // The account's own verdict, or nullopt when it has no model of its own trained
  // enough, or the message carries no X-Spam-Status of ours (above our Received:).
  base::Result<std::optional<Verdict>> verdict(store::Store& store, int64_t account,
                                               std::string_view message) const;
  // verdict() as store::DeliveryOptions::judge wants it: junk or not, nullopt when there
  // is none or it could not be made (then logged; the message's own flag decides).
  std::optional<bool> junk(store::Store& store, int64_t account, std::string_view message) const;

 private:
  std::shared_ptr<const Engine> engine_;
  std::shared_ptr<Models> models_;
};

}  // namespace postern::spam
