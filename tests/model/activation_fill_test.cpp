// ActivationCache::begin_fill / fill_row: the rows a region converts itself (the
// forward pass does it in the norm before each sub-layer) must be the bytes get() would have
// converted, and linear() must then give the same outputs as with a fresh cache.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "kernels/interleaved.h"
#include "kernels/kernel_test_util.h"
#include "kernels/kernels.h"
#include "model/linear.h"
#include "pocket/core/thread_pool.h"

namespace pocket::model {
namespace {

using kernels::test_util::normal_row;

// A rows x k matrix of `type`, row-major or interleaved (its storage kept alive by the struct).
struct Matrix {
    std::vector<std::byte> bytes;
    TensorView view;

    Matrix(DType type, int64_t rows, int64_t k, bool interleave) {
        const kernels::TypeOps& ops = kernels::ops(type, kernels::Isa::Scalar);
        const auto row_bytes = static_cast<size_t>(*pocket::row_bytes(type, k));
        std::vector<std::byte> plain(row_bytes * static_cast<size_t>(rows));
        const auto values = normal_row(rows * k, 11);
        for (int64_t r = 0; r < rows; ++r)
            ops.from_float_ref(values.data() + r * k, plain.data() + r * row_bytes, k);
        if (interleave) {
            bytes.resize(kernels::interleaved_bytes(type, rows, k));
            kernels::interleave_rows(
                type, k, plain.data(), row_bytes, rows, bytes.data(), 0,
                (rows + kernels::kInterleaveRows - 1) / kernels::kInterleaveRows);
        } else {
            bytes = std::move(plain);
        }
        view = TensorView{.name = "w",
                          .type = type,
                          .cols = k,
                          .rows = rows,
                          .row_bytes = row_bytes,
                          .data = bytes.data(),
                          .layout = interleave ? Layout::Interleaved8 : Layout::Rows};
    }
};

struct Case {
    DType type;
    bool interleave;
};

class ActivationFill : public ::testing::TestWithParam<Case> {
  protected:
    void SetUp() override {
        if (GetParam().interleave && !kernels::can_interleave(GetParam().type)) GTEST_SKIP();
    }
};

// y = m x for n tokens, through `cache`.
std::vector<float> multiply(const Matrix& m, const std::vector<float>& x, int64_t n,
                            ActivationCache& cache, ThreadPool& pool) {
    std::vector<float> y(static_cast<size_t>(m.view.rows * n), -1.f);
    linear(m.view, x.data(), n, y.data(), cache, pool);
    return y;
}

// The same through a cache that has converted nothing yet.
std::vector<float> multiply_fresh(const Matrix& m, const std::vector<float>& x, int64_t n,
                                  ThreadPool& pool) {
    ActivationCache fresh;
    return multiply(m, x, n, fresh, pool);
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

TEST_P(ActivationFill, FilledRowsAreWhatGetConverts) {
    const Case c = GetParam();
    constexpr int64_t kTokens = 5;
    const Matrix m(c.type, 48, 512, c.interleave);
    const auto x = normal_row(kTokens * 512, 23);
    ThreadPool pool(2);
    // The rows filled from two threads, each taking every other row, latest first.
    ActivationCache filled;
    filled.begin_fill(m.view, x.data(), kTokens);
    pool.run_on_all([&](int thread, int threads) {
        for (int64_t t = kTokens - 1 - thread; t >= 0; t -= threads) filled.fill_row(t);
    });
    EXPECT_TRUE(
        same_bits(multiply_fresh(m, x, kTokens, pool), multiply(m, x, kTokens, filled, pool)))
        << dtype_name(c.type) << (c.interleave ? " interleaved" : " rows");
}

// linear() takes the filled rows as they are, without converting the input again: changing the
// floats after the fill does not change the result (F32 weights read the floats themselves).
TEST_P(ActivationFill, LinearUsesTheFilledRows) {
    const Case c = GetParam();
    if (c.type == DType::F32) GTEST_SKIP() << "F32 weights read the input floats directly";
    constexpr int64_t kTokens = 3;
    const Matrix m(c.type, 16, 256, c.interleave);
    auto x = normal_row(kTokens * 256, 7);
    ThreadPool pool(1);
    const auto want = multiply_fresh(m, x, kTokens, pool);
    ActivationCache filled;
    filled.begin_fill(m.view, x.data(), kTokens);
    for (int64_t t = 0; t < kTokens; ++t) filled.fill_row(t);
    for (float& v : x) v = -v;
    EXPECT_TRUE(same_bits(want, multiply(m, x, kTokens, filled, pool)));
}

// A cache filled for one input must not answer for another that happens to share its size.
TEST_P(ActivationFill, AnotherInputIsConvertedAgain) {
    const Case c = GetParam();
    constexpr int64_t kTokens = 3;
    const Matrix m(c.type, 16, 256, c.interleave);
    const auto x = normal_row(kTokens * 256, 5);
    const auto other = normal_row(kTokens * 256, 6);
    ThreadPool pool(1);
    ActivationCache cache;
    cache.begin_fill(m.view, x.data(), kTokens);
    for (int64_t t = 0; t < kTokens; ++t) cache.fill_row(t);
    EXPECT_TRUE(same_bits(multiply_fresh(m, other, kTokens, pool),
                          multiply(m, other, kTokens, cache, pool)));
}

INSTANTIATE_TEST_SUITE_P(Types, ActivationFill,
                         ::testing::Values(Case{DType::Q8_0, true}, Case{DType::Q4_0, true},
                                           Case{DType::Q4_K, true}, Case{DType::Q8_0, false},
                                           Case{DType::Q6_K, false}, Case{DType::F16, false},
                                           Case{DType::F32, false}),
                         [](const auto& info) {
                             return std::string(dtype_name(info.param.type)) +
                                    (info.param.interleave ? "_interleaved" : "_rows");
                         });

}  // namespace
}  // namespace pocket::model
