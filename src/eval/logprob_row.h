// Log-softmax of one logits row the way llama-perplexity computes it: subtract the row's max,
// sum exp() of each entry in double, take the log. Shared by the perplexity and KL-divergence
// passes so both score a position identically.
#pragma once

#include <cstddef>
#include <span>

#include "pocket/core/token.h"

namespace pocket::eval {

struct RowNorm {
    float max = 0;           // the largest logit
    size_t argmax = 0;       // its first index
    double log_sum_exp = 0;  // log sum_i exp(logits[i] - max)
    // log p(i) = logits[i] - max - log_sum_exp
    double log_prob(std::span<const float> logits, size_t i) const {
        return static_cast<double>(logits[i]) - max - log_sum_exp;
    }
};

RowNorm normalize_row(std::span<const float> logits);

// -log p(token): the negative log-likelihood of `token` under the row.
double token_nll(std::span<const float> logits, TokenId token);

}  // namespace pocket::eval
