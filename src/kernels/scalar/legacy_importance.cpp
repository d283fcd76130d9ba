// Importance-weighted quantizers of the 32-element legacy types Q4_0, Q4_1, Q5_0 and Q5_1, as
// llama-quantize runs them under an importance matrix: the symmetric types (Q4_0, Q5_0) fit each
// block's scale by weighted least squares over candidate scales (make_qx_quants), the types with a
// minimum (Q4_1, Q5_1) fit scale and minimum together (make_qkx3_quants, 37 steps). Error weights
// are importance_weights() with sigma2 the row's mean square (not twice a block's, as for the
// K-quants: llama.cpp's choice for these types). Without importances the reference quantizers
// in legacy_quants.cpp apply.
#include <cstdint>

#include "kernels/blocks.h"
#include "kernels/scalar/k_quant_search.h"
#include "kernels/scalar/quant_math.h"
#include "kernels/scalar/scalar_registry.h"
#include "pocket/core/error.h"

#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

namespace pocket::kernels::scalar {
namespace {

constexpr int kHalf = kQK32 / 2;

float mean_square(const float* x, int64_t n) {
    float sum = 0.f;
    for (int64_t i = 0; i < n; ++i) sum += x[i] * x[i];
    return sum / static_cast<float>(n);
}

// Element j's level goes to nibble j % 16 of qs (low half first); bit 4 (5-bit types) to bit j of
// qh.
void pack_nibbles(const uint8_t* levels, uint8_t* qs) {
    for (int j = 0; j < kHalf; ++j)
        qs[j] = static_cast<uint8_t>((levels[j] & 0x0F) | ((levels[j + kHalf] & 0x0F) << 4));
}
uint32_t high_bits(const uint8_t* levels) {
    uint32_t qh = 0;
    for (int j = 0; j < kQK32; ++j) qh |= static_cast<uint32_t>((levels[j] >> 4) & 1) << j;
    return qh;
}

// Symmetric types: levels 0..2*nmax-1 standing for l - nmax.
template <typename Block, int kNmax>
void quantize_symmetric(const float* src, const float* importance, void* dst, int64_t n) {
    auto* blocks = static_cast<Block*>(dst);
    const float sigma2 = mean_square(src, n);
    float weights[kQK32];
    for (int64_t b = 0; b < n / kQK32; ++b) {
        const float* x = src + b * kQK32;
        importance_weights(x, importance + b * kQK32, kQK32, sigma2, weights);
        int8_t levels[kQK32];
        const float d = fit_symmetric_scale(kQK32, kNmax, x, levels, weights);
        blocks[b].d = f32_to_f16(d);
        const auto* u = reinterpret_cast<const uint8_t*>(levels);
        pack_nibbles(u, blocks[b].qs);
        if constexpr (kNmax == 16) store_u32(blocks[b].qh, high_bits(u));
    }
}

// Types with a minimum: x ~ d * l + m with levels 0..nmax.
template <typename Block, int kNmax>
void quantize_with_min(const float* src, const float* importance, void* dst, int64_t n) {
    auto* blocks = static_cast<Block*>(dst);
    const float sigma2 = mean_square(src, n);
    float weights[kQK32];
    for (int64_t b = 0; b < n / kQK32; ++b) {
        const float* x = src + b * kQK32;
        importance_weights(x, importance + b * kQK32, kQK32, sigma2, weights);
        uint8_t levels[kQK32];
        float neg_min = 0.f;
        const float d =
            fit_scale_and_min(kQK32, kNmax, x, weights, levels, &neg_min, -0.9f, 0.05f, 36, false);
        blocks[b].d = f32_to_f16(d);
        blocks[b].m = f32_to_f16(-neg_min);
        pack_nibbles(levels, blocks[b].qs);
        if constexpr (kNmax == 31) store_u32(blocks[b].qh, high_bits(levels));
    }
}

}  // namespace

bool quantize_legacy_with_importance(DType type, const float* src, void* dst, int64_t n,
                                     const float* importance) {
    switch (type) {
        case DType::Q4_0:
            quantize_symmetric<BlockQ4_0, 8>(src, importance, dst, n);
            return true;
        case DType::Q5_0:
            quantize_symmetric<BlockQ5_0, 16>(src, importance, dst, n);
            return true;
        case DType::Q4_1:
            quantize_with_min<BlockQ4_1, 15>(src, importance, dst, n);
            return true;
        case DType::Q5_1:
            quantize_with_min<BlockQ5_1, 31>(src, importance, dst, n);
            return true;
        default:
            return false;
    }
}

}  // namespace pocket::kernels::scalar
