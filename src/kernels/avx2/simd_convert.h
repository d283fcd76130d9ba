// Activation converters (F32 -> Q8_0, Q8_1, Q8_K, F16, BF16) and the F16/BF16 -> F32 expansions.
// All are bit-identical to the scalar reference: the same float operations in the same order
// (x * (127/amax), x * (-127/m)), rounding half to even with vroundps in nearest mode, F16 via
// vcvtps2ph (which the scalar f32_to_f16 reproduces exactly), BF16 with the reference's integer
// rounding (not vcvtneps2bf16, which flushes subnormals).
#pragma once

#include "kernels/avx2/simd_base.h"

namespace pocket::kernels::POCKET_SIMD_NS {

inline __m256i round_to_i32(__m256 v) {
    return _mm256_cvtps_epi32(_mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}

// Four vectors of 8 int32 (each within int8 range) to 32 int8 in element order.
inline __m256i pack_i32_to_i8(__m256i q0, __m256i q1, __m256i q2, __m256i q3) {
    const __m256i lo = _mm256_packs_epi32(q0, q1);
    const __m256i hi = _mm256_packs_epi32(q2, q3);
    const __m256i bytes = _mm256_packs_epi16(lo, hi);
    return _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

inline uint16_t float_to_half_bits(float f) {
    return static_cast<uint16_t>(_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT));
}

// One 32-element block of a Q8_0/Q8_1 activation: q = round-half-even(x * (127/amax)).
// Returns sum(q); `d` receives amax/127.
inline int quantize_q8_block(const float* x, int8_t* qs, float& d) {
    __m256 v[4];
    __m256 amax = _mm256_setzero_ps();
    for (int i = 0; i < 4; ++i) {
        v[i] = _mm256_loadu_ps(x + 8 * i);
        amax = _mm256_max_ps(amax, abs_ps(v[i]));
    }
    const float max_scalar = hmax(amax);
    d = max_scalar / 127.f;
    const __m256 id = _mm256_set1_ps(max_scalar != 0.f ? 127.f / max_scalar : 0.f);
    __m256i q[4];
    for (int i = 0; i < 4; ++i) q[i] = round_to_i32(_mm256_mul_ps(v[i], id));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(qs), pack_i32_to_i8(q[0], q[1], q[2], q[3]));
    return hsum_i32(_mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3])));
}

// Eight consecutive blocks at once, bit for bit eight quantize_q8_block calls: the eight maxima
// sit side by side in one vector, so the horizontal maximum, the two divisions and the sums of q
// are done for the eight blocks together (one block at a time, they were most of the work, and
// a chain of latencies). Block k's q go to qs + k * qs_stride; d[k] = amax/127, sum[k] = sum(q).
struct Q8Blocks8 {
    __m256 d;
    __m256i sum;
};
inline Q8Blocks8 quantize_q8_blocks8(const float* x, int8_t* qs, size_t qs_stride) {
    __m256 amax[8];
    for (int k = 0; k < 8; ++k) {
        const float* b = x + kQK32 * k;
        amax[k] = _mm256_max_ps(
            _mm256_max_ps(abs_ps(_mm256_loadu_ps(b)), abs_ps(_mm256_loadu_ps(b + 8))),
            _mm256_max_ps(abs_ps(_mm256_loadu_ps(b + 16)), abs_ps(_mm256_loadu_ps(b + 24))));
    }
    // Lane k of `m` = the maximum of amax[k]'s 8 lanes (a maximum of non-NaN floats does not
    // depend on the order).
    __m256 pair[4];
    for (int k = 0; k < 4; ++k) {
        pair[k] = _mm256_max_ps(_mm256_unpacklo_ps(amax[2 * k], amax[2 * k + 1]),
                                _mm256_unpackhi_ps(amax[2 * k], amax[2 * k + 1]));
    }
    __m256 quad[2];
    for (int k = 0; k < 2; ++k) {
        quad[k] = _mm256_max_ps(_mm256_shuffle_ps(pair[2 * k], pair[2 * k + 1], 0x44),
                                _mm256_shuffle_ps(pair[2 * k], pair[2 * k + 1], 0xEE));
    }
    // quad[i] = [the maxima of lanes 0-3 of blocks 4i..4i+3 | of lanes 4-7 of the same blocks].
    const __m256 amax8 = _mm256_max_ps(_mm256_permute2f128_ps(quad[0], quad[1], 0x20),
                                       _mm256_permute2f128_ps(quad[0], quad[1], 0x31));
    const __m256 d = _mm256_div_ps(amax8, _mm256_set1_ps(127.f));
    const __m256 nonzero = _mm256_cmp_ps(amax8, _mm256_setzero_ps(), _CMP_NEQ_OQ);
    const __m256 id = _mm256_and_ps(_mm256_div_ps(_mm256_set1_ps(127.f), amax8), nonzero);
    __m256i sums[8];
    for (int k = 0; k < 8; ++k) {
        const float* b = x + kQK32 * k;
        const __m256 idk = _mm256_permutevar8x32_ps(id, _mm256_set1_epi32(k));
        __m256i q[4];
        for (int i = 0; i < 4; ++i)
            q[i] = round_to_i32(_mm256_mul_ps(_mm256_loadu_ps(b + 8 * i), idk));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(qs + k * qs_stride),
                            pack_i32_to_i8(q[0], q[1], q[2], q[3]));
        sums[k] = _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
    }
    // Lane k of the result = the sum of sums[k]'s lanes (integer sums: any order).
    const __m256i s01 = _mm256_hadd_epi32(sums[0], sums[1]),
                  s23 = _mm256_hadd_epi32(sums[2], sums[3]);
    const __m256i s45 = _mm256_hadd_epi32(sums[4], sums[5]),
                  s67 = _mm256_hadd_epi32(sums[6], sums[7]);
    const __m256i s0123 = _mm256_hadd_epi32(s01, s23), s4567 = _mm256_hadd_epi32(s45, s67);
    // s0123 = [0 1 2 3 (low halves) | 0 1 2 3 (high halves)], s4567 likewise for blocks 4-7.
    const __m256i sum = _mm256_add_epi32(_mm256_permute2x128_si256(s0123, s4567, 0x20),
                                         _mm256_permute2x128_si256(s0123, s4567, 0x31));
    return {d, sum};
}

inline void q8_0_from_float(const float* src, void* dst, int64_t n) {
    auto* blocks = static_cast<BlockQ8_0*>(dst);
    const int64_t nb = n / kQK32;
    int64_t b = 0;
    for (; b + 8 <= nb; b += 8) {
        const Q8Blocks8 q = quantize_q8_blocks8(src + b * kQK32, blocks[b].qs, sizeof(BlockQ8_0));
        alignas(16) uint16_t d[8];
        _mm_store_si128(reinterpret_cast<__m128i*>(d),
                        _mm256_cvtps_ph(q.d, _MM_FROUND_TO_NEAREST_INT));
        for (int k = 0; k < 8; ++k) blocks[b + k].d = d[k];
    }
    for (; b < nb; ++b) {
        float d = 0.f;
        quantize_q8_block(src + b * kQK32, blocks[b].qs, d);
        blocks[b].d = float_to_half_bits(d);
    }
}

inline void q8_1_from_float(const float* src, void* dst, int64_t n) {
    auto* blocks = static_cast<BlockQ8_1*>(dst);
    for (int64_t b = 0; b < n / kQK32; ++b) {
        float d = 0.f;
        const int sum = quantize_q8_block(src + b * kQK32, blocks[b].qs, d);
        blocks[b].d = float_to_half_bits(d);
        blocks[b].s = float_to_half_bits(d * static_cast<float>(sum));
    }
}

// Q8_K: the element of largest magnitude m (the first one on ties, sign kept) maps to -127,
// q = min(127, round-half-even(x * (-127/m))), d = 1/(-127/m), plus the sums of each 16 q.
inline void q8_k_from_float(const float* src, void* dst, int64_t n) {
    auto* blocks = static_cast<BlockQ8_K*>(dst);
    constexpr int kVectors = kQKK / 8;
    for (int64_t b = 0; b < n / kQKK; ++b, src += kQKK) {
        BlockQ8_K& y = blocks[b];
        __m256 amax_v = _mm256_setzero_ps();
        for (int i = 0; i < kVectors; ++i)
            amax_v = _mm256_max_ps(amax_v, abs_ps(_mm256_loadu_ps(src + 8 * i)));
        const float amax = hmax(amax_v);
        if (amax == 0.f) {
            y.d = 0.f;
            const __m256i zero = _mm256_setzero_si256();
            for (int i = 0; i < kQKK; i += 32)
                _mm256_storeu_si256(reinterpret_cast<__m256i*>(y.qs + i), zero);
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(y.bsums), zero);
            continue;
        }
        // The first element whose magnitude equals the maximum.
        float m = 0.f;
        const __m256 target = _mm256_set1_ps(amax);
        for (int i = 0; i < kVectors; ++i) {
            const __m256 hit =
                _mm256_cmp_ps(abs_ps(_mm256_loadu_ps(src + 8 * i)), target, _CMP_EQ_OQ);
            const int mask = _mm256_movemask_ps(hit);
            if (mask != 0) {
                m = src[8 * i + __builtin_ctz(static_cast<unsigned>(mask))];
                break;
            }
        }
        const float iscale = -127.f / m;
        const __m256 iv = _mm256_set1_ps(iscale);
        const __m256i max_q = _mm256_set1_epi32(127);
        const __m256i ones8 = _mm256_set1_epi8(1);
        const __m256i ones16 = _mm256_set1_epi16(1);
        for (int c = 0; c < kQKK / 32; ++c) {
            __m256i q[4];
            for (int i = 0; i < 4; ++i) {
                const __m256 x = _mm256_loadu_ps(src + 32 * c + 8 * i);
                q[i] = _mm256_min_epi32(round_to_i32(_mm256_mul_ps(x, iv)), max_q);
            }
            const __m256i bytes = pack_i32_to_i8(q[0], q[1], q[2], q[3]);
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(y.qs + 32 * c), bytes);
            // Lanes 0-3 sum bytes 0-15 (group 2c), lanes 4-7 bytes 16-31 (group 2c+1).
            const __m256i sums4 = _mm256_madd_epi16(_mm256_maddubs_epi16(ones8, bytes), ones16);
            const __m256i sums2 = _mm256_hadd_epi32(sums4, sums4);
            const __m256i sums1 = _mm256_hadd_epi32(sums2, sums2);
            y.bsums[2 * c] = static_cast<int16_t>(_mm256_extract_epi32(sums1, 0));
            y.bsums[2 * c + 1] = static_cast<int16_t>(_mm256_extract_epi32(sums1, 4));
        }
        y.d = 1 / iscale;
    }
}

inline void f16_from_float(const float* src, void* dst, int64_t n) {
    auto* h = static_cast<uint16_t*>(dst);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m128i v = _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(h + i), v);
    }
    for (; i < n; ++i) h[i] = float_to_half_bits(src[i]);
}

inline void f16_to_float(const void* src, float* dst, int64_t n) {
    const auto* h = static_cast<const uint16_t*>(src);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(h + i));
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(v));
    }
    for (; i < n; ++i) dst[i] = half_to_float(h[i]);
}

// BF16 rounding of the reference: nearest, ties to even; NaN kept quiet.
inline __m256i bf16_round_bits(__m256i x) {
    const __m256i abs = _mm256_and_si256(x, _mm256_set1_epi32(0x7fffffff));
    const __m256i is_nan = _mm256_cmpgt_epi32(abs, _mm256_set1_epi32(0x7f800000));
    const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(x, 16), _mm256_set1_epi32(1));
    const __m256i rounded = _mm256_srli_epi32(
        _mm256_add_epi32(x, _mm256_add_epi32(_mm256_set1_epi32(0x7fff), lsb)), 16);
    const __m256i quiet = _mm256_or_si256(_mm256_srli_epi32(x, 16), _mm256_set1_epi32(64));
    return _mm256_blendv_epi8(rounded, quiet, is_nan);
}

inline uint16_t float_to_bf16_bits(float f) {
    uint32_t x = 0;
    __builtin_memcpy(&x, &f, sizeof x);
    if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 64u);
    return static_cast<uint16_t>((x + (0x7fffu + ((x >> 16) & 1u))) >> 16);
}

inline void bf16_from_float(const float* src, void* dst, int64_t n) {
    auto* h = static_cast<uint16_t*>(dst);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m256i a = bf16_round_bits(_mm256_castps_si256(_mm256_loadu_ps(src + i)));
        const __m256i b = bf16_round_bits(_mm256_castps_si256(_mm256_loadu_ps(src + i + 8)));
        // packus interleaves 128-bit lanes: a.lo b.lo a.hi b.hi -> restore element order.
        const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(a, b), 0xD8);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(h + i), packed);
    }
    for (; i < n; ++i) h[i] = float_to_bf16_bits(src[i]);
}

inline __m256 bf16x8_to_float(const uint16_t* p) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(v), 16));
}

inline float bf16_bits_to_float(uint16_t h) {
    const uint32_t x = static_cast<uint32_t>(h) << 16;
    float f = 0.f;
    __builtin_memcpy(&f, &x, sizeof f);
    return f;
}

inline void bf16_to_float(const void* src, float* dst, int64_t n) {
    const auto* h = static_cast<const uint16_t*>(src);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, bf16x8_to_float(h + i));
    for (; i < n; ++i) dst[i] = bf16_bits_to_float(h[i]);
}

}  // namespace pocket::kernels::POCKET_SIMD_NS
