#include "eval/logprob_row.h"

#include <cmath>

#include "pocket/core/error.h"

namespace pocket::eval {

RowNorm normalize_row(std::span<const float> logits) {
    if (logits.empty()) fail("log-softmax of an empty logits row");
    RowNorm r;
    r.max = logits[0];
    for (size_t i = 1; i < logits.size(); ++i) {
        if (logits[i] > r.max) {
            r.max = logits[i];
            r.argmax = i;
        }
    }
    // Each term is exp() of a non-positive float; the sum over a large vocabulary is kept in
    // double so that it does not lose the small terms.
    double sum = 0;
    for (const float l : logits) sum += std::exp(l - r.max);
    r.log_sum_exp = std::log(sum);
    return r;
}

double token_nll(std::span<const float> logits, TokenId token) {
    if (token < 0 || static_cast<size_t>(token) >= logits.size())
        fail("token ", token, " is outside the logits row of ", logits.size());
    return -normalize_row(logits).log_prob(logits, static_cast<size_t>(token));
}

}  // namespace pocket::eval
