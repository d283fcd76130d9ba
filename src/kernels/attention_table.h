// The per-instruction-set attention tables (internal to kernels/): the scalar reference entries,
// which SIMD entries call for the shapes they do not handle, and the registration functions that
// override a copy of the table below them (scalar <- AVX2 <- AVX-512), like kernel_table.h.
#pragma once

#include <algorithm>

#include "kernels/attention.h"
#include "kernels/blocks.h"

namespace pocket::kernels {

namespace scalar_attention {
void to_f16(const float* x, f16_t* out, int64_t n);
void q8_0_rows_to_f16(const std::byte* rows, size_t row_bytes, int64_t n_rows, int64_t first_block,
                      int64_t n_blocks, f16_t* out, int64_t out_stride);
void q4_0_rows_to_f16(const std::byte* rows, size_t row_bytes, int64_t n_rows, int64_t first_block,
                      int64_t n_blocks, f16_t* out, int64_t out_stride);
void qk(const f16_t* q, int64_t n_q, const f16_t* keys, int64_t key_stride, int64_t n_keys,
        int64_t head_dim, float* scores, int64_t score_stride);
void pv(const float* probs, int64_t prob_stride, int64_t n_q, const f16_t* values,
        int64_t value_stride, int64_t n_values, int64_t first_pos, int64_t head_dim, float* acc);
void pv_reduce(const float* acc, int64_t head_dim, float* out);
void softmax(float* scores, int64_t n, float scale);
void silu_mul(float* gate, const float* up, int64_t n);
void gelu_mul(float* gate, const float* up, int64_t n);
void softmax_tile(float* scores, int64_t score_stride, int64_t n_q, int64_t n, float scale,
                  float* row_max, float* row_sum, float* rescale);
void pv_tile(const float* probs, int64_t prob_stride, int64_t n_q, const f16_t* values,
             int64_t value_stride, int64_t n_values, int64_t head_dim, const float* rescale,
             float* acc);
void fold_acc(float* acc, const float* part, float ca, float cb, int64_t n);
}  // namespace scalar_attention

// The walk shared by every table's q8_0_rows_to_f16 / q4_0_rows_to_f16: blocks
// [first_block, first_block + n_blocks) of n_rows stored rows of Block (row r at
// rows + r * row_bytes), each handed to convert(block, out) with the F16 destination of its 32
// values (row r's at out + r * out_stride). Each instruction set brings its own convert, a lambda
// of its own file, so no two sets share an instantiation.
template <class Block, class Convert>
inline void for_each_kv_block(const std::byte* rows, size_t row_bytes, int64_t n_rows,
                              int64_t first_block, int64_t n_blocks, f16_t* out, int64_t out_stride,
                              Convert&& convert) {
    for (int64_t r = 0; r < n_rows; ++r) {
        const auto* blocks =
            reinterpret_cast<const Block*>(rows + static_cast<size_t>(r) * row_bytes) + first_block;
        f16_t* o = out + r * out_stride;
        for (int64_t b = 0; b < n_blocks; ++b, o += kQK32) convert(blocks[b], o);
    }
}

using PvFn = void (*)(const float* probs, int64_t prob_stride, int64_t n_q, const f16_t* values,
                      int64_t value_stride, int64_t n_values, int64_t first_pos, int64_t head_dim,
                      float* acc);
using PvReduceFn = void (*)(const float* acc, int64_t head_dim, float* out);

// AttentionOps::pv_rows from a table's own pv and pv_reduce: per slice of at most 64 values of d
// (each d is independent) and up to 4 queries at a time (so each value row is converted once for
// them, as pv does), the 16 lanes zeroed on the stack, filled run by run, and reduced.
template <PvFn kPv, PvReduceFn kPvReduce>
void pv_rows_by_lanes(const float* probs, int64_t prob_stride, int64_t n_q,
                      std::span<const PvRun> runs, int64_t value_stride, int64_t head_dim,
                      float* out, int64_t out_stride) {
    constexpr int64_t kSlice = 64, kQueries = 4;
    alignas(64) float lanes[kQueries * 16 * kSlice];
    for (int64_t i0 = 0; i0 < n_q; i0 += kQueries) {
        const int64_t queries = std::min(kQueries, n_q - i0);
        for (int64_t d0 = 0; d0 < head_dim; d0 += kSlice) {
            const int64_t width = std::min(kSlice, head_dim - d0);
            std::fill_n(lanes, queries * 16 * width, 0.0f);
            for (const PvRun& run : runs) {
                kPv(probs + i0 * prob_stride + run.first_pos, prob_stride, queries, run.values + d0,
                    value_stride, run.n_values, run.first_pos, width, lanes);
            }
            for (int64_t i = 0; i < queries; ++i)
                kPvReduce(lanes + i * 16 * width, width, out + (i0 + i) * out_stride + d0);
        }
    }
}

// Each lives in its instruction set's folder, compiled with its flags, and is called only after
// the CPU check.
void register_avx2_attention(AttentionOps& ops);
void register_avx512_attention(AttentionOps& ops);
void register_neon_attention(AttentionOps& ops);  // AArch64 only, over a copy of the scalar table

}  // namespace pocket::kernels
