// NEON attention kernels, bit-identical to the scalar reference (see kernels/attention.h):
// the reference's 16 summation lanes live in four 128-bit registers (lanes 0-3, 4-7, 8-11,
// 12-15), every step is the same fused multiply-add or addition as there, and tree_sum16's pairs
// (lane i with i+8, then i with i+4, then 0+2 and 1+3) are added in the same order.
//
// Not measured on ARM hardware (there is none here); what these kernels save is counted in
// instructions (see each one), and scripts/test-arm holds them to the scalar bits under QEMU.
#include <arm_neon.h>

#include <algorithm>
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

// tree_sum16 of four keys' lanes at once (key k's lanes in a[k][0..3]): returns the four sums.
// The same pairs in the same order as tree_sum16; a sum's two operands may swap, which is exact.
inline float32x4_t tree_sum16_x4(const float32x4_t (&a)[4][4]) {
    float32x2_t t[4];
    for (int k = 0; k < 4; ++k) {
        const float32x4_t a4 = vaddq_f32(vaddq_f32(a[k][3], a[k][1]), vaddq_f32(a[k][2], a[k][0]));
        t[k] = vadd_f32(vget_low_f32(a4), vget_high_f32(a4));  // a4[0]+a4[2], a4[1]+a4[3]
    }
    return vpaddq_f32(vcombine_f32(t[0], t[1]), vcombine_f32(t[2], t[3]));
}

// A key row's next 4 values as F32: from the F16 cache, or from keys converted beforehand.
inline float32x4_t load_key4(const f16_t* p) {
    return load_f16x4(p);
}
inline float32x4_t load_key4(const float* p) {
    return vld1q_f32(p);
}

// out[j] = the query (F32, qf) against key j (keys + j * stride), each a 16-lane fused sum
// folded by tree_sum16. Four keys at a time: 16 independent accumulators instead of 4 (one
// key's four chains of dependent fused multiply-adds would wait on the FMA latency), and each
// load of the query serves four keys.
template <class K>
void score_keys(const float* qf, const K* keys, int64_t stride, int64_t n_keys, int64_t head_dim,
                float* out) {
    int64_t j = 0;
    for (; j + 4 <= n_keys; j += 4) {
        const K* k0 = keys + j * stride;
        float32x4_t acc[4][4];
        for (auto& key : acc) {
            for (auto& lane : key) lane = vdupq_n_f32(0.0f);
        }
        for (int64_t d = 0; d < head_dim; d += kLanes) {
            for (int l = 0; l < 4; ++l) {
                const float32x4_t qv = vld1q_f32(qf + d + 4 * l);
                for (int k = 0; k < 4; ++k)
                    acc[k][l] = vfmaq_f32(acc[k][l], qv, load_key4(k0 + k * stride + d + 4 * l));
            }
        }
        vst1q_f32(out + j, tree_sum16_x4(acc));
    }
    for (; j < n_keys; ++j) {
        const K* k = keys + j * stride;
        float32x4_t l0 = vdupq_n_f32(0.f), l1 = l0, l2 = l0, l3 = l0;
        for (int64_t d = 0; d < head_dim; d += kLanes) {
            l0 = vfmaq_f32(l0, vld1q_f32(qf + d), load_key4(k + d));
            l1 = vfmaq_f32(l1, vld1q_f32(qf + d + 4), load_key4(k + d + 4));
            l2 = vfmaq_f32(l2, vld1q_f32(qf + d + 8), load_key4(k + d + 8));
            l3 = vfmaq_f32(l3, vld1q_f32(qf + d + 12), load_key4(k + d + 12));
        }
        out[j] = tree_sum16(l0, l1, l2, l3);
    }
}

// n (a multiple of 4) F16 values to F32.
inline void f16_row_to_f32(const f16_t* x, int64_t n, float* out) {
    for (int64_t d = 0; d < n; d += 4) vst1q_f32(out + d, load_f16x4(x + d));
}

// Few queries (generation: one token's GQA group): each converts the keys as it reads them.
void qk_inline(const f16_t* q, int64_t n_q, const f16_t* keys, int64_t key_stride, int64_t n_keys,
               int64_t head_dim, float* scores, int64_t score_stride) {
    float qf[kMaxHeadDim];
    for (int64_t i = 0; i < n_q; ++i) {
        f16_row_to_f32(q + i * head_dim, head_dim, qf);
        score_keys(static_cast<const float*>(qf), keys, key_stride, n_keys, head_dim,
                   scores + i * score_stride);
    }
}

// Many queries (a prompt block: tokens x GQA group), as the AVX-512 table: keys are converted to
// F32 once per block of kKeyBlock and read by every query from there. Per 16 products and query
// that drops 4 F16 conversions (FCVTL) of 12 instructions (4 loads, 4 conversions, 4 FMLA); the
// conversion itself (load, FCVTL, store per 4 values) is paid once for kShareQueries or more.
// Each score's sum is the same as qk_inline's.
void qk_converted(const f16_t* q, int64_t n_q, const f16_t* keys, int64_t key_stride,
                  int64_t n_keys, int64_t head_dim, float* scores, int64_t score_stride) {
    constexpr int64_t kKeyBlock = 16;
    float kf[kKeyBlock * kMaxHeadDim];
    float qf[kMaxHeadDim];
    for (int64_t j0 = 0; j0 < n_keys; j0 += kKeyBlock) {
        const int64_t nk = std::min(kKeyBlock, n_keys - j0);
        for (int64_t j = 0; j < nk; ++j)
            f16_row_to_f32(keys + (j0 + j) * key_stride, head_dim, kf + j * head_dim);
        for (int64_t i = 0; i < n_q; ++i) {
            f16_row_to_f32(q + i * head_dim, head_dim, qf);
            score_keys(static_cast<const float*>(qf), static_cast<const float*>(kf), head_dim, nk,
                       head_dim, scores + i * score_stride + j0);
        }
    }
}

constexpr int64_t kShareQueries = 16;  // as the AVX-512 table, where it was measured

void qk(const f16_t* q, int64_t n_q, const f16_t* keys, int64_t key_stride, int64_t n_keys,
        int64_t head_dim, float* scores, int64_t score_stride) {
    if (head_dim % kLanes != 0 || head_dim > kMaxHeadDim) {
        scalar_attention::qk(q, n_q, keys, key_stride, n_keys, head_dim, scores, score_stride);
        return;
    }
    if (n_q >= kShareQueries) {
        qk_converted(q, n_q, keys, key_stride, n_keys, head_dim, scores, score_stride);
    } else {
        qk_inline(q, n_q, keys, key_stride, n_keys, head_dim, scores, score_stride);
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

// The online-softmax step (attention.h): the reference's 16 lanes of the exponentials' sum in
// four registers, the same single operations per entry and per row.
void softmax_tile(float* scores, int64_t score_stride, int64_t n_q, int64_t n, float scale,
                  float* row_max, float* row_sum, float* rescale) {
    constexpr float kMinusInf = -__builtin_inff();
    const float32x4_t zero = vdupq_n_f32(0.0f);
    for (int64_t i = 0; i < n_q; ++i) {
        float* row = scores + i * score_stride;
        float32x4_t vmax = vdupq_n_f32(row_max[i]);
        int64_t j = 0;
        for (; j + 4 <= n; j += 4) {
            const float32x4_t x = vmulq_n_f32(vld1q_f32(row + j), scale);
            vst1q_f32(row + j, x);
            vmax = vmaxq_f32(vmax, x);
        }
        float max = vmaxvq_f32(vmax);
        for (; j < n; ++j) {
            row[j] *= scale;
            max = std::max(max, row[j]);
        }
        if (max == 0.0f) {
            // A maximum of zero: the reference's std::max keeps the first of -0 and +0 it meets,
            // FMAX prefers +0. Rescan the scaled row in its order, so row_max has its bits too.
            max = row_max[i];
            for (j = 0; j < n; ++j) max = std::max(max, row[j]);
        }
        if (max == kMinusInf) {
            j = 0;
            for (; j + 4 <= n; j += 4) vst1q_f32(row + j, zero);
            for (; j < n; ++j) row[j] = 0.0f;
            rescale[i] = 1.0f;
            continue;
        }
        const float32x4_t vm = vdupq_n_f32(max);
        float32x4_t l0 = zero, l1 = zero, l2 = zero, l3 = zero;
        j = 0;
        for (; j + kLanes <= n; j += kLanes) {
            const float32x4_t e0 = exp_approx4(vsubq_f32(vld1q_f32(row + j), vm));
            const float32x4_t e1 = exp_approx4(vsubq_f32(vld1q_f32(row + j + 4), vm));
            const float32x4_t e2 = exp_approx4(vsubq_f32(vld1q_f32(row + j + 8), vm));
            const float32x4_t e3 = exp_approx4(vsubq_f32(vld1q_f32(row + j + 12), vm));
            vst1q_f32(row + j, e0);
            vst1q_f32(row + j + 4, e1);
            vst1q_f32(row + j + 8, e2);
            vst1q_f32(row + j + 12, e3);
            l0 = vaddq_f32(l0, e0);
            l1 = vaddq_f32(l1, e1);
            l2 = vaddq_f32(l2, e2);
            l3 = vaddq_f32(l3, e3);
        }
        if (j < n) {  // the partial last group: the entries past the row add 0 (-inf -> 0)
            const int64_t count = n - j;
            float tail[kLanes];
            for (int64_t l = 0; l < kLanes; ++l) tail[l] = l < count ? row[j + l] : kMinusInf;
            float32x4_t e[4];
            for (int k = 0; k < 4; ++k) {
                e[k] = exp_approx4(vsubq_f32(vld1q_f32(tail + 4 * k), vm));
                vst1q_f32(tail + 4 * k, e[k]);
            }
            std::copy_n(tail, count, row + j);
            l0 = vaddq_f32(l0, e[0]);
            l1 = vaddq_f32(l1, e[1]);
            l2 = vaddq_f32(l2, e[2]);
            l3 = vaddq_f32(l3, e[3]);
        }
        const float r = vgetq_lane_f32(exp_approx4(vdupq_n_f32(row_max[i] - max)), 0);
        rescale[i] = r;
        row_sum[i] = std::fma(row_sum[i], r, tree_sum16(l0, l1, l2, l3));
        row_max[i] = max;
    }
}

// pv_tile keeps a block of up to kAccRegs * 4 values of a row in registers across all the tile's
// values (the reference loads and stores the row once per value): per 4 values and weight, one
// FMLA plus a load (and an FCVTL when reading F16). With several rows the value rows are
// converted to F32 once, into kTileScratch floats, for all of them.
constexpr int64_t kAccRegs = 16;
constexpr int64_t kTileScratch = 8192;  // floats of converted value rows (32 KiB)

inline float32x4_t load_value4(const f16_t* p) {
    return load_f16x4(p);
}
inline float32x4_t load_value4(const float* p) {
    return vld1q_f32(p);
}

template <int kRegs, class V>
inline void pv_row(const float* p, int64_t n_values, const V* v, int64_t v_stride, float r,
                   float* a) {
    float32x4_t acc[kRegs];
    for (int k = 0; k < kRegs; ++k) acc[k] = vmulq_n_f32(vld1q_f32(a + 4 * k), r);
    for (int64_t j = 0; j < n_values; ++j) {
        const float pj = p[j];
        if (pj == 0.0f) continue;
        const V* vj = v + j * v_stride;
        for (int k = 0; k < kRegs; ++k) acc[k] = vfmaq_n_f32(acc[k], load_value4(vj + 4 * k), pj);
    }
    for (int k = 0; k < kRegs; ++k) vst1q_f32(a + 4 * k, acc[k]);
}

template <class V>
inline void pv_rows(const float* p, int64_t n_values, const V* v, int64_t v_stride,
                    int64_t head_dim, float r, float* a) {
    int64_t d = 0;
    for (; d + 4 * kAccRegs <= head_dim; d += 4 * kAccRegs)
        pv_row<kAccRegs>(p, n_values, v + d, v_stride, r, a + d);
    if (d + 32 <= head_dim) {
        pv_row<8>(p, n_values, v + d, v_stride, r, a + d);
        d += 32;
    }
    if (d + 16 <= head_dim) {
        pv_row<4>(p, n_values, v + d, v_stride, r, a + d);
        d += 16;
    }
    if (d + 8 <= head_dim) {
        pv_row<2>(p, n_values, v + d, v_stride, r, a + d);
        d += 8;
    }
    if (d < head_dim) pv_row<1>(p, n_values, v + d, v_stride, r, a + d);
}

void pv_tile(const float* probs, int64_t prob_stride, int64_t n_q, const f16_t* values,
             int64_t value_stride, int64_t n_values, int64_t head_dim, const float* rescale,
             float* acc) {
    if (head_dim % 4 != 0 || head_dim > kMaxHeadDim) {
        scalar_attention::pv_tile(probs, prob_stride, n_q, values, value_stride, n_values, head_dim,
                                  rescale, acc);
        return;
    }
    if (n_q == 1) {  // nothing to share: read the F16 rows in place
        pv_rows(probs, n_values, values, value_stride, head_dim, rescale[0], acc);
        return;
    }
    float vf[kTileScratch];
    const int64_t chunk = kTileScratch / head_dim;  // >= 16 positions
    for (int64_t c0 = 0; c0 < n_values; c0 += chunk) {
        const int64_t n = std::min(chunk, n_values - c0);
        for (int64_t j = 0; j < n; ++j)
            f16_row_to_f32(values + (c0 + j) * value_stride, head_dim, vf + j * head_dim);
        // The rescale applies once, before the first chunk (times 1 after: unchanged).
        for (int64_t i = 0; i < n_q; ++i) {
            pv_rows(probs + i * prob_stride + c0, n, static_cast<const float*>(vf), head_dim,
                    head_dim, c0 == 0 ? rescale[i] : 1.0f, acc + i * head_dim);
        }
    }
}

// acc = fma(acc, ca, part * cb): FMLA of the rounded product, a single rounding each.
void fold_acc(float* acc, const float* part, float ca, float cb, int64_t n) {
    int64_t d = 0;
    for (; d + 4 <= n; d += 4) {
        vst1q_f32(acc + d,
                  vfmaq_n_f32(vmulq_n_f32(vld1q_f32(part + d), cb), vld1q_f32(acc + d), ca));
    }
    if (d < n) scalar_attention::fold_acc(acc + d, part + d, ca, cb, n - d);
}

}  // namespace

void register_neon_attention(AttentionOps& ops) {
    ops.to_f16 = to_f16;
    ops.qk = qk;
    ops.pv = pv;
    ops.pv_reduce = pv_reduce;
    ops.pv_rows = pv_rows_by_lanes<pv, pv_reduce>;
    ops.softmax = softmax;
    ops.silu_mul = silu_mul;
    ops.softmax_tile = softmax_tile;
    ops.pv_tile = pv_tile;
    ops.fold_acc = fold_acc;
}

}  // namespace pocket::kernels
