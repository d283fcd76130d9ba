// Tiny random-weight models for the independent architecture checks: weights drawn from a
// seeded generator, written as GGUF files that follow llama.cpp's naming conventions
// (gguf-py/gguf/constants.py: LLM_KV_* keys and MODEL_TENSOR names).
#pragma once

#include <cstdint>
#include <filesystem>

#include "model/independent_reference.h"

namespace pocket::test::independent {

// Normal weights: matrices N(0, matrix_sigma^2), token embeddings N(0, embd_sigma^2), norm
// weights around `norm_center` (Gemma's stored 1 + w; Qwen's w), biases N(0, 0.2^2).
struct WeightScales {
    float matrix_sigma = 0.25f;
    float embd_sigma = 0.3f;
    float norm_center = 1.0f;
    float norm_sigma = 0.2f;
    float qk_norm_center = 1.5f;      // sharper attention than unit norms give
    float output_norm_center = 3.0f;  // widens the logit range
};

Weights random_weights(const Spec& spec, uint64_t seed, const WeightScales& scales = {});

// Writes `weights` as an F32 GGUF model of architecture spec.arch, with a small SentencePiece
// vocabulary (pocket's synthetic one) so that the file loads like any other model.
void write_gguf(const Spec& spec, const Weights& weights, const std::filesystem::path& path);

}  // namespace pocket::test::independent
