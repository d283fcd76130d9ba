// AArch64 only: both variants of the NEON quantized dot products (baseline NEON and ARMv8.2-A
// SDOT) against the scalar reference, whichever one the dispatcher picked for this CPU. The
// integer block sums are exact and the block scales are applied in the scalar order, so the
// results must be bit-identical, not merely close.
#if defined(__aarch64__)

#include <gtest/gtest.h>

#include <vector>

#include "kernel_test_util.h"
#include "kernels/kernels.h"
#include "kernels/neon/neon_registry.h"

namespace pocket::kernels {
namespace {

class NeonVariants : public ::testing::TestWithParam<DType> {};

KernelTable variant_table(bool dotprod) {
    KernelTable table{};
    if (dotprod) {
        neon::register_quant_dots_dotprod(table);
    } else {
        neon::register_quant_dots_plain(table);
    }
    return table;
}

void expect_bit_identical_to_scalar(DType type, const KernelTable& table) {
    const TypeOps& scalar = ops(type, Isa::Scalar);
    const VecDotFn dot = table[static_cast<size_t>(type)].vec_dot;
    ASSERT_NE(dot, nullptr) << dtype_name(type);
    for (int64_t n : {256, 512, 1280}) {
        for (uint32_t seed = 1; seed <= 4; ++seed) {
            const auto w = test_util::mixed_row(n, seed);
            const auto x = test_util::normal_row(n, seed + 100);
            const auto wq = test_util::quantize(scalar, w);
            std::vector<std::byte> aq(test_util::bytes_for(scalar.dot_type, n));
            scalar.to_dot_type(x.data(), aq.data(), n);
            EXPECT_EQ(dot(n, wq.data(), aq.data()), scalar.vec_dot(n, wq.data(), aq.data()))
                << dtype_name(type) << " n " << n << " seed " << seed;
        }
    }
}

TEST_P(NeonVariants, PlainNeonIsBitIdenticalToScalar) {
    expect_bit_identical_to_scalar(GetParam(), variant_table(false));
}

TEST_P(NeonVariants, DotProductExtensionIsBitIdenticalToScalar) {
    if (!neon::cpu_has_dotprod()) GTEST_SKIP() << "CPU lacks the dot-product extension";
    expect_bit_identical_to_scalar(GetParam(), variant_table(true));
}

INSTANTIATE_TEST_SUITE_P(QuantizedTypes, NeonVariants,
                         ::testing::Values(DType::Q8_0, DType::Q4_0, DType::Q4_1, DType::Q5_0,
                                           DType::Q5_1, DType::IQ4_NL, DType::Q2_K, DType::Q3_K,
                                           DType::Q4_K, DType::Q5_K, DType::Q6_K),
                         [](const auto& info) { return test_util::type_label(info.param); });

}  // namespace
}  // namespace pocket::kernels

#endif  // __aarch64__
