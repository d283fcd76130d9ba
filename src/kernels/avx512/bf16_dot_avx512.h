// BF16 dot products with AVX512_BF16's vdpbf16ps: 32 products per instruction, accumulated into
// 16 float lanes. Numerics differ from the scalar reference (and from the AVX2 path) in two ways,
// both well below the rounding of the BF16 operands themselves: the instruction treats subnormal
// inputs and results as zero (whatever MXCSR says), and it adds the two products of each lane pair
// to the accumulator with its own internal rounding rather than as two separately rounded FMAs.
#pragma once

#include <immintrin.h>

#include <cstddef>
#include <cstdint>

namespace pocket::kernels::avx512 {

inline __m512bh load_bf16x32(const uint16_t* p) {
    return reinterpret_cast<__m512bh>(_mm512_loadu_si512(p));
}

// (Not _mm512_reduce_add_ps or _mm512_castps512_ps256: GCC 12 headers trip -Wuninitialized.)
inline float hsum512(__m512 v) {
    const __m256 half = _mm256_add_ps(_mm512_extractf32x8_ps(v, 0), _mm512_extractf32x8_ps(v, 1));
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(half), _mm256_extractf128_ps(half, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

inline float bf16_bits_value(uint16_t h) {
    const uint32_t x = static_cast<uint32_t>(h) << 16;
    float f = 0.f;
    __builtin_memcpy(&f, &x, sizeof f);
    return f;
}

inline float bf16_tail_dot(const uint16_t* x, const uint16_t* y, int64_t from, int64_t n) {
    float sum = 0.f;
    for (int64_t i = from; i < n; ++i) sum += bf16_bits_value(x[i]) * bf16_bits_value(y[i]);
    return sum;
}

inline float bf16_vec_dot(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const uint16_t*>(w);
    const auto* y = static_cast<const uint16_t*>(a);
    __m512 acc0 = _mm512_setzero_ps();
    __m512 acc1 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        prefetch_stream_ahead(x + i, 64 * sizeof(*x));  // the rows are one stream
        acc0 = _mm512_dpbf16_ps(acc0, load_bf16x32(x + i), load_bf16x32(y + i));
        acc1 = _mm512_dpbf16_ps(acc1, load_bf16x32(x + i + 32), load_bf16x32(y + i + 32));
    }
    for (; i + 32 <= n; i += 32)
        acc0 = _mm512_dpbf16_ps(acc0, load_bf16x32(x + i), load_bf16x32(y + i));
    return hsum512(_mm512_add_ps(acc0, acc1)) + bf16_tail_dot(x, y, i, n);
}

// Tile kernel for the matmul driver (see simd_matmul.h).
struct Bf16DpTile {
    template <int R, int T>
    static void tile(int64_t k, const std::byte* w, size_t w_row_bytes, const std::byte* a,
                     size_t a_row_bytes, float* y, size_t y_stride) {
        const uint16_t* wr[R];
        const uint16_t* at[T];
        for (int r = 0; r < R; ++r) wr[r] = reinterpret_cast<const uint16_t*>(w + r * w_row_bytes);
        for (int t = 0; t < T; ++t) at[t] = reinterpret_cast<const uint16_t*>(a + t * a_row_bytes);
        __m512 acc[R][T];
        for (int r = 0; r < R; ++r)
            for (int t = 0; t < T; ++t) acc[r][t] = _mm512_setzero_ps();
        int64_t i = 0;
        for (; i + 32 <= k; i += 32) {
            __m512bh av[T];
#pragma GCC unroll 8
            for (int t = 0; t < T; ++t) av[t] = load_bf16x32(at[t] + i);
#pragma GCC unroll 8
            for (int r = 0; r < R; ++r) {
                const __m512bh wv = load_bf16x32(wr[r] + i);
#pragma GCC unroll 8
                for (int t = 0; t < T; ++t) acc[r][t] = _mm512_dpbf16_ps(acc[r][t], wv, av[t]);
            }
        }
        for (int r = 0; r < R; ++r) {
            for (int t = 0; t < T; ++t) {
                y[t * y_stride + r] = hsum512(acc[r][t]) + bf16_tail_dot(wr[r], at[t], i, k);
            }
        }
    }
};

}  // namespace pocket::kernels::avx512
