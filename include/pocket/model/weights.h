// The tensors of a transformer, bound by name from a GGUF file and checked against the
// hyper-parameters (shapes and types) before any computation touches them.
#pragma once

#include <vector>

#include "pocket/core/tensor.h"
#include "pocket/model/arch.h"
#include "pocket/model/hparams.h"

namespace pocket::gguf {
class File;
}

namespace pocket::model {

// A view is empty when the architecture does not use that tensor.
// In post-norm architectures (bert) attn_norm and ffn_norm are the norms applied after the
// attention and FFN residual adds; *_b are LayerNorm biases.
struct LayerWeights {
    TensorView attn_norm, attn_norm_b;
    TensorView wq, wk, wv;      // separate projections
    TensorView wqkv;            // fused [q | k | v] rows (ArchSpec::fused_qkv)
    TensorView bq, bk, bv;      // ArchSpec::qkv_bias
    TensorView q_norm, k_norm;  // per-head RMSNorm weights (ArchSpec::qk_norm)
    TensorView wo, bo;
    TensorView post_attn_norm;
    TensorView ffn_norm, ffn_norm_b;
    TensorView w_gate, w_up, w_down;  // w_up holds [gate | up] when ArchSpec::fused_gate_up
    TensorView b_up, b_down;          // ArchSpec::linear_biases
    TensorView post_ffn_norm;
};

struct Weights {
    TensorView token_embd;
    TensorView token_types;             // ArchSpec::token_types (row 0 is used)
    TensorView position_embd;           // ArchSpec::absolute_positions
    TensorView embd_norm, embd_norm_b;  // ArchSpec::embed_norm
    TensorView output_norm;             // absent for embedding models
    TensorView output;      // token_embd when the file ties them; absent without an LM head
    TensorView rope_freqs;  // optional per-dimension frequency divisors (llama 3 scaling)
    bool output_tied = false;
    std::vector<LayerWeights> layers;
    uint64_t total_bytes = 0;  // bytes of all bound tensors
};

Weights bind_weights(const gguf::File& file, const HParams& hp, const ArchSpec& arch);

}  // namespace pocket::model
