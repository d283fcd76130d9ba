// pocket/core/fp16.h against the hardware: F16 conversions must equal the F16C instructions
// (vcvtph2ps, vcvtps2ph with round-to-nearest-even) bit for bit, exhaustively for halves and on a
// dense sample plus every rounding boundary for floats. BF16 is checked against an independent
// formulation (nearest candidate by exact double arithmetic, ties to even).
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "pocket/core/fp16.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define POCKET_HAVE_X86 1
#endif

namespace pocket {
namespace {

#ifdef POCKET_HAVE_X86
__attribute__((target("f16c"))) float hw_f16_to_f32(uint16_t h) {
    return _cvtsh_ss(h);
}
__attribute__((target("f16c"))) uint16_t hw_f32_to_f16(float f) {
    return static_cast<uint16_t>(_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT));
}
bool cpu_has_f16c() {
    return __builtin_cpu_supports("f16c");
}
#else
float hw_f16_to_f32(uint16_t) {
    return 0.f;
}
uint16_t hw_f32_to_f16(float) {
    return 0;
}
bool cpu_has_f16c() {
    return false;
}
#endif

uint32_t bits(float f) {
    return std::bit_cast<uint32_t>(f);
}
float from_bits(uint32_t b) {
    return std::bit_cast<float>(b);
}

class Fp16VsF16c : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!cpu_has_f16c()) GTEST_SKIP() << "CPU lacks F16C";
    }
    static void expect_same(float f) {
        ASSERT_EQ(f32_to_f16(f), hw_f32_to_f16(f)) << "float bits 0x" << std::hex << bits(f);
    }
};

TEST_F(Fp16VsF16c, AllHalvesToFloat) {
    for (uint32_t h = 0; h <= 0xffff; ++h) {
        const auto half = static_cast<f16_t>(h);
        ASSERT_EQ(bits(f16_to_f32(half)), bits(hw_f16_to_f32(half))) << "half 0x" << std::hex << h;
    }
}

TEST_F(Fp16VsF16c, AllHalvesRoundTrip) {
    for (uint32_t h = 0; h <= 0xffff; ++h) {
        const auto half = static_cast<f16_t>(h);
        expect_same(f16_to_f32(half));
        if ((h & 0x7c00) != 0x7c00) {  // finite halves come back exactly
            ASSERT_EQ(f32_to_f16(f16_to_f32(half)), half);
        }
    }
}

TEST_F(Fp16VsF16c, FloatsOnAStride) {
    // ~1M float bit patterns spread over the whole range (both signs, nan and inf included).
    for (uint64_t b = 0; b <= 0xffffffffull; b += 4093)
        expect_same(from_bits(static_cast<uint32_t>(b)));
}

TEST_F(Fp16VsF16c, EveryRoundingBoundary) {
    // For each pair of adjacent finite halves: the exact midpoint (a tie), and the floats just
    // below and above it. Covers the subnormal range, the normal/subnormal border and overflow
    // (the midpoint above 65504 is 65520, which rounds to infinity).
    for (uint32_t h = 0; h < 0x7c00; ++h) {
        const double lo = f16_to_f32(static_cast<f16_t>(h));
        const double hi = h + 1 == 0x7c00 ? 65536.0 : double(f16_to_f32(static_cast<f16_t>(h + 1)));
        const float mid = static_cast<float>((lo + hi) / 2);
        ASSERT_EQ(double(mid), (lo + hi) / 2);  // representable exactly
        for (float f : {mid, std::nextafter(mid, 0.f), std::nextafter(mid, 1e30f)}) {
            expect_same(f);
            expect_same(-f);
        }
    }
}

TEST_F(Fp16VsF16c, SpecialValues) {
    const float specials[] = {0.f,
                              -0.f,
                              std::numeric_limits<float>::infinity(),
                              -std::numeric_limits<float>::infinity(),
                              std::numeric_limits<float>::quiet_NaN(),
                              from_bits(0x7f800001u),  // signalling nan
                              from_bits(0xffc12345u),  // negative nan with payload
                              std::numeric_limits<float>::denorm_min(),
                              std::numeric_limits<float>::max(),
                              65504.f,
                              65519.996f,
                              65520.f,
                              5.9604645e-8f,   // 2^-24, smallest half subnormal
                              2.9802322e-8f,   // 2^-25, tie between 0 and it -> 0
                              2.9802326e-8f,   // just above -> smallest subnormal
                              8.940697e-8f,    // 1.5 * 2^-24: tie -> 2 * 2^-24 (even)
                              6.097555e-5f,    // just below the smallest normal half
                              6.1035156e-5f};  // 2^-14, smallest normal half
    for (float f : specials) {
        expect_same(f);
        expect_same(-f);
    }
    EXPECT_EQ(f32_to_f16(65520.f), 0x7c00);
    EXPECT_EQ(f32_to_f16(2.9802322e-8f), 0x0000);
    EXPECT_EQ(f32_to_f16(8.940697e-8f), 0x0002);
}

// BF16 by a different route: the two candidates around |x| are its truncation t and t + 1 ulp;
// take the nearer one measured exactly in double, the even one on a tie. NaN becomes a quiet NaN
// with the top payload bits kept.
uint16_t expected_bf16(float x) {
    const uint32_t b = bits(x);
    if (std::isnan(x)) return static_cast<uint16_t>((b >> 16) | 0x40u);
    const uint32_t sign = b & 0x80000000u;
    const uint32_t t = (b & 0x7fffffffu) >> 16;
    const double ax = std::fabs(double(x));
    const double lo = std::fabs(double(from_bits(t << 16)));
    const uint32_t up = t + 1;
    const double hi = up == 0x7f80u ? std::ldexp(1.0, 128) : std::fabs(double(from_bits(up << 16)));
    uint32_t pick = t;
    if (std::isinf(x)) {
        pick = t;
    } else if (ax - lo > hi - ax || (ax - lo == hi - ax && (t & 1u))) {
        pick = up;
    }
    return static_cast<uint16_t>((sign >> 16) | pick);
}

TEST(Bf16, ToFloatIsTheUpperHalf) {
    for (uint32_t h = 0; h <= 0xffff; ++h) {
        ASSERT_EQ(bits(bf16_to_f32(static_cast<bf16_t>(h))), h << 16);
    }
}

TEST(Bf16, FromFloatOnAStrideAndAtEveryTie) {
    for (uint64_t b = 0; b <= 0xffffffffull; b += 4093) {
        const float f = from_bits(static_cast<uint32_t>(b));
        ASSERT_EQ(f32_to_bf16(f), expected_bf16(f)) << std::hex << b;
    }
    for (uint32_t t = 0; t < 0x10000; ++t) {
        for (uint32_t low : {0x7fffu, 0x8000u, 0x8001u, 0x0000u, 0xffffu}) {
            const float f = from_bits((t << 16) | low);
            ASSERT_EQ(f32_to_bf16(f), expected_bf16(f)) << std::hex << ((t << 16) | low);
        }
    }
    EXPECT_EQ(f32_to_bf16(from_bits(0x3f808000u)), 0x3f80);  // tie, even stays
    EXPECT_EQ(f32_to_bf16(from_bits(0x3f818000u)), 0x3f82);  // tie, odd rounds up
    EXPECT_EQ(f32_to_bf16(std::numeric_limits<float>::max()), 0x7f80);
}

}  // namespace
}  // namespace pocket
