// The spam filter's statistical model in the store: per-token spam/ham counts for the
// global model (account 0) or one account's, the totals of learned messages, and which
// messages were learned (by SHA-256), so learning is idempotent and a message learned
// the other way is moved, not counted twice.
//
//   namespace sm = store::spam_model;
//   sm::learn(store, 0, {{.digest = sha, .spam = true, .tokens = toks}}, now);
//   auto model = sm::load(store, 0);   // whole model in memory, for scoring
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/result.h"
#include "store/store.h"

namespace postern::store::spam_model {

struct Counts {
  int64_t nspam = 0, nham = 0;
};

struct Model {
  Counts totals;  // messages learned
  std::unordered_map<int64_t, Counts> tokens;
};

// The whole model of `account_id` (0: global); empty when nothing was learned.
base::Result<Model> load(Store& store, int64_t account_id);
base::Result<Counts> totals(Store& store, int64_t account_id);

struct Lesson {
  std::string digest;  // SHA-256 hex of the message bytes
  bool spam = false;
  std::vector<int64_t> tokens;  // distinct
};

struct Outcome {
  size_t learned = 0;  // new messages
  size_t moved = 0;    // learned before as the other class
  size_t already = 0;  // learned before as this class: nothing done
};

// All lessons in one transaction.
base::Result<Outcome> learn(Store& store, int64_t account_id, const std::vector<Lesson>& lessons,
                            int64_t now);
// Takes messages out of the model (their tokens must be given again); unknown digests are
// skipped. Returns how many were forgotten.
base::Result<size_t> forget(Store& store, int64_t account_id, const std::vector<Lesson>& lessons);

}  // namespace postern::store::spam_model
