// Every operation of the training pass against central finite differences of its forward: the
// loss is L = sum_i r_i * y_i for fixed random r, so dL/dy = r is what each backward receives.
// Shapes are deliberately awkward: head_dim not a multiple of 8, odd head counts, GQA groups of 2
// and 3, windows shorter than the sequence.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <vector>

#include "pocket/core/rng.h"
#include "train/ops.h"

namespace pocket::train {
namespace {

std::vector<float> random_vector(Rng& rng, size_t n, float scale = 1.0f) {
    std::vector<float> v(n);
    for (float& x : v) x = static_cast<float>((2.0 * rng.uniform01() - 1.0) * scale);
    return v;
}

double weighted_sum(const std::vector<float>& y, const std::vector<float>& r) {
    double s = 0.0;
    for (size_t i = 0; i < y.size(); ++i) s += static_cast<double>(y[i]) * r[i];
    return s;
}

// ||analytic - numeric|| / ||numeric|| over every coordinate of `x`, the numeric gradient by
// central differences of `loss` (which reads x).
double gradient_error(std::vector<float>& x, const std::vector<float>& analytic,
                      const std::function<double()>& loss, float eps) {
    double diff = 0.0, norm = 0.0;
    for (size_t i = 0; i < x.size(); ++i) {
        const float saved = x[i];
        x[i] = saved + eps;
        const double up = loss();
        x[i] = saved - eps;
        const double down = loss();
        x[i] = saved;
        const double numeric = (up - down) / (2.0 * eps);
        diff += (analytic[i] - numeric) * (analytic[i] - numeric);
        norm += numeric * numeric;
    }
    EXPECT_GT(norm, 0.0) << "the loss does not depend on this input: the check proves nothing";
    return std::sqrt(diff / norm);
}

constexpr double kTolerance = 1e-3;

TEST(TrainOps, RmsNorm) {
    Rng rng(1);
    const int64_t n = 37;
    auto x = random_vector(rng, n), w = random_vector(rng, n), r = random_vector(rng, n);
    std::vector<float> y(n), dx(n), dw(n, 0.0f);
    float rstd = 0;
    auto loss = [&] {
        ops::rms_norm(x.data(), w.data(), y.data(), n, 1e-5f, &rstd);
        return weighted_sum(y, r);
    };
    loss();
    ops::rms_norm_backward(x.data(), w.data(), rstd, r.data(), dx.data(), dw.data(), n);
    EXPECT_LT(gradient_error(x, dx, loss, 1e-2f), kTolerance);
    EXPECT_LT(gradient_error(w, dw, loss, 1e-2f), kTolerance);
}

TEST(TrainOps, LayerNorm) {
    Rng rng(2);
    const int64_t n = 29;
    auto x = random_vector(rng, n), w = random_vector(rng, n), b = random_vector(rng, n),
         r = random_vector(rng, n);
    std::vector<float> y(n), dx(n), dw(n, 0.0f), db(n, 0.0f);
    float mean = 0, rstd = 0;
    auto loss = [&] {
        ops::layer_norm(x.data(), w.data(), b.data(), y.data(), n, 1e-5f, &mean, &rstd);
        return weighted_sum(y, r);
    };
    loss();
    ops::layer_norm_backward(x.data(), w.data(), mean, rstd, r.data(), dx.data(), dw.data(),
                             db.data(), n);
    EXPECT_LT(gradient_error(x, dx, loss, 1e-2f), kTolerance);
    EXPECT_LT(gradient_error(w, dw, loss, 1e-2f), kTolerance);
    EXPECT_LT(gradient_error(b, db, loss, 1e-2f), kTolerance);
}

TEST(TrainOps, ActivationsAndSoftcap) {
    for (float x : {-7.5f, -2.0f, -0.3f, 0.0f, 0.4f, 1.7f, 6.0f}) {
        const float eps = 1e-3f;
        const double num_gelu =
            (static_cast<double>(ops::gelu(x + eps)) - ops::gelu(x - eps)) / (2 * eps);
        const double num_silu =
            (static_cast<double>(ops::silu(x + eps)) - ops::silu(x - eps)) / (2 * eps);
        EXPECT_NEAR(ops::gelu_grad(x), num_gelu, 1e-3 * std::max(1.0, std::abs(num_gelu))) << x;
        EXPECT_NEAR(ops::silu_grad(x), num_silu, 1e-3 * std::max(1.0, std::abs(num_silu))) << x;
        const float c = 5.0f;
        const double num_cap =
            (static_cast<double>(ops::softcap(x + eps, c)) - ops::softcap(x - eps, c)) / (2 * eps);
        EXPECT_NEAR(ops::softcap_grad_from_output(ops::softcap(x, c), c), num_cap, 1e-3) << x;
    }
}

class RopeGrad : public ::testing::TestWithParam<bool> {};

TEST_P(RopeGrad, MatchesFiniteDifferences) {
    const bool neox = GetParam();
    Rng rng(3);
    const int64_t hd = 12, n_rot = 8;  // rotates part of the head only
    std::vector<float> cs(n_rot);
    const float factors[] = {1.0f, 2.0f, 4.0f, 8.0f};
    for (int64_t i = 0; i < n_rot / 2; ++i) {
        const float angle = 0.7f * static_cast<float>(i + 1) / factors[i];
        cs[2 * i] = std::cos(angle);
        cs[2 * i + 1] = std::sin(angle);
    }
    auto x = random_vector(rng, hd), r = random_vector(rng, hd);
    std::vector<float> y(hd);
    auto rotate = [&](std::vector<float>& v) {
        const int64_t half = n_rot / 2;
        for (int64_t i = 0; i < half; ++i) {
            const int64_t a = neox ? i : 2 * i, b = neox ? i + half : 2 * i + 1;
            const float x0 = v[a], x1 = v[b];
            v[a] = x0 * cs[2 * i] - x1 * cs[2 * i + 1];
            v[b] = x0 * cs[2 * i + 1] + x1 * cs[2 * i];
        }
    };
    auto loss = [&] {
        y = x;
        rotate(y);
        return weighted_sum(y, r);
    };
    std::vector<float> dx = r;
    ops::rope_backward(dx.data(), n_rot, cs.data(), neox);
    EXPECT_LT(gradient_error(x, dx, loss, 1e-2f), kTolerance);
}

INSTANTIATE_TEST_SUITE_P(Styles, RopeGrad, ::testing::Values(false, true));

struct MatmulCase {
    int64_t rows, cols, n;
};

TEST(TrainOps, MatmulGradients) {
    for (MatmulCase c : {MatmulCase{5, 7, 3}, MatmulCase{19, 33, 6}, MatmulCase{4, 8, 1}}) {
        Rng rng(static_cast<uint64_t>(c.rows * 100 + c.cols));
        auto w = random_vector(rng, c.rows * c.cols), x = random_vector(rng, c.n * c.cols),
             r = random_vector(rng, c.n * c.rows);
        std::vector<float> y(c.n * c.rows), dx(c.n * c.cols, 0.0f), dw(c.rows * c.cols, 0.0f);
        auto loss = [&] {
            ops::matmul(ops::dense(w.data(), c.rows, c.cols), x.data(), c.n, y.data(), c.rows);
            return weighted_sum(y, r);
        };
        ops::matmul_dx(ops::dense(w.data(), c.rows, c.cols), r.data(), c.rows, c.n, dx.data());
        ops::matmul_dw(r.data(), c.rows, x.data(), c.n, c.rows, c.cols, dw.data());
        EXPECT_LT(gradient_error(x, dx, loss, 1e-2f), kTolerance);
        EXPECT_LT(gradient_error(w, dw, loss, 1e-2f), kTolerance);
    }
}

struct AttentionCase {
    int64_t n, n_head, n_head_kv, head_dim;
    float softcap;
    int64_t window;
};

class AttentionGrad : public ::testing::TestWithParam<AttentionCase> {};

TEST_P(AttentionGrad, MatchesFiniteDifferences) {
    const AttentionCase c = GetParam();
    const ops::AttentionShape s{.n = c.n,
                                .n_head = c.n_head,
                                .n_head_kv = c.n_head_kv,
                                .head_dim = c.head_dim,
                                .scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim)),
                                .softcap = c.softcap,
                                .window = c.window};
    Rng rng(static_cast<uint64_t>(c.n * 7 + c.n_head));
    const int64_t nq = c.n * c.n_head * c.head_dim, nkv = c.n * c.n_head_kv * c.head_dim;
    auto q = random_vector(rng, nq, 1.5f), k = random_vector(rng, nkv, 1.5f),
         v = random_vector(rng, nkv), r = random_vector(rng, nq);
    std::vector<float> out(nq), probs(c.n_head * c.n * c.n);
    auto loss = [&] {
        ops::attention(s, q.data(), k.data(), v.data(), out.data(), probs.data());
        return weighted_sum(out, r);
    };
    loss();
    std::vector<float> dq(nq), dk(nkv), dv(nkv);
    ops::attention_backward(s, q.data(), k.data(), v.data(), probs.data(), r.data(), dq.data(),
                            dk.data(), dv.data());
    EXPECT_LT(gradient_error(q, dq, loss, 1e-2f), kTolerance);
    EXPECT_LT(gradient_error(k, dk, loss, 1e-2f), kTolerance);
    EXPECT_LT(gradient_error(v, dv, loss, 1e-2f), kTolerance);
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, AttentionGrad,
    ::testing::Values(AttentionCase{5, 1, 1, 8, 0.0f, 0},    // one head
                      AttentionCase{6, 6, 2, 12, 0.0f, 0},   // GQA 3:1, head_dim % 8 != 0
                      AttentionCase{7, 6, 3, 5, 0.0f, 0},    // GQA 2:1, odd head_dim
                      AttentionCase{6, 3, 3, 7, 0.0f, 0},    // odd head count, no GQA
                      AttentionCase{8, 4, 2, 8, 2.5f, 0},    // soft-capped scores
                      AttentionCase{9, 2, 1, 6, 0.0f, 3},    // sliding window
                      AttentionCase{9, 5, 1, 6, 3.0f, 4}));  // all of it at once

}  // namespace
}  // namespace pocket::train
