// Element-wise and row-wise operations of the forward pass, written to reproduce llama.cpp's
// CPU numerics where the order of floating-point operations is visible in the result.
#pragma once

#include <cstdint>
#include <span>

#include "pocket/core/fp16.h"

namespace pocket::model::ops {

// y = x / sqrt(mean(x^2) + eps) * w. The mean of squares is summed in double (as ggml does);
// the scale is applied first and the weight multiplied after, matching ggml's separate ops.
void rms_norm(const float* x, const float* w, float* y, int64_t n, float eps);

// Rotary position embedding of one head (`head_dim` values, the first `n_rot` rotated) in place.
// `neox` selects pairs (i, i + n_rot/2) instead of adjacent pairs. `freq_factors` (n_rot/2
// divisors, may be null) implements llama-3 style frequency scaling.
void rope(float* x, int64_t n_rot, int64_t pos, float freq_base, float freq_scale,
          const float* freq_factors, bool neox);

// In-place softmax of scores * scale; returns nothing, p[i] sums to 1. Sum accumulated in double.
void scaled_softmax(float* scores, int64_t n, float scale);

float silu(float x);

}  // namespace pocket::model::ops
