// NEON dot products of the quantized weight formats against their activation formats, written
// once and compiled twice: quant_dot_plain.cpp (baseline ARMv8-A NEON: widening multiplies and
// pairwise adds) and quant_dot_dotprod.cpp (ARMv8.2-A SDOT). The including file defines
// POCKET_NEON_NS (a namespace of its own, so the two copies of these inline functions never merge
// at link time: the SDOT copy must not run on CPUs without it) and POCKET_NEON_DOTPROD.
//
// Every kernel forms exactly the scalar reference's integer block sums and then applies the block
// scales with the same float operations in the same order (see the scalar files), so the results
// are bit-identical to the scalar ones, just faster to get.
//
// Only NEON intrinsics and plain integer code here: no library templates or fp16.h conversions,
// whose single linked copy could be the one compiled for SDOT.
#pragma once

#include <arm_neon.h>

#include <cstdint>
#include <cstring>

#include "kernels/blocks.h"
#include "kernels/kernel_table.h"

#ifndef POCKET_NEON_NS
#error "define POCKET_NEON_NS before including neon_quant_dot.h"
#endif

// The block scales are applied as in the scalar files, which round every a*b+c twice: GCC fuses
// such expressions on AArch64 by default (-ffp-contract=fast), which would change the last bit.
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

namespace pocket::kernels::POCKET_NEON_NS {

// acc + the sums of each four adjacent products a[i] * b[i] (lanes differ between the two ways,
// the total does not: callers only ever add the lanes up).
inline int32x4_t dot16(int32x4_t acc, int8x16_t a, int8x16_t b) {
#if POCKET_NEON_DOTPROD
    return vdotq_s32(acc, a, b);
#else
    const int16x8_t lo = vmull_s8(vget_low_s8(a), vget_low_s8(b));
    const int16x8_t hi = vmull_high_s8(a, b);
    return vpadalq_s16(vpadalq_s16(acc, lo), hi);
#endif
}

// sum_i a[i] * b[i] over 16 and 32 int8 values.
inline int32_t dot_sum16(int8x16_t a, int8x16_t b) {
    return vaddvq_s32(dot16(vdupq_n_s32(0), a, b));
}
inline int32_t dot_sum32(int8x16_t a0, int8x16_t a1, const int8_t* b) {
    return vaddvq_s32(dot16(dot16(vdupq_n_s32(0), a0, vld1q_s8(b)), a1, vld1q_s8(b + 16)));
}

// F16 bits to float with the hardware conversion (exact).
inline float half(f16_t h) {
    __fp16 v;
    std::memcpy(&v, &h, sizeof v);
    return static_cast<float>(v);
}

inline int8x16_t low_nibbles(uint8x16_t v) {
    return vreinterpretq_s8_u8(vandq_u8(v, vdupq_n_u8(0x0F)));
}
inline int8x16_t high_nibbles(uint8x16_t v) {
    return vreinterpretq_s8_u8(vshrq_n_u8(v, 4));
}

// 0x10 in byte j where bit j of the 16 bits `bits` is set (the fifth bit of Q5_0/Q5_1 elements).
inline uint8x16_t fifth_bits(uint16_t bits) {
    const uint8x16_t bytes = vcombine_u8(vdup_n_u8(static_cast<uint8_t>(bits)),
                                         vdup_n_u8(static_cast<uint8_t>(bits >> 8)));
    const uint8x16_t select = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    return vandq_u8(vtstq_u8(bytes, select), vdupq_n_u8(0x10));
}

// ---- 32-element formats ------------------------------------------------------------------------

inline float q8_0_dot(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const BlockQ8_0*>(w);
    const auto* y = static_cast<const BlockQ8_0*>(a);
    float sum = 0.f;
    for (int64_t b = 0; b < n / kQK32; ++b) {
        const int32_t isum = dot_sum32(vld1q_s8(x[b].qs), vld1q_s8(x[b].qs + 16), y[b].qs);
        sum += static_cast<float>(isum) * (half(x[b].d) * half(y[b].d));
    }
    return sum;
}

inline float q4_0_dot(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const BlockQ4_0*>(w);
    const auto* y = static_cast<const BlockQ8_0*>(a);
    const int8x16_t eight = vdupq_n_s8(8);
    float sum = 0.f;
    for (int64_t b = 0; b < n / kQK32; ++b) {
        const uint8x16_t qs = vld1q_u8(x[b].qs);
        const int32_t isum =
            dot_sum32(vsubq_s8(low_nibbles(qs), eight), vsubq_s8(high_nibbles(qs), eight), y[b].qs);
        sum += static_cast<float>(isum) * (half(x[b].d) * half(y[b].d));
    }
    return sum;
}

inline float q4_1_dot(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const BlockQ4_1*>(w);
    const auto* y = static_cast<const BlockQ8_1*>(a);
    float sum = 0.f;
    for (int64_t b = 0; b < n / kQK32; ++b) {
        const uint8x16_t qs = vld1q_u8(x[b].qs);
        const int32_t isum = dot_sum32(low_nibbles(qs), high_nibbles(qs), y[b].qs);
        sum +=
            (half(x[b].d) * half(y[b].d)) * static_cast<float>(isum) + half(x[b].m) * half(y[b].s);
    }
    return sum;
}

// The 5-bit values of a Q5_0/Q5_1 block (elements 0-15 and 16-31), before any offset.
template <typename Block>
inline void q5_values(const Block& x, int8x16_t& lo, int8x16_t& hi) {
    uint32_t qh;
    std::memcpy(&qh, x.qh, sizeof qh);
    const uint8x16_t qs = vld1q_u8(x.qs);
    lo = vreinterpretq_s8_u8(
        vorrq_u8(vandq_u8(qs, vdupq_n_u8(0x0F)), fifth_bits(static_cast<uint16_t>(qh))));
    hi = vreinterpretq_s8_u8(
        vorrq_u8(vshrq_n_u8(qs, 4), fifth_bits(static_cast<uint16_t>(qh >> 16))));
}

inline float q5_0_dot(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const BlockQ5_0*>(w);
    const auto* y = static_cast<const BlockQ8_0*>(a);
    const int8x16_t sixteen = vdupq_n_s8(16);
    float sum = 0.f;
    for (int64_t b = 0; b < n / kQK32; ++b) {
        int8x16_t lo, hi;
        q5_values(x[b], lo, hi);
        const int32_t isum = dot_sum32(vsubq_s8(lo, sixteen), vsubq_s8(hi, sixteen), y[b].qs);
        sum += (half(x[b].d) * half(y[b].d)) * static_cast<float>(isum);
    }
    return sum;
}

inline float q5_1_dot(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const BlockQ5_1*>(w);
    const auto* y = static_cast<const BlockQ8_1*>(a);
    float sum = 0.f;
    for (int64_t b = 0; b < n / kQK32; ++b) {
        int8x16_t lo, hi;
        q5_values(x[b], lo, hi);
        const int32_t isum = dot_sum32(lo, hi, y[b].qs);
        sum +=
            (half(x[b].d) * half(y[b].d)) * static_cast<float>(isum) + half(x[b].m) * half(y[b].s);
    }
    return sum;
}

inline float iq4_nl_dot(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const BlockIQ4_NL*>(w);
    const auto* y = static_cast<const BlockQ8_0*>(a);
    const int8x16_t levels = vld1q_s8(kIq4nlValues.data());
    float sum = 0.f;
    for (int64_t b = 0; b < n / kQK32; ++b) {
        const uint8x16_t qs = vld1q_u8(x[b].qs);
        const int8x16_t lo = vqtbl1q_s8(levels, vandq_u8(qs, vdupq_n_u8(0x0F)));
        const int8x16_t hi = vqtbl1q_s8(levels, vshrq_n_u8(qs, 4));
        const int32_t isum = dot_sum32(lo, hi, y[b].qs);
        sum += (half(y[b].d) * half(x[b].d)) * static_cast<float>(isum);
    }
    return sum;
}

// ---- K formats ---------------------------------------------------------------------------------

// The 6-bit scale and min of group g (0-7) of Q4_K/Q5_K (layout in blocks.h).
inline void k4_scale(const uint8_t* scales, int g, int& sc, int& mn) {
    if (g < 4) {
        sc = scales[g] & 63;
        mn = scales[g + 4] & 63;
    } else {
        sc = (scales[g + 4] & 0xF) | ((scales[g - 4] >> 6) << 4);
        mn = (scales[g + 4] >> 4) | ((scales[g] >> 6) << 4);
    }
}

// Q4_K and Q5_K: chunk c of 32 bytes holds groups 2c (low nibbles) and 2c+1 (high nibbles); Q5_K
// adds bit 2c / 2c+1 of qh[l] as the fifth bit.
template <bool kFifthBit, typename Block>
inline float k4_family_dot(int64_t n, const Block* x, const BlockQ8_K* y) {
    float sum = 0.f;
    for (int64_t b = 0; b < n / kQKK; ++b) {
        int sc[8], mn[8];
        for (int g = 0; g < 8; ++g) k4_scale(x[b].scales, g, sc[g], mn[g]);
        int32x4_t acc = vdupq_n_s32(0);
        uint8x16_t qh0 = vdupq_n_u8(0), qh1 = vdupq_n_u8(0);
        if constexpr (kFifthBit) {
            qh0 = vld1q_u8(x[b].qh);
            qh1 = vld1q_u8(x[b].qh + 16);
        }
        for (int c = 0; c < 4; ++c) {
            const uint8x16_t q0 = vld1q_u8(x[b].qs + 32 * c);
            const uint8x16_t q1 = vld1q_u8(x[b].qs + 32 * c + 16);
            int8x16_t lo0 = low_nibbles(q0), lo1 = low_nibbles(q1);
            int8x16_t hi0 = high_nibbles(q0), hi1 = high_nibbles(q1);
            if constexpr (kFifthBit) {
                const uint8x16_t bit_lo = vdupq_n_u8(static_cast<uint8_t>(1u << (2 * c)));
                const uint8x16_t bit_hi = vdupq_n_u8(static_cast<uint8_t>(2u << (2 * c)));
                const uint8x16_t x10 = vdupq_n_u8(0x10);
                lo0 = vorrq_s8(lo0, vreinterpretq_s8_u8(vandq_u8(vtstq_u8(qh0, bit_lo), x10)));
                lo1 = vorrq_s8(lo1, vreinterpretq_s8_u8(vandq_u8(vtstq_u8(qh1, bit_lo), x10)));
                hi0 = vorrq_s8(hi0, vreinterpretq_s8_u8(vandq_u8(vtstq_u8(qh0, bit_hi), x10)));
                hi1 = vorrq_s8(hi1, vreinterpretq_s8_u8(vandq_u8(vtstq_u8(qh1, bit_hi), x10)));
            }
            const int8_t* ya = y[b].qs + 64 * c;
            const int32x4_t d_lo =
                dot16(dot16(vdupq_n_s32(0), lo0, vld1q_s8(ya)), lo1, vld1q_s8(ya + 16));
            const int32x4_t d_hi =
                dot16(dot16(vdupq_n_s32(0), hi0, vld1q_s8(ya + 32)), hi1, vld1q_s8(ya + 48));
            acc = vmlaq_n_s32(acc, d_lo, sc[2 * c]);
            acc = vmlaq_n_s32(acc, d_hi, sc[2 * c + 1]);
        }
        const int isum = vaddvq_s32(acc);
        int isum_min = 0;
        for (int g = 0; g < 8; ++g) isum_min += mn[g] * (y[b].bsums[2 * g] + y[b].bsums[2 * g + 1]);
        const float d = half(x[b].d) * y[b].d;
        const float dmin = half(x[b].dmin) * y[b].d;
        sum += d * static_cast<float>(isum) - dmin * static_cast<float>(isum_min);
    }
    return sum;
}

inline float q4_k_dot(int64_t n, const void* w, const void* a) {
    return k4_family_dot<false>(n, static_cast<const BlockQ4_K*>(w),
                                static_cast<const BlockQ8_K*>(a));
}
inline float q5_k_dot(int64_t n, const void* w, const void* a) {
    return k4_family_dot<true>(n, static_cast<const BlockQ5_K*>(w),
                               static_cast<const BlockQ8_K*>(a));
}

// Q6_K: per half of 128, ql[l] / ql[l+32] hold the low nibbles of elements l, l+64 / l+32, l+96,
// qh[l] their top two bits; groups of 16 have their own int8 scale.
inline float q6_k_dot(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const BlockQ6_K*>(w);
    const auto* y = static_cast<const BlockQ8_K*>(a);
    const uint8x16_t m4 = vdupq_n_u8(0x0F);
    const uint8x16_t m2 = vdupq_n_u8(0x30);
    const int8x16_t offset = vdupq_n_s8(32);
    float sum = 0.f;
    for (int64_t b = 0; b < n / kQKK; ++b) {
        int32x4_t acc = vdupq_n_s32(0);
        for (int h = 0; h < 2; ++h) {
            const uint8_t* ql = x[b].ql + 64 * h;
            const uint8_t* qh = x[b].qh + 32 * h;
            const int8_t* ya = y[b].qs + 128 * h;
            const int8_t* sc = x[b].scales + 8 * h;
            for (int k = 0; k < 2; ++k) {  // l = 16k .. 16k + 15
                const uint8x16_t l0 = vld1q_u8(ql + 16 * k);
                const uint8x16_t l1 = vld1q_u8(ql + 32 + 16 * k);
                const uint8x16_t hb = vld1q_u8(qh + 16 * k);
                const uint8x16_t e0 = vorrq_u8(vandq_u8(l0, m4), vandq_u8(vshlq_n_u8(hb, 4), m2));
                const uint8x16_t e1 = vorrq_u8(vandq_u8(l1, m4), vandq_u8(vshlq_n_u8(hb, 2), m2));
                const uint8x16_t e2 = vorrq_u8(vshrq_n_u8(l0, 4), vandq_u8(hb, m2));
                const uint8x16_t e3 = vorrq_u8(vshrq_n_u8(l1, 4), vandq_u8(vshrq_n_u8(hb, 2), m2));
                const int8_t* yk = ya + 16 * k;
                const int32x4_t zero = vdupq_n_s32(0);
                // Elements 16k + {0, 32, 64, 96} + i are in groups k, k+2, k+4, k+6 of the half.
                acc = vmlaq_n_s32(
                    acc, dot16(zero, vsubq_s8(vreinterpretq_s8_u8(e0), offset), vld1q_s8(yk)),
                    sc[k]);
                acc = vmlaq_n_s32(
                    acc, dot16(zero, vsubq_s8(vreinterpretq_s8_u8(e1), offset), vld1q_s8(yk + 32)),
                    sc[k + 2]);
                acc = vmlaq_n_s32(
                    acc, dot16(zero, vsubq_s8(vreinterpretq_s8_u8(e2), offset), vld1q_s8(yk + 64)),
                    sc[k + 4]);
                acc = vmlaq_n_s32(
                    acc, dot16(zero, vsubq_s8(vreinterpretq_s8_u8(e3), offset), vld1q_s8(yk + 96)),
                    sc[k + 6]);
            }
        }
        sum += (half(x[b].d) * y[b].d) * static_cast<float>(vaddvq_s32(acc));
    }
    return sum;
}

// Q2_K and Q3_K: per half h of 128, element 128h + 32s + l has its two low bits at bit 2s of
// qs[32h + l]; Q3_K's third bit is bit 4h + s of hmask[l]. Groups of 16 (g = 8h + 2s + l / 16)
// have their own scale.
inline uint8x16_t two_bits(const uint8_t* qs, int s) {
    const uint8x16_t v = vld1q_u8(qs);
    const uint8x16_t shifted = s == 0   ? v
                               : s == 1 ? vshrq_n_u8(v, 2)
                               : s == 2 ? vshrq_n_u8(v, 4)
                                        : vshrq_n_u8(v, 6);
    return vandq_u8(shifted, vdupq_n_u8(3));
}

inline float q2_k_dot(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const BlockQ2_K*>(w);
    const auto* y = static_cast<const BlockQ8_K*>(a);
    float sum = 0.f;
    for (int64_t b = 0; b < n / kQKK; ++b) {
        int32x4_t acc = vdupq_n_s32(0);
        for (int h = 0; h < 2; ++h) {
            for (int s = 0; s < 4; ++s) {
                for (int k = 0; k < 2; ++k) {
                    const int g = 8 * h + 2 * s + k;
                    const int8x16_t q = vreinterpretq_s8_u8(two_bits(x[b].qs + 32 * h + 16 * k, s));
                    const int32x4_t d = dot16(vdupq_n_s32(0), q, vld1q_s8(y[b].qs + 16 * g));
                    acc = vmlaq_n_s32(acc, d, x[b].scales[g] & 0xF);
                }
            }
        }
        const int isum = vaddvq_s32(acc);
        int isum_min = 0;
        for (int g = 0; g < 16; ++g) isum_min += (x[b].scales[g] >> 4) * y[b].bsums[g];
        const float dall = y[b].d * half(x[b].d);
        const float dmin = y[b].d * half(x[b].dmin);
        sum += dall * static_cast<float>(isum) - dmin * static_cast<float>(isum_min);
    }
    return sum;
}

// The 6-bit signed scale of group g of Q3_K (layout in blocks.h).
inline int q3_scale(const uint8_t* scales, int g) {
    const int low = g < 8 ? (scales[g] & 0xF) : (scales[g - 8] >> 4);
    const int high = (scales[8 + g % 4] >> (2 * (g / 4))) & 3;
    return (low | (high << 4)) - 32;
}

inline float q3_k_dot(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const BlockQ3_K*>(w);
    const auto* y = static_cast<const BlockQ8_K*>(a);
    const int8x16_t four = vdupq_n_s8(4);
    float sum = 0.f;
    for (int64_t b = 0; b < n / kQKK; ++b) {
        const uint8x16_t hmask[2] = {vld1q_u8(x[b].hmask), vld1q_u8(x[b].hmask + 16)};
        int32x4_t acc = vdupq_n_s32(0);
        for (int h = 0; h < 2; ++h) {
            for (int s = 0; s < 4; ++s) {
                const uint8x16_t bit = vdupq_n_u8(static_cast<uint8_t>(1u << (4 * h + s)));
                for (int k = 0; k < 2; ++k) {
                    const int g = 8 * h + 2 * s + k;
                    const uint8x16_t third = vandq_u8(vtstq_u8(hmask[k], bit), vdupq_n_u8(4));
                    const int8x16_t q =
                        vsubq_s8(vreinterpretq_s8_u8(
                                     vorrq_u8(two_bits(x[b].qs + 32 * h + 16 * k, s), third)),
                                 four);
                    const int32x4_t d = dot16(vdupq_n_s32(0), q, vld1q_s8(y[b].qs + 16 * g));
                    acc = vmlaq_n_s32(acc, d, q3_scale(x[b].scales, g));
                }
            }
        }
        sum += (half(x[b].d) * y[b].d) * static_cast<float>(vaddvq_s32(acc));
    }
    return sum;
}

// Overrides the quantized dot products of `table` with this file's.
inline void fill_quant_dots(KernelTable& table) {
    auto at = [&table](DType type) -> TypeOps& { return table[static_cast<size_t>(type)]; };
    at(DType::Q8_0).vec_dot = q8_0_dot;
    at(DType::Q4_0).vec_dot = q4_0_dot;
    at(DType::Q4_1).vec_dot = q4_1_dot;
    at(DType::Q5_0).vec_dot = q5_0_dot;
    at(DType::Q5_1).vec_dot = q5_1_dot;
    at(DType::IQ4_NL).vec_dot = iq4_nl_dot;
    at(DType::Q2_K).vec_dot = q2_k_dot;
    at(DType::Q3_K).vec_dot = q3_k_dot;
    at(DType::Q4_K).vec_dot = q4_k_dot;
    at(DType::Q5_K).vec_dot = q5_k_dot;
    at(DType::Q6_K).vec_dot = q6_k_dot;
}

}  // namespace pocket::kernels::POCKET_NEON_NS
