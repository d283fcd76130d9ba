// The dispatch API: table lookup errors, instruction-set selection, and the matrix entry points.
#include <gtest/gtest.h>

#include <vector>

#include "kernel_test_util.h"
#include "kernels/amx.h"
#include "kernels/kernels.h"
#include "pocket/core/error.h"

namespace pocket::kernels {
namespace {

TEST(Dispatch, EveryComputableTypeHasCompleteScalarKernels) {
    for (DType t : test_util::weight_types()) {
        const TypeOps& o = ops(t, Isa::Scalar);
        EXPECT_EQ(o.type, t);
        EXPECT_NE(o.to_float, nullptr) << dtype_name(t);
        EXPECT_NE(o.from_float, nullptr) << dtype_name(t);
        EXPECT_NE(o.from_float_ref, nullptr) << dtype_name(t);
        EXPECT_NE(o.vec_dot, nullptr) << dtype_name(t);
        EXPECT_NE(o.to_dot_type, nullptr) << dtype_name(t);
        EXPECT_TRUE(has_ops(t));
        EXPECT_TRUE(traits(t).computable)
            << dtype_name(t) << " has kernels but dtype traits say no";
    }
    EXPECT_EQ(ops(DType::Q8_K, Isa::Scalar).vec_dot, nullptr);
    EXPECT_EQ(ops(DType::Q8_1, Isa::Scalar).vec_dot, nullptr);
}

TEST(Dispatch, TypesWithoutKernelsThrowNamingTheType) {
    EXPECT_FALSE(has_ops(DType::IQ2_XXS));
    try {
        ops(DType::IQ2_XXS);
        FAIL() << "expected pocket::Error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("iq2_xxs"), std::string::npos) << e.what();
    }
    EXPECT_THROW(ops(DType::I32, Isa::Scalar), Error);
}

TEST(Dispatch, ScalarIsAlwaysSupportedAndForcingWorks) {
    ASSERT_TRUE(isa_supported(Isa::Scalar));
    const Isa before = active_isa();
    EXPECT_TRUE(isa_supported(before));
    force_isa(Isa::Scalar);
    EXPECT_EQ(active_isa(), Isa::Scalar);
    EXPECT_EQ(&ops(DType::Q4_0), &ops(DType::Q4_0, Isa::Scalar));
    for (Isa isa : kAllIsas) {
        if (isa_supported(isa)) {
            force_isa(isa);
            EXPECT_EQ(active_isa(), isa);
        } else {
            EXPECT_THROW(force_isa(isa), Error);
        }
    }
    force_isa(before);
}

// AMX is an option of the AVX-512 table: it needs that table's CPU, and the switch only turns it
// off where it exists.
TEST(Dispatch, AmxSwitch) {
    if (amx_supported()) {
        EXPECT_TRUE(isa_supported(Isa::Avx512));
    }
    const bool before = amx_enabled();
    set_amx_enabled(false);
    EXPECT_FALSE(amx_enabled());
    set_amx_enabled(true);
    EXPECT_EQ(amx_enabled(), amx_supported());
    const Isa table = active_isa();
    force_isa(Isa::Scalar);  // AMX is only in use on the AVX-512 table
    EXPECT_FALSE(amx_active());
    force_isa(table);
    EXPECT_EQ(amx_active(), amx_supported() && table == Isa::Avx512);
    set_amx_enabled(before || !amx_supported());
}

TEST(Dispatch, IsaNames) {
    EXPECT_EQ(isa_name(Isa::Scalar), "scalar");
    EXPECT_EQ(isa_name(Isa::Avx2), "avx2");
    EXPECT_EQ(isa_name(Isa::Avx512), "avx512");
    EXPECT_EQ(isa_name(Isa::Neon), "neon");
}

// Each architecture supports only its own instruction sets; AArch64 always has NEON.
TEST(Dispatch, OnlyThisArchitecturesIsasAreSupported) {
#if defined(__aarch64__)
    EXPECT_TRUE(isa_supported(Isa::Neon));
    EXPECT_FALSE(isa_supported(Isa::Avx2));
    EXPECT_FALSE(isa_supported(Isa::Avx512));
#else
    EXPECT_FALSE(isa_supported(Isa::Neon));
#endif
}

TEST(Dispatch, ActivationRowBytesFollowTheDotType) {
    EXPECT_EQ(activation_row_bytes(ops(DType::Q4_K, Isa::Scalar), 512), 2u * 292u);
    EXPECT_EQ(activation_row_bytes(ops(DType::Q4_1, Isa::Scalar), 64), 2u * 36u);
    EXPECT_EQ(activation_row_bytes(ops(DType::F16, Isa::Scalar), 10), 20u);
    EXPECT_THROW(activation_row_bytes(ops(DType::Q4_0, Isa::Scalar), 48), Error);
}

// matmul_rows over a sub-range of rows with strided outputs equals per-pair vec_dot on the
// converted activations, and leaves the other outputs alone.
TEST(Dispatch, MatmulRowsMatchesVecDotPerPair) {
    for (DType t : {DType::F32, DType::Q4_0, DType::Q5_1, DType::Q4_K, DType::Q6_K, DType::BF16}) {
        const TypeOps& o = ops(t, Isa::Scalar);
        const int64_t k = 512, rows = 6, tokens = 3;
        const size_t w_row = test_util::bytes_for(t, k);
        std::vector<std::byte> w(w_row * rows);
        for (int64_t r = 0; r < rows; ++r) {
            const auto x = test_util::normal_row(k, 10 + static_cast<uint32_t>(r));
            o.from_float(x.data(), w.data() + r * w_row, k);
        }
        const auto act = test_util::normal_row(k * tokens, 99);
        const size_t a_row = activation_row_bytes(o, k);
        std::vector<std::byte> a(a_row * tokens);
        convert_activations(o, k, act.data(), k, tokens, a.data(), a_row);

        const size_t y_stride = rows + 2;
        std::vector<float> y(y_stride * tokens, -7.f);
        matmul_rows(o, k, w.data(), w_row, a.data(), a_row, tokens, y.data(), y_stride, 1, 5);
        for (int64_t tok = 0; tok < tokens; ++tok) {
            std::vector<std::byte> single(a_row);
            o.to_dot_type(act.data() + tok * k, single.data(), k);
            for (int64_t r = 0; r < static_cast<int64_t>(y_stride); ++r) {
                const float got = y[tok * y_stride + r];
                if (r < 1 || r >= 5) {
                    EXPECT_EQ(got, -7.f) << "row outside the range was written";
                } else {
                    EXPECT_EQ(got, o.vec_dot(k, w.data() + r * w_row, single.data()))
                        << dtype_name(t);
                }
            }
        }
    }
}

}  // namespace
}  // namespace pocket::kernels
