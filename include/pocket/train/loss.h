// Losses on logits for training: next-token cross-entropy with per-position weights (loss
// masking), and knowledge-distillation losses against a teacher's top-K logits. Each returns its
// value and writes its gradient with respect to the logits (checked against finite differences
// in tests/train).
#pragma once

#include <cstdint>
#include <span>

#include "pocket/core/token.h"
#include "pocket/train/backprop.h"

namespace pocket::train {

// Row t predicts targets[t] with weight weights[t] (0 = masked out: prompt tokens of chat data,
// padding); sum = Σ weights[t] · (−log softmax(logits_t)[targets[t]]), weight = Σ weights[t].
LossValue cross_entropy(std::span<const float> logits, int64_t n_rows, int64_t n_vocab,
                        std::span<const TokenId> targets, std::span<const float> weights,
                        std::span<float> dlogits);

}  // namespace pocket::train
