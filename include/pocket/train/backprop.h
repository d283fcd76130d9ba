// The forward pass of model::Context again, in F32 with every activation a backward pass needs,
// and its backward pass: gradients of a loss on the logits with respect to the trainable
// parameters (LoRA pairs or, in full mode, every weight). Covers the architectures of
// model::ArchSpec that have an LM head: RMSNorm/LayerNorm, rope (normal/neox, llama-3 frequency
// factors), GQA attention with a causal mask, sliding windows and score soft-capping, q/k norms,
// qkv biases, SwiGLU/GeGLU, post-attention/FFN norms, embedding scale, tied or separate output,
// final logit soft-capping.
//
// Gradient checkpointing: with `checkpoint` on, only each layer's input is kept through the
// forward pass and the layer is recomputed during the backward pass, so memory grows with
// n_layer x n_tokens x n_embd instead of with every intermediate.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "pocket/core/token.h"

namespace pocket::model {
class Model;
}

namespace pocket::train {

class TrainableWeights;

struct LossValue {
    double sum = 0.0;     // loss summed over the rows that count
    double weight = 0.0;  // their total weight (tokens, for cross-entropy): mean = sum / weight
};

// A loss over the logits of n_rows positions (row-major, n_rows x n_vocab): returns its value and
// writes d(sum)/d(logits) into `dlogits` (same shape; rows that do not count get zeros).
using LossFn = std::function<LossValue(std::span<const float> logits, int64_t n_rows,
                                       int64_t n_vocab, std::span<float> dlogits)>;

struct BackpropOptions {
    bool checkpoint = true;  // recompute each layer in the backward pass (see the file comment)
    int64_t max_tokens = 0;  // longest sequence (0 = the model's training context)
};

class Backprop {
  public:
    // `weights` must have been made from `base`; neither is owned, both must outlive this.
    Backprop(const model::Model& base, TrainableWeights& weights, BackpropOptions options = {});
    ~Backprop();
    Backprop(const Backprop&) = delete;
    Backprop& operator=(const Backprop&) = delete;

    // Runs tokens[0..n) through the model (positions 0..n-1, one causal sequence), calls `loss`
    // on the logits of every position, and ADDS the gradient of its sum into every parameter's
    // grad (scaled by `grad_scale`, e.g. 1 / tokens in the optimizer step). Returns the loss.
    LossValue forward_backward(std::span<const TokenId> tokens, const LossFn& loss,
                               float grad_scale = 1.0f);

    // Forward only: the logits of every position (n x n_vocab), with the current parameter
    // values (LoRA applied). Used for held-out evaluation and by tests against model::Context.
    void forward(std::span<const TokenId> tokens, std::vector<float>& logits);

    // Peak bytes of activations and scratch held by the last call (reported by `finetune`).
    size_t activation_bytes() const;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace pocket::train
