// The interleaved layouts (Q4_0, Q5_0, Q8_0, Q4_K, Q6_K): rows read back exactly; the scalar
// interleaved kernel equals the row-major scalar dot product bit for bit; every SIMD interleaved
// kernel (and activation converter) is held to the scalar one on row counts and ranges that split
// groups of 8, widths that are not multiples of a vector, and token counts on both sides of the
// tile and chunk sizes.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <concepts>
#include <string>
#include <tuple>
#include <vector>

#include "kernel_test_util.h"
#include "kernels/amx.h"
#include "kernels/blocks.h"
#include "kernels/interleaved.h"
#include "kernels/kernels.h"
#include "pocket/core/error.h"

namespace pocket::kernels {
namespace {

// A rows x k matrix quantized row by row with the reference quantizer, and its interleaved copy.
struct Matrix {
    DType type;
    int64_t rows, k;
    size_t row_bytes;
    std::vector<std::byte> plain, interleaved;

    Matrix(DType t, int64_t n_rows, int64_t n_cols, uint32_t seed)
        : Matrix(t, n_rows, n_cols, [&](int64_t r) {
              return test_util::mixed_row(n_cols, seed + static_cast<uint32_t>(r));
          }) {}

    // Every row r from make_row(r).
    template <std::invocable<int64_t> MakeRow>
    Matrix(DType t, int64_t n_rows, int64_t n_cols, MakeRow make_row)
        : type(t), rows(n_rows), k(n_cols), row_bytes(test_util::bytes_for(t, n_cols)) {
        const TypeOps& o = ops(t, Isa::Scalar);
        plain.resize(row_bytes * static_cast<size_t>(rows));
        for (int64_t r = 0; r < rows; ++r) {
            const std::vector<float> x = make_row(r);
            o.from_float_ref(x.data(), plain.data() + r * row_bytes, k);
        }
        interleaved.assign(interleaved_bytes(t, rows, k), std::byte{0xA5});
        const int64_t groups = (rows + kInterleaveRows - 1) / kInterleaveRows;
        // Two calls, to check that group ranges compose.
        interleave_rows(t, k, plain.data(), row_bytes, rows, interleaved.data(), 0, groups / 2);
        interleave_rows(t, k, plain.data(), row_bytes, rows, interleaved.data(), groups / 2,
                        groups);
    }
    const std::byte* row(int64_t r) const { return plain.data() + r * row_bytes; }
};

std::vector<std::byte> interleaved_acts(const TypeOps& o, const std::vector<float>& x, int64_t k,
                                        int64_t n) {
    const size_t row = interleaved_act_row_bytes(o.type, k);
    std::vector<std::byte> a(row * static_cast<size_t>(n));
    for (int64_t t = 0; t < n; ++t) o.to_interleaved_act(x.data() + t * k, a.data() + t * row, k);
    return a;
}

int64_t block_of(DType t) {
    return static_cast<int64_t>(traits(t).block_size);
}

// The activation values an interleaved activation row stands for (q * d).
std::vector<double> act_values(DType type, const std::byte* act, int64_t k) {
    std::vector<double> v(static_cast<size_t>(k));
    if (type == DType::Q4_K) {
        const auto* a = reinterpret_cast<const BlockQ8_KAct*>(act);
        for (int64_t i = 0; i < k; ++i) v[i] = double(a[i / kQKK].qs[i % kQKK]) * a[i / kQKK].d;
    } else if (type == DType::Q6_K) {
        const auto* a = reinterpret_cast<const BlockQ8_K*>(act);
        for (int64_t i = 0; i < k; ++i) v[i] = double(a[i / kQKK].qs[i % kQKK]) * a[i / kQKK].d;
    } else {
        const auto* a = reinterpret_cast<const BlockQ8_0Act*>(act);
        for (int64_t i = 0; i < k; ++i) v[i] = double(a[i / kQK32].qs[i % kQK32]) * a[i / kQK32].d;
    }
    return v;
}

// Sum of |w_i * a_i| over row r and one activation row: what float rounding is relative to.
double magnitude(const Matrix& m, int64_t r, const std::byte* act) {
    std::vector<float> w(static_cast<size_t>(m.k));
    interleaved_row_to_float(m.type, m.k, m.interleaved.data(), r, w.data());
    const auto a = act_values(m.type, act, m.k);
    double sum = 0;
    for (int64_t i = 0; i < m.k; ++i) sum += std::fabs(w[i] * a[i]);
    return sum;
}

class InterleavedLayout : public ::testing::TestWithParam<DType> {};

TEST_P(InterleavedLayout, SizesAndTypes) {
    const DType t = GetParam();
    const int64_t block = block_of(t);
    const size_t group_block =
        t == DType::Q4_K ? sizeof(BlockQ4_Kx8) : 8 * test_util::bytes_for(t, block);
    EXPECT_TRUE(can_interleave(t));
    EXPECT_EQ(interleaved_bytes(t, 16, 2 * block), 2 * 2 * group_block);
    EXPECT_EQ(interleaved_bytes(t, 13, 2 * block), 2 * 2 * group_block);  // padded group
    EXPECT_EQ(interleaved_bytes(t, 0, block), 0u);
    EXPECT_THROW(interleaved_bytes(t, 8, block + 1), Error);
    const size_t act_block = t == DType::Q4_K   ? sizeof(BlockQ8_KAct)
                             : t == DType::Q6_K ? sizeof(BlockQ8_K)
                                                : sizeof(BlockQ8_0Act);
    EXPECT_EQ(interleaved_act_row_bytes(t, 3 * block), 3 * act_block);
    EXPECT_THROW(interleaved_act_row_bytes(t, block + 8), Error);
    EXPECT_FALSE(can_interleave(DType::Q5_K));
    EXPECT_THROW(interleaved_bytes(DType::Q5_K, 8, 256), Error);
}

TEST_P(InterleavedLayout, RowsReadBackExactly) {
    const DType t = GetParam();
    const TypeOps& o = ops(t, Isa::Scalar);
    for (const int64_t rows : {int64_t{1}, int64_t{8}, int64_t{13}, int64_t{24}}) {
        for (const int64_t k : {block_of(t), 3 * block_of(t), int64_t{2048}}) {
            const Matrix m(t, rows, k, 10);
            std::vector<float> want(static_cast<size_t>(k)), got(static_cast<size_t>(k));
            for (int64_t r = 0; r < rows; ++r) {
                o.to_float(m.row(r), want.data(), k);
                interleaved_row_to_float(t, k, m.interleaved.data(), r, got.data());
                ASSERT_EQ(want, got) << "rows " << rows << " k " << k << " row " << r;
            }
            // Padding rows of the last group read back as zeros.
            for (int64_t r = rows; r % kInterleaveRows != 0; ++r) {
                interleaved_row_to_float(t, k, m.interleaved.data(), r, got.data());
                ASSERT_TRUE(std::all_of(got.begin(), got.end(), [](float v) { return v == 0.f; }));
            }
        }
    }
}

TEST_P(InterleavedLayout, ScalarKernelEqualsRowMajorDotBitForBit) {
    const DType t = GetParam();
    const TypeOps& o = ops(t, Isa::Scalar);
    const int64_t rows = 21, k = block_of(t) == 32 ? 320 : 512, n = 3;
    const Matrix m(t, rows, k, 40);
    const auto x = test_util::normal_row(k * n, 41);
    const auto a = interleaved_acts(o, x, k, n);
    std::vector<std::byte> plain_act(activation_row_bytes(o, k) * n);
    convert_activations(o, k, x.data(), k, n, plain_act.data(), activation_row_bytes(o, k));
    std::vector<float> y(rows * n, -7.f);
    o.matmul_interleaved(k, m.interleaved.data(), m.row_bytes, a.data(),
                         interleaved_act_row_bytes(t, k), n, y.data(), rows, 3, 19);
    for (int64_t t_i = 0; t_i < n; ++t_i) {
        for (int64_t r = 0; r < rows; ++r) {
            const float got = y[t_i * rows + r];
            if (r < 3 || r >= 19) {
                ASSERT_EQ(got, -7.f) << "row " << r << " outside the range was written";
                continue;
            }
            const float want =
                o.vec_dot(k, m.row(r), plain_act.data() + t_i * activation_row_bytes(o, k));
            ASSERT_EQ(got, want) << "row " << r << " token " << t_i;
        }
    }
}

INSTANTIATE_TEST_SUITE_P(Types, InterleavedLayout,
                         ::testing::Values(DType::Q4_0, DType::Q5_0, DType::Q8_0, DType::Q4_K,
                                           DType::Q6_K),
                         [](const auto& info) { return test_util::type_label(info.param); });

using Param = std::tuple<Isa, DType>;

class InterleavedIsa : public ::testing::TestWithParam<Param> {
  protected:
    void SetUp() override {
        if (!isa_supported(std::get<0>(GetParam()))) GTEST_SKIP() << "CPU lacks this ISA";
        if (simd().matmul_interleaved == nullptr)
            GTEST_SKIP() << "no interleaved kernel for this type here";
    }
    const TypeOps& simd() const { return ops(std::get<1>(GetParam()), std::get<0>(GetParam())); }
    const TypeOps& scalar() const { return ops(std::get<1>(GetParam()), Isa::Scalar); }
    // The AVX-512 table runs prompts on AMX tiles where the CPU has them: check both paths there.
    std::vector<bool> amx_modes() const {
        if (std::get<0>(GetParam()) == Isa::Avx512 && amx_supported()) return {true, false};
        return {amx_enabled()};
    }
};

// Restores the AMX switch however a test ends.
struct AmxSwitch {
    bool before = amx_enabled() || !amx_supported();
    explicit AmxSwitch(bool on) { set_amx_enabled(on); }
    ~AmxSwitch() { set_amx_enabled(before); }
    AmxSwitch(const AmxSwitch&) = delete;
    AmxSwitch& operator=(const AmxSwitch&) = delete;
};

TEST_P(InterleavedIsa, ActivationConverterIsBitIdentical) {
    for (const int64_t k : {block_of(std::get<1>(GetParam())),
                            3 * block_of(std::get<1>(GetParam())), int64_t{4096}}) {
        auto x = test_util::mixed_row(k, 7);
        x[5] = 0.5f;  // exact ties are rounded the same way
        const auto want = interleaved_acts(scalar(), x, k, 1);
        const auto got = interleaved_acts(simd(), x, k, 1);
        ASSERT_EQ(want, got) << "k " << k;
    }
}

// The model interleaves a type whenever the active table has an interleaved kernel for it, so a
// SIMD table must never inherit the (slow) scalar reference: it either has its own or none.
TEST_P(InterleavedIsa, TableDoesNotFallBackToTheScalarReference) {
    EXPECT_NE(simd().matmul_interleaved, scalar().matmul_interleaved);
    EXPECT_NE(simd().to_interleaved_act, nullptr);
}

// The kernels form the same exact block sums; only the float accumulation may round differently.
TEST_P(InterleavedIsa, MatmulAgreesWithScalarOnAllShapes) {
    const DType t = std::get<1>(GetParam());
    struct Range {
        int64_t begin, end;
    };
    for (const bool amx : amx_modes())
        for (const int64_t k : {block_of(t), 3 * block_of(t), 5 * block_of(t), int64_t{2048}}) {
            const AmxSwitch amx_switch(amx);
            const int64_t rows = 45;  // five full groups and a padded one
            const Matrix m(t, rows, k, 90);
            // k: 1, 3 and 5 blocks cover the ends of the AMX kernels' pipelined block pairs.
            // 16 and 33: whole AMX token tiles, and tiles plus one token left for the VNNI kernel.
            for (const int64_t n : {int64_t{1}, int64_t{2}, int64_t{5}, int64_t{9}, int64_t{16},
                                    int64_t{33}, int64_t{131}}) {
                const auto x = test_util::normal_row(k * n, 91 + static_cast<uint32_t>(n));
                const auto a_simd = interleaved_acts(simd(), x, k, n);
                const auto a_ref = interleaved_acts(scalar(), x, k, n);
                const size_t a_row = interleaved_act_row_bytes(t, k);
                for (const Range range :
                     {Range{0, rows}, Range{8, 24}, Range{3, 29}, Range{40, 45}}) {
                    std::vector<float> want(rows * n, -7.f), got(rows * n, -7.f);
                    scalar().matmul_interleaved(k, m.interleaved.data(), m.row_bytes, a_ref.data(),
                                                a_row, n, want.data(), rows, range.begin,
                                                range.end);
                    simd().matmul_interleaved(k, m.interleaved.data(), m.row_bytes, a_simd.data(),
                                              a_row, n, got.data(), rows, range.begin, range.end);
                    for (size_t i = 0; i < want.size(); ++i) {
                        const int64_t r = static_cast<int64_t>(i) % rows;
                        const int64_t tok = static_cast<int64_t>(i) / rows;
                        const double tol =
                            r < range.begin || r >= range.end
                                ? 0.0
                                : 1e-5 * magnitude(m, r, a_ref.data() + tok * a_row) + 1e-30;
                        ASSERT_NEAR(got[i], want[i], tol)
                            << "amx " << amx << " k " << k << " n " << n << " range ["
                            << range.begin << ", " << range.end << ") row " << i % rows << " token "
                            << i / rows;
                    }
                }
            }
        }
}

// Blocks at the ends of the integer ranges: one weight at -8 and the rest at +7 quantize to the
// lowest and highest levels (Q4_0: 0 and 15), and activations all of one sign to q = +-127, so
// the kernels' integer partial sums (int16 ones included) reach their largest magnitudes.
TEST_P(InterleavedIsa, MatmulAgreesWithScalarOnSaturatedBlocks) {
    const DType t = std::get<1>(GetParam());
    const int64_t k = 2 * std::max<int64_t>(block_of(t), 256), rows = 16;
    const Matrix m(t, rows, k, [&](int64_t r) {
        std::vector<float> x(static_cast<size_t>(k));
        for (int64_t i = 0; i < k; ++i) x[i] = i % 32 == r % 32 ? -8.0f : 7.0f;
        return x;
    });
    for (const float sign : {1.0f, -1.0f})
        for (const int64_t n :
             {int64_t{5}, int64_t{16}}) {  // 16: one AMX tile where the CPU has it
            const std::vector<float> x(static_cast<size_t>(k * n), sign);
            const auto a_simd = interleaved_acts(simd(), x, k, n);
            const auto a_ref = interleaved_acts(scalar(), x, k, n);
            const size_t a_row = interleaved_act_row_bytes(t, k);
            std::vector<float> want(rows * n), got(rows * n);
            scalar().matmul_interleaved(k, m.interleaved.data(), m.row_bytes, a_ref.data(), a_row,
                                        n, want.data(), rows, 0, rows);
            simd().matmul_interleaved(k, m.interleaved.data(), m.row_bytes, a_simd.data(), a_row, n,
                                      got.data(), rows, 0, rows);
            for (size_t i = 0; i < want.size(); ++i) {
                const int64_t r = static_cast<int64_t>(i) % rows;
                const double tol = 1e-5 * magnitude(m, r, a_ref.data()) + 1e-30;
                ASSERT_NEAR(got[i], want[i], tol) << "sign " << sign << " n " << n << " row " << r;
            }
        }
}

std::string isa_label(const ::testing::TestParamInfo<Param>& info) {
    return std::string(isa_name(std::get<0>(info.param))) + "_" +
           test_util::type_label(std::get<1>(info.param));
}

INSTANTIATE_TEST_SUITE_P(Isas, InterleavedIsa,
                         ::testing::Combine(::testing::Values(Isa::Avx2, Isa::Avx512, Isa::Neon),
                                            ::testing::Values(DType::Q4_0, DType::Q5_0, DType::Q8_0,
                                                              DType::Q4_K, DType::Q6_K)),
                         isa_label);

}  // namespace
}  // namespace pocket::kernels
