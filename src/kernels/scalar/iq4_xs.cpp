// IQ4_XS: 256-element super-blocks of 8 groups of 32, each group a 6-bit scale (relative to the
// super-block's F16 scale) over the 16 non-linear IQ4_NL levels; 4.25 bits per weight. The
// quantizer reproduces ggml's quantize_iq4_xs (same float operations in the same order), so files
// match what llama-quantize writes.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/blocks.h"
#include "kernels/scalar/iq4_levels.h"
#include "kernels/scalar/quant_math.h"
#include "kernels/scalar/scalar_registry.h"

// Bit-exactness with ggml (baseline x86-64, no FMA) needs every a*b+c rounded twice.
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

namespace pocket::kernels::scalar {
namespace {

constexpr int kGroup = 32;
constexpr int kGroups = kQKK / kGroup;

int64_t super_blocks(int64_t n) {
    return n / kQKK;
}

// The 6-bit scale of group g, still offset by 32.
int group_scale(const BlockIQ4_XS& b, int g) {
    const int low = (b.scales_l[g / 2] >> (4 * (g % 2))) & 0x0F;
    const int high = (b.scales_h >> (2 * g)) & 0x03;
    return low | (high << 4);
}

void iq4_xs_to_float(const void* src, float* dst, int64_t n) {
    const auto* blocks = static_cast<const BlockIQ4_XS*>(src);
    for (int64_t s = 0; s < super_blocks(n); ++s) {
        const BlockIQ4_XS& b = blocks[s];
        const float d = half(b.d);
        for (int g = 0; g < kGroups; ++g, dst += kGroup) {
            const float dl = d * static_cast<float>(group_scale(b, g) - 32);
            const uint8_t* qs = b.qs + g * kGroup / 2;
            for (int j = 0; j < kGroup / 2; ++j) {
                dst[j] = dl * static_cast<float>(kIq4nlValues[qs[j] & 0x0F]);
                dst[j + kGroup / 2] = dl * static_cast<float>(kIq4nlValues[qs[j] >> 4]);
            }
        }
    }
}

// Each group's best scale as for IQ4_NL (fit_iq4_group_scale); the super-block scale maps the
// largest group scale to -32; the group scales are rounded to 6 bits and the levels re-chosen with
// the rounded group scale. With an importance matrix the group fits are weighted by
// importance_weights() with sigma2 over the super-block, as llama.cpp's.
void iq4_xs_quantize(const float* src, void* dst, int64_t n, const float* importance) {
    auto* blocks = static_cast<BlockIQ4_XS*>(dst);
    float weights[kGroup];
    for (int64_t s = 0; s < super_blocks(n); ++s, src += kQKK) {
        BlockIQ4_XS& b = blocks[s];
        const float* imp = importance != nullptr ? importance + s * kQKK : nullptr;
        const float sigma2 = imp != nullptr ? twice_mean_square(src, kQKK) : 0.f;
        float scales[kGroups];
        float max_scale = 0.f, amax_scale = 0.f;
        for (int g = 0; g < kGroups; ++g) {
            const float* x = src + g * kGroup;
            if (imp != nullptr) importance_weights(x, imp + g * kGroup, kGroup, sigma2, weights);
            const float d = fit_iq4_group_scale(x, imp != nullptr ? weights : nullptr);
            scales[g] = d;
            if (std::fabs(d) > amax_scale) {
                amax_scale = std::fabs(d);
                max_scale = d;
            }
        }
        const float d = -max_scale / 32;
        b.d = f32_to_f16(d);
        b.scales_h = 0;
        std::memset(b.scales_l, 0, sizeof b.scales_l);
        const float id = d != 0.f ? 1 / d : 0.f;
        for (int g = 0; g < kGroups; ++g) {
            int l = nearest_int(id * scales[g]);
            l = std::max(-32, std::min(31, l));
            const float dl = d * static_cast<float>(l);
            const float idl = dl != 0.f ? 1 / dl : 0.f;
            const float* x = src + g * kGroup;
            uint8_t levels[kGroup];
            for (int j = 0; j < kGroup; ++j)
                levels[j] = static_cast<uint8_t>(nearest_iq4_level(idl * x[j]));
            uint8_t* qs = b.qs + g * kGroup / 2;
            for (int j = 0; j < kGroup / 2; ++j)
                qs[j] = static_cast<uint8_t>(levels[j] | (levels[j + kGroup / 2] << 4));
            l += 32;
            b.scales_l[g / 2] |= static_cast<uint8_t>((l & 0x0F) << (4 * (g % 2)));
            b.scales_h |= static_cast<uint16_t>((l >> 4) << (2 * g));
        }
    }
}

void iq4_xs_from_float(const float* src, void* dst, int64_t n) {
    iq4_xs_quantize(src, dst, n, nullptr);
}

float iq4_xs_dot(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const BlockIQ4_XS*>(w);
    const auto* y = static_cast<const BlockQ8_K*>(a);
    float sum = 0.f;
    for (int64_t s = 0; s < super_blocks(n); ++s) {
        const float d = half(x[s].d) * y[s].d;
        for (int g = 0; g < kGroups; ++g) {
            const uint8_t* qs = x[s].qs + g * kGroup / 2;
            const int8_t* q8 = y[s].qs + g * kGroup;
            int isum = 0;
            for (int j = 0; j < kGroup / 2; ++j) {
                isum += q8[j] * kIq4nlValues[qs[j] & 0x0F];
                isum += q8[j + kGroup / 2] * kIq4nlValues[qs[j] >> 4];
            }
            sum += d * static_cast<float>(group_scale(x[s], g) - 32) * static_cast<float>(isum);
        }
    }
    return sum;
}

}  // namespace

void quantize_iq4_xs_with_importance(const float* src, void* dst, int64_t n,
                                     const float* importance) {
    iq4_xs_quantize(src, dst, n, importance);
}

void register_iq4_xs(KernelTable& table) {
    entry(table, DType::IQ4_XS) = {DType::IQ4_XS,     DType::Q8_K,       iq4_xs_to_float,
                                   iq4_xs_from_float, iq4_xs_from_float, iq4_xs_dot};
}

}  // namespace pocket::kernels::scalar
