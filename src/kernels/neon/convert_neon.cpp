// NEON activation converters (Q8_0, Q8_1, Q8_K, F16, BF16) and the float dot products.
//
// The converters are bit-identical to the scalar reference: the block maxima are exact whatever
// the order, the scaling is the same single float multiply, and vcvtnq_s32_f32 rounds half to
// even exactly like the reference's nearest_int (|x * scale| <= 127 here). F16 conversions use the
// hardware's FCVT (round to nearest even, NaNs quieted keeping their top payload bits), which is
// what pocket/core/fp16.h computes in software.
//
// The float dot products accumulate in float in 16 lanes (four registers of fused multiply-adds),
// so they differ from the scalar double accumulation by rounding only.
#include <arm_neon.h>

#include <cmath>
#include <cstring>

#include "kernels/blocks.h"
#include "kernels/neon/neon_registry.h"

namespace pocket::kernels::neon {
namespace {

inline f16_t to_half_bits(float x) {
    const __fp16 h = static_cast<__fp16>(x);
    f16_t bits;
    std::memcpy(&bits, &h, sizeof bits);
    return bits;
}
inline float from_half_bits(f16_t bits) {
    __fp16 h;
    std::memcpy(&h, &bits, sizeof h);
    return static_cast<float>(h);
}

// ---- Q8_0 / Q8_1 -------------------------------------------------------------------------------

// Quantizes one block of 32 with q = round-half-even(x * 127/amax); returns sum(q), sets d to the
// unrounded scale amax/127 (as the scalar quantize_q8_activation_block).
inline int q8_activation_block(const float* x, float& d, int8_t* qs) {
    float32x4_t v[8];
    for (int i = 0; i < 8; ++i) v[i] = vld1q_f32(x + 4 * i);
    float32x4_t m = vabsq_f32(v[0]);
    for (int i = 1; i < 8; ++i) m = vmaxq_f32(m, vabsq_f32(v[i]));
    const float amax = vmaxvq_f32(m);
    d = amax / 127.f;
    const float id = amax != 0.f ? 127.f / amax : 0.f;
    int32x4_t sum = vdupq_n_s32(0);
    for (int i = 0; i < 8; i += 2) {
        const int32x4_t a = vcvtnq_s32_f32(vmulq_n_f32(v[i], id));
        const int32x4_t b = vcvtnq_s32_f32(vmulq_n_f32(v[i + 1], id));
        sum = vaddq_s32(sum, vaddq_s32(a, b));
        const int16x8_t ab = vcombine_s16(vmovn_s32(a), vmovn_s32(b));
        vst1_s8(qs + 4 * i, vmovn_s16(ab));
    }
    return vaddvq_s32(sum);
}

void q8_0_from_float(const float* src, void* dst, int64_t n) {
    auto* blocks = static_cast<BlockQ8_0*>(dst);
    for (int64_t b = 0; b < n / kQK32; ++b) {
        float d = 0.f;
        q8_activation_block(src + b * kQK32, d, blocks[b].qs);
        blocks[b].d = to_half_bits(d);
    }
}

void q8_1_from_float(const float* src, void* dst, int64_t n) {
    auto* blocks = static_cast<BlockQ8_1*>(dst);
    for (int64_t b = 0; b < n / kQK32; ++b) {
        float d = 0.f;
        const int sum = q8_activation_block(src + b * kQK32, d, blocks[b].qs);
        blocks[b].d = to_half_bits(d);
        blocks[b].s = to_half_bits(d * static_cast<float>(sum));
    }
}

// ---- Q8_K --------------------------------------------------------------------------------------

// The element of largest magnitude (the first one on ties, sign kept) maps to -127.
void q8_k_from_float(const float* src, void* dst, int64_t n) {
    auto* blocks = static_cast<BlockQ8_K*>(dst);
    for (int64_t b = 0; b < n / kQKK; ++b, src += kQKK) {
        BlockQ8_K& y = blocks[b];
        float32x4_t m = vabsq_f32(vld1q_f32(src));
        for (int i = 4; i < kQKK; i += 4) m = vmaxq_f32(m, vabsq_f32(vld1q_f32(src + i)));
        const float amax = vmaxvq_f32(m);
        if (amax == 0.f) {
            std::memset(&y, 0, sizeof y);
            continue;
        }
        int first = 0;
        while (std::fabs(src[first]) != amax) ++first;
        const float iscale = -127.f / src[first];
        const int32x4_t top = vdupq_n_s32(127);
        for (int g = 0; g < 16; ++g) {
            int32x4_t q[4];
            for (int i = 0; i < 4; ++i) {
                q[i] = vminq_s32(
                    vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(src + 16 * g + 4 * i), iscale)), top);
            }
            const int16x8_t lo = vcombine_s16(vmovn_s32(q[0]), vmovn_s32(q[1]));
            const int16x8_t hi = vcombine_s16(vmovn_s32(q[2]), vmovn_s32(q[3]));
            vst1q_s8(y.qs + 16 * g, vcombine_s8(vmovn_s16(lo), vmovn_s16(hi)));
            y.bsums[g] = static_cast<int16_t>(
                vaddvq_s32(vaddq_s32(vaddq_s32(q[0], q[1]), vaddq_s32(q[2], q[3]))));
        }
        y.d = 1 / iscale;
    }
}

// ---- F16 and BF16 ------------------------------------------------------------------------------

void f16_from_float(const float* src, void* dst, int64_t n) {
    auto* out = static_cast<f16_t*>(dst);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        vst1_u16(out + i, vreinterpret_u16_f16(vcvt_f16_f32(vld1q_f32(src + i))));
    for (; i < n; ++i) out[i] = to_half_bits(src[i]);
}

void f16_to_float(const void* src, float* dst, int64_t n) {
    const auto* in = static_cast<const f16_t*>(src);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        vst1q_f32(dst + i, vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(in + i))));
    for (; i < n; ++i) dst[i] = from_half_bits(in[i]);
}

inline float32x4_t load_f16x4(const f16_t* p) {
    return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p)));
}
inline float32x4_t load_bf16x4(const bf16_t* p) {
    return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(p), 16));
}

void bf16_to_float(const void* src, float* dst, int64_t n) {
    const auto* in = static_cast<const bf16_t*>(src);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(dst + i, load_bf16x4(in + i));
    for (; i < n; ++i) {
        const uint32_t bits = static_cast<uint32_t>(in[i]) << 16;
        std::memcpy(dst + i, &bits, sizeof bits);
    }
}

// Round to nearest even; NaNs keep their top bits and become quiet (as fp16.h's f32_to_bf16).
inline uint16x4_t to_bf16x4(float32x4_t v) {
    const uint32x4_t x = vreinterpretq_u32_f32(v);
    const uint32x4_t odd = vandq_u32(vshrq_n_u32(x, 16), vdupq_n_u32(1));
    const uint32x4_t rounded = vshrq_n_u32(vaddq_u32(x, vaddq_u32(vdupq_n_u32(0x7fff), odd)), 16);
    const uint32x4_t quiet = vorrq_u32(vshrq_n_u32(x, 16), vdupq_n_u32(64));
    const uint32x4_t is_nan =
        vcgtq_u32(vandq_u32(x, vdupq_n_u32(0x7fffffff)), vdupq_n_u32(0x7f800000));
    return vmovn_u32(vbslq_u32(is_nan, quiet, rounded));
}

void bf16_from_float(const float* src, void* dst, int64_t n) {
    auto* out = static_cast<bf16_t*>(dst);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) vst1_u16(out + i, to_bf16x4(vld1q_f32(src + i)));
    for (; i < n; ++i) out[i] = vget_lane_u16(to_bf16x4(vdupq_n_f32(src[i])), 0);
}

// ---- float dot products ------------------------------------------------------------------------

struct F32Elems {
    using T = float;
    static float32x4_t load(const float* p) { return vld1q_f32(p); }
    static float one(const float* p) { return *p; }
};
struct F16Elems {
    using T = f16_t;
    static float32x4_t load(const f16_t* p) { return load_f16x4(p); }
    static float one(const f16_t* p) { return from_half_bits(*p); }
};
struct BF16Elems {
    using T = bf16_t;
    static float32x4_t load(const bf16_t* p) { return load_bf16x4(p); }
    static float one(const bf16_t* p) {
        const uint32_t bits = static_cast<uint32_t>(*p) << 16;
        float f;
        std::memcpy(&f, &bits, sizeof f);
        return f;
    }
};

template <typename E>
float float_dot(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const typename E::T*>(w);
    const auto* y = static_cast<const typename E::T*>(a);
    float32x4_t acc0 = vdupq_n_f32(0.f), acc1 = acc0, acc2 = acc0, acc3 = acc0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        acc0 = vfmaq_f32(acc0, E::load(x + i), E::load(y + i));
        acc1 = vfmaq_f32(acc1, E::load(x + i + 4), E::load(y + i + 4));
        acc2 = vfmaq_f32(acc2, E::load(x + i + 8), E::load(y + i + 8));
        acc3 = vfmaq_f32(acc3, E::load(x + i + 12), E::load(y + i + 12));
    }
    for (; i + 4 <= n; i += 4) acc0 = vfmaq_f32(acc0, E::load(x + i), E::load(y + i));
    float sum = vaddvq_f32(vaddq_f32(vaddq_f32(acc0, acc2), vaddq_f32(acc1, acc3)));
    for (; i < n; ++i) sum += E::one(x + i) * E::one(y + i);
    return sum;
}

}  // namespace

void register_converters_and_float_dots(KernelTable& table) {
    auto at = [&table](DType type) -> TypeOps& { return table[static_cast<size_t>(type)]; };
    at(DType::Q8_0).from_float = q8_0_from_float;
    at(DType::Q8_1).from_float = q8_1_from_float;
    // Q8_K, F16 and BF16 have a single quantizer, so the reference one is the same function.
    at(DType::Q8_K).from_float = q8_k_from_float;
    at(DType::Q8_K).from_float_ref = q8_k_from_float;
    at(DType::F16).from_float = f16_from_float;
    at(DType::F16).from_float_ref = f16_from_float;
    at(DType::F16).to_float = f16_to_float;
    at(DType::BF16).from_float = bf16_from_float;
    at(DType::BF16).from_float_ref = bf16_from_float;
    at(DType::BF16).to_float = bf16_to_float;

    at(DType::F32).vec_dot = float_dot<F32Elems>;
    at(DType::F16).vec_dot = float_dot<F16Elems>;
    at(DType::BF16).vec_dot = float_dot<BF16Elems>;
}

}  // namespace pocket::kernels::neon
