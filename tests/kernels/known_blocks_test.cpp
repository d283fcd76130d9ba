// Dequantization of hand-built blocks. Each test chooses the logical contents (scales, minimums,
// levels), packs them with a bit writer that follows the layout description in ggml's
// ggml-common.h (restated per test), and expects x = f(scale, level) exactly: the scales are small
// powers of two, so every product is exact in float.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "kernels/blocks.h"
#include "kernels/kernels.h"
#include "pocket/core/fp16.h"

namespace pocket::kernels {
namespace {

// Writes `bits` bits of `value` at bit offset `at` (bit 0 = least significant bit of byte 0).
void put_bits(uint8_t* bytes, int at, int bits, unsigned value) {
    for (int i = 0; i < bits; ++i) {
        const int bit = at + i;
        if ((value >> i) & 1u) bytes[bit / 8] |= static_cast<uint8_t>(1u << (bit % 8));
    }
}

// Deterministic pseudo-random levels in [0, 2^bits).
std::vector<unsigned> levels(int count, int bits, unsigned seed) {
    std::vector<unsigned> v(static_cast<size_t>(count));
    unsigned s = seed;
    for (auto& x : v) {
        s = s * 1103515245u + 12345u;
        x = (s >> 16) & ((1u << bits) - 1u);
    }
    return v;
}

template <typename Block>
std::vector<float> dequantize_block(DType t, const Block& b, int n) {
    std::vector<float> out(static_cast<size_t>(n));
    ops(t, Isa::Scalar).to_float(&b, out.data(), n);
    return out;
}

// Legacy nibble layout: element j < 16 in the low nibble of qs[j], element j >= 16 in the high
// nibble of qs[j - 16].
void put_nibble(uint8_t* qs, int j, unsigned value) {
    put_bits(qs, j < 16 ? 8 * j : 8 * (j - 16) + 4, 4, value);
}

TEST(KnownBlocks, Q4_0) {
    BlockQ4_0 b{};
    b.d = f32_to_f16(0.25f);
    const auto q = levels(32, 4, 1);
    for (int j = 0; j < 32; ++j) put_nibble(b.qs, j, q[j]);
    const auto y = dequantize_block(DType::Q4_0, b, 32);
    for (int j = 0; j < 32; ++j) EXPECT_EQ(y[j], 0.25f * (static_cast<int>(q[j]) - 8)) << j;
}

TEST(KnownBlocks, Q4_1) {
    BlockQ4_1 b{};
    b.d = f32_to_f16(0.5f);
    b.m = f32_to_f16(-3.f);
    const auto q = levels(32, 4, 2);
    for (int j = 0; j < 32; ++j) put_nibble(b.qs, j, q[j]);
    const auto y = dequantize_block(DType::Q4_1, b, 32);
    for (int j = 0; j < 32; ++j) EXPECT_EQ(y[j], 0.5f * static_cast<float>(q[j]) - 3.f) << j;
}

TEST(KnownBlocks, Q5_0AndQ5_1) {
    // Bit 4 of element j is bit j of the little-endian 32-bit qh.
    const auto q = levels(32, 5, 3);
    BlockQ5_0 b0{};
    BlockQ5_1 b1{};
    b0.d = f32_to_f16(0.125f);
    b1.d = f32_to_f16(2.f);
    b1.m = f32_to_f16(1.5f);
    for (int j = 0; j < 32; ++j) {
        put_nibble(b0.qs, j, q[j] & 15u);
        put_nibble(b1.qs, j, q[j] & 15u);
        put_bits(b0.qh, j, 1, q[j] >> 4);
        put_bits(b1.qh, j, 1, q[j] >> 4);
    }
    const auto y0 = dequantize_block(DType::Q5_0, b0, 32);
    const auto y1 = dequantize_block(DType::Q5_1, b1, 32);
    for (int j = 0; j < 32; ++j) {
        EXPECT_EQ(y0[j], 0.125f * (static_cast<int>(q[j]) - 16)) << j;
        EXPECT_EQ(y1[j], 2.f * static_cast<float>(q[j]) + 1.5f) << j;
    }
}

TEST(KnownBlocks, Q8_0Q8_1Q8_K) {
    BlockQ8_0 a{};
    BlockQ8_1 b{};
    BlockQ8_K k{};
    a.d = f32_to_f16(0.5f);
    b.d = f32_to_f16(0.25f);
    k.d = 0.125f;
    for (int j = 0; j < 32; ++j) a.qs[j] = b.qs[j] = static_cast<int8_t>(j * 8 - 128);
    for (int j = 0; j < 256; ++j) k.qs[j] = static_cast<int8_t>(j - 128);
    const auto ya = dequantize_block(DType::Q8_0, a, 32);
    const auto yb = dequantize_block(DType::Q8_1, b, 32);
    const auto yk = dequantize_block(DType::Q8_K, k, 256);
    for (int j = 0; j < 32; ++j) {
        EXPECT_EQ(ya[j], 0.5f * (j * 8 - 128));
        EXPECT_EQ(yb[j], 0.25f * (j * 8 - 128));
    }
    for (int j = 0; j < 256; ++j) EXPECT_EQ(yk[j], 0.125f * (j - 128));
}

TEST(KnownBlocks, IQ4_NL) {
    // The 16 levels as published with the format (ggml's kvalues_iq4nl).
    const int table[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                           1,    13,   25,  38,  53,  69,  89,  113};
    BlockIQ4_NL b{};
    b.d = f32_to_f16(0.0625f);
    const auto q = levels(32, 4, 4);
    for (int j = 0; j < 32; ++j) put_nibble(b.qs, j, q[j]);
    const auto y = dequantize_block(DType::IQ4_NL, b, 32);
    for (int j = 0; j < 32; ++j) EXPECT_EQ(y[j], 0.0625f * table[q[j]]) << j;
}

// K formats, 2-bit fields (Q2_K, low bits of Q3_K): in each 128-element half, element w of the
// half sits in byte w % 32 of the half's 32 bytes, at bit 2 * (w / 32).
void put_2bit(uint8_t* qs, int i, unsigned value) {
    const int half = i / 128, w = i % 128;
    put_bits(qs, 8 * (32 * half + w % 32) + 2 * (w / 32), 2, value);
}

TEST(KnownBlocks, Q2_K) {
    BlockQ2_K b{};
    b.d = f32_to_f16(0.5f);
    b.dmin = f32_to_f16(0.25f);
    const auto sc = levels(16, 4, 5);
    const auto mn = levels(16, 4, 6);
    const auto q = levels(256, 2, 7);
    for (int g = 0; g < 16; ++g) b.scales[g] = static_cast<uint8_t>(sc[g] | (mn[g] << 4));
    for (int i = 0; i < 256; ++i) put_2bit(b.qs, i, q[i]);
    const auto y = dequantize_block(DType::Q2_K, b, 256);
    for (int i = 0; i < 256; ++i) {
        EXPECT_EQ(y[i], 0.5f * sc[i / 16] * q[i] - 0.25f * mn[i / 16]) << i;
    }
}

TEST(KnownBlocks, Q3_K) {
    // Level q in [-4, 3] stored as q + 4: low 2 bits as Q2_K, bit 2 in hmask bit (i / 32) of byte
    // i % 32. Scale s in [-32, 31] stored as s + 32 in 6 bits: low nibble of scales[g] (g < 8) or
    // high nibble of scales[g - 8]; top 2 bits in scales[8 + g % 4] at bit 2 * (g / 4).
    BlockQ3_K b{};
    b.d = f32_to_f16(0.25f);
    const auto s = levels(16, 6, 8);
    const auto q = levels(256, 3, 9);
    for (int g = 0; g < 16; ++g) {
        put_bits(b.scales, g < 8 ? 8 * g : 8 * (g - 8) + 4, 4, s[g] & 15u);
        put_bits(b.scales, 8 * (8 + g % 4) + 2 * (g / 4), 2, s[g] >> 4);
    }
    for (int i = 0; i < 256; ++i) {
        put_2bit(b.qs, i, q[i] & 3u);
        put_bits(b.hmask, 8 * (i % 32) + i / 32, 1, q[i] >> 2);
    }
    const auto y = dequantize_block(DType::Q3_K, b, 256);
    for (int i = 0; i < 256; ++i) {
        const int scale = static_cast<int>(s[i / 16]) - 32;
        const int level = static_cast<int>(q[i]) - 4;
        EXPECT_EQ(y[i], 0.25f * scale * level) << i;
    }
}

// Q4_K/Q5_K 6-bit scale sc and min mn of group g (8 groups of 32): g < 4: bits 0-5 of bytes g
// (sc) and g + 4 (mn); g >= 4: low nibbles in byte g + 4 (sc low, mn high nibble), top 2 bits in
// bits 6-7 of byte g - 4 (sc) and byte g (mn).
void put_k4_scales(uint8_t* scales, const std::vector<unsigned>& sc,
                   const std::vector<unsigned>& mn) {
    for (int g = 0; g < 8; ++g) {
        if (g < 4) {
            put_bits(scales, 8 * g, 6, sc[g]);
            put_bits(scales, 8 * (g + 4), 6, mn[g]);
        } else {
            put_bits(scales, 8 * (g + 4), 4, sc[g] & 15u);
            put_bits(scales, 8 * (g + 4) + 4, 4, mn[g] & 15u);
            put_bits(scales, 8 * (g - 4) + 6, 2, sc[g] >> 4);
            put_bits(scales, 8 * g + 6, 2, mn[g] >> 4);
        }
    }
}
// Q4_K/Q5_K low nibbles: element i of chunk c = i / 64 at byte 32c + (i % 64) % 32, high nibble
// for the second 32 of the chunk.
void put_k4_nibble(uint8_t* qs, int i, unsigned value) {
    const int c = i / 64, w = i % 64;
    put_bits(qs, 8 * (32 * c + w % 32) + 4 * (w / 32), 4, value);
}

TEST(KnownBlocks, Q4_K) {
    BlockQ4_K b{};
    b.d = f32_to_f16(0.125f);
    b.dmin = f32_to_f16(0.5f);
    const auto sc = levels(8, 6, 10);
    const auto mn = levels(8, 6, 11);
    const auto q = levels(256, 4, 12);
    put_k4_scales(b.scales, sc, mn);
    for (int i = 0; i < 256; ++i) put_k4_nibble(b.qs, i, q[i]);
    const auto y = dequantize_block(DType::Q4_K, b, 256);
    for (int i = 0; i < 256; ++i)
        EXPECT_EQ(y[i], 0.125f * sc[i / 32] * q[i] - 0.5f * mn[i / 32]) << i;
}

TEST(KnownBlocks, Q5_K) {
    // Bit 4 of element i (chunk c = i / 64, w = i % 64) is bit 2c + w / 32 of qh[w % 32].
    BlockQ5_K b{};
    b.d = f32_to_f16(0.25f);
    b.dmin = f32_to_f16(1.f);
    const auto sc = levels(8, 6, 13);
    const auto mn = levels(8, 6, 14);
    const auto q = levels(256, 5, 15);
    put_k4_scales(b.scales, sc, mn);
    for (int i = 0; i < 256; ++i) {
        put_k4_nibble(b.qs, i, q[i] & 15u);
        const int c = i / 64, w = i % 64;
        put_bits(b.qh, 8 * (w % 32) + 2 * c + w / 32, 1, q[i] >> 4);
    }
    const auto y = dequantize_block(DType::Q5_K, b, 256);
    for (int i = 0; i < 256; ++i)
        EXPECT_EQ(y[i], 0.25f * sc[i / 32] * q[i] - 1.f * mn[i / 32]) << i;
}

TEST(KnownBlocks, Q6_K) {
    // Level q in [0, 63], value d * scale[i / 16] * (q - 32). In each half h of 128 elements,
    // element w: low nibble in ql[64h + w % 64] (high nibble when w >= 64), top 2 bits in
    // qh[32h + w % 32] at bit 2 * (w / 32).
    BlockQ6_K b{};
    b.d = f32_to_f16(0.03125f);
    const auto q = levels(256, 6, 16);
    const auto raw_scales = levels(16, 8, 17);
    for (int g = 0; g < 16; ++g)
        b.scales[g] = static_cast<int8_t>(static_cast<int>(raw_scales[g]) - 128);
    for (int i = 0; i < 256; ++i) {
        const int h = i / 128, w = i % 128;
        put_bits(b.ql, 8 * (64 * h + w % 64) + 4 * (w / 64), 4, q[i] & 15u);
        put_bits(b.qh, 8 * (32 * h + w % 32) + 2 * (w / 32), 2, q[i] >> 4);
    }
    const auto y = dequantize_block(DType::Q6_K, b, 256);
    for (int i = 0; i < 256; ++i) {
        EXPECT_EQ(y[i], 0.03125f * b.scales[i / 16] * (static_cast<int>(q[i]) - 32)) << i;
    }
}

TEST(KnownBlocks, F16AndBF16) {
    const f16_t halves[] = {0x3c00, 0xc000, 0x0001, 0x7bff,
                            0x8000};  // 1, -2, min subnormal, max, -0
    const float expected_h[] = {1.f, -2.f, 5.9604644775390625e-8f, 65504.f, -0.f};
    float y[5];
    ops(DType::F16, Isa::Scalar).to_float(halves, y, 5);
    for (int i = 0; i < 5; ++i) EXPECT_EQ(y[i], expected_h[i]) << i;
    const bf16_t brains[] = {0x3f80, 0xc040, 0x4780};  // 1, -3, 65536
    const float expected_b[] = {1.f, -3.f, 65536.f};
    ops(DType::BF16, Isa::Scalar).to_float(brains, y, 3);
    for (int i = 0; i < 3; ++i) EXPECT_EQ(y[i], expected_b[i]) << i;
}

}  // namespace
}  // namespace pocket::kernels
