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

namespace pocket::kernels::POCKET_SIMD_NS {

// Asks for the bytes [begin, end) (the next tile's rows) ahead of use. A tile reads its R rows
// side by side, R streams within one page, which the hardware stream prefetcher does not follow
// well when rows are short (a 576-wide Q8_0 row is 612 bytes): without this, a tiled matvec ran
// at a third of a row-by-row loop on such shapes.
inline constexpr size_t kShortTileBytes = 4096;
inline void prefetch_rows(const std::byte* begin, const std::byte* end) {
    for (const std::byte* p = begin; p < end; p += 64) {
        _mm_prefetch(reinterpret_cast<const char*>(p), _MM_HINT_T0);
    }
}

// The generation path (normally one token): R rows per tile share every activation block load
// (and its per-block preparation: scale conversion, offset sums, K-quant bsums), and the R row
// streams give R independent accumulator chains. A single-row vec_dot loop would redo the
// activation work for every row, which is what held the 4-bit formats below the memory bandwidth.
template <class K, int R>
void matvec(int64_t k, const void* w, size_t w_row_bytes, const void* act, size_t act_row_bytes,
            int64_t n_tokens, float* y, size_t y_stride, int64_t row_begin, int64_t row_end) {
    const auto* w_bytes = static_cast<const std::byte*>(w);
    const auto* a_bytes = static_cast<const std::byte*>(act);
    // Long rows are streamed well by the hardware; prefetching a whole tile of them at once
    // only crowds the miss buffers.
    const bool short_rows = R * w_row_bytes <= kShortTileBytes;
    if (!short_rows) {
        for (int64_t r = row_begin; r < row_end; ++r) {
            for (int64_t t = 0; t < n_tokens; ++t) {
                y[t * y_stride + r] =
                    K::vec_dot(k, w_bytes + r * w_row_bytes, a_bytes + t * act_row_bytes);
            }
        }
        return;
    }
    for (int64_t t = 0; t < n_tokens; ++t) {
        const std::byte* a = a_bytes + t * act_row_bytes;
        float* yt = y + t * y_stride;
        int64_t r = row_begin;
        for (; r + R <= row_end; r += R) {
            const int64_t next_end = r + 2 * R < row_end ? r + 2 * R : row_end;
            prefetch_rows(w_bytes + (r + R) * w_row_bytes, w_bytes + next_end * w_row_bytes);
            K::template tile<R, 1>(k, w_bytes + r * w_row_bytes, w_row_bytes, a, act_row_bytes,
                                   yt + r, y_stride);
        }
        for (; r < row_end; ++r) {
            K::template tile<1, 1>(k, w_bytes + r * w_row_bytes, w_row_bytes, a, act_row_bytes,
                                   yt + r, y_stride);
        }
    }
}

}  // namespace pocket::kernels::POCKET_SIMD_NS
