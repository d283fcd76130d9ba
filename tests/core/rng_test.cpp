#include "pocket/core/rng.h"

#include <cmath>
#include <concepts>
#include <random>

#include <gtest/gtest.h>

namespace pocket {
namespace {

static_assert(std::uniform_random_bit_generator<Rng>);

// Published reference outputs of splitmix64 started from state 0.
TEST(Rng, SplitMix64MatchesReferenceVector) {
    SplitMix64 mix(0);
    EXPECT_EQ(mix.next(), 0xe220a8397b1dcdafULL);
    EXPECT_EQ(mix.next(), 0x6e789e6aa1b965f4ULL);
    EXPECT_EQ(mix.next(), 0x06c45d188009454fULL);
    EXPECT_EQ(mix.next(), 0xf88bb8a8724c81ecULL);
}

// Reference outputs of xoshiro256** from state {1, 2, 3, 4} (the vector the rand_xoshiro crate
// tests against; recomputed independently from the algorithm's definition).
TEST(Rng, Xoshiro256StarStarMatchesReferenceVector) {
    Rng rng = Rng::from_state({1, 2, 3, 4});
    const uint64_t expected[] = {11520ULL,
                                 0ULL,
                                 1509978240ULL,
                                 1215971899390074240ULL,
                                 1216172134540287360ULL,
                                 607988272756665600ULL,
                                 16172922978634559625ULL,
                                 8476171486693032832ULL,
                                 10595114339597558777ULL,
                                 2904607092377533576ULL};
    for (uint64_t want : expected) EXPECT_EQ(rng.next_u64(), want);
}

// Seeding = four splitmix64 outputs as the state; these values were computed independently
// (Python, from the two algorithms' definitions) for seed 42.
TEST(Rng, SeedExpandsThroughSplitMix64) {
    Rng rng(42);
    EXPECT_EQ(rng.next_u64(), 0x15780b2e0c2ec716ULL);
    EXPECT_EQ(rng.next_u64(), 0x6104d9866d113a7eULL);
    EXPECT_EQ(rng.next_u64(), 0xae17533239e499a1ULL);
    EXPECT_EQ(rng.next_u64(), 0xecb8ad4703b360a1ULL);
    EXPECT_EQ(rng.next_u64(), 0xfde6dc7fe2ec5e64ULL);
}

TEST(Rng, SameSeedSameSequenceAndReseedRestarts) {
    Rng a(7), b(7), c(8);
    bool any_difference = false;
    for (int i = 0; i < 100; ++i) {
        const uint64_t x = a.next_u64();
        EXPECT_EQ(x, b.next_u64());
        any_difference |= x != c.next_u64();
    }
    EXPECT_TRUE(any_difference);
    a.seed(7);
    Rng fresh(7);
    for (int i = 0; i < 10; ++i) EXPECT_EQ(a.next_u64(), fresh.next_u64());
}

TEST(Rng, Uniform01UsesTop53Bits) {
    Rng a(123), b(123);
    for (int i = 0; i < 1000; ++i) {
        const double u = a.uniform01();
        const uint64_t bits = b.next_u64() >> 11;
        EXPECT_EQ(u, std::ldexp(static_cast<double>(bits), -53));
        EXPECT_GE(u, 0.0);
        EXPECT_LT(u, 1.0);
    }
}

// Ten equal bins over 100000 draws: chi-square with 9 degrees of freedom stays below 27.88
// (p = 0.001); deterministic because the seed is fixed.
TEST(Rng, Uniform01IsUniform) {
    Rng rng(2024);
    constexpr int kBins = 10, kDraws = 100000;
    int counts[kBins] = {};
    double sum = 0.0;
    for (int i = 0; i < kDraws; ++i) {
        const double u = rng.uniform01();
        sum += u;
        ++counts[static_cast<int>(u * kBins)];
    }
    const double expected = static_cast<double>(kDraws) / kBins;
    double chi2 = 0.0;
    for (int c : counts) chi2 += (c - expected) * (c - expected) / expected;
    EXPECT_LT(chi2, 27.88);
    EXPECT_NEAR(sum / kDraws, 0.5, 0.005);
}

}  // namespace
}  // namespace pocket
