// Dot products and matmul tiles of the 32-element formats against Q8_0 / Q8_1 activations:
// Q8_0, Q4_0, Q5_0, IQ4_NL, Q4_1, Q5_1.
//
// Each block's integer sum is exact and split over 8 int32 lanes; the lanes are converted to float
// and accumulated with the block's scale product d_w * d_a (formed in float, as the reference
// does). Weights are brought to unsigned bytes u with x = u - offset, and the offset is removed
// with the activation block's sum: sum((u - o) * y) = sum(u * y) - o * sum(y), where o * sum(y)
// costs one extra dot per activation block, shared by every row of a tile. Without VNNI the
// signed formats (Q8_0, IQ4_NL) would need u up to 255, which overflows vpmaddubsw's int16 pair
// sums, so there they use the sign trick instead: |x| * (y * sign(x)).
#pragma once

#include "kernels/avx2/simd_matmul.h"

namespace pocket::kernels::POCKET_SIMD_NS {

// Per activation block, prepared once per tile and reused by every row.
struct ActBlock {
    __m256i y;        // the 32 int8 values
    __m256i neg_off;  // -offset * (sums of 4 y) per lane, when the weight format has an offset
    __m256 d;         // broadcast activation scale
    float s;          // Q8_1: d * sum(y)
};
// Per weight block, prepared once per row of a tile.
struct WeightBlock {
    __m256i u;    // unsigned bytes (or, for the sign trick, the signed values)
    __m256i abs;  // sign trick only: |x|
    __m256 d;     // broadcast weight scale
    float m;      // formats with a minimum
};

// D describes the format: W (weight block), A (activation block), kOffset, kMin, kSignTrick, and
// static void decode(const W&, WeightBlock&) filling u (and abs) and d (and m).
template <class D>
struct LegacyKernel {
    using W = typename D::W;
    using A = typename D::A;

    static ActBlock load_act(const A& a) {
        ActBlock p;
        p.y = load256(a.qs);
        p.d = _mm256_set1_ps(half_to_float(a.d));
        if constexpr (D::kOffset != 0) {
            p.neg_off =
                _mm256_sub_epi32(_mm256_setzero_si256(),
                                 dot_us(_mm256_set1_epi8(static_cast<char>(D::kOffset)), p.y));
        } else {
            p.neg_off = _mm256_setzero_si256();
        }
        if constexpr (D::kMin) {
            p.s = half_to_float(a.s);
        } else {
            p.s = 0.f;
        }
        return p;
    }

    // The block's exact integer sum, in 8 lanes.
    static __m256i lanes(const WeightBlock& w, const ActBlock& a) {
        if constexpr (D::kSignTrick) {
            return dot_us(w.abs, _mm256_sign_epi8(a.y, w.u));
        } else if constexpr (D::kOffset != 0) {
            return dot_us_add(a.neg_off, w.u, a.y);
        } else {
            return dot_us(w.u, a.y);
        }
    }

    static __m256 accumulate(const WeightBlock& w, const ActBlock& a, __m256 acc) {
        return accumulate_scaled(w, a, _mm256_mul_ps(w.d, a.d), acc);
    }

    // acc + scale * lanes (+ m * s for the formats with a minimum).
    static __m256 accumulate_scaled(const WeightBlock& w, const ActBlock& a, __m256 scale,
                                    __m256 acc) {
        const __m256i lanes = LegacyKernel::lanes(w, a);
        if constexpr (D::kMin) {
            // + m * s once per block, in lane 0.
            const __m256 ms = _mm256_zextps128_ps256(_mm_set_ss(w.m * a.s));
            return _mm256_add_ps(acc, _mm256_fmadd_ps(scale, _mm256_cvtepi32_ps(lanes), ms));
        } else {
            return _mm256_fmadd_ps(scale, _mm256_cvtepi32_ps(lanes), acc);
        }
    }

    // One block of the single-token path: the scale product is formed in scalar registers (two
    // F16 conversions and a multiply, then one broadcast), which is cheaper than broadcasting
    // both scales when nothing is shared with other rows or tokens. The product is the same.
    static __m256 block(const W& w, const A& a, __m256 acc) {
        WeightBlock wb;
        D::decode(w, wb);
        const __m256 scale = _mm256_set1_ps(half_to_float(w.d) * half_to_float(a.d));
        return accumulate_scaled(wb, load_act(a), scale, acc);
    }

    // Two independent sums (even and odd blocks) hide the FMA latency of the single-token path.
    static float vec_dot(int64_t n, const void* wv, const void* av) {
        const auto* w = static_cast<const W*>(wv);
        const auto* a = static_cast<const A*>(av);
        const int64_t nb = n / kQK32;
        __m256 acc0 = _mm256_setzero_ps();
        __m256 acc1 = _mm256_setzero_ps();
        int64_t b = 0;
        for (; b + 2 <= nb; b += 2) {
            acc0 = block(w[b], a[b], acc0);
            acc1 = block(w[b + 1], a[b + 1], acc1);
        }
        if (b < nb) acc0 = block(w[b], a[b], acc0);
        return hsum(_mm256_add_ps(acc0, acc1));
    }

    template <int R, int T>
    static void tile(int64_t k, const std::byte* w, size_t w_row_bytes, const std::byte* a,
                     size_t a_row_bytes, float* y, size_t y_stride) {
        const W* wr[R];
        const A* at[T];
        for (int r = 0; r < R; ++r) wr[r] = reinterpret_cast<const W*>(w + r * w_row_bytes);
        for (int t = 0; t < T; ++t) at[t] = reinterpret_cast<const A*>(a + t * a_row_bytes);
        __m256 acc[R][T];
        for (int r = 0; r < R; ++r)
            for (int t = 0; t < T; ++t) acc[r][t] = _mm256_setzero_ps();
        const int64_t nb = k / kQK32;
        for (int64_t b = 0; b < nb; ++b) {
            ActBlock ab[T];
#pragma GCC unroll 8
            for (int t = 0; t < T; ++t) ab[t] = load_act(at[t][b]);
#pragma GCC unroll 8
            for (int r = 0; r < R; ++r) {
                WeightBlock wb;
                D::decode(wr[r][b], wb);
#pragma GCC unroll 8
                for (int t = 0; t < T; ++t) acc[r][t] = accumulate(wb, ab[t], acc[r][t]);
            }
        }
        for (int r = 0; r < R; ++r)
            for (int t = 0; t < T; ++t) y[t * y_stride + r] = hsum(acc[r][t]);
    }
};

// ---- formats ----------------------------------------------------------------------------------

struct Q4_0Format {
    using W = BlockQ4_0;
    using A = BlockQ8_0;
    static constexpr int kOffset = 8;
    static constexpr bool kMin = false;
    static constexpr bool kSignTrick = false;
    static void decode(const W& x, WeightBlock& wb) {
        wb.u = unpack_nibbles_split(x.qs);
        wb.d = _mm256_set1_ps(half_to_float(x.d));
    }
};

inline __m256i five_bit_values(const uint8_t* qs, const uint8_t* qh) {
    uint32_t high = 0;
    __builtin_memcpy(&high, qh, sizeof high);
    const __m256i bit4 = _mm256_and_si256(expand_bits(high), _mm256_set1_epi8(0x10));
    return _mm256_or_si256(unpack_nibbles_split(qs), bit4);
}

struct Q5_0Format {
    using W = BlockQ5_0;
    using A = BlockQ8_0;
    static constexpr int kOffset = 16;
    static constexpr bool kMin = false;
    static constexpr bool kSignTrick = false;
    static void decode(const W& x, WeightBlock& wb) {
        wb.u = five_bit_values(x.qs, x.qh);
        wb.d = _mm256_set1_ps(half_to_float(x.d));
    }
};

struct Q4_1Format {
    using W = BlockQ4_1;
    using A = BlockQ8_1;
    static constexpr int kOffset = 0;
    static constexpr bool kMin = true;
    static constexpr bool kSignTrick = false;
    static void decode(const W& x, WeightBlock& wb) {
        wb.u = unpack_nibbles_split(x.qs);
        wb.d = _mm256_set1_ps(half_to_float(x.d));
        wb.m = half_to_float(x.m);
    }
};

struct Q5_1Format {
    using W = BlockQ5_1;
    using A = BlockQ8_1;
    static constexpr int kOffset = 0;
    static constexpr bool kMin = true;
    static constexpr bool kSignTrick = false;
    static void decode(const W& x, WeightBlock& wb) {
        wb.u = five_bit_values(x.qs, x.qh);
        wb.d = _mm256_set1_ps(half_to_float(x.d));
        wb.m = half_to_float(x.m);
    }
};

// Signed formats: with VNNI, u = x + 128 and offset 128; without, the sign trick.
struct Q8_0Format {
    using W = BlockQ8_0;
    using A = BlockQ8_0;
    static constexpr int kOffset = POCKET_SIMD_VNNI ? 128 : 0;
    static constexpr bool kMin = false;
    static constexpr bool kSignTrick = !POCKET_SIMD_VNNI;
    static void decode(const W& x, WeightBlock& wb) {
        const __m256i v = load256(x.qs);
        if constexpr (kSignTrick) {
            wb.u = v;
            wb.abs = _mm256_sign_epi8(v, v);
        } else {
            wb.u = _mm256_xor_si256(v, _mm256_set1_epi8(static_cast<char>(0x80)));
        }
        wb.d = _mm256_set1_ps(half_to_float(x.d));
    }
};

struct IQ4_NLFormat {
    using W = BlockIQ4_NL;
    using A = BlockQ8_0;
    static constexpr int kOffset = POCKET_SIMD_VNNI ? 128 : 0;
    static constexpr bool kMin = false;
    static constexpr bool kSignTrick = !POCKET_SIMD_VNNI;
    static void decode(const W& x, WeightBlock& wb) {
        const __m256i v = iq4_levels(x.qs);
        if constexpr (kSignTrick) {
            wb.u = v;
            wb.abs = _mm256_sign_epi8(v, v);
        } else {
            wb.u = _mm256_xor_si256(v, _mm256_set1_epi8(static_cast<char>(0x80)));
        }
        wb.d = _mm256_set1_ps(half_to_float(x.d));
    }
};

}  // namespace pocket::kernels::POCKET_SIMD_NS
