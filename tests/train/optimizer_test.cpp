// AdamW against updates worked out by hand, gradient clipping, and the learning-rate schedule.
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <vector>

#include "pocket/core/error.h"
#include "pocket/train/optimizer.h"

namespace pocket::train {
namespace {

struct TwoParams {
    std::vector<float> a{1.0f}, b{-2.0f};
    std::vector<Parameter> params;
    TwoParams() {
        params.push_back({.name = "a", .value = a, .grad = {0.0f}, .decay = true});
        params.push_back({.name = "b", .value = b, .grad = {0.0f}, .decay = false});
    }
};

TEST(AdamW, TwoStepsMatchTheHandComputedUpdate) {
    // lr 0.1, betas 0.9/0.999, eps 1e-8, weight decay 0.01 (on `a` only), no clipping.
    // Step 1, a: g = 0.5, m = 0.05, v = 0.00025, m^ = 0.5, v^ = 0.25:
    //   a = 1 * (1 - 0.1 * 0.01) - 0.1 * 0.5 / (0.5 + 1e-8) = 0.999 - 0.099999998 = 0.899000002.
    // Step 2, a: g = -0.25, m = 0.045 - 0.025 = 0.02, v = 0.00024975 + 0.0000625 = 0.00031225,
    //   m^ = 0.02 / 0.19 = 0.1052632, v^ = 0.00031225 / 0.001999 = 0.1562031 (sqrt 0.3952253):
    //   a = 0.899000002 * 0.999 - 0.1 * 0.1052632 / 0.3952253 = 0.8981010 - 0.0266337 = 0.8714673.
    // b (no decay): step 1 g = -0.1: b = -2 + 0.1 * 0.1 / (0.1 + 1e-8) = -1.90000001;
    //   step 2 g = 0.3: m = -0.009 + 0.03 = 0.021, v = 0.00000999 + 0.00009 = 0.00009999,
    //   m^ = 0.1105263, v^ = 0.0500200 (sqrt 0.2236515): b = -1.90000001 - 0.0494190 = -1.9494190.
    TwoParams p;
    AdamW adam({.beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0.01, .grad_clip = 0});
    p.params[0].grad[0] = 0.5f;
    p.params[1].grad[0] = -0.1f;
    const double norm = adam.step(p.params, 0.1);
    EXPECT_NEAR(norm, std::sqrt(0.25 + 0.01), 1e-7);
    EXPECT_NEAR(p.a[0], 0.899000002, 1e-6);
    EXPECT_NEAR(p.b[0], -1.90000001, 1e-6);
    EXPECT_NEAR(adam.moments()[0].m[0], 0.05, 1e-6 * 0.05);
    EXPECT_NEAR(adam.moments()[0].v[0], 0.00025, 1e-6 * 0.00025);

    p.params[0].grad[0] = -0.25f;
    p.params[1].grad[0] = 0.3f;
    adam.step(p.params, 0.1);
    EXPECT_EQ(adam.steps(), 2);
    EXPECT_NEAR(p.a[0], 0.8714673, 1e-6);
    EXPECT_NEAR(p.b[0], -1.9494190, 1e-6);
    EXPECT_NEAR(adam.moments()[1].m[0], 0.021, 1e-6 * 0.021);
    EXPECT_NEAR(adam.moments()[1].v[0], 0.00009999, 1e-6 * 0.00009999);
}

TEST(AdamW, ClipsTheGlobalGradientNorm) {
    // Gradients 3 and 4: norm 5, clipped to 1, so the first moment sees g * 1 / (5 + 1e-6).
    TwoParams p;
    AdamW adam({.weight_decay = 0, .grad_clip = 1.0});
    p.params[0].grad[0] = 3.0f;
    p.params[1].grad[0] = 4.0f;
    EXPECT_NEAR(adam.step(p.params, 0.01), 5.0, 1e-6);
    EXPECT_NEAR(adam.moments()[0].m[0], 0.1 * 3.0 / 5.000001, 1e-7);
    EXPECT_NEAR(adam.moments()[1].m[0], 0.1 * 4.0 / 5.000001, 1e-7);
    // Under the clip nothing is scaled.
    AdamW unclipped({.weight_decay = 0, .grad_clip = 10.0});
    TwoParams q;
    q.params[0].grad[0] = 3.0f;
    q.params[1].grad[0] = 4.0f;
    unclipped.step(q.params, 0.01);
    EXPECT_NEAR(unclipped.moments()[0].m[0], 0.3, 1e-7);
}

TEST(AdamW, RestoredStateContinuesIdentically) {
    TwoParams p, q;
    AdamW a({.weight_decay = 0.1}), b({.weight_decay = 0.1});
    const float grads[3][2] = {{0.5f, -1.0f}, {0.25f, 2.0f}, {-0.75f, 0.1f}};
    for (int s = 0; s < 2; ++s) {
        p.params[0].grad[0] = grads[s][0];
        p.params[1].grad[0] = grads[s][1];
        a.step(p.params, 0.05);
    }
    // q continues from p's values and a's saved state.
    q.a = p.a;
    q.b = p.b;
    b.restore(a.steps(), {a.moments().begin(), a.moments().end()});
    for (TwoParams* t : {&p, &q}) {
        t->params[0].grad[0] = grads[2][0];
        t->params[1].grad[0] = grads[2][1];
    }
    a.step(p.params, 0.05);
    b.step(q.params, 0.05);
    EXPECT_EQ(p.a[0], q.a[0]);
    EXPECT_EQ(p.b[0], q.b[0]);
}

TEST(AdamW, RefusesParametersOfAnotherShape) {
    TwoParams p;
    AdamW adam;
    adam.step(p.params, 0.1);
    std::vector<Parameter> one(p.params.begin(), p.params.begin() + 1);
    EXPECT_THROW(adam.step(one, 0.1), Error);
}

TEST(LrSchedule, WarmsUpLinearlyThenDecaysOnACosineToTheFloor) {
    const LrSchedule s{.peak = 1e-3, .floor = 1e-4, .warmup = 4, .total = 14};
    EXPECT_DOUBLE_EQ(s.at(0), 2.5e-4);
    EXPECT_DOUBLE_EQ(s.at(1), 5e-4);
    EXPECT_DOUBLE_EQ(s.at(3), 1e-3);
    EXPECT_DOUBLE_EQ(s.at(4), 1e-3);  // the decay starts at the peak
    // Half-way through the 10 decay steps: floor + (peak - floor) / 2.
    EXPECT_NEAR(s.at(9), 5.5e-4, 1e-15);
    // Last step: progress 9/10, 1e-4 + 9e-4 * (1 + cos(0.9 pi)) / 2 = 1.2202457e-4.
    EXPECT_NEAR(s.at(13), 1.2202456766718092e-4, 1e-15);
    EXPECT_NEAR(s.at(14), 1e-4, 1e-15);
    for (int64_t i = 4; i < 13; ++i) EXPECT_GT(s.at(i), s.at(i + 1));

    const LrSchedule flat{.peak = 0.01, .floor = 0.01, .warmup = 0, .total = 5};
    for (int64_t i = 0; i < 5; ++i) EXPECT_DOUBLE_EQ(flat.at(i), 0.01);
    EXPECT_THROW((void)s.at(-1), Error);
}

}  // namespace
}  // namespace pocket::train
