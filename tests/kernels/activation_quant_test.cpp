// The activation quantizers (from_float of Q8_0, Q8_1, Q8_K) must match llama.cpp's x86 path bit
// for bit. The expected blocks are computed here straight from the formulas in shared/README.md
// ("What llama.cpp computes"), with std::nearbyint for round-half-to-even.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "kernel_test_util.h"
#include "kernels/blocks.h"
#include "kernels/kernels.h"
#include "pocket/core/fp16.h"

namespace pocket::kernels {
namespace {

using test_util::mixed_row;
using test_util::normal_row;

// Q8_0 per README: d = max|x|/127 stored as F16, q = x * (127/max|x|) rounded half to even.
// Q8_1: the same plus s = d * sum(q) as F16 (d before rounding to F16).
std::vector<BlockQ8_1> expected_q8_1(const std::vector<float>& x) {
    std::vector<BlockQ8_1> out(x.size() / 32);
    for (size_t b = 0; b < out.size(); ++b) {
        const float* xb = x.data() + 32 * b;
        float amax = 0.f;
        for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(xb[j]));
        const float d = amax / 127.f;
        const float id = amax == 0.f ? 0.f : 127.f / amax;
        int sum = 0;
        for (int j = 0; j < 32; ++j) {
            const float q = std::nearbyint(xb[j] * id);
            out[b].qs[j] = static_cast<int8_t>(q);
            sum += out[b].qs[j];
        }
        out[b].d = f32_to_f16(d);
        out[b].s = f32_to_f16(d * static_cast<float>(sum));
    }
    return out;
}

// Q8_K per README: m = the value of largest magnitude (sign kept), q = min(127,
// round-half-even(x * (-127/m))), d = 1/(-127/m) as F32, bsums = sums of each 16 q.
std::vector<BlockQ8_K> expected_q8_k(const std::vector<float>& x) {
    std::vector<BlockQ8_K> out(x.size() / 256);
    for (size_t b = 0; b < out.size(); ++b) {
        const float* xb = x.data() + 256 * b;
        float m = 0.f;
        for (int j = 0; j < 256; ++j) {
            if (std::fabs(xb[j]) > std::fabs(m)) m = xb[j];
        }
        BlockQ8_K& y = out[b];
        std::memset(&y, 0, sizeof y);
        if (m == 0.f) continue;
        const float iscale = -127.f / m;
        for (int j = 0; j < 256; ++j) {
            y.qs[j] = static_cast<int8_t>(std::min(127.f, std::nearbyint(xb[j] * iscale)));
        }
        for (int g = 0; g < 16; ++g) {
            int s = 0;
            for (int j = 0; j < 16; ++j) s += y.qs[16 * g + j];
            y.bsums[g] = static_cast<int16_t>(s);
        }
        y.d = 1.f / iscale;
    }
    return out;
}

void expect_q8_0_matches(const std::vector<float>& x) {
    const auto expected = expected_q8_1(x);
    std::vector<BlockQ8_0> actual(x.size() / 32);
    ops(DType::Q8_0, Isa::Scalar)
        .from_float(x.data(), actual.data(), static_cast<int64_t>(x.size()));
    for (size_t b = 0; b < actual.size(); ++b) {
        ASSERT_EQ(actual[b].d, expected[b].d) << "block " << b;
        ASSERT_EQ(std::memcmp(actual[b].qs, expected[b].qs, 32), 0) << "block " << b;
    }
}

void expect_q8_1_matches(const std::vector<float>& x) {
    const auto expected = expected_q8_1(x);
    std::vector<BlockQ8_1> actual(x.size() / 32);
    ops(DType::Q8_1, Isa::Scalar)
        .from_float(x.data(), actual.data(), static_cast<int64_t>(x.size()));
    ASSERT_EQ(std::memcmp(actual.data(), expected.data(), actual.size() * sizeof(BlockQ8_1)), 0);
}

void expect_q8_k_matches(const std::vector<float>& x) {
    const auto expected = expected_q8_k(x);
    std::vector<BlockQ8_K> actual(x.size() / 256);
    ops(DType::Q8_K, Isa::Scalar)
        .from_float(x.data(), actual.data(), static_cast<int64_t>(x.size()));
    for (size_t b = 0; b < actual.size(); ++b) {
        ASSERT_EQ(actual[b].d, expected[b].d) << "block " << b;
        ASSERT_EQ(std::memcmp(actual[b].qs, expected[b].qs, 256), 0) << "block " << b;
        ASSERT_EQ(std::memcmp(actual[b].bsums, expected[b].bsums, 32), 0) << "block " << b;
    }
}

TEST(ActivationQuant, Q8_0MatchesFormulaOnRandomRows) {
    for (uint32_t seed = 1; seed <= 20; ++seed) {
        expect_q8_0_matches(normal_row(32 * 24, seed));
        expect_q8_0_matches(mixed_row(32 * 24, seed + 100));
    }
}

TEST(ActivationQuant, Q8_1MatchesFormulaOnRandomRows) {
    for (uint32_t seed = 1; seed <= 20; ++seed) {
        expect_q8_1_matches(normal_row(32 * 24, seed));
        expect_q8_1_matches(mixed_row(32 * 24, seed + 100));
    }
}

TEST(ActivationQuant, Q8_KMatchesFormulaOnRandomRows) {
    for (uint32_t seed = 1; seed <= 20; ++seed) {
        expect_q8_k_matches(normal_row(256 * 3, seed));
        expect_q8_k_matches(mixed_row(256 * 3, seed + 100));
    }
}

// A block whose largest magnitude is 127 has inverse scale exactly 1, so x = k + 0.5 are exact
// ties: half-to-even must give the even neighbour, for both signs.
std::vector<float> tie_block() {
    std::vector<float> x(32, 0.f);
    const float values[] = {127.f, 0.5f,  1.5f,  2.5f,   3.5f,    -0.5f,
                            -1.5f, -2.5f, -3.5f, 126.5f, -125.5f, 4.f};
    std::copy(std::begin(values), std::end(values), x.begin());
    return x;
}
const int8_t kTieExpectedEven[] = {127, 0, 2, 2, 4, 0, -2, -2, -4, 126, -126, 4};
const int8_t kTieExpectedAway[] = {127, 1, 2, 3, 4, -1, -2, -3, -4, 127, -126, 4};

TEST(ActivationQuant, Q8_0RoundsExactTiesToEven) {
    const auto x = tie_block();
    BlockQ8_0 block{};
    ops(DType::Q8_0, Isa::Scalar).from_float(x.data(), &block, 32);
    EXPECT_EQ(f16_to_f32(block.d), 1.f);
    for (size_t i = 0; i < std::size(kTieExpectedEven); ++i)
        EXPECT_EQ(block.qs[i], kTieExpectedEven[i]) << i;
    expect_q8_0_matches(x);
    expect_q8_1_matches(x);
}

TEST(ActivationQuant, Q8_0FileQuantizerRoundsTiesAwayFromZero) {
    // llama.cpp's quantize_row_q8_0_ref (what llama-quantize writes) uses roundf.
    const auto x = tie_block();
    BlockQ8_0 block{};
    ops(DType::Q8_0, Isa::Scalar).from_float_ref(x.data(), &block, 32);
    for (size_t i = 0; i < std::size(kTieExpectedAway); ++i)
        EXPECT_EQ(block.qs[i], kTieExpectedAway[i]) << i;
}

TEST(ActivationQuant, Q8_1SumUsesUnroundedScale) {
    std::vector<float> x(32, 0.f);
    x[0] = 100.f;  // d = 100/127 is not an F16 value; s must use it before rounding
    x[5] = -31.f;
    x[20] = 7.f;
    BlockQ8_1 block{};
    ops(DType::Q8_1, Isa::Scalar).from_float(x.data(), &block, 32);
    int sum = 0;
    for (int8_t q : block.qs) sum += q;
    EXPECT_EQ(block.s, f32_to_f16(100.f / 127.f * static_cast<float>(sum)));
    EXPECT_EQ(block.d, f32_to_f16(100.f / 127.f));
}

TEST(ActivationQuant, Q8_KRoundsTiesToEvenAndKeepsTheSignOfTheMaximum) {
    // Largest magnitude -127: iscale = -127/-127 = 1, so q = round-half-even(x).
    std::vector<float> x(256, 0.f);
    const float values[] = {-127.f, 0.5f, 1.5f, 2.5f, -2.5f, 126.5f, 127.f};
    std::copy(std::begin(values), std::end(values), x.begin());
    BlockQ8_K block{};
    ops(DType::Q8_K, Isa::Scalar).from_float(x.data(), &block, 256);
    const int8_t expected[] = {-127, 0, 2, 2, -2, 126, 127};
    for (size_t i = 0; i < std::size(expected); ++i) EXPECT_EQ(block.qs[i], expected[i]) << i;
    EXPECT_EQ(block.d, 1.f);
    EXPECT_EQ(block.bsums[0], -127 + 0 + 2 + 2 - 2 + 126 + 127);

    // Largest magnitude +127 (first of the ties in magnitude wins): iscale = -1, and -(-127.x)
    // values are clamped to 127.
    x.assign(256, 0.f);
    const float flipped[] = {127.f, -127.f, 2.5f, 3.5f};
    std::copy(std::begin(flipped), std::end(flipped), x.begin());
    ops(DType::Q8_K, Isa::Scalar).from_float(x.data(), &block, 256);
    const int8_t expected_flipped[] = {-127, 127, -2, -4};
    for (size_t i = 0; i < std::size(expected_flipped); ++i)
        EXPECT_EQ(block.qs[i], expected_flipped[i]) << i;
    EXPECT_EQ(block.d, -1.f);
    expect_q8_k_matches(x);
}

TEST(ActivationQuant, AllZeroBlocksGiveZeroScaleAndQuants) {
    const std::vector<float> zeros(256, 0.f);
    std::vector<BlockQ8_0> q8_0(8);
    ops(DType::Q8_0, Isa::Scalar).from_float(zeros.data(), q8_0.data(), 256);
    for (const auto& b : q8_0) {
        EXPECT_EQ(b.d, 0);
        for (int8_t q : b.qs) EXPECT_EQ(q, 0);
    }
    BlockQ8_K q8_k;
    std::memset(&q8_k, 0x5a, sizeof q8_k);
    ops(DType::Q8_K, Isa::Scalar).from_float(zeros.data(), &q8_k, 256);
    EXPECT_EQ(q8_k.d, 0.f);
    for (int8_t q : q8_k.qs) EXPECT_EQ(q, 0);
    for (int16_t s : q8_k.bsums) EXPECT_EQ(s, 0);
}

}  // namespace
}  // namespace pocket::kernels
