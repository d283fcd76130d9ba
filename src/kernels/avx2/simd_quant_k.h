// Dot products and matmul tiles of the 256-element K formats against Q8_K activations:
// Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, and IQ4_XS (a K-size super-block over IQ4_NL levels).
//
// Per super-block and (row, token) pair, the exact integer sum sum_g scale_g * dot_g is built in
// 8 int32 lanes: vpmaddubsw (unsigned weight levels x int8 activations) gives int16 pair sums of
// 32 elements, and vpmaddwd (or VNNI vpdpwssd) multiplies them by the 16-bit group scales while
// widening. Offsets (Q3_K's -4, Q6_K's -32) and minimums (Q2_K, Q4_K, Q5_K) only need the
// activation's per-16 sums (bsums), multiplied by the group scales/mins in one vpmaddwd. The float
// work is one or two FMAs per super-block: results differ from the scalar reference only in the
// order of the float accumulation.
#pragma once

#include <type_traits>

#include "kernels/avx2/simd_matmul.h"

namespace pocket::kernels::POCKET_SIMD_NS {

// The 6-bit scales and mins of Q4_K/Q5_K (layout in blocks.h).
struct K4Scales {
    uint8_t sc[8];
    uint8_t mn[8];
};
inline K4Scales unpack_k4_scales(const uint8_t* s) {
    K4Scales r;
    for (int j = 0; j < 4; ++j) {
        r.sc[j] = s[j] & 63;
        r.mn[j] = s[j + 4] & 63;
        r.sc[j + 4] = static_cast<uint8_t>((s[j + 8] & 0xF) | ((s[j] >> 6) << 4));
        r.mn[j + 4] = static_cast<uint8_t>((s[j + 8] >> 4) | ((s[j + 4] >> 6) << 4));
    }
    return r;
}

// Sixteen int16 scales of groups of 16 -> for each 32-element vector k (groups 2k, 2k+1 of the 8
// in `eight`), a vector with scale 2k in the low lane and 2k+1 in the high lane.
inline __m256i group_pair_scales(__m256i eight_in_both_lanes, int k) {
    // Low lane: bytes 4k, 4k+1 (int16 number 2k) repeated; high lane: 4k+2, 4k+3 (number 2k+1).
    const int64_t step = 0x0404040404040404LL * k;
    const int64_t low = 0x0100010001000100LL + step;
    const int64_t high = 0x0302030203020302LL + step;
    const __m256i pick = _mm256_set_epi64x(high, high, low, low);
    return _mm256_shuffle_epi8(eight_in_both_lanes, pick);
}

// kStream: each row's stream is asked for ahead (long rows of a one-token product; see
// prefetch_stream_ahead).
template <int R, int T, class Body, bool kStream = (R == 1 && T == 1)>
inline void k_tile_loop(int64_t k, const std::byte* w, size_t w_row_bytes, const std::byte* a,
                        size_t a_row_bytes, float* y, size_t y_stride, Body body) {
    using W = typename Body::W;
    const W* wr[R];
    const BlockQ8_K* at[T];
    for (int r = 0; r < R; ++r) wr[r] = reinterpret_cast<const W*>(w + r * w_row_bytes);
    for (int t = 0; t < T; ++t) at[t] = reinterpret_cast<const BlockQ8_K*>(a + t * a_row_bytes);
    __m256 acc[R][T];
    for (int r = 0; r < R; ++r)
        for (int t = 0; t < T; ++t) acc[r][t] = _mm256_setzero_ps();
    const int64_t nb = k / kQKK;
    for (int64_t b = 0; b < nb; ++b) {
        const BlockQ8_K* ab[T];
        for (int t = 0; t < T; ++t) ab[t] = at[t] + b;
        if constexpr (kStream) {
            for (int r = 0; r < R; ++r) prefetch_stream_ahead(wr[r] + b);
        }
#pragma GCC unroll 8
        for (int r = 0; r < R; ++r) body.template block<T>(wr[r][b], ab, acc[r]);
    }
    for (int r = 0; r < R; ++r)
        for (int t = 0; t < T; ++t) y[t * y_stride + r] = hsum(acc[r][t]);
}

// Wraps a body (one weight super-block against T activation blocks) into vec_dot and tile.
template <class Body>
struct KKernel {
    static float vec_dot(int64_t n, const void* w, const void* a) {
        float y = 0.f;
        k_tile_loop<1, 1>(n, static_cast<const std::byte*>(w), 0, static_cast<const std::byte*>(a),
                          0, &y, 0, Body{});
        return y;
    }
    template <int R, int T>
    static void tile(int64_t k, const std::byte* w, size_t w_row_bytes, const std::byte* a,
                     size_t a_row_bytes, float* y, size_t y_stride) {
        k_tile_loop<R, T>(k, w, w_row_bytes, a, a_row_bytes, y, y_stride, Body{});
    }
};

// The generation path over rows long enough for the hardware to stream (matvec's vec_dot case):
// R rows per pass, each row's stream asked for ahead as vec_dot asks for one, so the activation
// block's pointers, the loop and the final sums are shared by R rows.
template <class Body, int R>
void k_matvec_streams(int64_t k, const void* w, size_t w_row_bytes, const void* act,
                      size_t act_row_bytes, int64_t n_tokens, float* y, size_t y_stride,
                      int64_t row_begin, int64_t row_end) {
    const auto* w_bytes = static_cast<const std::byte*>(w);
    const auto* a_bytes = static_cast<const std::byte*>(act);
    for (int64_t t = 0; t < n_tokens; ++t) {
        const std::byte* a = a_bytes + t * act_row_bytes;
        float* yt = y + t * y_stride;
        int64_t r = row_begin;
        for (; r + R <= row_end; r += R) {
            k_tile_loop<R, 1, Body, true>(k, w_bytes + r * w_row_bytes, w_row_bytes, a,
                                          act_row_bytes, yt + r, y_stride, Body{});
        }
        for (; r < row_end; ++r) {
            k_tile_loop<1, 1, Body, true>(k, w_bytes + r * w_row_bytes, w_row_bytes, a,
                                          act_row_bytes, yt + r, y_stride, Body{});
        }
    }
}

// acc += d_w * d_a * isum - dmin_w * d_a * (mins . bsums)
inline __m256 k_finish_with_mins(__m256 acc, float d, float dmin, const BlockQ8_K& a, __m256i isum,
                                 __m256i mins16) {
    const __m256i min_lanes = _mm256_madd_epi16(load256(a.bsums), mins16);
    acc = _mm256_fmadd_ps(_mm256_set1_ps(d * a.d), _mm256_cvtepi32_ps(isum), acc);
    return _mm256_fnmadd_ps(_mm256_set1_ps(dmin * a.d), _mm256_cvtepi32_ps(min_lanes), acc);
}

// ---- Q4_K / Q5_K: 8 groups of 32, x = d*sc*q - dmin*mn ------------------------------------------

template <bool kFiveBit>
struct K4Body {
    using W = std::conditional_t<kFiveBit, BlockQ5_K, BlockQ4_K>;
    template <int T>
    void block(const W& x, const BlockQ8_K* const* a, __m256 (&acc)[T]) const {
        const K4Scales s = unpack_k4_scales(x.scales);
        __m128i mn8 = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(s.mn));
        const __m256i mins16 = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(mn8, mn8));
        __m256i isum[T];
        for (int t = 0; t < T; ++t) isum[t] = _mm256_setzero_si256();
        const __m256i low4 = _mm256_set1_epi8(0x0F);
        __m256i high = _mm256_setzero_si256();
        if constexpr (kFiveBit) high = load256(x.qh);
#pragma GCC unroll 4
        for (int c = 0; c < 4; ++c) {
            const __m256i q = load256(x.qs + 32 * c);
            __m256i lo = _mm256_and_si256(q, low4);
            __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low4);
            if constexpr (kFiveBit) {
                const __m256i m_lo = _mm256_set1_epi8(static_cast<char>(1 << (2 * c)));
                const __m256i m_hi = _mm256_set1_epi8(static_cast<char>(1 << (2 * c + 1)));
                const __m256i bit4 = _mm256_set1_epi8(0x10);
                lo = _mm256_or_si256(
                    lo,
                    _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(high, m_lo), m_lo), bit4));
                hi = _mm256_or_si256(
                    hi,
                    _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(high, m_hi), m_hi), bit4));
            }
            const __m256i s_lo = _mm256_set1_epi16(s.sc[2 * c]);
            const __m256i s_hi = _mm256_set1_epi16(s.sc[2 * c + 1]);
#pragma GCC unroll 8
            for (int t = 0; t < T; ++t) {
                const __m256i p_lo = _mm256_maddubs_epi16(lo, load256(a[t]->qs + 64 * c));
                const __m256i p_hi = _mm256_maddubs_epi16(hi, load256(a[t]->qs + 64 * c + 32));
                isum[t] = madd_add(madd_add(isum[t], p_lo, s_lo), p_hi, s_hi);
                if constexpr (T > 1) keep_in_register(isum[t]);
            }
        }
        const float d = half_to_float(x.d);
        const float dmin = half_to_float(x.dmin);
#pragma GCC unroll 8
        for (int t = 0; t < T; ++t)
            acc[t] = k_finish_with_mins(acc[t], d, dmin, *a[t], isum[t], mins16);
    }
};

// ---- Q6_K: 16 groups of 16, x = d*scale*(q - 32) ------------------------------------------------

struct Q6KBody {
    using W = BlockQ6_K;
    template <int T>
    void block(const W& x, const BlockQ8_K* const* a, __m256 (&acc)[T]) const {
        const __m128i sc8 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x.scales));
        const __m256i sc16 = _mm256_cvtepi8_epi16(sc8);
        __m256i isum[T];
        for (int t = 0; t < T; ++t) isum[t] = _mm256_setzero_si256();
        const __m256i low4 = _mm256_set1_epi8(0x0F);
#pragma GCC unroll 2
        for (int h = 0; h < 2; ++h) {
            const __m256i ql0 = load256(x.ql + 64 * h);
            const __m256i ql1 = load256(x.ql + 64 * h + 32);
            const __m256i qh = load256(x.qh + 32 * h);
            __m256i u[4];
            u[0] =
                _mm256_or_si256(_mm256_and_si256(ql0, low4),
                                _mm256_slli_epi16(_mm256_and_si256(qh, _mm256_set1_epi8(0x03)), 4));
            u[1] =
                _mm256_or_si256(_mm256_and_si256(ql1, low4),
                                _mm256_slli_epi16(_mm256_and_si256(qh, _mm256_set1_epi8(0x0C)), 2));
            u[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), low4),
                                   _mm256_and_si256(qh, _mm256_set1_epi8(0x30)));
            u[3] = _mm256_or_si256(
                _mm256_and_si256(_mm256_srli_epi16(ql1, 4), low4),
                _mm256_srli_epi16(_mm256_and_si256(qh, _mm256_set1_epi8(static_cast<char>(0xC0))),
                                  2));
            const __m256i eight = _mm256_broadcastsi128_si256(
                h == 0 ? _mm256_castsi256_si128(sc16) : _mm256_extracti128_si256(sc16, 1));
#pragma GCC unroll 4
            for (int j = 0; j < 4; ++j) {
                const __m256i scales = group_pair_scales(eight, j);
#pragma GCC unroll 8
                for (int t = 0; t < T; ++t) {
                    const __m256i p =
                        _mm256_maddubs_epi16(u[j], load256(a[t]->qs + 128 * h + 32 * j));
                    isum[t] = madd_add(isum[t], p, scales);
                    // Prompt tiles only: one row of one token has registers to spare.
                    if constexpr (T > 1) keep_in_register(isum[t]);
                }
            }
        }
        const float d = half_to_float(x.d);
#pragma GCC unroll 8
        for (int t = 0; t < T; ++t) {
            // The -32 offset: 32 * sum_g scale_g * bsum_g.
            const __m256i offset = _mm256_madd_epi16(load256(a[t]->bsums), sc16);
            const __m256i total = _mm256_sub_epi32(isum[t], _mm256_slli_epi32(offset, 5));
            acc[t] =
                _mm256_fmadd_ps(_mm256_set1_ps(d * a[t]->d), _mm256_cvtepi32_ps(total), acc[t]);
        }
    }
};

// ---- IQ4_XS: 8 groups of 32, x = d * (ls - 32) * level(q) --------------------------------------

struct IQ4XSBody {
    using W = BlockIQ4_XS;
    template <int T>
    void block(const W& x, const BlockQ8_K* const* a, __m256 (&acc)[T]) const {
        __m256i isum[T];
        for (int t = 0; t < T; ++t) isum[t] = _mm256_setzero_si256();
#pragma GCC unroll 2
        for (int g = 0; g < 8; ++g) {
            const int low = (x.scales_l[g / 2] >> (4 * (g % 2))) & 0x0F;
            const int high = (x.scales_h >> (2 * g)) & 0x03;
            const __m256i scale = _mm256_set1_epi16(static_cast<int16_t>((low | (high << 4)) - 32));
            // Signed levels against signed activations: |y| * (v * sign(y)). The activation is
            // the unsigned side because Q8_K can hold -128 (|-128| is 128 as an unsigned byte),
            // while the levels never do; each pair of products fits int16 (2 * 128 * 127).
            const __m256i v = iq4_levels(x.qs + 16 * g);
#pragma GCC unroll 8
            for (int t = 0; t < T; ++t) {
                const __m256i y = load256(a[t]->qs + 32 * g);
                const __m256i p = _mm256_maddubs_epi16(_mm256_abs_epi8(y), _mm256_sign_epi8(v, y));
                isum[t] = madd_add(isum[t], p, scale);
                if constexpr (T > 1) keep_in_register(isum[t]);
            }
        }
        const float d = half_to_float(x.d);
#pragma GCC unroll 8
        for (int t = 0; t < T; ++t)
            acc[t] =
                _mm256_fmadd_ps(_mm256_set1_ps(d * a[t]->d), _mm256_cvtepi32_ps(isum[t]), acc[t]);
    }
};

// ---- Q2_K: 16 groups of 16, x = d*(sc & 15)*q - dmin*(sc >> 4)
// -----------------------------------

struct Q2KBody {
    using W = BlockQ2_K;
    template <int T>
    void block(const W& x, const BlockQ8_K* const* a, __m256 (&acc)[T]) const {
        const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x.scales));
        const __m128i nib = _mm_set1_epi8(0x0F);
        const __m256i sc16 = _mm256_cvtepu8_epi16(_mm_and_si128(raw, nib));
        const __m256i mins16 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(raw, 4), nib));
        __m256i isum[T];
        for (int t = 0; t < T; ++t) isum[t] = _mm256_setzero_si256();
        const __m256i two_bits = _mm256_set1_epi8(3);
#pragma GCC unroll 2
        for (int h = 0; h < 2; ++h) {
            const __m256i q = load256(x.qs + 32 * h);
            const __m256i eight = _mm256_broadcastsi128_si256(
                h == 0 ? _mm256_castsi256_si128(sc16) : _mm256_extracti128_si256(sc16, 1));
#pragma GCC unroll 4
            for (int j = 0; j < 4; ++j) {
                const __m256i u = _mm256_and_si256(_mm256_srli_epi16(q, 2 * j), two_bits);
                const __m256i scales = group_pair_scales(eight, j);
#pragma GCC unroll 8
                for (int t = 0; t < T; ++t) {
                    const __m256i p = _mm256_maddubs_epi16(u, load256(a[t]->qs + 128 * h + 32 * j));
                    isum[t] = madd_add(isum[t], p, scales);
                    // Prompt tiles only: one row of one token has registers to spare.
                    if constexpr (T > 1) keep_in_register(isum[t]);
                }
            }
        }
        const float d = half_to_float(x.d);
        const float dmin = half_to_float(x.dmin);
#pragma GCC unroll 8
        for (int t = 0; t < T; ++t)
            acc[t] = k_finish_with_mins(acc[t], d, dmin, *a[t], isum[t], mins16);
    }
};

// ---- Q3_K: 16 groups of 16, x = d*s*(q - 4), q = 2 low bits | high bit << 2
// -----------------------

struct Q3KBody {
    using W = BlockQ3_K;
    static __m256i signed_scales(const uint8_t* s) {
        alignas(16) int8_t v[16];
        for (int g = 0; g < 16; ++g) {
            const int low = g < 8 ? (s[g] & 0xF) : (s[g - 8] >> 4);
            const int high = (s[8 + g % 4] >> (2 * (g / 4))) & 3;
            v[g] = static_cast<int8_t>((low | (high << 4)) - 32);
        }
        return _mm256_cvtepi8_epi16(_mm_load_si128(reinterpret_cast<const __m128i*>(v)));
    }
    template <int T>
    void block(const W& x, const BlockQ8_K* const* a, __m256 (&acc)[T]) const {
        const __m256i sc16 = signed_scales(x.scales);
        __m256i isum[T];
        for (int t = 0; t < T; ++t) isum[t] = _mm256_setzero_si256();
        const __m256i two_bits = _mm256_set1_epi8(3);
        const __m256i hmask = load256(x.hmask);
#pragma GCC unroll 2
        for (int h = 0; h < 2; ++h) {
            const __m256i q = load256(x.qs + 32 * h);
            const __m256i eight = _mm256_broadcastsi128_si256(
                h == 0 ? _mm256_castsi256_si128(sc16) : _mm256_extracti128_si256(sc16, 1));
#pragma GCC unroll 4
            for (int j = 0; j < 4; ++j) {
                const __m256i bit = _mm256_set1_epi8(static_cast<char>(1 << (4 * h + j)));
                const __m256i high = _mm256_and_si256(
                    _mm256_cmpeq_epi8(_mm256_and_si256(hmask, bit), bit), _mm256_set1_epi8(4));
                const __m256i u =
                    _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 2 * j), two_bits), high);
                const __m256i scales = group_pair_scales(eight, j);
#pragma GCC unroll 8
                for (int t = 0; t < T; ++t) {
                    const __m256i p = _mm256_maddubs_epi16(u, load256(a[t]->qs + 128 * h + 32 * j));
                    isum[t] = madd_add(isum[t], p, scales);
                    // Prompt tiles only: one row of one token has registers to spare.
                    if constexpr (T > 1) keep_in_register(isum[t]);
                }
            }
        }
        const float d = half_to_float(x.d);
#pragma GCC unroll 8
        for (int t = 0; t < T; ++t) {
            // The -4 offset: 4 * sum_g s_g * bsum_g.
            const __m256i offset = _mm256_madd_epi16(load256(a[t]->bsums), sc16);
            const __m256i total = _mm256_sub_epi32(isum[t], _mm256_slli_epi32(offset, 2));
            acc[t] =
                _mm256_fmadd_ps(_mm256_set1_ps(d * a[t]->d), _mm256_cvtepi32_ps(total), acc[t]);
        }
    }
};

}  // namespace pocket::kernels::POCKET_SIMD_NS
