// A deliberately plain, double-precision decoder written from the published descriptions of
// Qwen2, Qwen3, Gemma 2 and Gemma 3 (Hugging Face transformers' modeling_*.py files and the
// technical reports), used to check pocket's forward pass on architectures for which no
// llama.cpp reference output is stored. It shares no code with src/model: one token at a time,
// loops over plain vectors, nothing fused, nothing rounded.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace pocket::test::independent {

// Everything that distinguishes the four families, spelled out rather than looked up, so a test
// can also build deliberately wrong variants (to show that the comparison notices them).
struct Spec {
    std::string arch;  // GGUF general.architecture: "qwen2", "qwen3", "gemma2", "gemma3"
    int n_vocab = 0, n_embd = 0, n_layer = 0, n_head = 0, n_head_kv = 0, head_dim = 0, n_ff = 0;
    double norm_eps = 1e-6;
    double rope_base = 10000.0;        // rope_theta of global layers
    double rope_local_base = 0.0;      // rope_local_base_freq of sliding layers (0 = rope_base)
    double rope_linear_factor = 1.0;   // linear rope scaling on global layers (1 = none)
    int sliding_window = 0;            // keys a sliding layer sees, the query's own included
    int sliding_pattern = 0;           // 2: even layers slide (gemma2); 6: five of six (gemma3)
    double attn_softcap = 0.0;         // 0 = none
    double final_softcap = 0.0;        // 0 = none
    double query_pre_attn_scalar = 0;  // scores scaled by 1/sqrt(this); 0 = head_dim
    bool qkv_bias = false;             // qwen2
    bool qk_norm = false;              // qwen3, gemma3
    bool post_norms = false;           // gemma2, gemma3: post_attention / post_feedforward norms
    bool embed_scale = false;          // gemma: embeddings multiplied by sqrt(n_embd)
    bool gelu_ffn = false;             // gemma: gelu_pytorch_tanh; otherwise SiLU (qwen)
    bool tied_output = true;

    bool is_sliding(int layer) const;
};

// Weights in GGUF orientation: a matrix with `in` inputs and `out` outputs is `out` rows of `in`
// values (the same as torch.nn.Linear.weight), so y[o] = sum_i W[o * in + i] * x[i]. Norm
// weights are the values the GGUF file holds: for Gemma that is HF's (1 + weight), because
// llama.cpp's converter folds the +1 into the stored tensor.
struct Layer {
    std::vector<float> attn_norm, wq, bq, wk, bk, wv, bv, wo;
    std::vector<float> q_norm, k_norm, post_attn_norm;
    std::vector<float> ffn_norm, w_gate, w_up, w_down, post_ffn_norm;
};

struct Weights {
    std::vector<float> token_embd;  // n_vocab rows of n_embd
    std::vector<Layer> layers;
    std::vector<float> output_norm;
    std::vector<float> output;  // empty when tied to token_embd
};

// Optional rounding at the points where llama.cpp (and pocket, which matches it) stores values in
// F16, as listed in shared/README.md "What llama.cpp computes": keys and values in the cache, Q
// before Q*K^T (after the 1/sqrt(head_dim) factor for Gemma, which llama.cpp applies to Q), the
// softmax probabilities, and GELU through a table of F16 inputs and outputs. Off, the decoder is
// the exact architecture; on, it shows how much of the difference to pocket is F16 rounding.
struct Rounding {
    bool f16_like_llama_cpp = false;
};

// Evaluates one sequence token by token, keeping its own (double) key/value cache.
class Decoder {
  public:
    Decoder(const Spec& spec, const Weights& weights, Rounding rounding = {});
    // Appends `token` at the next position and returns the logits of that position.
    std::vector<double> step(int32_t token);
    int64_t position() const { return pos_; }

  private:
    std::vector<double> attention(int layer, const std::vector<double>& x);
    std::vector<double> feed_forward(int layer, const std::vector<double>& x) const;

    const Spec& spec_;
    const Weights& w_;
    Rounding rounding_;
    int64_t pos_ = 0;
    // keys_[layer][pos] = n_head_kv * head_dim values after norm and rope; values_ likewise.
    std::vector<std::vector<std::vector<double>>> keys_, values_;
};

}  // namespace pocket::test::independent
