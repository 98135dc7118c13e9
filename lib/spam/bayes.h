// The statistical classifier: tokens from an analysed message, and Robinson's
// chi-square combination of per-token spam probabilities (as bogofilter and
// SpamAssassin's Bayes do), over counts learned into the store (store/spam_model.h).
//
//   auto toks = spam::tokens(analysis);                // distinct 64-bit token hashes
//   double p = spam::bayes_probability(model, toks);   // 0 ham .. 1 spam; -1: not trained
//   auto why = spam::strongest_tokens(model, analysis, 10);  // what weighed most
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

// The n tokens of a message that weigh most in its verdict (spam probability furthest
// from 0.5), strongest first; empty when the model has too little to go on. For --explain.
struct TokenProbability {
  std::string token;
  double probability = 0.5;
};
std::vector<TokenProbability> strongest_tokens(const store::spam_model::Model& model,
                                               const Analysis& a, size_t n,
                                               const BayesOptions& options = {});

}  // namespace postern::spam
