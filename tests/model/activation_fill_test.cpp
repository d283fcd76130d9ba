// ActivationCache::begin_fill / fill_row: the rows a region converts itself (the
// forward pass does it in the norm before each sub-layer) must be the bytes get() would have
// converted, and linear() must then give the same outputs as with a fresh cache.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "kernels/interleaved.h"
#include "kernels/kernels.h"
#include "model/linear.h"
#include "pocket/core/thread_pool.h"

namespace pocket::model {
namespace {

std::vector<float> normal_values(int64_t n, uint32_t seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> dist(0.f, 1.f);
    std::vector<float> v(static_cast<size_t>(n));
    for (float& x : v) x = dist(rng);
    return v;
}

// A rows x k matrix of `type`, row-major or interleaved (its storage kept alive by the struct).
struct Matrix {
    std::vector<std::byte> bytes;
    TensorView view;

    Matrix(DType type, int64_t rows, int64_t k, bool interleave) {
        const kernels::TypeOps& ops = kernels::ops(type, kernels::Isa::Scalar);
        const auto row_bytes = static_cast<size_t>(*pocket::row_bytes(type, k));
        std::vector<std::byte> plain(row_bytes * static_cast<size_t>(rows));
        const auto values = normal_values(rows * k, 11);
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

class ActivationFill : public ::testing::TestWithParam<Case> {};

TEST_P(ActivationFill, FilledRowsAreWhatGetConverts) {
    const Case c = GetParam();
    if (c.interleave && !kernels::can_interleave(c.type)) GTEST_SKIP();
    constexpr int64_t kRows = 48, kK = 512, kTokens = 5;
    const Matrix m(c.type, kRows, kK, c.interleave);
    const auto x = normal_values(kTokens * kK, 23);
    ThreadPool pool(2);

    ActivationCache fresh;
    std::vector<float> want(kRows * kTokens);
    linear(m.view, x.data(), kTokens, want.data(), fresh, pool);

    // The rows filled from two threads, each taking every other row, latest first.
    ActivationCache filled;
    filled.begin_fill(m.view, x.data(), kTokens);
    pool.run_on_all([&](int thread, int threads) {
        for (int64_t t = kTokens - 1 - thread; t >= 0; t -= threads) filled.fill_row(t);
    });
    std::vector<float> got(kRows * kTokens, -1.f);
    linear(m.view, x.data(), kTokens, got.data(), filled, pool);
    EXPECT_EQ(0, std::memcmp(want.data(), got.data(), want.size() * sizeof(float)))
        << dtype_name(c.type) << (c.interleave ? " interleaved" : " rows");
}

// linear() takes the filled rows as they are, without converting the input again: changing the
// floats after the fill does not change the result (F32 weights read the floats themselves).
TEST_P(ActivationFill, LinearUsesTheFilledRows) {
    const Case c = GetParam();
    if (c.interleave && !kernels::can_interleave(c.type)) GTEST_SKIP();
    if (c.type == DType::F32) GTEST_SKIP() << "F32 weights read the input floats directly";
    constexpr int64_t kRows = 16, kK = 256, kTokens = 3;
    const Matrix m(c.type, kRows, kK, c.interleave);
    auto x = normal_values(kTokens * kK, 7);
    ThreadPool pool(1);
    ActivationCache fresh;
    std::vector<float> want(kRows * kTokens), got(kRows * kTokens);
    linear(m.view, x.data(), kTokens, want.data(), fresh, pool);
    ActivationCache filled;
    filled.begin_fill(m.view, x.data(), kTokens);
    for (int64_t t = 0; t < kTokens; ++t) filled.fill_row(t);
    for (float& v : x) v = -v;
    linear(m.view, x.data(), kTokens, got.data(), filled, pool);
    EXPECT_EQ(0, std::memcmp(want.data(), got.data(), want.size() * sizeof(float)));
}

// A cache filled for one input must not answer for another that happens to share its size.
TEST_P(ActivationFill, AnotherInputIsConvertedAgain) {
    const Case c = GetParam();
    if (c.interleave && !kernels::can_interleave(c.type)) GTEST_SKIP();
    constexpr int64_t kRows = 16, kK = 256, kTokens = 3;
    const Matrix m(c.type, kRows, kK, c.interleave);
    const auto x = normal_values(kTokens * kK, 5);
    const auto other = normal_values(kTokens * kK, 6);
    ThreadPool pool(1);
    ActivationCache cache;
    cache.begin_fill(m.view, x.data(), kTokens);
    for (int64_t t = 0; t < kTokens; ++t) cache.fill_row(t);
    std::vector<float> got(kRows * kTokens), want(kRows * kTokens);
    linear(m.view, other.data(), kTokens, got.data(), cache, pool);
    ActivationCache fresh;
    linear(m.view, other.data(), kTokens, want.data(), fresh, pool);
    EXPECT_EQ(0, std::memcmp(want.data(), got.data(), want.size() * sizeof(float)));
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
