// Quantization schemes: which tensor type each weight gets. A "pure" scheme uses one type for every
// matrix; the K-quant mixes (Q4_K_M, Q5_K_M) follow llama-quantize's rules, so a file pocket writes
// under a scheme name has the same per-tensor types a user would get from llama.cpp.
#pragma once

#include <cstdint>
#include <optional>
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
    FfnDown
};

struct Scheme {
    std::string name;    // "q4_k_m", "q8_0", ...
    DType base;          // type of most matrices
    bool k_mix;          // llama-quantize's _M mix: more bits for output, some attn_v and ffn_down
    uint32_t file_type;  // GGUF general.file_type (llama_ftype)
};

// "f16", "q8_0", "q4_k" (pure), "q4_k_m", "q5_k_m", ... (case-insensitive); nullopt if unknown.
std::optional<Scheme> parse_scheme(std::string_view name);

// The type for one matrix. `layer`/`n_layer` place per-layer tensors (ignored for the others);
// `output_tied` says the token embedding doubles as the output head; rows whose length does not
// split into the chosen type's blocks fall back as llama-quantize does (Q4_K -> Q5_0,
// Q5_K -> Q5_1, Q6_K -> Q8_0, Q2_K/Q3_K -> IQ4_NL, then F16).
DType choose_type(const Scheme& scheme, TensorRole role, int64_t layer, int64_t n_layer,
                  int64_t row_length, bool output_tied);

// The fallback alone: the type a row of `row_length` values gets when `wanted` does not fit.
DType fallback_type(DType wanted, int64_t row_length);

}  // namespace pocket::quant
