// The statistical classifier: tokens from an analysed message, and Robinson's
// chi-square combination of per-token spam probabilities (as bogofilter and
// SpamAssassin's Bayes do), over counts learned into the store (store/spam_model.h).
//
//   auto toks = spam::tokens(analysis);                // distinct 64-bit token hashes
//   double p = spam::bayes_probability(model, toks);   // 0 ham .. 1 spam; -1: not trained
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "spam/analysis.h"
#include "store/spam_model.h"

namespace postern::spam {

struct BayesOptions {
  int64_t min_spam = 200, min_ham = 200;  // learned messages before the model is used
  double strength = 0.16;                // Robinson's s
  double unknown = 0.538;                // Robinson's x: a token seen few times
  double min_deviation = 0.1;            // tokens with |f - 0.5| below this are ignored
  size_t max_tokens = 150;               // the most significant ones only
};

// The distinct tokens of a message, as text (for --explain and tests) and as hashes.
std::vector<std::string> token_texts(const Analysis& a);
std::vector<int64_t> tokens(const Analysis& a);
int64_t token_hash(std::string_view text);

// The probability that the message is spam; -1 when the model has too little to go on.
double bayes_probability(const store::spam_model::Model& model, const std::vector<int64_t>& toks,
                         const BayesOptions& options = {});

}  // namespace postern::spam
