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

// LayerNorm: y = (x - mean) / sqrt(var + eps) * w + b, mean and variance summed in double
// (ggml's order: centre, scale, then multiply by w and add b as separate steps). b may be null.
void layer_norm(const float* x, const float* w, const float* b, float* y, int64_t n, float eps);

// Rotary position embedding of one head (`head_dim` values, the first `n_rot` rotated) in place.
// `neox` selects pairs (i, i + n_rot/2) instead of adjacent pairs. `freq_factors` (n_rot/2
// divisors, may be null) implements llama-3 style frequency scaling.
void rope(float* x, int64_t n_rot, int64_t pos, float freq_base, float freq_scale,
          const float* freq_factors, bool neox);

// e^x by the polynomial llama.cpp's AVX-512 build uses for softmax and SiLU (after ARM's optimized
// routines: range reduction by 2^n, degree-5 polynomial, ~1.5 ulp). Using the same approximation,
// bit for bit, keeps our activations identical to the reference's, which matters because the
// quantized matmuls re-round activations: a 1-ulp difference can flip a quantization step.
float exp_approx(float x);

// In-place softmax of scores * scale over a row. Exponentials and their sum are taken in groups of
// 16 aligned to the start of the row, each group summed as a pairwise tree and the groups added
// in double: the order of llama.cpp's AVX-512 softmax (whose rows are padded with masked, zero-
// weight entries to whole groups). Entries equal to -infinity get probability 0.
void scaled_softmax(float* scores, int64_t n, float scale);

// Dot product of two F16 rows in llama.cpp's summation order: rows whose length is a multiple of
// 16 go through its tiled GEMM (16 lanes of fused multiply-adds, then a pairwise tree); others
// through ggml's F16 dot (64-wide fused steps, the rest summed in double).
float dot_f16(const f16_t* a, const f16_t* b, int64_t n);

// Sum of 16 values paired like a 512-bit horizontal add (halves, quarters, ...).
float tree_sum16(const float* v);

float silu(float x);
// gate[i] = silu(gate[i]) * up[i] over one row, SiLU evaluated like llama.cpp's AVX-512 build:
// exp_approx for whole groups of 16 from the start of the row, the C library's expf for the rest.
void silu_mul_row(float* gate, const float* up, int64_t n);

// GELU, tanh approximation, as ggml evaluates it: through a table indexed by the F16-rounded
// input, the result rounded to F16 (inputs beyond +-10 pass through / vanish).
float gelu(float x);

// c * tanh(x / c), computed in the three steps ggml uses (scale, tanh, scale).
float softcap(float x, float c);

}  // namespace pocket::model::ops
