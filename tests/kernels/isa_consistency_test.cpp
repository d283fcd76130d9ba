// Every instruction-set table against the scalar reference, for every type, on every instruction
// set this CPU supports. SIMD kernels added later are covered automatically:
// - from_float / from_float_ref must be bit-identical (activations must match llama.cpp exactly,
//   and files must not depend on the machine that wrote them);
// - to_float may differ by float rounding only (e.g. a fused multiply-add);
// - vec_dot may differ by float summation order;
// - matmul_rows (the tiled prompt path, n_tokens > 1) agrees with per-pair vec_dot the same way.
// Beyond the random rows, every table meets lengths that are not multiples of the vector width
// (where the block size allows), one to many blocks, and extreme rows (huge and tiny magnitudes,
// exact rounding ties, ties of the largest magnitude with opposite signs, lone spikes, zeros).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <tuple>
#include <vector>

#include "kernel_test_util.h"
#include "kernels/kernels.h"

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

// Row lengths to test for a type: every tail length around the 8/16/32-wide vectors for the
// element-wise formats, and one to many blocks for the block formats.
std::vector<int64_t> lengths(DType type) {
    const int64_t block = static_cast<int64_t>(traits(type).block_size);
    if (block == 1) return {1, 2, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 100, 255, 257, 1000};
    if (block == 32) return {32, 64, 96, 160, 288, 1024};
    return {256, 512, 768, 1280};
}

// Extreme content, cycling per 32-element block through: huge values, tiny values, exact rounding
// ties of x * 127 / amax (amax 127 so the scale is 1), opposite-sign ties of the largest magnitude
// (the first one must win), a single spike among zeros, all zeros, and a constant negative block.
std::vector<float> extreme_row(int64_t n, uint32_t seed) {
    auto v = test_util::normal_row(n, seed);
    for (int64_t i = 0; i < n; ++i) {
        const int64_t block = i / 32;
        const int64_t j = i % 32;
        float& x = v[static_cast<size_t>(i)];
        switch ((block + seed) % 7) {
            case 0:
                x *= 2.0e3f;  // F16 weights must stay finite
                break;
            case 1:
                x *= 1.0e-4f;
                break;
            case 2:
                x = j == 0 ? -127.f : static_cast<float>(j % 9) - 4.5f + (j % 2 == 0 ? 0.f : 63.f);
                break;
            case 3:
                x = (j % 2 == 0 ? 1.f : -1.f) * (j % 3 == 0 ? 2.5f : 1.25f);
                break;
            case 4:
                x = j == 17 ? -5.f : 0.f;
                break;
            case 5:
                x = 0.f;
                break;
            default:
                x = -0.75f;
                break;
        }
    }
    return v;
}

std::vector<std::vector<float>> rows_of_length(int64_t n) {
    std::vector<std::vector<float>> rows;
    for (uint32_t seed = 1; seed <= 3; ++seed) {
        rows.push_back(test_util::normal_row(n, seed + static_cast<uint32_t>(n)));
        rows.push_back(test_util::mixed_row(n, seed + 70));
        rows.push_back(extreme_row(n, seed));
    }
    return rows;
}

// Bound on the float rounding of a dot product: every term the kernels form is at most twice the
// largest magnitude of its 32-group of weights times |a_i| (see vec_dot_test.cpp), and the float
// accumulation of up to a few thousand such terms stays well below 1e-5 of their sum.
double dot_tolerance(const TypeOps& o, const std::vector<std::byte>& wq,
                     const std::vector<std::byte>& aq, int64_t n) {
    const auto w = test_util::dequantize(ops(o.type, Isa::Scalar), wq, n);
    const auto a = test_util::dequantize(ops(o.dot_type, Isa::Scalar), aq, n);
    double magnitude = 0;
    for (int64_t g = 0; g < n; g += 32) {
        const int64_t end = std::min(n, g + 32);
        double wmax = 0;
        for (int64_t i = g; i < end; ++i) wmax = std::max(wmax, std::fabs(double(w[i])));
        for (int64_t i = g; i < end; ++i) magnitude += 2 * wmax * std::fabs(double(a[i]));
    }
    // Q8_1's minimum term m * s: add its size too.
    if (o.dot_type == DType::Q8_1) {
        for (int64_t i = 0; i < n; ++i) magnitude += std::fabs(double(w[i]) * a[i]);
    }
    return 1e-5 * magnitude + 1e-30;
}

std::vector<std::byte> to_dot_type(const TypeOps& o, const std::vector<float>& x) {
    const int64_t n = static_cast<int64_t>(x.size());
    std::vector<std::byte> out(test_util::bytes_for(o.dot_type, n));
    ops(o.type, Isa::Scalar).to_dot_type(x.data(), out.data(), n);
    return out;
}

TEST_P(IsaConsistency, ConvertersAreBitIdenticalOnAllLengthsAndExtremes) {
    for (int64_t n : lengths(simd().type)) {
        for (const auto& x : rows_of_length(n)) {
            ASSERT_EQ(test_util::quantize(simd(), x), test_util::quantize(scalar(), x)) << n;
            ASSERT_EQ(test_util::quantize(simd(), x, true), test_util::quantize(scalar(), x, true))
                << n;
            if (scalar().to_dot_type != nullptr) {
                std::vector<std::byte> a(test_util::bytes_for(scalar().dot_type, n));
                std::vector<std::byte> b(a.size());
                simd().to_dot_type(x.data(), a.data(), n);
                scalar().to_dot_type(x.data(), b.data(), n);
                ASSERT_EQ(a, b) << n;
            }
            const auto q = test_util::quantize(scalar(), x);
            const auto got = test_util::dequantize(simd(), q, n);
            const auto want = test_util::dequantize(scalar(), q, n);
            for (int64_t i = 0; i < n; ++i) {
                ASSERT_NEAR(got[i], want[i], 1e-6 * std::fabs(want[i]) + 1e-30) << n << " " << i;
            }
        }
    }
}

TEST_P(IsaConsistency, DotProductsAgreeOnAllLengthsAndExtremes) {
    if (scalar().vec_dot == nullptr) GTEST_SKIP() << "activation-only format";
    for (int64_t n : lengths(simd().type)) {
        const auto rows = rows_of_length(n);
        for (size_t r = 0; r < rows.size(); ++r) {
            for (size_t s : {r, (r + 1) % rows.size(), (r + 2) % rows.size()}) {
                const auto wq = test_util::quantize(scalar(), rows[r]);
                const auto aq = to_dot_type(scalar(), rows[s]);
                const float want = scalar().vec_dot(n, wq.data(), aq.data());
                const float got = simd().vec_dot(n, wq.data(), aq.data());
                ASSERT_NEAR(got, want, dot_tolerance(scalar(), wq, aq, n))
                    << "n " << n << " rows " << r << "," << s;
            }
        }
    }
}

// matmul_rows on a sub-range of rows (so tiles have leftover rows) and token counts that leave
// leftover tokens, including more tokens than one cache chunk: each output agrees with the
// scalar vec_dot of its pair to rounding, and nothing outside the range is written.
TEST_P(IsaConsistency, MatmulRowsAgreesWithVecDot) {
    if (scalar().vec_dot == nullptr) GTEST_SKIP() << "activation-only format";
    const DType type = simd().type;
    const int64_t block = static_cast<int64_t>(traits(type).block_size);
    const int64_t k = block == 1 ? 45 : (block == 32 ? 96 : 512);
    const int64_t rows = 11;
    const int64_t row_begin = 1;
    const int64_t row_end = 10;
    const size_t w_row = test_util::bytes_for(type, k);
    std::vector<std::byte> w(w_row * rows);
    std::vector<std::vector<float>> w_float;
    for (int64_t r = 0; r < rows; ++r) {
        w_float.push_back(r % 3 == 2 ? extreme_row(k, static_cast<uint32_t>(r))
                                     : test_util::mixed_row(k, 200 + static_cast<uint32_t>(r)));
        scalar().from_float(w_float.back().data(), w.data() + r * w_row, k);
    }
    for (int64_t tokens : {1, 2, 3, 4, 5, 7, 9, 131}) {
        const auto x = test_util::normal_row(k * tokens, 300 + static_cast<uint32_t>(tokens));
        const size_t a_row = activation_row_bytes(simd(), k);
        std::vector<std::byte> a(a_row * static_cast<size_t>(tokens));
        convert_activations(simd(), k, x.data(), static_cast<size_t>(k), tokens, a.data(), a_row);
        const size_t y_stride = rows + 1;
        std::vector<float> y(y_stride * static_cast<size_t>(tokens), -7.f);
        matmul_rows(simd(), k, w.data(), w_row, a.data(), a_row, tokens, y.data(), y_stride,
                    row_begin, row_end);
        for (int64_t t = 0; t < tokens; ++t) {
            const std::vector<std::byte> at(a.begin() + t * a_row, a.begin() + (t + 1) * a_row);
            for (int64_t r = 0; r < static_cast<int64_t>(y_stride); ++r) {
                const float got = y[t * y_stride + r];
                if (r < row_begin || r >= row_end) {
                    ASSERT_EQ(got, -7.f) << "row " << r << " outside the range was written";
                    continue;
                }
                const std::vector<std::byte> wr(w.begin() + r * w_row, w.begin() + (r + 1) * w_row);
                const float want = scalar().vec_dot(k, wr.data(), at.data());
                ASSERT_NEAR(got, want, dot_tolerance(scalar(), wr, at, k))
                    << "tokens " << tokens << " token " << t << " row " << r;
            }
        }
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
