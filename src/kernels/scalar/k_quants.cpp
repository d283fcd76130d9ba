// The 256-element super-block formats Q2_K, Q3_K, Q4_K, Q5_K, Q6_K and their activation format
// Q8_K. The weight quantizers reproduce llama.cpp's reference quantizers bit for bit (what
// `llama-quantize` uses without an importance matrix). The dot products decode a super-block's
// quants into int8, form integer sums per group, and apply the float scales once per super-block.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/blocks.h"
#include "kernels/scalar/k_quant_search.h"
#include "kernels/scalar/quant_math.h"
#include "kernels/scalar/scalar_registry.h"

// Bit-exactness with llama.cpp's quantizers (compiled for baseline x86-64, without FMA) needs
// every a*b+c rounded twice, never fused.
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

namespace pocket::kernels::scalar {
namespace {

int64_t super_blocks(int64_t n) {
    return n / kQKK;
}

// ---- shared packing helpers -------------------------------------------------------------------

// 2-bit fields: per 128-element half, byte l of its 32 bytes holds elements l, l+32, l+64, l+96.
void pack_2bit(const uint8_t* L, uint8_t* qs) {
    for (int half_start = 0; half_start < kQKK; half_start += 128) {
        for (int l = 0; l < 32; ++l) {
            const uint8_t* e = L + half_start + l;
            qs[half_start / 4 + l] =
                static_cast<uint8_t>(e[0] | (e[32] << 2) | (e[64] << 4) | (e[96] << 6));
        }
    }
}
int unpack_2bit(const uint8_t* qs, int i) {
    const int half_start = i / 128 * 128;
    const int within = i - half_start;
    return (qs[half_start / 4 + within % 32] >> (2 * (within / 32))) & 3;
}

// The 6-bit scale/min pairs of Q4_K/Q5_K (layout in blocks.h).
void pack_k4_scales(const uint8_t* sc, const uint8_t* mn, uint8_t* scales) {
    for (int j = 0; j < 8; ++j) {
        if (j < 4) {
            scales[j] = sc[j];
            scales[j + 4] = mn[j];
        } else {
            scales[j + 4] = static_cast<uint8_t>((sc[j] & 0xF) | ((mn[j] & 0xF) << 4));
            scales[j - 4] |= static_cast<uint8_t>((sc[j] >> 4) << 6);
            scales[j] |= static_cast<uint8_t>((mn[j] >> 4) << 6);
        }
    }
}
void unpack_k4_scale(const uint8_t* scales, int j, int& sc, int& mn) {
    if (j < 4) {
        sc = scales[j] & 63;
        mn = scales[j + 4] & 63;
    } else {
        sc = (scales[j + 4] & 0xF) | ((scales[j - 4] >> 6) << 4);
        mn = (scales[j + 4] >> 4) | ((scales[j] >> 6) << 4);
    }
}

// The 6-bit signed scales of Q3_K (stored with an offset of 32; layout in blocks.h).
int unpack_q3_scale(const uint8_t* scales, int g) {
    const int low = g < 8 ? (scales[g] & 0xF) : (scales[g - 8] >> 4);
    const int high = (scales[8 + g % 4] >> (2 * (g / 4))) & 3;
    return (low | (high << 4)) - 32;
}

int dot_i8(const int8_t* a, const int8_t* b, int n) {
    int s = 0;
    for (int i = 0; i < n; ++i) s += a[i] * b[i];
    return s;
}

// ---- Q2_K: x = d * sc * q - dmin * mn, 16 groups of 16 -----------------------------------------

void q2_k_decode(const BlockQ2_K& b, int8_t* q) {
    for (int i = 0; i < kQKK; ++i) q[i] = static_cast<int8_t>(unpack_2bit(b.qs, i));
}

void q2_k_to_float(const void* src, float* dst, int64_t n) {
    const auto* blocks = static_cast<const BlockQ2_K*>(src);
    int8_t q[kQKK];
    for (int64_t b = 0; b < super_blocks(n); ++b, dst += kQKK) {
        const float d = half(blocks[b].d);
        const float dmin = half(blocks[b].dmin);
        q2_k_decode(blocks[b], q);
        for (int g = 0; g < 16; ++g) {
            const float dl = d * static_cast<float>(blocks[b].scales[g] & 0xF);
            const float ml = dmin * static_cast<float>(blocks[b].scales[g] >> 4);
            for (int l = 0; l < 16; ++l) dst[16 * g + l] = dl * q[16 * g + l] - ml;
        }
    }
}

// importance: null for the reference quantizer, else one value per column of the row.
void q2_k_quantize(const float* src, void* dst, int64_t n, const float* importance) {
    constexpr float kScaleLevels = 15.f;
    auto* blocks = static_cast<BlockQ2_K*>(dst);
    uint8_t L[kQKK];
    float weights[16];
    float mins[16];
    float scales[16];
    for (int64_t b = 0; b < super_blocks(n); ++b, src += kQKK) {
        BlockQ2_K& y = blocks[b];
        float max_scale = 0;  // scales are positive since the minimum is subtracted
        float max_min = 0;
        const float* imp = importance != nullptr ? importance + b * kQKK : nullptr;
        const float sigma2 = imp != nullptr ? twice_mean_square(src, kQKK) : 0.f;
        for (int g = 0; g < 16; ++g) {
            if (imp != nullptr) {
                importance_weights(src + 16 * g, imp + 16 * g, 16, sigma2, weights);
                // Squared error and a finer search, as llama.cpp under an importance matrix.
                scales[g] = fit_scale_and_min(16, 3, src + 16 * g, weights, L + 16 * g, &mins[g],
                                              -0.9f, 0.05f, 36, false);
            } else {
                for (int l = 0; l < 16; ++l) weights[l] = std::fabs(src[16 * g + l]);
                scales[g] = fit_scale_and_min(16, 3, src + 16 * g, weights, L + 16 * g, &mins[g],
                                              -0.5f, 0.1f, 15, true);
            }
            max_scale = std::max(max_scale, scales[g]);
            max_min = std::max(max_min, mins[g]);
        }
        if (max_scale > 0) {
            const float iscale = kScaleLevels / max_scale;
            for (int g = 0; g < 16; ++g)
                y.scales[g] = static_cast<uint8_t>(nearest_int(iscale * scales[g]));
            y.d = f32_to_f16(max_scale / kScaleLevels);
        } else {
            std::fill(std::begin(y.scales), std::end(y.scales), uint8_t{0});
            y.d = f32_to_f16(0.f);
        }
        if (max_min > 0) {
            const float iscale = kScaleLevels / max_min;
            for (int g = 0; g < 16; ++g)
                y.scales[g] |= static_cast<uint8_t>(nearest_int(iscale * mins[g]) << 4);
            y.dmin = f32_to_f16(max_min / kScaleLevels);
        } else {
            y.dmin = f32_to_f16(0.f);
        }
        // Re-choose the levels against the scales as stored (4-bit and F16-rounded).
        for (int g = 0; g < 16; ++g) {
            const float d = half(y.d) * (y.scales[g] & 0xF);
            if (d == 0.f) continue;
            const float dm = half(y.dmin) * (y.scales[g] >> 4);
            for (int l = 0; l < 16; ++l) {
                L[16 * g + l] =
                    static_cast<uint8_t>(std::clamp(nearest_int((src[16 * g + l] + dm) / d), 0, 3));
            }
        }
        pack_2bit(L, y.qs);
    }
}

void q2_k_from_float(const float* src, void* dst, int64_t n) {
    q2_k_quantize(src, dst, n, nullptr);
}

float q2_k_dot(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const BlockQ2_K*>(w);
    const auto* y = static_cast<const BlockQ8_K*>(a);
    int8_t q[kQKK];
    float sum = 0.f;
    for (int64_t b = 0; b < super_blocks(n); ++b) {
        q2_k_decode(x[b], q);
        int isum = 0;
        int isum_min = 0;
        for (int g = 0; g < 16; ++g) {
            isum += (x[b].scales[g] & 0xF) * dot_i8(q + 16 * g, y[b].qs + 16 * g, 16);
            isum_min += (x[b].scales[g] >> 4) * y[b].bsums[g];
        }
        const float dall = y[b].d * half(x[b].d);
        const float dmin = y[b].d * half(x[b].dmin);
        sum += dall * static_cast<float>(isum) - dmin * static_cast<float>(isum_min);
    }
    return sum;
}

// ---- Q3_K: x = d * s * (q - 4), 16 groups of 16 ------------------------------------------------

// Signed levels q - 4 in [-4, 3].
void q3_k_decode(const BlockQ3_K& b, int8_t* q) {
    for (int i = 0; i < kQKK; ++i) {
        const int high = (b.hmask[i % 32] >> (i / 32)) & 1;
        q[i] = static_cast<int8_t>((unpack_2bit(b.qs, i) | (high << 2)) - 4);
    }
}

void q3_k_to_float(const void* src, float* dst, int64_t n) {
    const auto* blocks = static_cast<const BlockQ3_K*>(src);
    int8_t q[kQKK];
    for (int64_t b = 0; b < super_blocks(n); ++b, dst += kQKK) {
        const float d = half(blocks[b].d);
        q3_k_decode(blocks[b], q);
        for (int g = 0; g < 16; ++g) {
            const float dl = d * static_cast<float>(unpack_q3_scale(blocks[b].scales, g));
            for (int l = 0; l < 16; ++l) dst[16 * g + l] = dl * q[16 * g + l];
        }
    }
}

void q3_k_quantize(const float* src, void* dst, int64_t n, const float* importance) {
    auto* blocks = static_cast<BlockQ3_K*>(dst);
    int8_t L[kQKK];
    float scales[16];
    float weights[16];
    for (int64_t b = 0; b < super_blocks(n); ++b, src += kQKK) {
        BlockQ3_K& y = blocks[b];
        float max_scale = 0;
        float amax = 0;
        const float* imp = importance != nullptr ? importance + b * kQKK : nullptr;
        const float sigma2 = imp != nullptr ? twice_mean_square(src, kQKK) : 0.f;
        for (int g = 0; g < 16; ++g) {
            if (imp != nullptr) {
                importance_weights(src + 16 * g, imp + 16 * g, 16, sigma2, weights);
                scales[g] = fit_symmetric_scale(16, 4, src + 16 * g, L + 16 * g, weights);
            } else {
                scales[g] = fit_q3_scale(16, 4, src + 16 * g, L + 16 * g);
            }
            if (std::fabs(scales[g]) > amax) {
                amax = std::fabs(scales[g]);
                max_scale = scales[g];
            }
        }
        std::memset(y.scales, 0, sizeof y.scales);
        if (max_scale != 0.f) {
            const float iscale = -32.f / max_scale;
            for (int g = 0; g < 16; ++g) {
                const int l =
                    std::clamp<int>(static_cast<int8_t>(nearest_int(iscale * scales[g])), -32, 31) +
                    32;
                if (g < 8) {
                    y.scales[g] = static_cast<uint8_t>(l & 0xF);
                } else {
                    y.scales[g - 8] |= static_cast<uint8_t>((l & 0xF) << 4);
                }
                y.scales[g % 4 + 8] |= static_cast<uint8_t>((l >> 4) << (2 * (g / 4)));
            }
            y.d = f32_to_f16(1 / iscale);
        } else {
            y.d = f32_to_f16(0.f);
        }
        for (int g = 0; g < 16; ++g) {
            const float d = half(y.d) * static_cast<float>(unpack_q3_scale(y.scales, g));
            if (d == 0.f) continue;
            for (int l = 0; l < 16; ++l) {
                L[16 * g + l] =
                    static_cast<int8_t>(std::clamp(nearest_int(src[16 * g + l] / d), -4, 3) + 4);
            }
        }
        std::memset(y.hmask, 0, sizeof y.hmask);
        uint8_t low[kQKK];
        for (int i = 0; i < kQKK; ++i) {
            const int level = L[i];
            if (level > 3) y.hmask[i % 32] |= static_cast<uint8_t>(1u << (i / 32));
            low[i] = static_cast<uint8_t>(level > 3 ? level - 4 : level);
        }
        pack_2bit(low, y.qs);
    }
}

void q3_k_from_float(const float* src, void* dst, int64_t n) {
    q3_k_quantize(src, dst, n, nullptr);
}

float q3_k_dot(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const BlockQ3_K*>(w);
    const auto* y = static_cast<const BlockQ8_K*>(a);
    int8_t q[kQKK];
    float sum = 0.f;
    for (int64_t b = 0; b < super_blocks(n); ++b) {
        q3_k_decode(x[b], q);
        int isum = 0;
        for (int g = 0; g < 16; ++g) {
            isum += unpack_q3_scale(x[b].scales, g) * dot_i8(q + 16 * g, y[b].qs + 16 * g, 16);
        }
        sum += (half(x[b].d) * y[b].d) * static_cast<float>(isum);
    }
    return sum;
}

// ---- Q4_K and Q5_K: x = d * sc * q - dmin * mn, 8 groups of 32 ----------------------------------

void q4_k_decode(const BlockQ4_K& b, int8_t* q) {
    for (int c = 0; c < 4; ++c) {
        for (int l = 0; l < 32; ++l) {
            q[64 * c + l] = static_cast<int8_t>(b.qs[32 * c + l] & 0xF);
            q[64 * c + 32 + l] = static_cast<int8_t>(b.qs[32 * c + l] >> 4);
        }
    }
}

void q5_k_decode(const BlockQ5_K& b, int8_t* q) {
    for (int c = 0; c < 4; ++c) {
        for (int l = 0; l < 32; ++l) {
            const int lo_high = (b.qh[l] >> (2 * c)) & 1;
            const int hi_high = (b.qh[l] >> (2 * c + 1)) & 1;
            q[64 * c + l] = static_cast<int8_t>((b.qs[32 * c + l] & 0xF) | (lo_high << 4));
            q[64 * c + 32 + l] = static_cast<int8_t>((b.qs[32 * c + l] >> 4) | (hi_high << 4));
        }
    }
}

template <typename Block>
void k4_family_to_float(const Block& b, const int8_t* q, float* dst) {
    const float d = half(b.d);
    const float dmin = half(b.dmin);
    for (int g = 0; g < 8; ++g) {
        int sc = 0;
        int mn = 0;
        unpack_k4_scale(b.scales, g, sc, mn);
        const float dl = d * static_cast<float>(sc);
        const float ml = dmin * static_cast<float>(mn);
        for (int l = 0; l < 32; ++l) dst[32 * g + l] = dl * q[32 * g + l] - ml;
    }
}

void q4_k_to_float(const void* src, float* dst, int64_t n) {
    const auto* blocks = static_cast<const BlockQ4_K*>(src);
    int8_t q[kQKK];
    for (int64_t b = 0; b < super_blocks(n); ++b, dst += kQKK) {
        q4_k_decode(blocks[b], q);
        k4_family_to_float(blocks[b], q, dst);
    }
}

void q5_k_to_float(const void* src, float* dst, int64_t n) {
    const auto* blocks = static_cast<const BlockQ5_K*>(src);
    int8_t q[kQKK];
    for (int64_t b = 0; b < super_blocks(n); ++b, dst += kQKK) {
        q5_k_decode(blocks[b], q);
        k4_family_to_float(blocks[b], q, dst);
    }
}

// Shared by Q4_K (nmax 15) and Q5_K (nmax 31): per group of 32, fit scale and min weighted by
// rms(group) + |x|, quantize the 8 scales and 8 mins to 6 bits against their maxima, then
// re-choose the levels against the stored scales. Fills d, dmin, scales and L (levels).
// With an importance matrix (imp: this super-block's 256 values) the groups are fitted to
// importance-weighted squared error with llama.cpp's finer search instead.
template <typename Block>
void quantize_k4_family(const float* x, Block& y, uint8_t* L, int nmax, float rmin, int nstep,
                        const float* imp) {
    float weights[32];
    float mins[8];
    float scales[8];
    float max_scale = 0;
    float max_min = 0;
    const float sigma2 = imp != nullptr ? twice_mean_square(x, kQKK) : 0.f;
    for (int g = 0; g < 8; ++g) {
        const float* xg = x + 32 * g;
        if (imp != nullptr) {
            importance_weights(xg, imp + 32 * g, 32, sigma2, weights);
            scales[g] = fit_scale_and_min(32, nmax, xg, weights, L + 32 * g, &mins[g], -0.9f, 0.05f,
                                          36, false);
        } else {
            float sum_x2 = 0;
            for (int l = 0; l < 32; ++l) sum_x2 += xg[l] * xg[l];
            const float av_x = std::sqrt(sum_x2 / 32);
            for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(xg[l]);
            scales[g] = fit_scale_and_min(32, nmax, xg, weights, L + 32 * g, &mins[g], rmin, 0.1f,
                                          nstep, false);
        }
        max_scale = std::max(max_scale, scales[g]);
        max_min = std::max(max_min, mins[g]);
    }
    const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    uint8_t sc[8];
    uint8_t mn[8];
    for (int g = 0; g < 8; ++g) {
        sc[g] = std::min<uint8_t>(63, static_cast<uint8_t>(nearest_int(inv_scale * scales[g])));
        mn[g] = std::min<uint8_t>(63, static_cast<uint8_t>(nearest_int(inv_min * mins[g])));
    }
    pack_k4_scales(sc, mn, y.scales);
    y.d = f32_to_f16(max_scale / 63.f);
    y.dmin = f32_to_f16(max_min / 63.f);
    for (int g = 0; g < 8; ++g) {
        int s = 0;
        int m = 0;
        unpack_k4_scale(y.scales, g, s, m);
        const float d = half(y.d) * s;
        if (d == 0.f) continue;
        const float dm = half(y.dmin) * m;
        for (int l = 0; l < 32; ++l) {
            L[32 * g + l] =
                static_cast<uint8_t>(std::clamp(nearest_int((x[32 * g + l] + dm) / d), 0, nmax));
        }
    }
}

void q4_k_quantize(const float* src, void* dst, int64_t n, const float* importance) {
    auto* blocks = static_cast<BlockQ4_K*>(dst);
    uint8_t L[kQKK];
    for (int64_t b = 0; b < super_blocks(n); ++b, src += kQKK) {
        quantize_k4_family(src, blocks[b], L, 15, -1.f, 20,
                           importance != nullptr ? importance + b * kQKK : nullptr);
        for (int c = 0; c < 4; ++c) {
            for (int l = 0; l < 32; ++l) {
                blocks[b].qs[32 * c + l] =
                    static_cast<uint8_t>(L[64 * c + l] | (L[64 * c + 32 + l] << 4));
            }
        }
    }
}

void q4_k_from_float(const float* src, void* dst, int64_t n) {
    q4_k_quantize(src, dst, n, nullptr);
}

void q5_k_quantize(const float* src, void* dst, int64_t n, const float* importance) {
    auto* blocks = static_cast<BlockQ5_K*>(dst);
    uint8_t L[kQKK];
    for (int64_t b = 0; b < super_blocks(n); ++b, src += kQKK) {
        BlockQ5_K& y = blocks[b];
        quantize_k4_family(src, y, L, 31, -0.5f, 15,
                           importance != nullptr ? importance + b * kQKK : nullptr);
        std::memset(y.qh, 0, sizeof y.qh);
        for (int c = 0; c < 4; ++c) {
            for (int l = 0; l < 32; ++l) {
                const int lo = L[64 * c + l];
                const int hi = L[64 * c + 32 + l];
                y.qh[l] |=
                    static_cast<uint8_t>(((lo >> 4) << (2 * c)) | ((hi >> 4) << (2 * c + 1)));
                y.qs[32 * c + l] = static_cast<uint8_t>((lo & 0xF) | ((hi & 0xF) << 4));
            }
        }
    }
}

void q5_k_from_float(const float* src, void* dst, int64_t n) {
    q5_k_quantize(src, dst, n, nullptr);
}

template <typename Block>
float k4_family_block_dot(const Block& x, const int8_t* q, const BlockQ8_K& y) {
    int isum = 0;
    int isum_min = 0;
    for (int g = 0; g < 8; ++g) {
        int sc = 0;
        int mn = 0;
        unpack_k4_scale(x.scales, g, sc, mn);
        isum += sc * dot_i8(q + 32 * g, y.qs + 32 * g, 32);
        isum_min += mn * (y.bsums[2 * g] + y.bsums[2 * g + 1]);
    }
    const float d = half(x.d) * y.d;
    const float dmin = half(x.dmin) * y.d;
    return d * static_cast<float>(isum) - dmin * static_cast<float>(isum_min);
}

float q4_k_dot(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const BlockQ4_K*>(w);
    const auto* y = static_cast<const BlockQ8_K*>(a);
    int8_t q[kQKK];
    float sum = 0.f;
    for (int64_t b = 0; b < super_blocks(n); ++b) {
        q4_k_decode(x[b], q);
        sum += k4_family_block_dot(x[b], q, y[b]);
    }
    return sum;
}

float q5_k_dot(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const BlockQ5_K*>(w);
    const auto* y = static_cast<const BlockQ8_K*>(a);
    int8_t q[kQKK];
    float sum = 0.f;
    for (int64_t b = 0; b < super_blocks(n); ++b) {
        q5_k_decode(x[b], q);
        sum += k4_family_block_dot(x[b], q, y[b]);
    }
    return sum;
}

// ---- Q6_K: x = d * scale * (q - 32), 16 groups of 16 -------------------------------------------

// Signed levels q - 32 in [-32, 31].
void q6_k_decode(const BlockQ6_K& b, int8_t* q) {
    for (int h = 0; h < 2; ++h) {
        const uint8_t* ql = b.ql + 64 * h;
        const uint8_t* qh = b.qh + 32 * h;
        int8_t* out = q + 128 * h;
        for (int l = 0; l < 32; ++l) {
            out[l] = static_cast<int8_t>(((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32);
            out[l + 32] =
                static_cast<int8_t>(((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32);
            out[l + 64] = static_cast<int8_t>(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
            out[l + 96] = static_cast<int8_t>(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
        }
    }
}

void q6_k_to_float(const void* src, float* dst, int64_t n) {
    const auto* blocks = static_cast<const BlockQ6_K*>(src);
    int8_t q[kQKK];
    for (int64_t b = 0; b < super_blocks(n); ++b, dst += kQKK) {
        const float d = half(blocks[b].d);
        q6_k_decode(blocks[b], q);
        for (int i = 0; i < kQKK; ++i)
            dst[i] = d * static_cast<float>(blocks[b].scales[i / 16]) * q[i];
    }
}

void q6_k_quantize(const float* src, void* dst, int64_t n, const float* importance) {
    auto* blocks = static_cast<BlockQ6_K*>(dst);
    int8_t L[kQKK];
    float scales[16];
    float weights[16];
    for (int64_t b = 0; b < super_blocks(n); ++b, src += kQKK) {
        BlockQ6_K& y = blocks[b];
        float max_scale = 0;
        float max_abs_scale = 0;
        const float* imp = importance != nullptr ? importance + b * kQKK : nullptr;
        const float sigma2 = imp != nullptr ? twice_mean_square(src, kQKK) : 0.f;
        for (int g = 0; g < 16; ++g) {
            if (imp != nullptr) importance_weights(src + 16 * g, imp + 16 * g, 16, sigma2, weights);
            scales[g] = fit_symmetric_scale(16, 32, src + 16 * g, L + 16 * g,
                                            imp != nullptr ? weights : nullptr);
            if (std::fabs(scales[g]) > max_abs_scale) {
                max_abs_scale = std::fabs(scales[g]);
                max_scale = scales[g];
            }
        }
        if (max_abs_scale < kGroupMaxEps) {
            std::memset(&y, 0, sizeof y);
            continue;
        }
        const float iscale = -128.f / max_scale;
        y.d = f32_to_f16(1 / iscale);
        for (int g = 0; g < 16; ++g)
            y.scales[g] = static_cast<int8_t>(std::min(127, nearest_int(iscale * scales[g])));
        for (int g = 0; g < 16; ++g) {
            const float d = half(y.d) * y.scales[g];
            if (d == 0.f) continue;
            for (int l = 0; l < 16; ++l) {
                L[16 * g + l] =
                    static_cast<int8_t>(std::clamp(nearest_int(src[16 * g + l] / d), -32, 31) + 32);
            }
        }
        for (int h = 0; h < 2; ++h) {
            const int8_t* e = L + 128 * h;
            uint8_t* ql = y.ql + 64 * h;
            uint8_t* qh = y.qh + 32 * h;
            for (int l = 0; l < 32; ++l) {
                ql[l] = static_cast<uint8_t>((e[l] & 0xF) | ((e[l + 64] & 0xF) << 4));
                ql[l + 32] = static_cast<uint8_t>((e[l + 32] & 0xF) | ((e[l + 96] & 0xF) << 4));
                qh[l] = static_cast<uint8_t>((e[l] >> 4) | ((e[l + 32] >> 4) << 2) |
                                             ((e[l + 64] >> 4) << 4) | ((e[l + 96] >> 4) << 6));
            }
        }
    }
}

void q6_k_from_float(const float* src, void* dst, int64_t n) {
    q6_k_quantize(src, dst, n, nullptr);
}

float q6_k_dot(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const BlockQ6_K*>(w);
    const auto* y = static_cast<const BlockQ8_K*>(a);
    int8_t q[kQKK];
    float sum = 0.f;
    for (int64_t b = 0; b < super_blocks(n); ++b) {
        q6_k_decode(x[b], q);
        int isum = 0;
        for (int g = 0; g < 16; ++g)
            isum += x[b].scales[g] * dot_i8(q + 16 * g, y[b].qs + 16 * g, 16);
        sum += (half(x[b].d) * y[b].d) * static_cast<float>(isum);
    }
    return sum;
}

// ---- Q8_K: x = d * q (activations)
// ----------------------------------------------------------------

void q8_k_to_float(const void* src, float* dst, int64_t n) {
    const auto* blocks = static_cast<const BlockQ8_K*>(src);
    for (int64_t b = 0; b < super_blocks(n); ++b, dst += kQKK) {
        for (int i = 0; i < kQKK; ++i) dst[i] = blocks[b].d * blocks[b].qs[i];
    }
}

// The element of largest magnitude m (first on ties, sign kept) maps to -127; the opposite end is
// clamped at 127. d = 1/(-127/m), kept as F32.
void q8_k_from_float(const float* src, void* dst, int64_t n) {
    auto* blocks = static_cast<BlockQ8_K*>(dst);
    for (int64_t b = 0; b < super_blocks(n); ++b, src += kQKK) {
        BlockQ8_K& y = blocks[b];
        const SignedMax m = signed_max(src, kQKK);
        if (m.abs_max == 0.f) {
            y.d = 0.f;
            std::memset(y.qs, 0, sizeof y.qs);
            std::memset(y.bsums, 0, sizeof y.bsums);
            continue;
        }
        const float iscale = -127.f / m.value;
        for (int i = 0; i < kQKK; ++i)
            y.qs[i] = static_cast<int8_t>(std::min(127, nearest_int(iscale * src[i])));
        for (int g = 0; g < 16; ++g) {
            int sum = 0;
            for (int l = 0; l < 16; ++l) sum += y.qs[16 * g + l];
            y.bsums[g] = static_cast<int16_t>(sum);
        }
        y.d = 1 / iscale;
    }
}

}  // namespace

void quantize_q8_k_activations(const float* src, BlockQ8_K* dst, int64_t n) {
    q8_k_from_float(src, dst, n);
}

void unpack_q4_k_scale(const uint8_t* scales, int group, int& scale, int& min) {
    unpack_k4_scale(scales, group, scale, min);
}

bool quantize_k_with_importance(DType type, const float* src, void* dst, int64_t n,
                                const float* importance) {
    switch (type) {
        case DType::Q2_K:
            q2_k_quantize(src, dst, n, importance);
            return true;
        case DType::Q3_K:
            q3_k_quantize(src, dst, n, importance);
            return true;
        case DType::Q4_K:
            q4_k_quantize(src, dst, n, importance);
            return true;
        case DType::Q5_K:
            q5_k_quantize(src, dst, n, importance);
            return true;
        case DType::Q6_K:
            q6_k_quantize(src, dst, n, importance);
            return true;
        default:
            return false;
    }
}

void register_k_quants(KernelTable& table) {
    entry(table, DType::Q2_K) = {DType::Q2_K,     DType::Q8_K,     q2_k_to_float,
                                 q2_k_from_float, q2_k_from_float, q2_k_dot};
    entry(table, DType::Q3_K) = {DType::Q3_K,     DType::Q8_K,     q3_k_to_float,
                                 q3_k_from_float, q3_k_from_float, q3_k_dot};
    entry(table, DType::Q4_K) = {DType::Q4_K,     DType::Q8_K,     q4_k_to_float,
                                 q4_k_from_float, q4_k_from_float, q4_k_dot};
    entry(table, DType::Q5_K) = {DType::Q5_K,     DType::Q8_K,     q5_k_to_float,
                                 q5_k_from_float, q5_k_from_float, q5_k_dot};
    entry(table, DType::Q6_K) = {DType::Q6_K,     DType::Q8_K,     q6_k_to_float,
                                 q6_k_from_float, q6_k_from_float, q6_k_dot};
    entry(table, DType::Q8_K) = {DType::Q8_K,     DType::Q8_K,     q8_k_to_float,
                                 q8_k_from_float, q8_k_from_float, nullptr};
}

}  // namespace pocket::kernels::scalar
