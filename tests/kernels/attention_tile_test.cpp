// The online-softmax kernels of tiled attention (softmax_tile, pv_tile in kernels/attention.h):
// - the scalar reference against its definition computed here in double precision;
// - every SIMD table BIT-IDENTICAL to the scalar one, over tile lengths that are not multiples
//   of 8 or 16, rows that are wholly masked (-inf), whose maximum moves up, down or stays,
//   exponentials that underflow, head sizes that take the fallbacks, and zero weights (skipped);
// - a whole online softmax over tiles of every width 1..64, run by each SIMD table and the
//   scalar one side by side, compared bit for bit after every step (scripts/test-arm runs these
//   for the NEON table under QEMU).
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <random>
#include <utility>
#include <vector>

#include "kernels/attention.h"
#include "pocket/core/fp16.h"
#include "support/numeric.h"

namespace pocket::kernels {
namespace {

using test::expect_bits_equal;
using test::random_f16;
using test::random_floats;

constexpr float kInf = std::numeric_limits<float>::infinity();

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

// The running state of one table's online softmax: max, sum and accumulator per row.
struct OnlineState {
    std::vector<float> max, sum, rescale, acc;
    OnlineState(int64_t n_q, int64_t hd)
        : max(static_cast<size_t>(n_q), -kInf),
          sum(static_cast<size_t>(n_q), 0.0f),
          rescale(static_cast<size_t>(n_q), -1.0f),
          acc(static_cast<size_t>(n_q * hd), 0.0f) {}
};

// Scores of tile t (n keys, n_q rows): random, with rows masked as the model masks them
// (wholly: before a row's window; a causal edge; every third key) and maxima that jump up
// (the earlier tiles' exponentials then underflow) or stay below the running one.
std::vector<float> tile_scores(int64_t t, int64_t n_q, int64_t n, int64_t stride) {
    auto s =
        random_floats(static_cast<size_t>(n_q * stride), 1000 + static_cast<uint32_t>(t), 4.0f);
    for (int64_t i = 0; i < n_q; ++i) {
        float* row = s.data() + i * stride;
        switch ((t + i) % 7) {
            case 0:
                std::fill(row, row + n, -kInf);
                break;
            case 1:
                std::fill(row + n / 2, row + n, -kInf);
                break;
            case 2:
                for (int64_t j = 0; j < n; j += 3) row[j] = -kInf;
                break;
            case 3:
                row[(t * 5) % n] = 720.0f + 8.0f * static_cast<float>(t);  // x = 90 + t
                break;
            case 4:
                for (int64_t j = 0; j < n; ++j) row[j] -= 300.0f;
                break;
            default:
                break;
        }
    }
    return s;
}

// Runs the tiles of the given widths through the SIMD table and the scalar one, comparing every
// output of softmax_tile and pv_tile after each tile.
void expect_online_softmax_identical(const AttentionOps& simd, int64_t n_q, int64_t hd,
                                     const std::vector<int64_t>& widths) {
    const AttentionOps& scalar = attention_ops(Isa::Scalar);
    constexpr int64_t kStride = 64;  // the model's kTile
    OnlineState a(n_q, hd), b(n_q, hd);
    for (size_t t = 0; t < widths.size(); ++t) {
        const int64_t n = widths[t];
        SCOPED_TRACE(::testing::Message()
                     << "n_q " << n_q << " hd " << hd << " tile " << t << " width " << n);
        auto sa = tile_scores(static_cast<int64_t>(t), n_q, n, kStride);
        auto sb = sa;
        scalar.softmax_tile(sa.data(), kStride, n_q, n, 0.125f, a.max.data(), a.sum.data(),
                            a.rescale.data());
        simd.softmax_tile(sb.data(), kStride, n_q, n, 0.125f, b.max.data(), b.sum.data(),
                          b.rescale.data());
        expect_bits_equal(sb, sa, "softmax_tile scores");
        expect_bits_equal(b.max, a.max, "softmax_tile max");
        expect_bits_equal(b.sum, a.sum, "softmax_tile sum");
        expect_bits_equal(b.rescale, a.rescale, "softmax_tile rescale");
        // Value rows interleaved with other heads' (stride 3 * hd), as in the KV cache.
        const auto v = random_f16(static_cast<size_t>(n * 3 * hd), 2000 + static_cast<uint32_t>(t));
        scalar.pv_tile(sa.data(), kStride, n_q, v.data() + hd, 3 * hd, n, hd, a.rescale.data(),
                       a.acc.data());
        simd.pv_tile(sb.data(), kStride, n_q, v.data() + hd, 3 * hd, n, hd, b.rescale.data(),
                     b.acc.data());
        expect_bits_equal(b.acc, a.acc, "pv_tile");
        if (::testing::Test::HasFatalFailure()) return;
    }
}

// Every tile width 1..64 (odd ones included) in one pass over a long context, for the model's
// head sizes (64, 128; 80 takes the 4- and 8-wide remainders) and row counts of generation (1,
// a GQA group) and of prompts (17: past the 16 of the shared-conversion paths).
TEST(AttentionTile, OnlineSoftmaxOverEveryTileWidthIsBitIdentical) {
    std::vector<int64_t> widths;
    for (int64_t n = 1; n <= 64; ++n) widths.push_back(n);
    int checked = 0;
    for (const Isa isa : kAllIsas) {
        if (isa == Isa::Scalar || !isa_supported(isa)) continue;
        SCOPED_TRACE(isa_name(isa));
        for (int64_t hd : {64, 80, 128}) {
            for (int64_t n_q : {1, 2, 5, 17}) {
                expect_online_softmax_identical(attention_ops(isa), n_q, hd, widths);
                if (HasFatalFailure()) return;
            }
        }
        ++checked;
    }
    if (checked == 0) GTEST_SKIP() << "no SIMD instruction set on this CPU";
}

// Head sizes of the other paths and fallbacks: 4 and 12 (NEON's smallest blocks; the x86
// tables fall back), 8 (AVX2's short head), 40 and 48 (not multiples of 16), 30 (no SIMD
// table), 256 (several register blocks), 576 (past the tables' stack buffers).
TEST(AttentionTile, OnlineSoftmaxOverOtherHeadSizesIsBitIdentical) {
    const std::vector<int64_t> widths = {1, 7, 16, 33, 64, 3};
    int checked = 0;
    for (const Isa isa : kAllIsas) {
        if (isa == Isa::Scalar || !isa_supported(isa)) continue;
        SCOPED_TRACE(isa_name(isa));
        for (int64_t hd : {4, 8, 12, 30, 40, 48, 256, 576}) {
            for (int64_t n_q : {1, 3, 17}) {
                expect_online_softmax_identical(attention_ops(isa), n_q, hd, widths);
                if (HasFatalFailure()) return;
            }
        }
        ++checked;
    }
    if (checked == 0) GTEST_SKIP() << "no SIMD instruction set on this CPU";
}

// pv_tile with given rescale factors: 0 (the first tile after an empty state), 1, the usual
// fractions, and ones that make the accumulator subnormal; weights with zeros (skipped) and
// subnormals (not skipped).
TEST(AttentionTile, PvTileWithGivenRescaleFactorsIsBitIdentical) {
    const AttentionOps& scalar = attention_ops(Isa::Scalar);
    const std::vector<float> factors = {0.0f, 1.0f, 0.5f, 0.7311f, 0x1p-126f, 0x1p-149f, 3.0f};
    const auto n_q = static_cast<int64_t>(factors.size());
    int checked = 0;
    for (const Isa isa : kAllIsas) {
        if (isa == Isa::Scalar || !isa_supported(isa)) continue;
        SCOPED_TRACE(isa_name(isa));
        for (int64_t hd : {4, 8, 36, 64, 80, 128, 512}) {
            for (int64_t n : {1, 5, 16, 23, 64}) {
                for (int64_t rows : {int64_t{1}, int64_t{2}, n_q}) {
                    SCOPED_TRACE(::testing::Message()
                                 << "hd " << hd << " n " << n << " rows " << rows);
                    auto p = random_floats(static_cast<size_t>(rows * n), 301, 0.3f);
                    for (size_t k = 0; k < p.size(); ++k) {
                        p[k] = std::fabs(p[k]);
                        if (k % 4 == 1) p[k] = 0.0f;
                        if (k % 9 == 2) p[k] = 0x1p-140f;
                    }
                    const auto v = random_f16(static_cast<size_t>(n * hd), 302);
                    auto want = random_floats(static_cast<size_t>(rows * hd), 303, 2.0f);
                    auto got = want;
                    scalar.pv_tile(p.data(), n, rows, v.data(), hd, n, hd, factors.data(),
                                   want.data());
                    attention_ops(isa).pv_tile(p.data(), n, rows, v.data(), hd, n, hd,
                                               factors.data(), got.data());
                    expect_bits_equal(got, want, "pv_tile");
                    if (HasFatalFailure()) return;
                }
            }
        }
        ++checked;
    }
    if (checked == 0) GTEST_SKIP() << "no SIMD instruction set on this CPU";
}

// softmax_tile when the maximum is zero: the reference keeps the first of -0 and +0 it meets
// (std::max), which row_max must show in its bits too.
TEST(AttentionTile, SoftmaxTileZeroMaximumKeepsTheReferenceSign) {
    const AttentionOps& scalar = attention_ops(Isa::Scalar);
    {
        const Isa isa = Isa::Neon;
        if (!isa_supported(isa)) GTEST_SKIP() << "CPU lacks " << isa_name(isa);
        for (int64_t n : {1, 5, 16, 20}) {
            std::vector<float> scores(static_cast<size_t>(2 * n), -1.0f);
            scores[0] = -0.0f;  // row 0: -0 first, then +0
            scores[static_cast<size_t>(n - 1)] = 0.0f;
            scores[static_cast<size_t>(n)] = -0.0f;  // row 1: -0 against a running +0
            std::vector<float> max_a = {-kInf, 0.0f}, sum_a = {0.0f, 1.0f}, r_a(2);
            auto max_b = max_a, sum_b = sum_a, r_b = r_a;
            auto sb = scores;
            scalar.softmax_tile(scores.data(), n, 2, n, 1.0f, max_a.data(), sum_a.data(),
                                r_a.data());
            attention_ops(isa).softmax_tile(sb.data(), n, 2, n, 1.0f, max_b.data(), sum_b.data(),
                                            r_b.data());
            SCOPED_TRACE(::testing::Message() << "n " << n);
            expect_bits_equal(sb, scores, "scores");
            expect_bits_equal(max_b, max_a, "max");
            expect_bits_equal(sum_b, sum_a, "sum");
        }
    }
}

// fold_acc: one rounding per fma, so every table gives the reference's bits, tails included.
TEST(AttentionTile, FoldAccIsBitIdenticalOnEveryTable) {
    const AttentionOps& scalar = attention_ops(Isa::Scalar);
    for (const Isa isa : kAllIsas) {
        if (isa == Isa::Scalar || !isa_supported(isa)) continue;
        for (int64_t n = 1; n <= 70; ++n) {
            // The fold's factors: both below 1, one of them 1 (the larger maximum's side), 0.
            for (const auto& [ca, cb] :
                 {std::pair{0.7311f, 1.0f / 3.0f}, std::pair{1.0f, 0.01f}, std::pair{0.0f, 1.0f}}) {
                const auto part = random_floats(static_cast<size_t>(n), 91, 3.0f);
                auto want = random_floats(static_cast<size_t>(n), 92, 3.0f);
                auto got = want;
                scalar.fold_acc(want.data(), part.data(), ca, cb, n);
                attention_ops(isa).fold_acc(got.data(), part.data(), ca, cb, n);
                SCOPED_TRACE(::testing::Message() << isa_name(isa) << " n " << n << " ca " << ca);
                expect_bits_equal(got, want, "fold_acc");
            }
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
