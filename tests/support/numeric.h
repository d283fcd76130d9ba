// Small numeric helpers the kernel and model tests share: seeded random inputs and the ways
// results are compared (bit for bit, or by the largest absolute difference).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <span>
#include <vector>

#include "pocket/core/fp16.h"

namespace pocket::test {

// n normally distributed floats (mean 0), the same for the same seed on every machine.
inline std::vector<float> random_floats(size_t n, uint32_t seed, float sigma = 1.0f) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> dist(0.0f, sigma);
    std::vector<float> v(n);
    for (auto& x : v) x = dist(rng);
    return v;
}

// random_floats rounded to half precision.
inline std::vector<f16_t> random_f16(size_t n, uint32_t seed, float sigma = 1.0f) {
    const auto f = random_floats(n, seed, sigma);
    std::vector<f16_t> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = f32_to_f16(f[i]);
    return v;
}

// An owned copy of logits or other results that the next call overwrites.
inline std::vector<float> copy_of(std::span<const float> s) {
    return {s.begin(), s.end()};
}

inline double max_abs_diff(std::span<const float> a, std::span<const float> b) {
    double m = 0.0;
    for (size_t i = 0; i < std::min(a.size(), b.size()); ++i)
        m = std::max(m, static_cast<double>(std::abs(a[i] - b[i])));
    return m;
}

// Same length and the same bit patterns (so -0/+0 and NaN payloads count as differences).
inline bool bit_equal(std::span<const float> a, std::span<const float> b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// As bit_equal, but names the first index that differs.
inline void expect_bits_equal(std::span<const float> got, std::span<const float> want,
                              const char* what) {
    ASSERT_EQ(got.size(), want.size()) << what;
    for (size_t i = 0; i < got.size(); ++i) {
        ASSERT_EQ(std::bit_cast<uint32_t>(got[i]), std::bit_cast<uint32_t>(want[i]))
            << what << " differs at " << i << ": " << got[i] << " vs " << want[i];
    }
}

}  // namespace pocket::test
