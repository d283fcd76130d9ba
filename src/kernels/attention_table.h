// The per-instruction-set attention tables (internal to kernels/): the scalar reference entries,
// which SIMD entries call for the shapes they do not handle, and the registration functions that
// override a copy of the table below them (scalar <- AVX2 <- AVX-512), like kernel_table.h.
#pragma once

#include "kernels/attention.h"

namespace pocket::kernels {

namespace scalar_attention {
void to_f16(const float* x, f16_t* out, int64_t n);
void qk(const f16_t* q, int64_t n_q, const f16_t* keys, int64_t key_stride, int64_t n_keys,
        int64_t head_dim, float* scores, int64_t score_stride);
void pv(const float* probs, int64_t prob_stride, int64_t n_q, const f16_t* values,
        int64_t value_stride, int64_t n_values, int64_t first_pos, int64_t head_dim, float* acc);
void pv_reduce(const float* acc, int64_t head_dim, float* out);
void softmax(float* scores, int64_t n, float scale);
void silu_mul(float* gate, const float* up, int64_t n);
void softmax_tile(float* scores, int64_t score_stride, int64_t n_q, int64_t n, float scale,
                  float* row_max, float* row_sum, float* rescale);
void pv_tile(const float* probs, int64_t prob_stride, int64_t n_q, const f16_t* values,
             int64_t value_stride, int64_t n_values, int64_t head_dim, const float* rescale,
             float* acc);
void fold_acc(float* acc, const float* part, float ca, float cb, int64_t n);
}  // namespace scalar_attention

// Each lives in its instruction set's folder, compiled with its flags, and is called only after
// the CPU check.
void register_avx2_attention(AttentionOps& ops);
void register_avx512_attention(AttentionOps& ops);
void register_neon_attention(AttentionOps& ops);  // AArch64 only, over a copy of the scalar table

}  // namespace pocket::kernels
