// The one-token (generation) path of matmul_rows: for every instruction set and type that has a
// `matvec` kernel, on short rows (several rows per tile, prefetched) and long rows (row-by-row),
// over a row range that leaves leftover rows, each output agrees with the scalar reference dot
// product to float rounding and nothing outside the range is written.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <tuple>
#include <vector>

#include "kernel_test_util.h"
#include "kernels/kernels.h"

namespace pocket::kernels {
namespace {

using Param = std::tuple<Isa, DType>;

class Matvec : public ::testing::TestWithParam<Param> {
  protected:
    void SetUp() override {
        if (!isa_supported(std::get<0>(GetParam()))) GTEST_SKIP() << "CPU lacks this ISA";
        if (simd().matvec == nullptr) GTEST_SKIP() << "no one-token kernel for this type";
    }
    const TypeOps& simd() const { return ops(std::get<1>(GetParam()), std::get<0>(GetParam())); }
    const TypeOps& scalar() const { return ops(std::get<1>(GetParam()), Isa::Scalar); }
};

// Float rounding bound of a dot product whose block sums are exact: 1e-5 of a bound on the
// magnitude of its terms, from the dequantized operands (computed independently of the kernels
// under test): per 32-group twice the largest |w| times |a|, plus |w * a| for the formats whose
// minimum adds a separate term.
double tolerance(const std::vector<float>& w, const std::vector<float>& a) {
    double magnitude = 0;
    for (size_t g = 0; g < w.size(); g += 32) {
        const size_t end = std::min(w.size(), g + 32);
        double wmax = 0;
        for (size_t i = g; i < end; ++i) wmax = std::max(wmax, std::fabs(double(w[i])));
        for (size_t i = g; i < end; ++i) magnitude += 2 * wmax * std::fabs(double(a[i]));
    }
    for (size_t i = 0; i < w.size(); ++i) magnitude += std::fabs(double(w[i]) * a[i]);
    return 1e-5 * magnitude + 1e-30;
}

TEST_P(Matvec, AgreesWithScalarOnShortAndLongRows) {
    const DType type = simd().type;
    const int64_t block = static_cast<int64_t>(traits(type).block_size);
    // 256 / 4096 values: a tile of rows well under / over the short-row threshold (4 KiB).
    for (const int64_t k : {block == 256 ? int64_t{256} : int64_t{128}, int64_t{4096}}) {
        const int64_t rows = 23, row_begin = 2, row_end = 21;
        const size_t w_row = test_util::bytes_for(type, k);
        std::vector<std::byte> w(w_row * rows);
        std::vector<std::vector<float>> w_deq;
        for (int64_t r = 0; r < rows; ++r) {
            const auto x = test_util::mixed_row(k, 500 + static_cast<uint32_t>(r));
            scalar().from_float(x.data(), w.data() + r * w_row, k);
            std::vector<std::byte> one(w.begin() + r * w_row, w.begin() + (r + 1) * w_row);
            w_deq.push_back(test_util::dequantize(scalar(), one, k));
        }
        const auto x = test_util::normal_row(k, 77);
        const size_t a_row = activation_row_bytes(simd(), k);
        std::vector<std::byte> a(a_row);
        convert_activations(simd(), k, x.data(), static_cast<size_t>(k), 1, a.data(), a_row);
        const auto a_deq = test_util::dequantize(ops(simd().dot_type, Isa::Scalar), a, k);
        std::vector<float> y(rows, -7.f);
        matmul_rows(simd(), k, w.data(), w_row, a.data(), a_row, 1, y.data(), rows, row_begin,
                    row_end);
        for (int64_t r = 0; r < rows; ++r) {
            if (r < row_begin || r >= row_end) {
                ASSERT_EQ(y[r], -7.f) << "row " << r << " outside the range was written";
                continue;
            }
            const float want = scalar().vec_dot(k, w.data() + r * w_row, a.data());
            ASSERT_NEAR(y[r], want, tolerance(w_deq[r], a_deq)) << "k " << k << " row " << r;
        }
    }
}

std::vector<Param> params() {
    std::vector<Param> p;
    for (Isa isa : kAllIsas) {
        if (isa == Isa::Scalar) continue;
        for (DType t : test_util::weight_types()) p.emplace_back(isa, t);
    }
    return p;
}

INSTANTIATE_TEST_SUITE_P(AllIsasAndTypes, Matvec, ::testing::ValuesIn(params()),
                         [](const auto& info) {
                             return std::string(isa_name(std::get<0>(info.param))) + "_" +
                                    test_util::type_label(std::get<1>(info.param));
                         });

}  // namespace
}  // namespace pocket::kernels
