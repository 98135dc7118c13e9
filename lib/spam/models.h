// The classifier's models for a process: the global one and per-recipient ones, loaded
// from the store on first use and kept. A recipient's own model is used once it has
// learned enough (BayesOptions), else the global one.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "base/result.h"
#include "spam/bayes.h"
#include "store/spam_model.h"
#include "store/store.h"

namespace postern::spam {

class Models {
 public:
  Models(store::Store& store, BayesOptions options) : store_(store), options_(options) {}
  // The model for `rcpt` ("" = global); nullptr when neither is trained enough.
  base::Result<const store::spam_model::Model*> for_rcpt(const std::string& rcpt);
  // The account id of a recipient's model (0 = global); no_user when unknown.
  base::Result<int64_t> account_of(const std::string& rcpt);

 private:
  bool usable(const store::spam_model::Model& m) const {
    return m.totals.nspam >= options_.min_spam && m.totals.nham >= options_.min_ham;
  }
  base::Result<const store::spam_model::Model*> load(int64_t account);
  store::Store& store_;
  BayesOptions options_;
  std::mutex mu_;
  std::map<int64_t, std::unique_ptr<store::spam_model::Model>> models_;
};

}  // namespace postern::spam
