// Every instruction-set table against the scalar reference, for every type, on every instruction
// set this CPU supports. SIMD kernels added later are covered automatically:
// - from_float / from_float_ref must be bit-identical (activations must match llama.cpp exactly,
//   and files must not depend on the machine that wrote them);
// - to_float may differ by float rounding only (e.g. a fused multiply-add);
// - vec_dot may differ by float summation order.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <tuple>
#include <vector>

#include "kernel_test_util.h"
#include "pocket/kernels/kernels.h"

namespace pocket::kernels {
namespace {

using Param = std::tuple<Isa, DType>;

class IsaConsistency : public ::testing::TestWithParam<Param> {
  protected:
    void SetUp() override {
        if (!isa_supported(std::get<0>(GetParam())))
            GTEST_SKIP() << "CPU lacks " << isa_name(std::get<0>(GetParam()));
    }
    const TypeOps& simd() const { return ops(std::get<1>(GetParam()), std::get<0>(GetParam())); }
    const TypeOps& scalar() const { return ops(std::get<1>(GetParam()), Isa::Scalar); }
};

std::vector<std::vector<float>> inputs() {
    std::vector<std::vector<float>> rows;
    for (uint32_t seed = 1; seed <= 6; ++seed) {
        rows.push_back(test_util::normal_row(256 * 3, seed));
        rows.push_back(test_util::mixed_row(256 * 3, seed + 50));
    }
    return rows;
}

TEST_P(IsaConsistency, SameTypeDescription) {
    EXPECT_EQ(simd().type, scalar().type);
    EXPECT_EQ(simd().dot_type, scalar().dot_type);
    EXPECT_EQ(simd().vec_dot == nullptr, scalar().vec_dot == nullptr);
    ASSERT_NE(simd().from_float, nullptr);
    ASSERT_NE(simd().from_float_ref, nullptr);
    ASSERT_NE(simd().to_float, nullptr);
}

TEST_P(IsaConsistency, QuantizersAreBitIdentical) {
    for (const auto& x : inputs()) {
        ASSERT_EQ(test_util::quantize(simd(), x), test_util::quantize(scalar(), x));
        ASSERT_EQ(test_util::quantize(simd(), x, true), test_util::quantize(scalar(), x, true));
    }
}

TEST_P(IsaConsistency, DequantizationAgreesToRounding) {
    for (const auto& x : inputs()) {
        const int64_t n = static_cast<int64_t>(x.size());
        const auto q = test_util::quantize(scalar(), x);
        const auto a = test_util::dequantize(simd(), q, n);
        const auto b = test_util::dequantize(scalar(), q, n);
        for (int64_t i = 0; i < n; ++i) {
            ASSERT_NEAR(a[i], b[i], 1e-6 * std::fabs(b[i]) + 1e-6 * std::fabs(x[i]) + 1e-30) << i;
        }
    }
}

TEST_P(IsaConsistency, DotProductsAgreeToRounding) {
    if (scalar().vec_dot == nullptr) GTEST_SKIP() << "activation-only format";
    const auto rows = inputs();
    for (size_t r = 0; r + 1 < rows.size(); ++r) {
        const auto& w = rows[r];
        const auto& a = rows[r + 1];
        const int64_t n = static_cast<int64_t>(w.size());
        const auto wq = test_util::quantize(scalar(), w);
        std::vector<std::byte> aq(test_util::bytes_for(scalar().dot_type, n));
        scalar().to_dot_type(a.data(), aq.data(), n);
        double magnitude = 0;
        for (int64_t i = 0; i < n; ++i)
            magnitude += 2 * std::fabs(double(w[i]) * a[i]) + 1e-3 * std::fabs(a[i]);
        const float want = scalar().vec_dot(n, wq.data(), aq.data());
        const float got = simd().vec_dot(n, wq.data(), aq.data());
        ASSERT_NEAR(got, want, 1e-5 * magnitude) << "row " << r;
    }
}

std::vector<Param> params() {
    std::vector<Param> p;
    for (Isa isa : kAllIsas) {
        if (isa == Isa::Scalar) continue;
        for (DType t : test_util::all_types()) p.emplace_back(isa, t);
    }
    return p;
}

INSTANTIATE_TEST_SUITE_P(AllIsasAndTypes, IsaConsistency, ::testing::ValuesIn(params()),
                         [](const auto& info) {
                             return std::string(isa_name(std::get<0>(info.param))) + "_" +
                                    test_util::type_label(std::get<1>(info.param));
                         });

}  // namespace
}  // namespace pocket::kernels
