// The SIMD tables of the training kernels against the scalar reference (kernels/train_kernels.h),
// on lengths that exercise every tail (not multiples of 8 or 16) and row strides wider than rows.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "kernels/train_kernels.h"
#include "pocket/core/rng.h"

namespace pocket::kernels {
namespace {

std::vector<float> random_vector(Rng& rng, size_t n) {
    std::vector<float> v(n);
    for (float& x : v) x = static_cast<float>(2.0 * rng.uniform01() - 1.0);
    return v;
}

// Float sums of n products of values in [-1, 1]: a few ulps of sqrt(n) per partial sum.
double tolerance(int64_t n) {
    return 1e-5 * std::sqrt(static_cast<double>(n)) + 1e-6;
}

class TrainKernels : public ::testing::TestWithParam<Isa> {};

TEST_P(TrainKernels, MatchScalar) {
    const Isa isa = GetParam();
    if (!isa_supported(isa)) GTEST_SKIP() << "CPU lacks " << isa_name(isa);
    const TrainOps& ref = train_ops(Isa::Scalar);
    const TrainOps& simd = train_ops(isa);
    Rng rng(9);
    for (int64_t n : {1, 3, 7, 8, 15, 16, 17, 31, 33, 64, 100, 577}) {
        const int64_t stride = n + 5;
        auto x = random_vector(rng, n), w = random_vector(rng, 4 * stride),
             y = random_vector(rng, n);
        EXPECT_NEAR(simd.dot(x.data(), w.data(), n), ref.dot(x.data(), w.data(), n), tolerance(n))
            << n;
        float a[4], b[4];
        simd.dot4(x.data(), w.data(), stride, n, a);
        ref.dot4(x.data(), w.data(), stride, n, b);
        for (int j = 0; j < 4; ++j) EXPECT_NEAR(a[j], b[j], tolerance(n)) << n << " row " << j;

        std::vector<float> y1 = y, y2 = y;
        simd.axpy(0.37f, x.data(), y1.data(), n);
        ref.axpy(0.37f, x.data(), y2.data(), n);
        for (int64_t i = 0; i < n; ++i) EXPECT_NEAR(y1[i], y2[i], 1e-6) << n;
        const float coef[4] = {0.5f, -1.25f, 2.0f, 0.125f};
        y1 = y, y2 = y;
        simd.axpy4(coef, w.data(), stride, y1.data(), n);
        ref.axpy4(coef, w.data(), stride, y2.data(), n);
        for (int64_t i = 0; i < n; ++i) EXPECT_NEAR(y1[i], y2[i], 2e-6) << n;
        // Values past n are never touched (the masked tails).
    }
}

TEST_P(TrainKernels, LeaveValuesPastTheEndAlone) {
    const Isa isa = GetParam();
    if (!isa_supported(isa)) GTEST_SKIP() << "CPU lacks " << isa_name(isa);
    const TrainOps& simd = train_ops(isa);
    Rng rng(4);
    const int64_t n = 21;
    auto x = random_vector(rng, 4 * n);
    std::vector<float> y(n + 11, 7.0f);
    simd.axpy(1.0f, x.data(), y.data(), n);
    const float coef[4] = {1, 1, 1, 1};
    simd.axpy4(coef, x.data(), n, y.data(), n);
    for (int64_t i = n; i < n + 11; ++i) EXPECT_EQ(y[i], 7.0f);
}

INSTANTIATE_TEST_SUITE_P(Isas, TrainKernels, ::testing::Values(Isa::Avx2, Isa::Avx512, Isa::Neon),
                         [](const auto& info) { return std::string(isa_name(info.param)); });

}  // namespace
}  // namespace pocket::kernels
