// The attention kernels (kernels/attention.h):
// - the scalar reference against independent computations (double-precision sums, the C
//   library's exp) within float tolerances, and against the summation order it promises
//   (16 FMA lanes folded by a pairwise tree) computed here from scratch;
// - every SIMD table BIT-IDENTICAL to the scalar one, over shapes that hit every tail (key counts
//   not multiple of 4, rows not multiple of 16, head sizes that take the fallback) and inputs
//   whose exponentials are subnormal, overflow or masked (-inf).
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "kernels/attention.h"
#include "pocket/core/fp16.h"
#include "support/numeric.h"

namespace pocket::kernels {
namespace {

using test::expect_bits_equal;
using test::random_f16;
using test::random_floats;

// ---- the scalar reference against independent computations ----

TEST(AttentionReference, ExpApproxIsCloseToExp) {
    for (float x = -87.0f; x <= 88.0f; x += 0.0137f) {
        const float want = std::exp(x);
        EXPECT_NEAR(reference::exp_approx(x), want, 4e-7f * want) << x;
    }
    EXPECT_EQ(reference::exp_approx(0.0f), 1.0f);
    EXPECT_EQ(reference::exp_approx(-std::numeric_limits<float>::infinity()), 0.0f);
    EXPECT_EQ(reference::exp_approx(-1000.0f), 0.0f);
    EXPECT_TRUE(std::isinf(reference::exp_approx(1000.0f)));
}

TEST(AttentionReference, DotF16FollowsSixteenLanesAndTree) {
    for (int64_t n : {16, 64, 128, 256}) {
        const auto a = random_f16(static_cast<size_t>(n), 1);
        const auto b = random_f16(static_cast<size_t>(n), 2);
        float lanes[16] = {};
        double exact = 0.0;
        for (int64_t i = 0; i < n; ++i) {
            const float x = f16_to_f32(a[i]), y = f16_to_f32(b[i]);
            lanes[i % 16] = std::fma(x, y, lanes[i % 16]);
            exact += static_cast<double>(x) * y;
        }
        // Pairwise: lane l with l + 8, then with l + 4, then (0 + 2) + (1 + 3).
        float h[8], q[4];
        for (int l = 0; l < 8; ++l) h[l] = lanes[l] + lanes[l + 8];
        for (int l = 0; l < 4; ++l) q[l] = h[l] + h[l + 4];
        const float tree = (q[0] + q[2]) + (q[1] + q[3]);
        const float got = reference::dot_f16(a.data(), b.data(), n);
        EXPECT_EQ(std::bit_cast<uint32_t>(got), std::bit_cast<uint32_t>(tree)) << n;
        EXPECT_NEAR(got, exact, 1e-5 * std::sqrt(static_cast<double>(n)) * 4) << n;
    }
    // Lengths that are not multiples of 16 take ggml's F16 dot order; still the dot product.
    for (int64_t n : {8, 40, 72, 100}) {
        const auto a = random_f16(static_cast<size_t>(n), 3);
        const auto b = random_f16(static_cast<size_t>(n), 4);
        double exact = 0.0;
        for (int64_t i = 0; i < n; ++i)
            exact += static_cast<double>(f16_to_f32(a[i])) * f16_to_f32(b[i]);
        EXPECT_NEAR(reference::dot_f16(a.data(), b.data(), n), exact, 1e-4) << n;
    }
}

TEST(AttentionReference, SoftmaxMatchesDoublePrecision) {
    const AttentionOps& ops = attention_ops(Isa::Scalar);
    for (int64_t n : {1, 5, 16, 17, 100}) {
        auto x = random_floats(static_cast<size_t>(n), 7, 3.0f);
        x[0] = -std::numeric_limits<float>::infinity();  // masked
        const float scale = 0.125f;
        std::vector<double> want(x.size());
        double max = -INFINITY, sum = 0.0;
        for (float v : x) max = std::max(max, static_cast<double>(v) * scale);
        for (size_t i = 0; i < x.size(); ++i)
            sum += want[i] = std::exp(static_cast<double>(x[i]) * scale - max);
        auto got = x;
        ops.softmax(got.data(), n, scale);
        for (size_t i = 0; i < x.size(); ++i) {
            if (n == 1) {  // only a masked entry: nothing to compare against
                break;
            }
            EXPECT_NEAR(got[i], want[i] / sum, 1e-6) << n << " " << i;
        }
        if (n > 1) {
            EXPECT_EQ(got[0], 0.0f);
        }
    }
}

TEST(AttentionReference, SiluMulMatchesDoublePrecision) {
    const AttentionOps& ops = attention_ops(Isa::Scalar);
    for (int64_t n : {3, 16, 37}) {
        auto gate = random_floats(static_cast<size_t>(n), 11, 4.0f);
        const auto up = random_floats(static_cast<size_t>(n), 12);
        auto got = gate;
        ops.silu_mul(got.data(), up.data(), n);
        for (size_t i = 0; i < gate.size(); ++i) {
            const double g = gate[i];
            EXPECT_NEAR(got[i], g / (1.0 + std::exp(-g)) * up[i], 1e-5 * (1 + std::fabs(g * up[i])))
                << i;
        }
    }
}

TEST(AttentionReference, PvIsTheProbabilityWeightedSum) {
    const AttentionOps& ops = attention_ops(Isa::Scalar);
    const int64_t hd = 32, n_pos = 37, first_pos = 5;
    const auto p = random_floats(n_pos, 21, 0.3f);
    const auto v = random_f16(static_cast<size_t>(n_pos * hd), 22);
    std::vector<float> acc(16 * hd, 0.0f), out(hd);
    ops.pv(p.data(), 0, 1, v.data(), hd, n_pos, first_pos, hd, acc.data());
    ops.pv_reduce(acc.data(), hd, out.data());
    for (int64_t d = 0; d < hd; ++d) {
        double want = 0.0;
        for (int64_t j = 0; j < n_pos; ++j)
            want += static_cast<double>(round_to_f16(p[j])) * f16_to_f32(v[j * hd + d]);
        EXPECT_NEAR(out[d], want, 1e-5) << d;
    }
}

TEST(AttentionReference, ToF16RoundsToNearestEven) {
    const auto x = random_floats(100, 31, 100.0f);
    std::vector<f16_t> got(x.size());
    attention_ops(Isa::Scalar).to_f16(x.data(), got.data(), static_cast<int64_t>(x.size()));
    for (size_t i = 0; i < x.size(); ++i) EXPECT_EQ(got[i], f32_to_f16(x[i])) << i;
}

// ---- every SIMD table bit-identical to the scalar one ----

class AttentionIsa : public ::testing::TestWithParam<Isa> {
  protected:
    void SetUp() override {
        if (!isa_supported(GetParam())) GTEST_SKIP() << "CPU lacks " << isa_name(GetParam());
    }
    const AttentionOps& simd() const { return attention_ops(GetParam()); }
    const AttentionOps& scalar() const { return attention_ops(Isa::Scalar); }
};

TEST_P(AttentionIsa, ToF16) {
    for (int64_t n : {1, 7, 8, 16, 33, 200}) {
        auto x = random_floats(static_cast<size_t>(n), 41, 1000.0f);
        x[0] = 1e-7f;  // subnormal in F16
        std::vector<f16_t> a(x.size()), b(x.size());
        simd().to_f16(x.data(), a.data(), n);
        scalar().to_f16(x.data(), b.data(), n);
        EXPECT_EQ(a, b) << n;
    }
}

TEST_P(AttentionIsa, QkIsBitIdentical) {
    // 8: the short-head path; 40: not a multiple of 16; 48, 80: slices of 32 and a last of 16
    for (int64_t hd : {8, 16, 32, 40, 48, 64, 80, 96, 128, 256}) {
        // 2-9: generation groups; 17: a prompt block. 200 keys: more than one block of converted
        // keys
        for (int64_t n_q : {1, 2, 3, 4, 7, 9, 17}) {
            for (int64_t n_keys : {1, 3, 4, 7, 37, 64, 200}) {
                const int64_t key_stride = hd * 3;  // keys interleaved with other heads' keys
                const auto q = random_f16(static_cast<size_t>(n_q * hd), 51, 2.0f);
                const auto keys = random_f16(static_cast<size_t>(n_keys * key_stride), 52, 2.0f);
                const int64_t score_stride = n_keys + 5;
                std::vector<float> a(static_cast<size_t>(n_q * score_stride), -1.0f), b = a;
                simd().qk(q.data(), n_q, keys.data() + hd, key_stride, n_keys, hd, a.data(),
                          score_stride);
                scalar().qk(q.data(), n_q, keys.data() + hd, key_stride, n_keys, hd, b.data(),
                            score_stride);
                SCOPED_TRACE(::testing::Message()
                             << "hd " << hd << " n_q " << n_q << " keys " << n_keys);
                expect_bits_equal(a, b, "qk");
            }
        }
    }
}

TEST_P(AttentionIsa, PvAndReduceAreBitIdentical) {
    for (int64_t hd : {8, 24, 40, 64, 128, 256}) {
        for (int64_t n_q : {1, 4, 7}) {
            // Calls as for KV pages: positions 3..22, 23..47, then 48..3+n_pos-1 (long enough to
            // cross the SIMD kernels' chunks of positions).
            for (int64_t n_pos : {int64_t{45}, int64_t{300}}) {
                const int64_t value_stride = hd * 2, prob_stride = n_pos + 5;
                const auto probs = random_floats(static_cast<size_t>(n_q * prob_stride), 61, 0.2f);
                const auto values = random_f16(static_cast<size_t>(n_pos * value_stride), 62, 3.0f);
                std::vector<float> a(static_cast<size_t>(n_q * 16 * hd), 0.0f), b = a;
                for (auto [acc, ops] : {std::pair{&a, &simd()}, std::pair{&b, &scalar()}}) {
                    for (const auto& [begin, end] :
                         {std::pair<int64_t, int64_t>{0, 20}, {20, 45}, {45, n_pos}}) {
                        ops->pv(probs.data() + begin, prob_stride, n_q,
                                values.data() + begin * value_stride, value_stride, end - begin,
                                3 + begin, hd, acc->data());
                    }
                }
                SCOPED_TRACE(::testing::Message()
                             << "hd " << hd << " n_q " << n_q << " n_pos " << n_pos);
                expect_bits_equal(a, b, "pv lanes");
                std::vector<float> ra(static_cast<size_t>(hd)), rb(static_cast<size_t>(hd));
                simd().pv_reduce(a.data(), hd, ra.data());
                scalar().pv_reduce(b.data(), hd, rb.data());
                expect_bits_equal(ra, rb, "pv_reduce");
            }
        }
    }
}

// pv_rows against the steps it stands for, done here with the scalar table: zeroed lanes, pv run
// by run, pv_reduce. Runs as KV pages give them: a short prompt's one run from 0, runs that start
// and end off the 16-lane grid, a window's late start, and more positions than the lanes.
TEST_P(AttentionIsa, PvRowsIsThePvStepsBitForBit) {
    struct Case {
        std::vector<std::pair<int64_t, int64_t>> runs;  // [first_pos, end)
    };
    const Case cases[] = {{{{0, 1}}},
                          {{{0, 5}}},
                          {{{0, 16}}},
                          {{{0, 32}}},
                          {{{0, 33}}},
                          {{{3, 22}, {22, 47}, {47, 64}}},
                          {{{21, 64}, {64, 128}, {128, 150}}},
                          {{{0, 64}, {64, 128}, {128, 192}, {192, 256}}}};
    for (int64_t hd : {8, 24, 40, 64, 128, 256}) {
        for (int64_t n_q : {1, 3, 7}) {
            for (const Case& c : cases) {
                const int64_t n_pos = c.runs.back().second, value_stride = hd * 2;
                const int64_t prob_stride = n_pos + 5;
                const auto probs = random_floats(static_cast<size_t>(n_q * prob_stride), 63, 0.2f);
                const auto values = random_f16(static_cast<size_t>(n_pos * value_stride), 64, 3.0f);
                std::vector<PvRun> runs;
                std::vector<float> lanes(static_cast<size_t>(n_q * 16 * hd), 0.0f);
                for (const auto& [begin, end] : c.runs) {
                    runs.push_back({values.data() + begin * value_stride, end - begin, begin});
                    scalar().pv(probs.data() + begin, prob_stride, n_q,
                                values.data() + begin * value_stride, value_stride, end - begin,
                                begin, hd, lanes.data());
                }
                std::vector<float> want(static_cast<size_t>(n_q * hd));
                for (int64_t i = 0; i < n_q; ++i)
                    scalar().pv_reduce(lanes.data() + i * 16 * hd, hd, want.data() + i * hd);
                SCOPED_TRACE(::testing::Message() << "hd " << hd << " n_q " << n_q << " runs "
                                                  << runs.size() << " positions " << n_pos);
                for (const AttentionOps* ops : {&simd(), &scalar()}) {
                    std::vector<float> got(want.size(), -1.0f);
                    ops->pv_rows(probs.data(), prob_stride, n_q, runs, value_stride, hd, got.data(),
                                 hd);
                    expect_bits_equal(got, want, ops == &simd() ? "pv_rows" : "scalar pv_rows");
                }
            }
        }
    }
}

TEST_P(AttentionIsa, PvTileSkipsZeroWeightsEvenBesideWeightedRows) {
    // Rows that share value loads: some weigh a value, others give it 0. A skipped value must
    // leave the accumulator's bits alone, -0 included (fma(0, v, -0) would make it +0), and
    // NaN or infinite values must not leak in through a 0 weight.
    for (int64_t hd : {16, 64, 128}) {
        for (int64_t rows : {2, 5, 9}) {
            const int64_t n = 19;
            auto values = random_f16(static_cast<size_t>(n * hd), 71, 1.0f);
            values[static_cast<size_t>(3 * hd + 1)] =
                f32_to_f16(std::numeric_limits<float>::infinity());
            std::vector<float> probs(static_cast<size_t>(rows * n), 0.0f);
            for (int64_t i = 0; i < rows; ++i) {
                for (int64_t j = 0; j < n; ++j) {
                    // Row 0 weighs nothing; the others weigh every other value.
                    if (i > 0 && (i + j) % 2 == 0 && j != 3)
                        probs[static_cast<size_t>(i * n + j)] = 0.01f * static_cast<float>(j + i);
                }
            }
            probs[static_cast<size_t>(n + 4)] = -0.0f;
            std::vector<float> a(static_cast<size_t>(rows * hd), -0.0f), b = a;
            const std::vector<float> rescale(static_cast<size_t>(rows), 1.0f);
            simd().pv_tile(probs.data(), n, rows, values.data(), hd, n, hd, rescale.data(),
                           a.data());
            scalar().pv_tile(probs.data(), n, rows, values.data(), hd, n, hd, rescale.data(),
                             b.data());
            SCOPED_TRACE(::testing::Message() << "hd " << hd << " rows " << rows);
            expect_bits_equal(a, b, "pv_tile");
            for (int64_t d = 0; d < hd; ++d)
                EXPECT_TRUE(std::signbit(a[static_cast<size_t>(d)])) << "row 0, d " << d;
        }
    }
}

TEST_P(AttentionIsa, SoftmaxTileOverManyRowsIsBitIdentical) {
    // More rows than one register of per-row bookkeeping (16), tile widths below, at and past
    // the model's 64: rows wholly masked, partly masked, and with no maximum yet.
    constexpr float kInf = std::numeric_limits<float>::infinity();
    const int64_t n_q = 37, stride = 96;
    for (int64_t n : {1, 5, 16, 33, 64, 80}) {
        auto scores = random_floats(static_cast<size_t>(n_q * stride), 81, 4.0f);
        std::vector<float> max(static_cast<size_t>(n_q)), sum(static_cast<size_t>(n_q));
        for (int64_t i = 0; i < n_q; ++i) {
            float* row = scores.data() + i * stride;
            if (i % 5 == 1) std::fill_n(row, n, -kInf);                  // nothing visible
            if (i % 5 == 2) std::fill_n(row + n / 2, n - n / 2, -kInf);  // causal edge
            max[static_cast<size_t>(i)] =
                i % 3 == 0 ? -kInf : 1.5f - 0.25f * static_cast<float>(i % 7);
            sum[static_cast<size_t>(i)] = i % 3 == 0 ? 0.0f : 3.0f;
        }
        auto scores_b = scores, max_b = max, sum_b = sum;
        std::vector<float> r(static_cast<size_t>(n_q), -1.0f), r_b = r;
        simd().softmax_tile(scores.data(), stride, n_q, n, 0.125f, max.data(), sum.data(),
                            r.data());
        scalar().softmax_tile(scores_b.data(), stride, n_q, n, 0.125f, max_b.data(), sum_b.data(),
                              r_b.data());
        SCOPED_TRACE(::testing::Message() << "n " << n);
        expect_bits_equal(scores, scores_b, "scores");
        expect_bits_equal(max, max_b, "row_max");
        expect_bits_equal(sum, sum_b, "row_sum");
        expect_bits_equal(r, r_b, "rescale");
    }
}

TEST_P(AttentionIsa, SoftmaxIsBitIdentical) {
    for (int64_t n : {1, 2, 7, 8, 15, 16, 17, 31, 33, 64, 100, 257}) {
        for (float sigma : {0.5f, 5.0f, 40.0f}) {
            auto x = random_floats(static_cast<size_t>(n), 71 + static_cast<uint32_t>(n), sigma);
            if (n > 3) {
                x[1] = -std::numeric_limits<float>::infinity();
                x[2] = -std::numeric_limits<float>::infinity();
            }
            auto a = x, b = x;
            simd().softmax(a.data(), n, 0.3f);
            scalar().softmax(b.data(), n, 0.3f);
            SCOPED_TRACE(::testing::Message() << "n " << n << " sigma " << sigma);
            expect_bits_equal(a, b, "softmax");
        }
    }
}

// Rows [0, x]: the softmax returns exp_approx(x) (times 1/(1 + it)), so a sweep over x compares
// the exponentials themselves, through subnormal results (x < -87) down to zero and the
// out-of-range cutoff.
TEST_P(AttentionIsa, ExponentialIsBitIdenticalOverItsRange) {
    std::vector<float> a, b;
    for (float x = -140.0f; x <= 0.0f; x += 0.00731f) {
        const float row[2] = {0.0f, x};
        a.insert(a.end(), row, row + 2);
    }
    b = a;
    for (size_t i = 0; i < a.size(); i += 2) {
        simd().softmax(&a[i], 2, 1.0f);
        scalar().softmax(&b[i], 2, 1.0f);
    }
    expect_bits_equal(a, b, "exp sweep");
    // And through SiLU, whose argument is -gate: large |gate| saturates the exponential.
    std::vector<float> gate, up;
    for (float g = -300.0f; g <= 300.0f; g += 0.0173f) {
        gate.push_back(g);
        up.push_back(1.0f + g * 1e-3f);
    }
    auto ga = gate, gb = gate;
    simd().silu_mul(ga.data(), up.data(), static_cast<int64_t>(gate.size()));
    scalar().silu_mul(gb.data(), up.data(), static_cast<int64_t>(gate.size()));
    expect_bits_equal(ga, gb, "silu sweep");
}

// The one-value exponential of the fold, over the whole range the fold gives it (<= 0) and past it.
TEST_P(AttentionIsa, OneValueExponentialIsBitIdentical) {
    std::vector<float> xs = {0.0f,    -0.0f,    -std::numeric_limits<float>::infinity(),
                             -87.3f,  -88.8f,   -103.9f,
                             -150.0f, -1000.0f, 1.0f,
                             88.0f,   89.0f,    1000.0f};
    for (float x = -200.0f; x <= 100.0f; x += 0.00377f) xs.push_back(x);
    for (float x : xs) {
        const float got = simd().exp_approx(x), want = scalar().exp_approx(x);
        ASSERT_EQ(std::bit_cast<uint32_t>(got), std::bit_cast<uint32_t>(want)) << "x = " << x;
    }
}

TEST_P(AttentionIsa, SiluMulIsBitIdentical) {
    for (int64_t n : {1, 15, 16, 17, 40, 1536}) {
        const auto gate = random_floats(static_cast<size_t>(n), 81, 6.0f);
        const auto up = random_floats(static_cast<size_t>(n), 82);
        auto a = gate, b = gate;
        simd().silu_mul(a.data(), up.data(), n);
        scalar().silu_mul(b.data(), up.data(), n);
        SCOPED_TRACE(::testing::Message() << "n " << n);
        expect_bits_equal(a, b, "silu_mul");
    }
}

INSTANTIATE_TEST_SUITE_P(Simd, AttentionIsa, ::testing::Values(Isa::Avx2, Isa::Avx512, Isa::Neon),
                         [](const auto& info) { return std::string(isa_name(info.param)); });

}  // namespace
}  // namespace pocket::kernels
