// GELU as ggml evaluates it (kernels/attention.h): the table lookup against the formula, and every
// table's gelu_mul bit-identical to the scalar one.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "kernels/attention.h"
#include "kernels/kernels.h"
#include "pocket/core/fp16.h"

namespace pocket::kernels {
namespace {

// The same value, every NaN counted as one.
bool same_value(float a, float b) {
    if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
    return std::bit_cast<uint32_t>(a) == std::bit_cast<uint32_t>(b);
}

std::vector<float> probe_inputs() {
    constexpr float kInf = std::numeric_limits<float>::infinity();
    std::vector<float> xs = {0.0f,
                             -0.0f,
                             1.0f,
                             -1.0f,
                             9.999f,
                             -9.999f,
                             10.0f,
                             -10.0f,
                             10.001f,
                             -10.001f,
                             65504.0f,
                             1e30f,
                             -1e30f,
                             kInf,
                             -kInf,
                             std::numeric_limits<float>::quiet_NaN(),
                             std::numeric_limits<float>::denorm_min(),
                             6e-8f,
                             -3e-8f,
                             1e-5f};
    // Every F16 value, and the floats just beside each (they round to it or to a neighbour).
    for (uint32_t h = 0; h < (1u << 16); ++h) {
        const float v = f16_to_f32(static_cast<f16_t>(h));
        xs.push_back(v);
        if (std::isfinite(v)) {
            xs.push_back(std::nextafter(v, kInf));
            xs.push_back(std::nextafter(v, -kInf));
        }
    }
    std::mt19937 rng(7);
    std::normal_distribution<float> normal(0.0f, 3.0f);
    for (int i = 0; i < 100000; ++i) xs.push_back(normal(rng));
    return xs;
}

TEST(Gelu, TableLookupEqualsTheFormulaOnEveryInputKind) {
    for (float x : probe_inputs()) {
        ASSERT_TRUE(same_value(reference::gelu(x), reference::gelu_formula(x))) << "x = " << x;
    }
}

TEST(Gelu, EveryTableMatchesTheFormulaWithAndWithoutUp) {
    const std::vector<float> xs = probe_inputs();
    std::vector<float> up(xs.size());
    for (size_t i = 0; i < up.size(); ++i) up[i] = 0.25f + static_cast<float>(i % 7);
    for (Isa isa : kAllIsas) {
        if (!isa_supported(isa)) continue;
        SCOPED_TRACE(isa_name(isa));
        // Lengths that leave every tail; the probes in one long row.
        for (size_t n : {size_t{1}, size_t{7}, size_t{8}, size_t{9}, size_t{23}, xs.size()}) {
            std::vector<float> plain(xs.begin(), xs.begin() + static_cast<std::ptrdiff_t>(n));
            std::vector<float> gated = plain;
            attention_ops(isa).gelu_mul(plain.data(), nullptr, static_cast<int64_t>(n));
            attention_ops(isa).gelu_mul(gated.data(), up.data(), static_cast<int64_t>(n));
            for (size_t i = 0; i < n; ++i) {
                const float g = reference::gelu_formula(xs[i]);
                ASSERT_TRUE(same_value(plain[i], g)) << "x = " << xs[i] << " n " << n;
                ASSERT_TRUE(same_value(gated[i], g * up[i])) << "x = " << xs[i] << " n " << n;
            }
        }
    }
}

}  // namespace
}  // namespace pocket::kernels
