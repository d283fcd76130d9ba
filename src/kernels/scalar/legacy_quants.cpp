// The 32-element block formats: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, IQ4_NL and the activation format
// Q8_1. The weight quantizers reproduce llama.cpp's reference quantizers bit for bit (same float
// operations in the same order), so their output equals what `llama-quantize` writes.
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>

#include "kernels/blocks.h"
#include "kernels/scalar/iq4_levels.h"
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

constexpr int kHalf = kQK32 / 2;

int64_t block_count(int64_t n) {
    return n / kQK32;
}

// ---- Q4_0: x = d * (q - 8) -------------------------------------------------------------------

void q4_0_to_float(const void* src, float* dst, int64_t n) {
    const auto* blocks = static_cast<const BlockQ4_0*>(src);
    for (int64_t b = 0; b < block_count(n); ++b, dst += kQK32) {
        const float d = half(blocks[b].d);
        for (int j = 0; j < kHalf; ++j) {
            dst[j] = static_cast<float>((blocks[b].qs[j] & 0x0F) - 8) * d;
            dst[j + kHalf] = static_cast<float>((blocks[b].qs[j] >> 4) - 8) * d;
        }
    }
}

// d maps the element of largest magnitude to -8 (the end of the range with one more level), and
// each value is then truncated after adding 8.5, i.e. rounded half up onto [0, 15].
void q4_0_from_float(const float* src, void* dst, int64_t n) {
    auto* blocks = static_cast<BlockQ4_0*>(dst);
    for (int64_t b = 0; b < block_count(n); ++b, src += kQK32) {
        const float d = signed_max(src, kQK32).value / -8.f;
        const float id = d != 0.f ? 1.0f / d : 0.0f;
        blocks[b].d = f32_to_f16(d);
        for (int j = 0; j < kHalf; ++j) {
            const int lo = std::min(15, static_cast<int>(src[j] * id + 8.5f));
            const int hi = std::min(15, static_cast<int>(src[j + kHalf] * id + 8.5f));
            blocks[b].qs[j] = static_cast<uint8_t>(lo | (hi << 4));
        }
    }
}

float q4_0_dot(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const BlockQ4_0*>(w);
    const auto* y = static_cast<const BlockQ8_0*>(a);
    float sum = 0.f;
    for (int64_t b = 0; b < block_count(n); ++b) {
        int isum = 0;
        for (int j = 0; j < kHalf; ++j) {
            isum += ((x[b].qs[j] & 0x0F) - 8) * y[b].qs[j];
            isum += ((x[b].qs[j] >> 4) - 8) * y[b].qs[j + kHalf];
        }
        sum += static_cast<float>(isum) * (half(x[b].d) * half(y[b].d));
    }
    return sum;
}

// ---- Q4_1: x = d * q + m ----------------------------------------------------------------------

struct MinMax {
    float min = FLT_MAX;
    float max = -FLT_MAX;
};
MinMax min_max(const float* x, int n) {
    MinMax r;
    for (int i = 0; i < n; ++i) {
        if (x[i] < r.min) r.min = x[i];
        if (x[i] > r.max) r.max = x[i];
    }
    return r;
}

void q4_1_to_float(const void* src, float* dst, int64_t n) {
    const auto* blocks = static_cast<const BlockQ4_1*>(src);
    for (int64_t b = 0; b < block_count(n); ++b, dst += kQK32) {
        const float d = half(blocks[b].d);
        const float m = half(blocks[b].m);
        for (int j = 0; j < kHalf; ++j) {
            dst[j] = static_cast<float>(blocks[b].qs[j] & 0x0F) * d + m;
            dst[j + kHalf] = static_cast<float>(blocks[b].qs[j] >> 4) * d + m;
        }
    }
}

void q4_1_from_float(const float* src, void* dst, int64_t n) {
    auto* blocks = static_cast<BlockQ4_1*>(dst);
    for (int64_t b = 0; b < block_count(n); ++b, src += kQK32) {
        const MinMax range = min_max(src, kQK32);
        const float d = (range.max - range.min) / 15.f;
        const float id = d != 0.f ? 1.0f / d : 0.0f;
        blocks[b].d = f32_to_f16(d);
        blocks[b].m = f32_to_f16(range.min);
        for (int j = 0; j < kHalf; ++j) {
            const int lo = std::min(15, static_cast<int>((src[j] - range.min) * id + 0.5f));
            const int hi = std::min(15, static_cast<int>((src[j + kHalf] - range.min) * id + 0.5f));
            blocks[b].qs[j] = static_cast<uint8_t>(lo | (hi << 4));
        }
    }
}

float q4_1_dot(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const BlockQ4_1*>(w);
    const auto* y = static_cast<const BlockQ8_1*>(a);
    float sum = 0.f;
    for (int64_t b = 0; b < block_count(n); ++b) {
        int isum = 0;
        for (int j = 0; j < kHalf; ++j) {
            isum += (x[b].qs[j] & 0x0F) * y[b].qs[j];
            isum += (x[b].qs[j] >> 4) * y[b].qs[j + kHalf];
        }
        // sum_j (d q_j + m) a_j = d*d_a*sum(q_j qa_j) + m * (d_a * sum qa_j), the latter stored as
        // s.
        sum +=
            (half(x[b].d) * half(y[b].d)) * static_cast<float>(isum) + half(x[b].m) * half(y[b].s);
    }
    return sum;
}

// ---- Q5_0: x = d * (q - 16) ------------------------------------------------------------------

// The 5-bit value of element j: low nibble from qs, bit 4 from bit j of qh.
int q5_value(const uint8_t* qs, uint32_t qh, int j) {
    const int nibble = j < kHalf ? (qs[j] & 0x0F) : (qs[j - kHalf] >> 4);
    return nibble | static_cast<int>(((qh >> j) & 1u) << 4);
}

void q5_0_to_float(const void* src, float* dst, int64_t n) {
    const auto* blocks = static_cast<const BlockQ5_0*>(src);
    for (int64_t b = 0; b < block_count(n); ++b, dst += kQK32) {
        const float d = half(blocks[b].d);
        const uint32_t qh = load_u32(blocks[b].qh);
        for (int j = 0; j < kQK32; ++j)
            dst[j] = static_cast<float>(q5_value(blocks[b].qs, qh, j) - 16) * d;
    }
}

void q5_0_from_float(const float* src, void* dst, int64_t n) {
    auto* blocks = static_cast<BlockQ5_0*>(dst);
    for (int64_t b = 0; b < block_count(n); ++b, src += kQK32) {
        const float d = signed_max(src, kQK32).value / -16.f;
        const float id = d != 0.f ? 1.0f / d : 0.0f;
        blocks[b].d = f32_to_f16(d);
        uint32_t qh = 0;
        for (int j = 0; j < kHalf; ++j) {
            const int lo = std::min(31, static_cast<int>(src[j] * id + 16.5f));
            const int hi = std::min(31, static_cast<int>(src[j + kHalf] * id + 16.5f));
            blocks[b].qs[j] = static_cast<uint8_t>((lo & 0x0F) | ((hi & 0x0F) << 4));
            qh |= static_cast<uint32_t>((lo >> 4) & 1) << j;
            qh |= static_cast<uint32_t>((hi >> 4) & 1) << (j + kHalf);
        }
        store_u32(blocks[b].qh, qh);
    }
}

float q5_0_dot(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const BlockQ5_0*>(w);
    const auto* y = static_cast<const BlockQ8_0*>(a);
    float sum = 0.f;
    for (int64_t b = 0; b < block_count(n); ++b) {
        const uint32_t qh = load_u32(x[b].qh);
        int isum = 0;
        for (int j = 0; j < kQK32; ++j) isum += (q5_value(x[b].qs, qh, j) - 16) * y[b].qs[j];
        sum += (half(x[b].d) * half(y[b].d)) * static_cast<float>(isum);
    }
    return sum;
}

// ---- Q5_1: x = d * q + m ----------------------------------------------------------------------

void q5_1_to_float(const void* src, float* dst, int64_t n) {
    const auto* blocks = static_cast<const BlockQ5_1*>(src);
    for (int64_t b = 0; b < block_count(n); ++b, dst += kQK32) {
        const float d = half(blocks[b].d);
        const float m = half(blocks[b].m);
        const uint32_t qh = load_u32(blocks[b].qh);
        for (int j = 0; j < kQK32; ++j)
            dst[j] = static_cast<float>(q5_value(blocks[b].qs, qh, j)) * d + m;
    }
}

void q5_1_from_float(const float* src, void* dst, int64_t n) {
    auto* blocks = static_cast<BlockQ5_1*>(dst);
    for (int64_t b = 0; b < block_count(n); ++b, src += kQK32) {
        const MinMax range = min_max(src, kQK32);
        const float d = (range.max - range.min) / 31.f;
        const float id = d != 0.f ? 1.0f / d : 0.0f;
        blocks[b].d = f32_to_f16(d);
        blocks[b].m = f32_to_f16(range.min);
        uint32_t qh = 0;
        for (int j = 0; j < kHalf; ++j) {
            // No clamp here (llama.cpp has none): (max - min) * id cannot round past 31.5.
            const int lo = static_cast<uint8_t>(static_cast<int>((src[j] - range.min) * id + 0.5f));
            const int hi =
                static_cast<uint8_t>(static_cast<int>((src[j + kHalf] - range.min) * id + 0.5f));
            blocks[b].qs[j] = static_cast<uint8_t>((lo & 0x0F) | ((hi & 0x0F) << 4));
            qh |= static_cast<uint32_t>((lo >> 4) & 1) << j;
            qh |= static_cast<uint32_t>((hi >> 4) & 1) << (j + kHalf);
        }
        store_u32(blocks[b].qh, qh);
    }
}

float q5_1_dot(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const BlockQ5_1*>(w);
    const auto* y = static_cast<const BlockQ8_1*>(a);
    float sum = 0.f;
    for (int64_t b = 0; b < block_count(n); ++b) {
        const uint32_t qh = load_u32(x[b].qh);
        int isum = 0;
        for (int j = 0; j < kQK32; ++j) isum += q5_value(x[b].qs, qh, j) * y[b].qs[j];
        sum +=
            (half(x[b].d) * half(y[b].d)) * static_cast<float>(isum) + half(x[b].m) * half(y[b].s);
    }
    return sum;
}

// ---- Q8_0 and Q8_1: x = d * q -----------------------------------------------------------------

float abs_max(const float* x, int n) {
    float m = 0.f;
    for (int i = 0; i < n; ++i) m = std::max(m, std::fabs(x[i]));
    return m;
}

template <typename Block>
void q8_to_float(const void* src, float* dst, int64_t n) {
    const auto* blocks = static_cast<const Block*>(src);
    for (int64_t b = 0; b < block_count(n); ++b, dst += kQK32) {
        const float d = half(blocks[b].d);
        for (int j = 0; j < kQK32; ++j) dst[j] = static_cast<float>(blocks[b].qs[j]) * d;
    }
}

// Activation quantizer (llama.cpp's x86 path): scale by 127/amax, round half to even. Returns
// sum(q) for Q8_1; `d_out` is the unrounded scale amax/127.
int quantize_q8_activation_block(const float* x, float& d_out, int8_t* qs) {
    const float amax = abs_max(x, kQK32);
    d_out = amax / 127.f;
    const float id = amax != 0.f ? 127.f / amax : 0.f;
    int sum = 0;
    for (int j = 0; j < kQK32; ++j) {
        qs[j] = static_cast<int8_t>(nearest_int(x[j] * id));
        sum += qs[j];
    }
    return sum;
}

// File quantizer (llama.cpp's quantize_row_q8_0_ref): scale by 1/d, round half away from zero.
int quantize_q8_reference_block(const float* x, float& d_out, int8_t* qs) {
    const float d = abs_max(x, kQK32) / 127.f;
    const float id = d != 0.f ? 1.0f / d : 0.0f;
    int sum = 0;
    for (int j = 0; j < kQK32; ++j) {
        qs[j] = static_cast<int8_t>(std::round(x[j] * id));
        sum += qs[j];
    }
    d_out = d;
    return sum;
}

void q8_0_from_float(const float* src, void* dst, int64_t n) {
    auto* blocks = static_cast<BlockQ8_0*>(dst);
    for (int64_t b = 0; b < block_count(n); ++b) {
        float d = 0.f;
        quantize_q8_activation_block(src + b * kQK32, d, blocks[b].qs);
        blocks[b].d = f32_to_f16(d);
    }
}

void q8_0_from_float_ref(const float* src, void* dst, int64_t n) {
    auto* blocks = static_cast<BlockQ8_0*>(dst);
    for (int64_t b = 0; b < block_count(n); ++b) {
        float d = 0.f;
        quantize_q8_reference_block(src + b * kQK32, d, blocks[b].qs);
        blocks[b].d = f32_to_f16(d);
    }
}

void q8_1_from_float(const float* src, void* dst, int64_t n) {
    auto* blocks = static_cast<BlockQ8_1*>(dst);
    for (int64_t b = 0; b < block_count(n); ++b) {
        float d = 0.f;
        const int sum = quantize_q8_activation_block(src + b * kQK32, d, blocks[b].qs);
        blocks[b].d = f32_to_f16(d);
        // s uses the unrounded float d, as llama.cpp does.
        blocks[b].s = f32_to_f16(d * static_cast<float>(sum));
    }
}

void q8_1_from_float_ref(const float* src, void* dst, int64_t n) {
    auto* blocks = static_cast<BlockQ8_1*>(dst);
    for (int64_t b = 0; b < block_count(n); ++b) {
        float d = 0.f;
        const int sum = quantize_q8_reference_block(src + b * kQK32, d, blocks[b].qs);
        blocks[b].d = f32_to_f16(d);
        blocks[b].s = f32_to_f16(static_cast<float>(sum) * d);
    }
}

float q8_0_dot(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const BlockQ8_0*>(w);
    const auto* y = static_cast<const BlockQ8_0*>(a);
    float sum = 0.f;
    for (int64_t b = 0; b < block_count(n); ++b) {
        int isum = 0;
        for (int j = 0; j < kQK32; ++j) isum += x[b].qs[j] * y[b].qs[j];
        sum += static_cast<float>(isum) * (half(x[b].d) * half(y[b].d));
    }
    return sum;
}

// ---- IQ4_NL: x = d * kIq4nlValues[q] ----------------------------------------------------------

void iq4_nl_to_float(const void* src, float* dst, int64_t n) {
    const auto* blocks = static_cast<const BlockIQ4_NL*>(src);
    for (int64_t b = 0; b < block_count(n); ++b, dst += kQK32) {
        const float d = half(blocks[b].d);
        for (int j = 0; j < kHalf; ++j) {
            dst[j] = d * static_cast<float>(kIq4nlValues[blocks[b].qs[j] & 0x0F]);
            dst[j + kHalf] = d * static_cast<float>(kIq4nlValues[blocks[b].qs[j] >> 4]);
        }
    }
}

// What llama-quantize does for IQ4_NL: each block's scale from fit_iq4_group_scale, then the levels
// re-chosen with the unrounded scale. With an importance matrix the fit weights are
// importance_weights() with sigma2 over the block, as llama.cpp's.
void iq4_nl_quantize(const float* src, void* dst, int64_t n, const float* importance) {
    auto* blocks = static_cast<BlockIQ4_NL*>(dst);
    float weights[kQK32];
    for (int64_t b = 0; b < block_count(n); ++b, src += kQK32) {
        if (importance != nullptr) {
            importance_weights(src, importance + b * kQK32, kQK32, twice_mean_square(src, kQK32),
                               weights);
        }
        const float scale = fit_iq4_group_scale(src, importance != nullptr ? weights : nullptr);
        blocks[b].d = f32_to_f16(scale);
        const float id = scale != 0.f ? 1 / scale : 0.f;
        uint8_t levels[kQK32];
        for (int j = 0; j < kQK32; ++j)
            levels[j] = static_cast<uint8_t>(nearest_iq4_level(id * src[j]));
        for (int j = 0; j < kHalf; ++j)
            blocks[b].qs[j] = static_cast<uint8_t>(levels[j] | (levels[j + kHalf] << 4));
    }
}

void iq4_nl_from_float(const float* src, void* dst, int64_t n) {
    iq4_nl_quantize(src, dst, n, nullptr);
}

float iq4_nl_dot(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const BlockIQ4_NL*>(w);
    const auto* y = static_cast<const BlockQ8_0*>(a);
    float sum = 0.f;
    for (int64_t b = 0; b < block_count(n); ++b) {
        int isum = 0;
        for (int j = 0; j < kHalf; ++j) {
            isum += kIq4nlValues[x[b].qs[j] & 0x0F] * y[b].qs[j];
            isum += kIq4nlValues[x[b].qs[j] >> 4] * y[b].qs[j + kHalf];
        }
        sum += (half(y[b].d) * half(x[b].d)) * static_cast<float>(isum);
    }
    return sum;
}

}  // namespace

void quantize_q8_0_activations(const float* src, BlockQ8_0* dst, int64_t n) {
    q8_0_from_float(src, dst, n);
}

void quantize_iq4_nl_with_importance(const float* src, void* dst, int64_t n,
                                     const float* importance) {
    iq4_nl_quantize(src, dst, n, importance);
}

void register_legacy_quants(KernelTable& table) {
    entry(table, DType::Q4_0) = {DType::Q4_0,     DType::Q8_0,     q4_0_to_float,
                                 q4_0_from_float, q4_0_from_float, q4_0_dot};
    entry(table, DType::Q4_1) = {DType::Q4_1,     DType::Q8_1,     q4_1_to_float,
                                 q4_1_from_float, q4_1_from_float, q4_1_dot};
    entry(table, DType::Q5_0) = {DType::Q5_0,     DType::Q8_0,     q5_0_to_float,
                                 q5_0_from_float, q5_0_from_float, q5_0_dot};
    entry(table, DType::Q5_1) = {DType::Q5_1,     DType::Q8_1,     q5_1_to_float,
                                 q5_1_from_float, q5_1_from_float, q5_1_dot};
    entry(table, DType::Q8_0) = {DType::Q8_0,     DType::Q8_0,         q8_to_float<BlockQ8_0>,
                                 q8_0_from_float, q8_0_from_float_ref, q8_0_dot};
    entry(table, DType::Q8_1) = {DType::Q8_1,     DType::Q8_1,         q8_to_float<BlockQ8_1>,
                                 q8_1_from_float, q8_1_from_float_ref, nullptr};
    entry(table, DType::IQ4_NL) = {DType::IQ4_NL,     DType::Q8_0,       iq4_nl_to_float,
                                   iq4_nl_from_float, iq4_nl_from_float, iq4_nl_dot};
}

}  // namespace pocket::kernels::scalar
