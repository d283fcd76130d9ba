#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "model/ops.h"
#include "pocket/core/fp16.h"

namespace pocket::model {
namespace {

// The bits of gelu_reference, with every NaN counted as one value.
bool same_value(float a, float b) {
    if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
    return std::bit_cast<uint32_t>(a) == std::bit_cast<uint32_t>(b);
}

std::vector<float> probe_inputs() {
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
                             std::numeric_limits<float>::infinity(),
                             -std::numeric_limits<float>::infinity(),
                             std::numeric_limits<float>::quiet_NaN(),
                             std::numeric_limits<float>::denorm_min(),
                             6e-8f,
                             -3e-8f,
                             1e-5f};
    // Every F16 value, and floats just beside each (they round to it or to a neighbour).
    for (uint32_t h = 0; h < (1u << 16); ++h) {
        const float v = f16_to_f32(static_cast<f16_t>(h));
        xs.push_back(v);
        if (std::isfinite(v)) {
            xs.push_back(std::nextafter(v, std::numeric_limits<float>::infinity()));
            xs.push_back(std::nextafter(v, -std::numeric_limits<float>::infinity()));
        }
    }
    std::mt19937 rng(7);
    std::normal_distribution<float> normal(0.0f, 3.0f);
    for (int i = 0; i < 100000; ++i) xs.push_back(normal(rng));
    return xs;
}

TEST(Gelu, TableLookupEqualsTheFormulaOnEveryInputKind) {
    for (float x : probe_inputs()) {
        ASSERT_TRUE(same_value(ops::gelu(x), ops::gelu_reference(x))) << "x = " << x;
    }
}

TEST(Gelu, RowsMatchOneValueAtATime) {
    const std::vector<float> xs = probe_inputs();
    std::vector<float> up(xs.size());
    for (size_t i = 0; i < up.size(); ++i) up[i] = 0.25f + static_cast<float>(i % 7);
    std::vector<float> plain = xs, gated = xs;
    ops::gelu_rows(plain.data(), nullptr, static_cast<int64_t>(plain.size()));
    ops::gelu_rows(gated.data(), up.data(), static_cast<int64_t>(gated.size()));
    for (size_t i = 0; i < xs.size(); ++i) {
        const float g = ops::gelu_reference(xs[i]);
        ASSERT_TRUE(same_value(plain[i], g)) << "x = " << xs[i];
        ASSERT_TRUE(same_value(gated[i], g * up[i])) << "x = " << xs[i];
    }
}

}  // namespace
}  // namespace pocket::model
