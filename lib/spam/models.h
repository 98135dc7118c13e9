// The classifier's models for a process: the global one and per-recipient ones, loaded
// from the store on first use and kept. A recipient's own model is used once it has
// learned enough (BayesOptions), else the global one. One Models may serve many threads,
// each passing its own Store; a long-running server gives a refresh interval, after which
// a model is checked against the store's totals and loaded again when it has learned.
//
//   spam::Models models(options, std::chrono::seconds(60));
//   auto m = models.for_rcpt(store, "alice@example.org");   // shared_ptr, or nullptr
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "base/result.h"
#include "spam/bayes.h"
#include "store/spam_model.h"
#include "store/store.h"

namespace postern::spam {

using ModelPtr = std::shared_ptr<const store::spam_model::Model>;

class Models {
 public:
  explicit Models(BayesOptions options, std::chrono::seconds refresh = std::chrono::seconds(0))
      : options_(options), refresh_(refresh) {}
  // The model for `rcpt` ("" = global); nullptr when neither is trained enough.
  base::Result<ModelPtr> for_rcpt(store::Store& store, const std::string& rcpt);
  // The account's own model when it is trained enough, else nullptr (never the global).
  base::Result<ModelPtr> own(store::Store& store, int64_t account);
  // The account id of a recipient's model (0 = global); no_user when unknown.
  static base::Result<int64_t> account_of(store::Store& store, const std::string& rcpt);

 private:
  struct Entry {
    ModelPtr model;
    std::chrono::steady_clock::time_point checked;
  };
  bool usable(const store::spam_model::Model& m) const {
    return m.totals.nspam >= options_.min_spam && m.totals.nham >= options_.min_ham;
  }
  base::Result<ModelPtr> load(store::Store& store, int64_t account);
  BayesOptions options_;
  std::chrono::seconds refresh_;
  std::mutex mu_;
  std::map<int64_t, Entry> models_;
};

}  // namespace postern::spam
