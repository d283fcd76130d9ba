// The tiled matrix-matrix driver: walks [row_begin, row_end) x [0, n_tokens) in tiles of R rows x
// T tokens and lets the kernel compute each tile with its accumulators in registers, so every
// weight block loaded from memory serves T tokens and every activation block loaded from cache
// serves R rows. Tokens are processed in chunks whose activations stay in L2 while all the rows
// stream past them.
#pragma once

#include "kernels/avx2/simd_base.h"

namespace pocket::kernels::POCKET_SIMD_NS {

// 128 activation rows of a 4096-wide Q8_0 layer are ~550 KB: well inside a 1-2 MB L2.
inline constexpr int64_t kTokenChunk = 128;

// A kernel K provides
//   template <int R, int T> static void tile(int64_t k, const std::byte* w, size_t w_row_bytes,
//                                            const std::byte* a, size_t a_row_bytes,
//                                            float* y, size_t y_stride);
// computing y[t * y_stride + r] for r < R, t < T from rows w + r*w_row_bytes and activations
// a + t*a_row_bytes.
template <class K, int R, int T>
void tile_tokens(int64_t k, const std::byte* w, size_t w_row_bytes, const std::byte* a,
                 size_t a_row_bytes, int64_t t_begin, int64_t t_end, float* y, size_t y_stride) {
    int64_t t = t_begin;
    for (; t + T <= t_end; t += T) {
        K::template tile<R, T>(k, w, w_row_bytes, a + t * a_row_bytes, a_row_bytes,
                               y + t * y_stride, y_stride);
    }
    for (; t < t_end; ++t) {
        K::template tile<R, 1>(k, w, w_row_bytes, a + t * a_row_bytes, a_row_bytes,
                               y + t * y_stride, y_stride);
    }
}

template <class K, int R, int T>
void matmul(int64_t k, const void* w, size_t w_row_bytes, const void* act, size_t act_row_bytes,
            int64_t n_tokens, float* y, size_t y_stride, int64_t row_begin, int64_t row_end) {
    const auto* w_bytes = static_cast<const std::byte*>(w);
    const auto* a_bytes = static_cast<const std::byte*>(act);
    for (int64_t t0 = 0; t0 < n_tokens; t0 += kTokenChunk) {
        const int64_t t1 = t0 + kTokenChunk < n_tokens ? t0 + kTokenChunk : n_tokens;
        int64_t r = row_begin;
        for (; r + R <= row_end; r += R) {
            tile_tokens<K, R, T>(k, w_bytes + r * w_row_bytes, w_row_bytes, a_bytes, act_row_bytes,
                                 t0, t1, y + r, y_stride);
        }
        for (; r < row_end; ++r) {
            tile_tokens<K, 1, T>(k, w_bytes + r * w_row_bytes, w_row_bytes, a_bytes, act_row_bytes,
                                 t0, t1, y + r, y_stride);
        }
    }
}

}  // namespace pocket::kernels::POCKET_SIMD_NS
