// NEON attention kernels, bit-identical to the scalar reference (see kernels/attention.h):
// the reference's 16 summation lanes live in four 128-bit registers (lanes 0-3, 4-7, 8-11,
// 12-15), every step is the same fused multiply-add or addition as there, and tree_sum16's pairs
// (lane i with i+8, then i with i+4, then 0+2 and 1+3) are added in the same order.
#include <arm_neon.h>

#include <cmath>
#include <cstring>

#include "kernels/attention_table.h"

namespace pocket::kernels {
namespace {

constexpr int64_t kLanes = 16;
constexpr int64_t kMaxHeadDim = 512;  // stack buffer for the query; larger heads go scalar

inline float32x4_t load_f16x4(const f16_t* p) {
    return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p)));
}

inline float round_f16(float x) {
    return vgetq_lane_f32(vcvt_f32_f16(vcvt_f16_f32(vdupq_n_f32(x))), 0);
}

// tree_sum16 of lanes given as four registers l0 (lanes 0-3) .. l3 (lanes 12-15).
inline float tree_sum16(float32x4_t l0, float32x4_t l1, float32x4_t l2, float32x4_t l3) {
    const float32x4_t a8_lo = vaddq_f32(l2, l0);     // a8[0..3] = v[8..11] + v[0..3]
    const float32x4_t a8_hi = vaddq_f32(l3, l1);     // a8[4..7] = v[12..15] + v[4..7]
    const float32x4_t a4 = vaddq_f32(a8_hi, a8_lo);  // a4[i] = a8[i + 4] + a8[i]
    const float32x2_t t =
        vadd_f32(vget_low_f32(a4), vget_high_f32(a4));  // a4[0]+a4[2], a4[1]+a4[3]
    return vget_lane_f32(t, 0) + vget_lane_f32(t, 1);
}

// exp_approx of four values. ldexp(j, n) for |n| <= 192 is two power-of-two products
// (2^floor(n/2), then 2^(n - floor(n/2))): the first is exact, the second rounds once, so the
// result is ldexp's correctly rounded one, subnormals and overflow included.
inline float32x4_t exp_approx4(float32x4_t x) {
    const float32x4_t shift = vdupq_n_f32(0x1.8p23f);
    const float32x4_t z = vfmaq_f32(shift, x, vdupq_n_f32(0x1.715476p+0f));
    const float32x4_t n = vsubq_f32(z, shift);
    const float32x4_t b =
        vfmsq_f32(vfmsq_f32(x, n, vdupq_n_f32(0x1.62e4p-1f)), n, vdupq_n_f32(0x1.7f7d1cp-20f));
    const float32x4_t u = vmulq_f32(b, b);
    const float32x4_t inner_hi =
        vfmaq_f32(vdupq_n_f32(0x1.573e2ep-5f), vdupq_n_f32(0x1.0e4020p-7f), b);
    const float32x4_t inner_lo =
        vfmaq_f32(vdupq_n_f32(0x1.fffdb6p-2f), vdupq_n_f32(0x1.555e66p-3f), b);
    const float32x4_t outer = vfmaq_f32(inner_lo, inner_hi, u);
    const float32x4_t j =
        vfmaq_f32(vfmaq_f32(vdupq_n_f32(1.0f), vdupq_n_f32(0x1.ffffecp-1f), b), outer, u);
    const int32x4_t ni = vcvtnq_s32_f32(n);
    const int32x4_t n1 = vshrq_n_s32(ni, 1);
    const int32x4_t n2 = vsubq_s32(ni, n1);
    const int32x4_t bias = vdupq_n_s32(127);
    const float32x4_t p1 = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(n1, bias), 23));
    const float32x4_t p2 = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(n2, bias), 23));
    const float32x4_t result = vmulq_f32(vmulq_f32(j, p1), p2);
    const uint32x4_t out_of_range = vcagtq_f32(n, vdupq_n_f32(192.0f));
    if (vmaxvq_u32(out_of_range) == 0) return result;
    const float32x4_t saturated =
        vbslq_f32(vclezq_f32(n), vdupq_n_f32(0.0f), vdupq_n_f32(__builtin_inff()));
    return vbslq_f32(out_of_range, saturated, result);
}

void to_f16(const float* x, f16_t* out, int64_t n) {
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        vst1_u16(out + i, vreinterpret_u16_f16(vcvt_f16_f32(vld1q_f32(x + i))));
    if (i < n) scalar_attention::to_f16(x + i, out + i, n - i);
}

void qk(const f16_t* q, int64_t n_q, const f16_t* keys, int64_t key_stride, int64_t n_keys,
        int64_t head_dim, float* scores, int64_t score_stride) {
    if (head_dim % kLanes != 0 || head_dim > kMaxHeadDim) {
        scalar_attention::qk(q, n_q, keys, key_stride, n_keys, head_dim, scores, score_stride);
        return;
    }
    float qf[kMaxHeadDim];
    for (int64_t i = 0; i < n_q; ++i) {
        for (int64_t d = 0; d < head_dim; d += 4)
            vst1q_f32(qf + d, load_f16x4(q + i * head_dim + d));
        float* out = scores + i * score_stride;
        for (int64_t j = 0; j < n_keys; ++j) {
            const f16_t* k = keys + j * key_stride;
            float32x4_t l0 = vdupq_n_f32(0.f), l1 = l0, l2 = l0, l3 = l0;
            for (int64_t d = 0; d < head_dim; d += kLanes) {
                l0 = vfmaq_f32(l0, vld1q_f32(qf + d), load_f16x4(k + d));
                l1 = vfmaq_f32(l1, vld1q_f32(qf + d + 4), load_f16x4(k + d + 4));
                l2 = vfmaq_f32(l2, vld1q_f32(qf + d + 8), load_f16x4(k + d + 8));
                l3 = vfmaq_f32(l3, vld1q_f32(qf + d + 12), load_f16x4(k + d + 12));
            }
            out[j] = tree_sum16(l0, l1, l2, l3);
        }
    }
}

void pv(const float* probs, int64_t prob_stride, int64_t n_q, const f16_t* values,
        int64_t value_stride, int64_t n_values, int64_t first_pos, int64_t head_dim, float* acc) {
    for (int64_t j = 0; j < n_values; ++j) {
        const f16_t* value = values + j * value_stride;
        const int64_t lane = (first_pos + j) % kLanes;
        for (int64_t i = 0; i < n_q; ++i) {
            const float p = round_f16(probs[i * prob_stride + j]);
            const float32x4_t pv4 = vdupq_n_f32(p);
            float* a = acc + (i * kLanes + lane) * head_dim;
            int64_t d = 0;
            for (; d + 4 <= head_dim; d += 4)
                vst1q_f32(a + d, vfmaq_f32(vld1q_f32(a + d), pv4, load_f16x4(value + d)));
            for (; d < head_dim; ++d) a[d] = std::fma(p, f16_to_f32(value[d]), a[d]);
        }
    }
}

void pv_reduce(const float* acc, int64_t head_dim, float* out) {
    int64_t d = 0;
    for (; d + 4 <= head_dim; d += 4) {
        float32x4_t v[kLanes];
        for (int64_t l = 0; l < kLanes; ++l) v[l] = vld1q_f32(acc + l * head_dim + d);
        float32x4_t a8[8];
        for (int i = 0; i < 8; ++i) a8[i] = vaddq_f32(v[i + 8], v[i]);
        float32x4_t a4[4];
        for (int i = 0; i < 4; ++i) a4[i] = vaddq_f32(a8[i + 4], a8[i]);
        vst1q_f32(out + d, vaddq_f32(vaddq_f32(a4[0], a4[2]), vaddq_f32(a4[1], a4[3])));
    }
    if (d < head_dim) {
        for (; d < head_dim; ++d) {
            float lanes[kLanes];
            for (int64_t l = 0; l < kLanes; ++l) lanes[l] = acc[l * head_dim + d];
            out[d] = reference::tree_sum16(lanes);
        }
    }
}

void softmax(float* scores, int64_t n, float scale) {
    float max = -__builtin_inff();
    int64_t i = 0;
    if (n >= 4) {
        float32x4_t m = vdupq_n_f32(max);
        for (; i + 4 <= n; i += 4) {
            const float32x4_t s = vmulq_n_f32(vld1q_f32(scores + i), scale);
            vst1q_f32(scores + i, s);
            m = vmaxq_f32(m, s);
        }
        max = vmaxvq_f32(m);
    }
    for (; i < n; ++i) {
        scores[i] *= scale;
        if (max < scores[i]) max = scores[i];
    }
    const float32x4_t vmax = vdupq_n_f32(max);
    double sum = 0.0;
    int64_t g = 0;
    for (; g + kLanes <= n; g += kLanes) {
        float32x4_t e[4];
        for (int k = 0; k < 4; ++k) {
            e[k] = exp_approx4(vsubq_f32(vld1q_f32(scores + g + 4 * k), vmax));
            vst1q_f32(scores + g + 4 * k, e[k]);
        }
        sum += static_cast<double>(tree_sum16(e[0], e[1], e[2], e[3]));
    }
    if (g < n) {
        float group[kLanes] = {};  // entries past the row are masked: weight 0
        for (int64_t k = 0; g + k < n; ++k) {
            group[k] = reference::exp_approx(scores[g + k] - max);
            scores[g + k] = group[k];
        }
        sum += static_cast<double>(reference::tree_sum16(group));
    }
    const float inv = static_cast<float>(1.0 / sum);
    i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(scores + i, vmulq_n_f32(vld1q_f32(scores + i), inv));
    for (; i < n; ++i) scores[i] *= inv;
}

void silu_mul(float* gate, const float* up, int64_t n) {
    const int64_t whole_groups = n - n % kLanes;
    const float32x4_t one = vdupq_n_f32(1.0f);
    for (int64_t i = 0; i < whole_groups; i += 4) {
        const float32x4_t x = vld1q_f32(gate + i);
        const float32x4_t e = exp_approx4(vnegq_f32(x));
        vst1q_f32(gate + i, vmulq_f32(vdivq_f32(x, vaddq_f32(one, e)), vld1q_f32(up + i)));
    }
    // The rest uses the C library's expf, as the reference (a call of length < 16 does only that).
    if (whole_groups < n)
        scalar_attention::silu_mul(gate + whole_groups, up + whole_groups, n - whole_groups);
}

}  // namespace

void register_neon_attention(AttentionOps& ops) {
    ops.to_f16 = to_f16;
    ops.qk = qk;
    ops.pv = pv;
    ops.pv_reduce = pv_reduce;
    ops.softmax = softmax;
    ops.silu_mul = silu_mul;
}

}  // namespace pocket::kernels
