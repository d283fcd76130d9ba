// Helpers shared by the kernel tests: the list of types, random rows, byte buffers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "kernels/kernels.h"
#include "pocket/core/dtype.h"

namespace pocket::kernels::test_util {

// Every weight type with kernels (a vec_dot against its dot_type).
inline const std::vector<DType>& weight_types() {
    static const std::vector<DType> types = {DType::F32,  DType::F16,    DType::BF16,  DType::Q8_0,
                                             DType::Q4_0, DType::Q4_1,   DType::Q5_0,  DType::Q5_1,
                                             DType::Q2_K, DType::Q3_K,   DType::Q4_K,  DType::Q5_K,
                                             DType::Q6_K, DType::IQ4_NL, DType::IQ4_XS};
    return types;
}
// Weight types plus the activation-only formats.
inline std::vector<DType> all_types() {
    std::vector<DType> types = weight_types();
    types.push_back(DType::Q8_1);
    types.push_back(DType::Q8_K);
    return types;
}

inline std::string type_label(DType t) {
    return std::string(dtype_name(t));
}

inline std::vector<float> normal_row(int64_t n, uint32_t seed, float sigma = 1.f) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> dist(0.f, sigma);
    std::vector<float> v(static_cast<size_t>(n));
    for (auto& x : v) x = dist(rng);
    return v;
}

// A harder row: mixes scales across blocks, puts an outlier in some blocks, makes one 32-block
// all zero and one constant, and includes sign-skewed blocks (all positive / all negative).
inline std::vector<float> mixed_row(int64_t n, uint32_t seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(0.f, 1.f);
    std::vector<float> v(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
        const int64_t block = i / 32;
        const float scale = std::ldexp(1.f, static_cast<int>(block % 7) - 3);
        float x = normal(rng) * scale;
        if (block % 5 == 1) x = std::fabs(x);
        if (block % 5 == 2) x = -std::fabs(x);
        v[static_cast<size_t>(i)] = x;
    }
    for (int64_t i = 0; i < n; i += 97) v[static_cast<size_t>(i)] *= 9.f;  // outliers
    if (n >= 96) {
        for (int64_t i = 32; i < 64; ++i) v[static_cast<size_t>(i)] = 0.f;
        for (int64_t i = 64; i < 96; ++i) v[static_cast<size_t>(i)] = 0.375f;
    }
    return v;
}

inline size_t bytes_for(DType t, int64_t n) {
    return static_cast<size_t>(*row_bytes(t, static_cast<uint64_t>(n)));
}

inline std::vector<std::byte> quantize(const TypeOps& o, const std::vector<float>& x,
                                       bool reference = false) {
    std::vector<std::byte> out(bytes_for(o.type, static_cast<int64_t>(x.size())));
    (reference ? o.from_float_ref : o.from_float)(x.data(), out.data(),
                                                  static_cast<int64_t>(x.size()));
    return out;
}

inline std::vector<float> dequantize(const TypeOps& o, const std::vector<std::byte>& q, int64_t n) {
    std::vector<float> out(static_cast<size_t>(n));
    o.to_float(q.data(), out.data(), n);
    return out;
}

}  // namespace pocket::kernels::test_util
