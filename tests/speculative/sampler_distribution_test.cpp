// Sampler::distribution is what sample() draws from; Sampler::draw draws from a given one.
#include <gtest/gtest.h>

#include <vector>

#include "pocket/generate/sampling.h"

namespace pocket {
namespace {

const std::vector<float> kLogits = {0.5f, 2.0f, -1.0f, 1.5f, 0.0f, 1.9f};

TEST(SamplerDistribution, GreedyIsOneHotOnTheGreedyToken) {
    Sampler s(SamplingParams::greedy());
    const auto d = s.distribution(kLogits);
    ASSERT_EQ(d.size(), 1u);
    EXPECT_EQ(d[0].id, 1);
    EXPECT_EQ(d[0].prob, 1.0f);
    EXPECT_EQ(s.sample(kLogits), 1);
}

TEST(SamplerDistribution, AppliesTheTruncationStepsAndSumsToOne) {
    SamplingParams p;
    p.temperature = 0.7f;
    p.top_k = 3;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.seed = 7;
    Sampler s(p);
    const auto d = s.distribution(kLogits);
    ASSERT_EQ(d.size(), 3u);
    double sum = 0.0;
    for (const Candidate& c : d) {
        EXPECT_TRUE(c.id == 1 || c.id == 5 || c.id == 3);
        sum += c.prob;
    }
    EXPECT_NEAR(sum, 1.0, 1e-6);
}

TEST(SamplerDistribution, DrawFollowsTheGivenProbabilities) {
    Sampler s(SamplingParams{.temperature = 1.0f, .seed = 3});
    const std::vector<Candidate> d = {{4, 0.0f, 0.25f}, {9, 0.0f, 0.0f}, {2, 0.0f, 0.75f}};
    int fours = 0;
    const int n = 20000;
    for (int i = 0; i < n; ++i) {
        const TokenId t = s.draw(d);
        ASSERT_NE(t, 9);  // probability 0: never drawn
        fours += t == 4;
    }
    // sd = sqrt(n * 0.25 * 0.75) ~ 61; 6 sd.
    EXPECT_NEAR(fours, n / 4, 370);
}

TEST(SamplerDistribution, ReseedKeepsHistoryAndChangesTheDraws) {
    Sampler a(SamplingParams{.temperature = 1.0f, .seed = 3});
    a.accept(5);
    Sampler b = a;
    b.reseed(99);
    EXPECT_EQ(b.history().size(), a.history().size());
    int same = 0;
    for (int i = 0; i < 64; ++i) same += a.uniform01() == b.uniform01();
    EXPECT_LT(same, 2);
}

}  // namespace
}  // namespace pocket
