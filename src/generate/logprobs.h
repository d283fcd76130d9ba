// Log-probabilities of the model's distribution for a generated token and its best alternatives.
#pragma once

#include <span>

#include "pocket/generate/session.h"

namespace pocket {

// log-softmax of `logits` at `token`, with the `n_top` most likely tokens (ties: lower id first).
TokenLogprob token_logprob(std::span<const float> logits, TokenId token, int32_t n_top);

}  // namespace pocket
