// Element-wise and row-wise operations of the forward pass, written to reproduce llama.cpp's
// CPU numerics where the order of floating-point operations is visible in the result.
#pragma once

#include <cstdint>

namespace pocket::model::ops {

// y = x / sqrt(mean(x^2) + eps) * w. The mean of squares is summed in double (as ggml does, in
// eight interleaved sums where ggml keeps one); the scale is applied first and the weight
// multiplied after, matching ggml's separate ops. rms_scale is the 1 / sqrt(mean(x^2) + eps).
float rms_scale(const float* x, int64_t n, float eps);
void rms_norm(const float* x, const float* w, float* y, int64_t n, float eps);

// LayerNorm: y = (x - mean) / sqrt(var + eps) * w + b, mean and variance summed in double
// (ggml's order: centre, scale, then multiply by w and add b as separate steps). b may be null.
void layer_norm(const float* x, const float* w, const float* b, float* y, int64_t n, float eps);

// Rotary position embedding, in two steps so the angles of a position are computed once and
// shared by every head: rope_angles writes cs[2i] = cos, cs[2i+1] = sin of the angle of pair i
// (i < n_rot/2) at `pos`; rope_rotate rotates the first `n_rot` values of one head in place.
// `neox` selects pairs (i, i + n_rot/2) instead of adjacent pairs. `freq_factors` (n_rot/2
// divisors, may be null) implements llama-3 style frequency scaling.
void rope_angles(int64_t n_rot, int64_t pos, float freq_base, float freq_scale,
                 const float* freq_factors, float* cs);
void rope_rotate(float* x, int64_t n_rot, const float* cs, bool neox);

// Softmax, Q·K, P·V and SiLU live in kernels/attention.h (SIMD, with run-time dispatch).
// GELU (ggml's table of every F16 input) lives in kernels/attention.h: AttentionOps::gelu_mul.

// c * tanh(x / c), computed in the three steps ggml uses (scale, tanh, scale).
float softcap(float x, float c);

}  // namespace pocket::model::ops
