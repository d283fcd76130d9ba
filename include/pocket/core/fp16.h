// IEEE half (F16) and bfloat16 (BF16) conversions, bit-exact with the hardware instructions
// (F16C vcvtps2ph with round-to-nearest-even; BF16 rounding as ggml does it), in portable C++.
#pragma once

#include <bit>
#include <cstdint>

namespace pocket {

using f16_t = uint16_t;   // raw IEEE binary16 bits
using bf16_t = uint16_t;  // raw bfloat16 bits

constexpr float f16_to_f32(f16_t h) {
    const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
    const uint32_t exponent = (h >> 10) & 0x1fu;
    uint32_t mantissa = h & 0x3ffu;
    if (exponent == 0x1f) {  // inf, or nan made quiet as vcvtph2ps does
        return std::bit_cast<float>(sign | 0x7f800000u | (mantissa << 13) |
                                    (mantissa ? 0x400000u : 0u));
    }
    if (exponent == 0) {
        if (mantissa == 0) return std::bit_cast<float>(sign);
        // Subnormal half: normalise it into a float.
        int e = -1;
        do {
            ++e;
            mantissa <<= 1;
        } while ((mantissa & 0x400u) == 0);
        mantissa &= 0x3ffu;
        return std::bit_cast<float>(sign | static_cast<uint32_t>(127 - 15 - e) << 23 |
                                    mantissa << 13);
    }
    return std::bit_cast<float>(sign | (exponent + 127 - 15) << 23 | mantissa << 13);
}

constexpr f16_t f32_to_f16(float f) {
    const uint32_t x = std::bit_cast<uint32_t>(f);
    const uint32_t sign = (x >> 16) & 0x8000u;
    const uint32_t abs = x & 0x7fffffffu;
    if (abs >= 0x7f800000u) {  // inf or nan (nan keeps a set quiet bit)
        return static_cast<f16_t>(sign | 0x7c00u |
                                  (abs > 0x7f800000u ? 0x200u | ((abs >> 13) & 0x3ffu) : 0u));
    }
    if (abs >= 0x477ff000u) return static_cast<f16_t>(sign | 0x7c00u);  // rounds to inf
    if (abs < 0x38800000u) {
        // Result is subnormal (or zero): shift the full mantissa into place, round half to even.
        if (abs < 0x33000000u)
            return static_cast<f16_t>(sign);  // below half the smallest subnormal
        const uint32_t exp = abs >> 23;
        const uint32_t mant = (abs & 0x7fffffu) | 0x800000u;
        const uint32_t dropped_bits = 126 - exp;  // 13 mantissa bits plus the denormalising shift
        uint32_t value = mant >> dropped_bits;
        const uint32_t remainder = mant & ((1u << dropped_bits) - 1u);
        const uint32_t halfway = 1u << (dropped_bits - 1);
        if (remainder > halfway || (remainder == halfway && (value & 1u))) ++value;
        return static_cast<f16_t>(sign | value);
    }
    // Normal: rebias the exponent and round the 13 dropped mantissa bits half to even.
    uint32_t value = ((abs >> 13) - ((127u - 15u) << 10));
    const uint32_t remainder = abs & 0x1fffu;
    if (remainder > 0x1000u || (remainder == 0x1000u && (value & 1u))) ++value;
    return static_cast<f16_t>(sign | value);
}

constexpr float bf16_to_f32(bf16_t h) {
    return std::bit_cast<float>(static_cast<uint32_t>(h) << 16);
}

constexpr bf16_t f32_to_bf16(float f) {
    uint32_t x = std::bit_cast<uint32_t>(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<bf16_t>((x >> 16) | 64u);  // quiet nan
    return static_cast<bf16_t>((x + (0x7fffu + ((x >> 16) & 1u))) >> 16);
}

// Rounds a float through F16 and back (what storing into an F16 KV cache does to a value).
constexpr float round_to_f16(float f) {
    return f16_to_f32(f32_to_f16(f));
}

}  // namespace pocket
