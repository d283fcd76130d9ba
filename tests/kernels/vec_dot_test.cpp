// vec_dot(quantized w, quantized a) equals the double-precision dot product of the dequantized
// operands, up to float rounding of the per-block scale products and the float accumulation.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "kernel_test_util.h"
#include "kernels/blocks.h"
#include "kernels/kernels.h"
#include "pocket/core/fp16.h"

namespace pocket::kernels {
namespace {

using test_util::dequantize;
using test_util::quantize;

struct DotCheck {
    double expected = 0;  // sum of dequant(w) * dequant(a) in double
    double tolerance = 0;
};

// Every block term the kernel forms (scale * integer sum, and the minimum's term) is bounded by
// sum_i 2 * max|w in its 32-group| * |a_i|: a level times its scale is at most |w_i| plus the
// group's offset, and the offset is at most the group's largest magnitude. A few float roundings
// per block on terms of that size, plus the float accumulation, stay far below 1e-6 of it.
DotCheck reference_dot(const TypeOps& o, const std::vector<std::byte>& wq,
                       const std::vector<std::byte>& aq, int64_t n) {
    const auto w = dequantize(o, wq, n);
    const auto a = dequantize(ops(o.dot_type, Isa::Scalar), aq, n);
    DotCheck c;
    double magnitude = 0;
    for (int64_t g = 0; g < n; g += 32) {
        double wmax = 0;
        for (int64_t i = g; i < g + 32; ++i) wmax = std::max(wmax, std::fabs(double(w[i])));
        for (int64_t i = g; i < g + 32; ++i) {
            c.expected += double(w[i]) * double(a[i]);
            magnitude += 2 * wmax * std::fabs(double(a[i]));
        }
    }
    c.tolerance = 1e-6 * magnitude + 1e-30;
    // Q8_1 stores s = d * sum(q) as F16, which vec_dot uses for the minimum's term m * s; that
    // rounding is part of the format (llama.cpp does the same).
    if (o.dot_type == DType::Q8_1) {
        const auto* a_blocks = reinterpret_cast<const BlockQ8_1*>(aq.data());
        for (int64_t b = 0; b < n / 32; ++b) {
            const float m = o.type == DType::Q4_1
                                ? f16_to_f32(reinterpret_cast<const BlockQ4_1*>(wq.data())[b].m)
                                : f16_to_f32(reinterpret_cast<const BlockQ5_1*>(wq.data())[b].m);
            c.tolerance += std::fabs(double(m) * f16_to_f32(a_blocks[b].s)) / 1024;
        }
    }
    return c;
}

class VecDot : public ::testing::TestWithParam<DType> {};

TEST_P(VecDot, MatchesDoubleDotOfDequantizedOperands) {
    const TypeOps& o = ops(GetParam(), Isa::Scalar);
    ASSERT_NE(o.vec_dot, nullptr);
    for (uint32_t seed = 1; seed <= 10; ++seed) {
        for (int64_t n : {256, 256 * 5}) {
            const auto w =
                seed % 2 ? test_util::normal_row(n, seed, 0.08f) : test_util::mixed_row(n, seed);
            const auto a = test_util::normal_row(n, seed + 1000, 2.f);
            const auto wq = quantize(o, w);
            std::vector<std::byte> aq(test_util::bytes_for(o.dot_type, n));
            o.to_dot_type(a.data(), aq.data(), n);
            const DotCheck c = reference_dot(o, wq, aq, n);
            const float got = o.vec_dot(n, wq.data(), aq.data());
            EXPECT_NEAR(got, c.expected, c.tolerance) << "seed " << seed << " n " << n;
        }
    }
}

TEST_P(VecDot, ToDotTypeIsTheDotTypesQuantizer) {
    const TypeOps& o = ops(GetParam(), Isa::Scalar);
    EXPECT_EQ(o.to_dot_type, ops(o.dot_type, Isa::Scalar).from_float);
    EXPECT_EQ(o.type, GetParam());
}

INSTANTIATE_TEST_SUITE_P(AllWeightTypes, VecDot, ::testing::ValuesIn(test_util::weight_types()),
                         [](const auto& info) { return test_util::type_label(info.param); });

TEST(VecDotTypes, DotTypesAreLlamaCpps) {
    const std::pair<DType, DType> expected[] = {
        {DType::F32, DType::F32},     {DType::F16, DType::F16},   {DType::BF16, DType::BF16},
        {DType::Q4_0, DType::Q8_0},   {DType::Q5_0, DType::Q8_0}, {DType::Q8_0, DType::Q8_0},
        {DType::IQ4_NL, DType::Q8_0}, {DType::Q4_1, DType::Q8_1}, {DType::Q5_1, DType::Q8_1},
        {DType::Q2_K, DType::Q8_K},   {DType::Q3_K, DType::Q8_K}, {DType::Q4_K, DType::Q8_K},
        {DType::Q5_K, DType::Q8_K},   {DType::Q6_K, DType::Q8_K}};
    for (const auto& [type, dot] : expected)
        EXPECT_EQ(ops(type, Isa::Scalar).dot_type, dot) << dtype_name(type);
}

}  // namespace
}  // namespace pocket::kernels
