// Quantization schemes: which tensor type each weight gets. A scheme names a base type and a
// llama_ftype; the per-tensor rules (output head, attn_v, ffn_down, attn_output, ...) are a table
// in scheme.cpp following llama.cpp's llama_tensor_get_type (commit c392e50), so a file pocket
// writes under a scheme name has the same per-tensor types a user would get from llama-quantize.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "pocket/core/dtype.h"

namespace pocket::quant {

// What a weight matrix does in the model (decides its type in a mix).
enum class TensorRole {
    TokenEmbedding,
    Output,
    AttnQ,
    AttnK,
    AttnV,
    AttnOutput,
    FfnGate,
    FfnUp,
    FfnDown,
    Other
};

struct Scheme {
    std::string name;    // "q4_k_m", "q8_0", ...
    DType base;          // type of most matrices
    bool k_mix;          // `pocket synth` applies the mix rules (the _M/_S names); see choose_type
    uint32_t file_type;  // GGUF general.file_type (llama_ftype)
};

// "f16", "q8_0", "q4_k" (pure), "q4_k_m", "q5_k_s", "q3_k_m", "iq4_xs", ... (case-insensitive);
// nullopt if unknown.
std::optional<Scheme> parse_scheme(std::string_view name);
// All scheme names parse_scheme accepts, in table order (for help texts).
std::span<const std::string_view> scheme_names();

// Where one matrix sits in the model. `layer`/`n_layer` count the tensors of the same role in
// file order (llama-quantize's i_attention_wv / n_attention_wv, i_ffn_down / n_ffn_down counters),
// which is the block index for the usual one-tensor-per-block models.
struct TensorPlace {
    TensorRole role = TensorRole::Other;
    int64_t layer = 0;
    int64_t n_layer = 1;
    int64_t row_length = 0;    // ne[0]
    bool output_tied = false;  // the model has no output.weight: token_embd doubles as the head
    int64_t n_gqa = 1;         // n_head / n_head_kv
};

// llama-quantize's choice (no --pure, no imatrix) before the row-length fallback: the scheme's
// base type changed by the rule table for its file_type.
DType mix_type(const Scheme& scheme, const TensorPlace& place);

// The type for one matrix with the row-length fallback applied: mix_type for k_mix schemes, the
// base type otherwise (what `pocket synth` uses).
DType choose_type(const Scheme& scheme, TensorRole role, int64_t layer, int64_t n_layer,
                  int64_t row_length, bool output_tied);

// The fallback alone: the type a row of `row_length` values gets when `wanted` does not fit
// (Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0, Q2_K/Q3_K/IQ4_XS -> IQ4_NL, then F16).
DType fallback_type(DType wanted, int64_t row_length);

}  // namespace pocket::quant
