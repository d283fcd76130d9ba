// Attention and activation kernels of the forward pass, with run-time instruction-set dispatch
// like the matmul kernels (kernels.h): one complete table per Isa, the scalar one the reference.
//
// Unlike the matmul kernels, every SIMD entry here is BIT-IDENTICAL to the scalar reference, not
// merely close: these steps reproduce llama.cpp's CPU numerics (its AVX-512 build), whose order
// of floating-point operations is visible in the logits, so the SIMD code keeps exactly the same
// operations in the same order and only does several of them at once:
//
// - Q·K and the dot products over the F16 KV cache: rows whose length is a multiple of 16 are
//   summed in 16 lanes (lane = element index mod 16) of fused multiply-adds, folded by
//   tree_sum16; other lengths in ggml's F16 dot order (64-wide fused steps, the rest in double).
//   AVX-512 keeps the 16 lanes in one 512-bit register, AVX2 in two 256-bit ones (lanes 0-7,
//   8-15): the same sums either way.
// - P·V: out[d] = sum_j p[j] * v[j][d], the probabilities rounded to F16 first, accumulated in 16
//   lanes by position (lane = position mod 16) of fused multiply-adds and folded by tree_sum16:
//   llama.cpp's tiled GEMM over the padded score row. Every d is independent, so vectorising over
//   d changes nothing.
// - Softmax and SiLU use exp_approx, the exponential of llama.cpp's AVX-512 build (ggml_v_expf),
//   evaluated with the same fused multiply-adds; 2^n scaling is exact or rounds once, as ldexp.
#pragma once

#include <cstdint>

#include "kernels/kernels.h"
#include "pocket/core/fp16.h"

namespace pocket::kernels {

struct AttentionOps {
    // out[i] = F16(x[i]), rounding to nearest even (the query before Q·K against the F16 cache).
    void (*to_f16)(const float* x, f16_t* out, int64_t n) = nullptr;

    // Scores of n_q queries against n_keys keys of one head:
    //   scores[i * score_stride + j] = dot(q + i * head_dim, keys + j * key_stride)
    // in the order described above. q and the keys are F16; strides count elements.
    void (*qk)(const f16_t* q, int64_t n_q, const f16_t* keys, int64_t key_stride, int64_t n_keys,
               int64_t head_dim, float* scores, int64_t score_stride) = nullptr;

    // Adds n_values positions (first_pos, first_pos + 1, ...) to the P·V lane accumulators of
    // n_q queries: for query i, with p = F16-rounded probs[i * prob_stride + j] and
    // lane = (first_pos + j) mod 16,
    //   acc[(i * 16 + lane) * head_dim + d] = fma(p, values[j * value_stride + d], that same value)
    // Positions must come in increasing order over calls (the lanes' sums are ordered).
    void (*pv)(const float* probs, int64_t prob_stride, int64_t n_q, const f16_t* values,
               int64_t value_stride, int64_t n_values, int64_t first_pos, int64_t head_dim,
               float* acc) = nullptr;

    // out[d] = tree_sum16 over the 16 lanes acc[l * head_dim + d], for d < head_dim.
    void (*pv_reduce)(const float* acc, int64_t head_dim, float* out) = nullptr;

    // In-place softmax of scores * scale over a row of n: exponentials (exp_approx of
    // score - max) summed in groups of 16 aligned to the row's start, each group by tree_sum16 and
    // the groups in double; then every entry multiplied by F32(1 / sum). -inf gets probability 0.
    void (*softmax)(float* scores, int64_t n, float scale) = nullptr;

    // gate[i] = gate[i] / (1 + exp_approx(-gate[i])) * up[i] for the whole groups of 16 from the
    // row's start, and with the C library's expf for the rest (as llama.cpp's AVX-512 SiLU).
    void (*silu_mul)(float* gate, const float* up, int64_t n) = nullptr;
};

// The table of the active instruction set (kernels::active_isa()).
const AttentionOps& attention_ops();
// The table of a given instruction set; calling a SIMD entry on a CPU without it is the caller's
// mistake (check isa_supported first).
const AttentionOps& attention_ops(Isa isa);

// Scalar building blocks of the reference, for tests and other scalar code.
namespace reference {
// e^x as llama.cpp's AVX-512 build computes it (range reduction by 2^n, degree-5 polynomial).
float exp_approx(float x);
// Sum of 16 values paired like a 512-bit horizontal add: halves, then quarters, then pairs.
float tree_sum16(const float* v);
// Dot product of two F16 rows in the order described at the top.
float dot_f16(const f16_t* a, const f16_t* b, int64_t n);
}  // namespace reference

}  // namespace pocket::kernels
