// Small numeric helpers shared by the scalar quantizers and dot products.
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "pocket/core/fp16.h"

namespace pocket::kernels::scalar {

// Rounds to the nearest integer, ties to even, for |value| < 2^22: adding 1.5 * 2^23 moves the
// value into the binade where the float spacing is exactly 1, so the hardware's round-to-nearest
// does the rounding and the integer sits in the low mantissa bits. The weight quantizers must use
// this exact operation (not std::lround) to reproduce llama.cpp's files byte for byte.
inline int nearest_int(float value) {
    const float shifted = value + 12582912.f;
    return static_cast<int>(std::bit_cast<uint32_t>(shifted) & 0x007fffffu) - 0x00400000;
}

// Block scales below this are treated as an all-zero group (ggml's GROUP_MAX_EPS).
inline constexpr float kGroupMaxEps = 1e-15f;

inline float half(f16_t h) {
    return f16_to_f32(h);
}

// Unaligned little-endian 32-bit load/store (the 5th bits of Q5_0/Q5_1 live in a byte array).
inline uint32_t load_u32(const uint8_t* p) {
    uint32_t v;
    std::memcpy(&v, p, sizeof v);
    return v;
}
inline void store_u32(uint8_t* p, uint32_t v) {
    std::memcpy(p, &v, sizeof v);
}

// Index and value of the element of largest magnitude (the first one on ties), as the reference
// quantizers pick it: they keep the sign of that element.
struct SignedMax {
    float abs_max = 0.f;
    float value = 0.f;
};
inline SignedMax signed_max(const float* x, int n) {
    SignedMax m;
    for (int i = 0; i < n; ++i) {
        const float a = std::fabs(x[i]);
        if (a > m.abs_max) {
            m.abs_max = a;
            m.value = x[i];
        }
    }
    return m;
}

// llama.cpp's error weights under an importance matrix: importance[i] * sqrt(sigma2 + x[i]^2), so
// the columns that calibration text drives hardest are kept most exactly, and small values still
// count a little. sigma2 is twice the (super-)block's mean square for the K- and IQ4 types, the
// row's mean square for the 32-element legacy types.
inline void importance_weights(const float* x, const float* importance, int n, float sigma2,
                               float* weights) {
    for (int i = 0; i < n; ++i) weights[i] = importance[i] * std::sqrt(sigma2 + x[i] * x[i]);
}
inline float twice_mean_square(const float* x, int n) {
    float sum = 0;
    for (int i = 0; i < n; ++i) sum += x[i] * x[i];
    return 2 * sum / static_cast<float>(n);
}

}  // namespace pocket::kernels::scalar
