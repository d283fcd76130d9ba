// The online-softmax kernels of tiled attention (softmax_tile, pv_tile in kernels/attention.h):
// - the scalar reference against its definition computed here in double precision;
// - every SIMD table BIT-IDENTICAL to the scalar one, over tile lengths that are not multiples
//   of 8 or 16, rows that are wholly masked (-inf), whose maximum moves up, down or stays,
//   exponentials that underflow, head sizes that take the fallbacks, and zero weights (skipped).
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "kernels/attention.h"
#include "pocket/core/fp16.h"

namespace pocket::kernels {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

std::vector<float> random_floats(size_t n, uint32_t seed, float sigma) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> dist(0.0f, sigma);
    std::vector<float> v(n);
    for (auto& x : v) x = dist(rng);
    return v;
}

void expect_bits_equal(const std::vector<float>& got, const std::vector<float>& want,
                       const char* what) {
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) {
        ASSERT_EQ(std::bit_cast<uint32_t>(got[i]), std::bit_cast<uint32_t>(want[i]))
            << what << " differs at " << i << ": " << got[i] << " vs " << want[i];
    }
}

// One online-softmax state of n_q rows over tiles of n keys.
struct TileState {
    std::vector<float> scores, max, sum, rescale;
};

// Rows: 0 random, 1 wholly masked, 2 partly masked, 3 huge scores (the others underflow against
// its max), 4 tiny; earlier maxima per row: -inf (first tile), above, below.
TileState make_state(int64_t n_q, int64_t n, int64_t stride, uint32_t seed) {
    TileState s;
    s.scores = random_floats(static_cast<size_t>(n_q * stride), seed, 4.0f);
    for (int64_t i = 0; i < n_q; ++i) {
        float* row = s.scores.data() + i * stride;
        switch (i % 5) {
            case 1:
                std::fill(row, row + n, -kInf);
                break;
            case 2:
                for (int64_t j = 0; j < n; j += 3) row[j] = -kInf;
                break;
            case 3:
                row[n / 2] = 900.0f;
                break;
            case 4:
                for (int64_t j = 0; j < n; ++j) row[j] *= 1e-3f;
                break;
            default:
                break;
        }
        const int kind = static_cast<int>(i % 3);
        s.max.push_back(kind == 0 ? -kInf : kind == 1 ? 20.0f : -3.0f);
        s.sum.push_back(kind == 0 ? 0.0f : 2.5f);
    }
    s.rescale.assign(static_cast<size_t>(n_q), -1.0f);
    return s;
}

TEST(AttentionTile, ScalarSoftmaxTileFollowsItsDefinition) {
    const AttentionOps& ops = attention_ops(Isa::Scalar);
    const int64_t n_q = 6, n = 37, stride = 40;
    const float scale = 0.3f;
    TileState s = make_state(n_q, n, stride, 5);
    const TileState before = s;
    ops.softmax_tile(s.scores.data(), stride, n_q, n, scale, s.max.data(), s.sum.data(),
                     s.rescale.data());
    for (int64_t i = 0; i < n_q; ++i) {
        const float* in = before.scores.data() + i * stride;
        double tile_max = -INFINITY;
        for (int64_t j = 0; j < n; ++j) tile_max = std::max(tile_max, double{in[j] * scale});
        const double new_max = std::max(tile_max, double{before.max[static_cast<size_t>(i)]});
        if (new_max == -INFINITY) {
            EXPECT_EQ(s.rescale[static_cast<size_t>(i)], 1.0f);
            EXPECT_EQ(s.sum[static_cast<size_t>(i)], before.sum[static_cast<size_t>(i)]);
            for (int64_t j = 0; j < n; ++j)
                EXPECT_EQ(s.scores[static_cast<size_t>(i * stride + j)], 0.0f);
            continue;
        }
        EXPECT_EQ(s.max[static_cast<size_t>(i)], static_cast<float>(new_max)) << i;
        const double r = std::exp(before.max[static_cast<size_t>(i)] - new_max);
        EXPECT_NEAR(s.rescale[static_cast<size_t>(i)], r, 1e-6 * r + 1e-30) << i;
        double sum = 0.0;
        for (int64_t j = 0; j < n; ++j) {
            const double e = std::exp(double{in[j] * scale} - new_max);
            sum += e;
            EXPECT_NEAR(s.scores[static_cast<size_t>(i * stride + j)], e, 4e-6 * e + 1e-37)
                << i << " " << j;
        }
        const double want = before.sum[static_cast<size_t>(i)] * r + sum;
        EXPECT_NEAR(s.sum[static_cast<size_t>(i)], want, 1e-5 * want) << i;
    }
}

TEST(AttentionTile, ScalarPvTileFollowsItsDefinition) {
    const AttentionOps& ops = attention_ops(Isa::Scalar);
    const int64_t n_q = 3, n = 21, hd = 32;
    auto p = random_floats(static_cast<size_t>(n_q * n), 9, 1.0f);
    for (auto& x : p) x = std::fabs(x);
    p[4] = 0.0f;
    std::vector<f16_t> v(static_cast<size_t>(n * hd));
    const auto vf = random_floats(v.size(), 10, 1.0f);
    for (size_t i = 0; i < v.size(); ++i) v[i] = f32_to_f16(vf[i]);
    auto acc = random_floats(static_cast<size_t>(n_q * hd), 11, 1.0f);
    const auto before = acc;
    const std::vector<float> rescale = {0.5f, 1.0f, 0.0f};
    ops.pv_tile(p.data(), n, n_q, v.data(), hd, n, hd, rescale.data(), acc.data());
    for (int64_t i = 0; i < n_q; ++i) {
        for (int64_t d = 0; d < hd; ++d) {
            double want =
                before[static_cast<size_t>(i * hd + d)] * double{rescale[static_cast<size_t>(i)]};
            for (int64_t j = 0; j < n; ++j)
                want += double{p[static_cast<size_t>(i * n + j)]} *
                        f16_to_f32(v[static_cast<size_t>(j * hd + d)]);
            EXPECT_NEAR(acc[static_cast<size_t>(i * hd + d)], want, 1e-5 * (1 + std::fabs(want)));
        }
    }
}

TEST(AttentionTile, EverySimdTableIsBitIdenticalToScalar) {
    int checked = 0;
    for (Isa isa : {Isa::Avx2, Isa::Avx512, Isa::Neon}) {
        if (!isa_supported(isa)) continue;
        SCOPED_TRACE(isa_name(isa));
        const AttentionOps& simd = attention_ops(isa);
        const AttentionOps& scalar = attention_ops(Isa::Scalar);
        for (int64_t n : {1, 7, 8, 15, 16, 17, 33, 64}) {
            const int64_t n_q = 10, stride = 64;
            TileState a = make_state(n_q, n, stride, static_cast<uint32_t>(n));
            TileState b = a;
            scalar.softmax_tile(a.scores.data(), stride, n_q, n, 0.125f, a.max.data(), a.sum.data(),
                                a.rescale.data());
            simd.softmax_tile(b.scores.data(), stride, n_q, n, 0.125f, b.max.data(), b.sum.data(),
                              b.rescale.data());
            expect_bits_equal(b.scores, a.scores, "softmax_tile scores");
            expect_bits_equal(b.max, a.max, "softmax_tile max");
            expect_bits_equal(b.sum, a.sum, "softmax_tile sum");
            expect_bits_equal(b.rescale, a.rescale, "softmax_tile rescale");

            // Weights from that step (zeros where masked), one and several rows, head sizes
            // of every path: 8 (AVX2 only), 48 (AVX-512 falls back), 64, 128, 256 (two register
            // blocks).
            for (int64_t hd : {8, 48, 64, 128, 256}) {
                for (int64_t rows : {int64_t{1}, int64_t{7}, n_q}) {
                    std::vector<f16_t> v(static_cast<size_t>(n * 3 * hd));  // stride 3 * hd
                    const auto vf = random_floats(v.size(), 77, 1.0f);
                    for (size_t i = 0; i < v.size(); ++i) v[i] = f32_to_f16(vf[i]);
                    auto acc_a = random_floats(static_cast<size_t>(rows * hd), 78, 1.0f);
                    auto acc_b = acc_a;
                    scalar.pv_tile(a.scores.data(), stride, rows, v.data() + hd, 3 * hd, n, hd,
                                   a.rescale.data(), acc_a.data());
                    simd.pv_tile(a.scores.data(), stride, rows, v.data() + hd, 3 * hd, n, hd,
                                 a.rescale.data(), acc_b.data());
                    expect_bits_equal(acc_b, acc_a, "pv_tile");
                }
            }
        }
        ++checked;
    }
    if (checked == 0) GTEST_SKIP() << "no SIMD instruction set on this CPU";
}

// fold_acc: one rounding per fma, so every table gives the reference's bits, tails included.
TEST(AttentionTile, FoldAccIsBitIdenticalOnEveryTable) {
    const AttentionOps& scalar = attention_ops(Isa::Scalar);
    for (const Isa isa : kAllIsas) {
        if (isa == Isa::Scalar || !isa_supported(isa)) continue;
        for (int64_t n : {1, 7, 8, 17, 64, 100}) {
            const auto part = random_floats(static_cast<size_t>(n), 91, 3.0f);
            auto want = random_floats(static_cast<size_t>(n), 92, 3.0f);
            auto got = want;
            scalar.fold_acc(want.data(), part.data(), 0.7311f, 1.0f / 3.0f, n);
            attention_ops(isa).fold_acc(got.data(), part.data(), 0.7311f, 1.0f / 3.0f, n);
            expect_bits_equal(got, want, "fold_acc");
        }
    }
    // The definition itself: fma(acc, ca, part * cb), a single rounding of the sum.
    float acc = 1.0f + 0x1p-23f;
    const float part = 3.0f;
    scalar.fold_acc(&acc, &part, 1.0f - 0x1p-24f, 1.0f / 3.0f, 1);
    EXPECT_EQ(acc, std::fma(1.0f + 0x1p-23f, 1.0f - 0x1p-24f, 3.0f * (1.0f / 3.0f)));
}

}  // namespace
}  // namespace pocket::kernels
