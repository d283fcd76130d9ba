// F32, F16 and BF16 dot products and matmul tiles. Products are exact in float for F16/BF16
// operands (as in the scalar reference); sums are accumulated in float, in 8 lanes and several
// partial sums, where the reference accumulates in double: results agree to float rounding.
#pragma once

#include <cmath>

#include "kernels/avx2/simd_convert.h"

namespace pocket::kernels::POCKET_SIMD_NS {

// How each element type loads 8 values as floats, or one.
struct F32Elems {
    using T = float;
    static __m256 load8(const T* p) { return _mm256_loadu_ps(p); }
    static float one(const T* p) { return *p; }
};
struct F16Elems {
    using T = uint16_t;
    static __m256 load8(const T* p) {
        return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    }
    static float one(const T* p) { return half_to_float(*p); }
};
struct BF16Elems {
    using T = uint16_t;
    static __m256 load8(const T* p) { return bf16x8_to_float(p); }
    static float one(const T* p) { return bf16_bits_to_float(*p); }
};

template <class E>
float float_vec_dot(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const typename E::T*>(w);
    const auto* y = static_cast<const typename E::T*>(a);
    // Four independent sums hide the FMA latency.
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                     _mm256_setzero_ps()};
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        prefetch_stream_ahead(x + i, 32 * sizeof(*x));  // the rows are one stream
        for (int j = 0; j < 4; ++j) {
            acc[j] = _mm256_fmadd_ps(E::load8(x + i + 8 * j), E::load8(y + i + 8 * j), acc[j]);
        }
    }
    for (; i + 8 <= n; i += 8) acc[0] = _mm256_fmadd_ps(E::load8(x + i), E::load8(y + i), acc[0]);
    float sum = hsum(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
    for (; i < n; ++i) sum = std::fma(E::one(x + i), E::one(y + i), sum);  // as in the tiles
    return sum;
}

template <class E>
struct FloatTile {
    template <int R, int T>
    static void tile(int64_t k, const std::byte* w, size_t w_row_bytes, const std::byte* a,
                     size_t a_row_bytes, float* y, size_t y_stride) {
        const typename E::T* wr[R];
        const typename E::T* at[T];
        for (int r = 0; r < R; ++r)
            wr[r] = reinterpret_cast<const typename E::T*>(w + r * w_row_bytes);
        for (int t = 0; t < T; ++t)
            at[t] = reinterpret_cast<const typename E::T*>(a + t * a_row_bytes);
        __m256 acc[R][T];
        for (int r = 0; r < R; ++r)
            for (int t = 0; t < T; ++t) acc[r][t] = _mm256_setzero_ps();
        int64_t i = 0;
        for (; i + 8 <= k; i += 8) {
            __m256 av[T];
#pragma GCC unroll 8
            for (int t = 0; t < T; ++t) av[t] = E::load8(at[t] + i);
#pragma GCC unroll 8
            for (int r = 0; r < R; ++r) {
                const __m256 wv = E::load8(wr[r] + i);
#pragma GCC unroll 8
                for (int t = 0; t < T; ++t) acc[r][t] = _mm256_fmadd_ps(wv, av[t], acc[r][t]);
            }
        }
        for (int r = 0; r < R; ++r) {
            for (int t = 0; t < T; ++t) {
                float sum = hsum(acc[r][t]);
                // An explicit fused multiply-add, in order: written as `sum += a * b`, the
                // compiler contracted it to an FMA in some tile shapes and, with AVX-512's masked
                // epilogues, vectorised it as rounded products added in order in others, so a
                // token's result depended on whether it fell in a full tile of T tokens or in the
                // remainder (a prompt evaluated in two batches then differed in the last bit).
                for (int64_t j = i; j < k; ++j)
                    sum = std::fma(E::one(wr[r] + j), E::one(at[t] + j), sum);
                y[t * y_stride + r] = sum;
            }
        }
    }
};

}  // namespace pocket::kernels::POCKET_SIMD_NS
