// The operations of the training forward pass, each with its backward (internal to src/train/).
// Conventions: row-major activations (token t's row at x + t * width); backward functions ADD
// into weight gradients (dw, db) and, where their name says so, into input gradients.
// tests/train/ops_test.cpp checks every backward against central finite differences.
#pragma once

#include <cstdint>
#include <vector>

#include "pocket/core/tensor.h"

namespace pocket::train::ops {

// ---- matrices ----
// A weight matrix of `rows` rows of `cols` values: dense F32 rows (`f32`, full mode and LoRA)
// or a frozen base tensor of any stored type (`view`), whose rows are dequantized a tile at a
// time into a per-thread buffer as they are used (QLoRA-style: no F32 copy of the model).
struct Matrix {
    const float* f32 = nullptr;
    const TensorView* view = nullptr;
    int64_t rows = 0, cols = 0;
};
Matrix dense(const float* values, int64_t rows, int64_t cols);
Matrix frozen(const TensorView& view);

// y[t * y_stride + r] (+)= dot(W row r, x row t) for t < n, r < rows; x rows of W.cols.
void matmul(const Matrix& w, const float* x, int64_t n, float* y, int64_t y_stride,
            bool accumulate = false);
// dx[t] += sum_r dy[t * dy_stride + r] * W row r (dx = dy·W, W^T never formed).
void matmul_dx(const Matrix& w, const float* dy, int64_t dy_stride, int64_t n, float* dx);
// dw[r] += sum_t dy[t * dy_stride + r] * x[t] (dW += dy^T·x); dw dense rows x cols.
void matmul_dw(const float* dy, int64_t dy_stride, const float* x, int64_t n, int64_t rows,
               int64_t cols, float* dw);

// ---- rows ----
// RMSNorm y = x * r * w with r = 1/sqrt(mean(x^2) + eps); stores r.
void rms_norm(const float* x, const float* w, float* y, int64_t n, float eps, float* rstd);
// dx (written, may alias dy) and dw (added, may be null) from dy.
void rms_norm_backward(const float* x, const float* w, float rstd, const float* dy, float* dx,
                       float* dw, int64_t n);
// LayerNorm y = (x - mean) * r * w + b; stores mean and r. b may be null.
void layer_norm(const float* x, const float* w, const float* b, float* y, int64_t n, float eps,
                float* mean, float* rstd);
void layer_norm_backward(const float* x, const float* w, float mean, float rstd, const float* dy,
                         float* dx, float* dw, float* db, int64_t n);

// Rotary embedding of one head (model/ops.h's rope_rotate); its backward rotates the gradient
// by the opposite angle.
void rope_backward(float* dx, int64_t n_rot, const float* cs, bool neox);

// GELU, tanh approximation, in F32 without the F16 table of the inference pass (a smooth
// function, so gradients and finite differences agree), and its derivative.
float gelu(float x);
float gelu_grad(float x);
float silu(float x);
float silu_grad(float x);
// c * tanh(x / c); the derivative from the output y: 1 - (y / c)^2.
float softcap(float x, float c);
inline float softcap_grad_from_output(float y, float c) {
    const float t = y / c;
    return 1.0f - t * t;
}

// ---- attention ----
struct AttentionShape {
    int64_t n = 0;  // tokens, positions 0..n-1 of one causal sequence
    int64_t n_head = 0, n_head_kv = 0, head_dim = 0;
    float scale = 1.0f;    // on the (soft-capped) scores
    float softcap = 0.0f;  // scores -> c * tanh(q·k / c) before the scale; 0 = none
    int64_t window = 0;    // key j visible from query i when i - window < j <= i; 0 = unlimited
};
// out (n x n_head*head_dim) from q (n x n_head*hd), k and v (n x n_head_kv*hd); head h reads KV
// head h / (n_head / n_head_kv). probs receives n_head x n x n softmax weights (0 where masked).
void attention(const AttentionShape& s, const float* q, const float* k, const float* v, float* out,
               float* probs);
// dq, dk, dv written (same shapes as q, k, v) from dout and the forward's probs.
void attention_backward(const AttentionShape& s, const float* q, const float* k, const float* v,
                        const float* probs, const float* dout, float* dq, float* dk, float* dv);

}  // namespace pocket::train::ops
