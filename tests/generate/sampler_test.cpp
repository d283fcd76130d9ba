// The whole chain through Sampler: settings, greedy, penalties, bias and constraints, seeding, and
// statistical checks of the random pick against distributions the test computes itself.
#include "pocket/generate/sampling.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <numeric>
#include <set>
#include <vector>

#include <gtest/gtest.h>

#include "pocket/core/error.h"

namespace pocket {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

// Everything off but the random pick at the given temperature.
SamplingParams plain(float temperature, uint64_t seed) {
    SamplingParams p;
    p.temperature = temperature;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.seed = seed;
    return p;
}

// Reference softmax in double, written independently of the library.
std::vector<double> softmax(const std::vector<float>& logits, double temperature) {
    double max = -std::numeric_limits<double>::infinity();
    for (float l : logits) max = std::max(max, static_cast<double>(l));
    std::vector<double> out;
    double sum = 0.0;
    for (float l : logits) {
        out.push_back(std::exp((l - max) / temperature));
        sum += out.back();
    }
    for (double& p : out) p /= sum;
    return out;
}

// Pearson chi-square of observed counts against expected probabilities.
double chi_square(const std::vector<int>& counts, const std::vector<double>& probs, int draws) {
    double chi2 = 0.0;
    for (size_t i = 0; i < counts.size(); ++i) {
        const double expected = probs[i] * draws;
        if (expected == 0.0) {
            EXPECT_EQ(counts[i], 0) << "token " << i << " has probability 0";
            continue;
        }
        chi2 += (counts[i] - expected) * (counts[i] - expected) / expected;
    }
    return chi2;
}

std::vector<int> draw_counts(Sampler& sampler, const std::vector<float>& logits, int draws) {
    std::vector<int> counts(logits.size(), 0);
    for (int i = 0; i < draws; ++i) ++counts.at(static_cast<size_t>(sampler.sample(logits)));
    return counts;
}

// Deterministic pseudo-random logits in [-4, 4).
std::vector<float> random_logits(size_t n, uint64_t seed) {
    Rng rng(seed);
    std::vector<float> out(n);
    for (float& l : out) l = static_cast<float>(rng.uniform01() * 8.0 - 4.0);
    return out;
}

// Token ids ordered best first (higher logit, then lower id), computed here from scratch.
std::vector<TokenId> ranking(const std::vector<float>& logits) {
    std::vector<TokenId> order(logits.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](TokenId a, TokenId b) { return logits[a] > logits[b]; });
    return order;
}

TEST(SamplingParams, DefaultsFollowLlamaCpp) {
    const SamplingParams p;
    EXPECT_FLOAT_EQ(p.temperature, 0.8f);
    EXPECT_EQ(p.top_k, 40);
    EXPECT_FLOAT_EQ(p.top_p, 0.95f);
    EXPECT_FLOAT_EQ(p.min_p, 0.05f);
    EXPECT_FLOAT_EQ(p.repeat_penalty, 1.0f);
    EXPECT_EQ(p.repeat_last_n, 64);
    EXPECT_FLOAT_EQ(p.frequency_penalty, 0.0f);
    EXPECT_FLOAT_EQ(p.presence_penalty, 0.0f);
    EXPECT_EQ(p.seed, SamplingParams::kRandomSeed);
}

TEST(Sampler, RejectsBadSettings) {
    auto with = [](auto change) {
        SamplingParams p;
        change(p);
        return p;
    };
    EXPECT_THROW(Sampler(with([](SamplingParams& p) { p.top_p = 0.0f; })), Error);
    EXPECT_THROW(Sampler(with([](SamplingParams& p) { p.top_p = 1.5f; })), Error);
    EXPECT_THROW(Sampler(with([](SamplingParams& p) { p.min_p = -0.1f; })), Error);
    EXPECT_THROW(Sampler(with([](SamplingParams& p) { p.repeat_penalty = 0.0f; })), Error);
    EXPECT_THROW(Sampler(with([](SamplingParams& p) { p.repeat_last_n = -2; })), Error);
    EXPECT_THROW(Sampler(with([](SamplingParams& p) { p.temperature = std::nanf(""); })), Error);
    EXPECT_THROW(Sampler(with([](SamplingParams& p) { p.logit_bias = {{-1, 1.0f}}; })), Error);
    EXPECT_THROW(Sampler(with([](SamplingParams& p) { p.logit_bias = {{1, kInf}}; })), Error);
    EXPECT_NO_THROW(Sampler(with([](SamplingParams& p) { p.repeat_last_n = -1; })));
}

TEST(Sampler, RejectsBadInput) {
    SamplingParams p = SamplingParams::greedy();
    p.logit_bias = {{5, -kInf}};
    Sampler sampler(p);
    EXPECT_THROW(sampler.sample(std::vector<float>{}), Error);
    EXPECT_THROW(sampler.sample(std::vector<float>{1.0f, 2.0f}), Error);  // bias past the vocab
    EXPECT_THROW(sampler.sample(std::vector<float>(8, std::nanf(""))), Error);
}

TEST(Sampler, GreedyTakesFirstMaximum) {
    Sampler sampler(SamplingParams::greedy());
    EXPECT_EQ(sampler.sample(std::vector<float>{0.1f, 0.7f, -2.0f, 0.7f, 0.3f}), 1);
    EXPECT_EQ(sampler.sample(std::vector<float>{-3.0f, -1.0f, -2.0f}), 1);
    // Any temperature <= 0 is greedy, whatever the truncation settings say.
    SamplingParams cold;
    cold.temperature = -1.0f;
    cold.top_k = 1;
    Sampler cold_sampler(cold);
    for (int i = 0; i < 20; ++i) {
        EXPECT_EQ(cold_sampler.sample(std::vector<float>{0.0f, 0.0f, 5.0f, 5.0f}), 2);
    }
}

TEST(Sampler, RepeatPenaltyChangesGreedyWinner) {
    SamplingParams p = SamplingParams::greedy();
    p.repeat_penalty = 1.2f;
    Sampler sampler(p);
    const std::vector<float> logits = {1.0f, 0.9f, -5.0f};
    EXPECT_EQ(sampler.sample(logits), 0);
    sampler.accept(0);
    // 1.0 / 1.2 = 0.833 < 0.9
    EXPECT_EQ(sampler.sample(logits), 1);
    sampler.reset();
    EXPECT_EQ(sampler.sample(logits), 0);
}

TEST(Sampler, PenaltyWindowExpires) {
    SamplingParams p = SamplingParams::greedy();
    p.presence_penalty = 1.0f;
    p.repeat_last_n = 2;
    Sampler sampler(p);
    const std::vector<float> logits = {1.0f, 0.5f, 0.0f, -1.0f};
    sampler.accept(0);
    EXPECT_EQ(sampler.sample(logits), 1);  // 0 -> 0.0, 1 stays 0.5
    sampler.accept(2);
    sampler.accept(3);  // token 0 left the two-token window
    EXPECT_EQ(sampler.sample(logits), 0);
}

TEST(Sampler, FrequencyPenaltyScalesWithCount) {
    SamplingParams p = SamplingParams::greedy();
    p.frequency_penalty = 0.3f;
    Sampler sampler(p);
    const std::vector<float> logits = {1.0f, 0.5f};
    sampler.accept(0);
    EXPECT_EQ(sampler.sample(logits), 0);  // 1 - 0.3 = 0.7 > 0.5
    sampler.accept(0);
    EXPECT_EQ(sampler.sample(logits), 1);  // 1 - 0.6 = 0.4 < 0.5
}

TEST(Sampler, LogitBiasBansAndBoosts) {
    SamplingParams p = SamplingParams::greedy();
    p.logit_bias = {{2, -kInf}, {0, 1.5f}};
    Sampler sampler(p);
    // Token 2 is banned; token 0 goes from 0.0 to 1.5, above token 1's 1.0.
    EXPECT_EQ(sampler.sample(std::vector<float>{0.0f, 1.0f, 9.0f}), 0);

    SamplingParams random = plain(1.0f, 5);
    random.logit_bias = {{1, -kInf}};
    Sampler random_sampler(random);
    for (int i = 0; i < 500; ++i) {
        EXPECT_NE(random_sampler.sample(std::vector<float>{0.0f, 3.0f, 0.0f}), 1);
    }
}

TEST(Sampler, EverythingBannedIsAnError) {
    SamplingParams p = plain(1.0f, 1);
    p.logit_bias = {{0, -kInf}, {1, -kInf}};
    Sampler sampler(p);
    EXPECT_THROW(sampler.sample(std::vector<float>{1.0f, 2.0f}), Error);
}

// A constraint that allows only even token ids and counts what it is told.
class EvenOnly : public SamplingConstraint {
  public:
    void apply(CandidateList& candidates) override {
        for (Candidate& c : candidates.mutable_items()) {
            if (c.id % 2 != 0) c.logit = -kInf;
        }
    }
    void accept(TokenId token) override { accepted.push_back(token); }
    void reset() override { ++resets; }
    std::unique_ptr<SamplingConstraint> clone() const override {
        return std::make_unique<EvenOnly>(*this);
    }
    std::vector<TokenId> accepted;
    int resets = 0;
};

TEST(Sampler, ConstraintMasksBeforeTopK) {
    SamplingParams p = plain(1.0f, 11);
    p.top_k = 2;  // the two best overall are odd; top-k must pick among allowed tokens only
    Sampler sampler(p);
    auto constraint = std::make_unique<EvenOnly>();
    EvenOnly* seen = constraint.get();
    sampler.add_constraint(std::move(constraint));
    const std::vector<float> logits = {0.0f, 9.0f, 0.5f, 8.0f, 0.2f, -1.0f};
    std::set<TokenId> picked;
    for (int i = 0; i < 400; ++i) {
        const TokenId t = sampler.sample(logits);
        EXPECT_TRUE(t == 2 || t == 4) << t;  // the two best even tokens
        picked.insert(t);
    }
    EXPECT_EQ(picked.size(), 2u);
    sampler.accept(4);
    sampler.accept(2);
    EXPECT_EQ(seen->accepted, (std::vector<TokenId>{4, 2}));
    sampler.reset();
    EXPECT_EQ(seen->resets, 1);
}

TEST(Sampler, PromptTokensFeedPenaltiesButNeverAdvanceConstraints) {
    SamplingParams p = SamplingParams::greedy();
    p.repeat_penalty = 100.0f;
    Sampler sampler(p);
    auto constraint = std::make_unique<EvenOnly>();
    EvenOnly* seen = constraint.get();
    sampler.add_constraint(std::move(constraint));
    sampler.accept_prompt(4);
    EXPECT_TRUE(seen->accepted.empty());
    EXPECT_EQ(sampler.history().count(4), 1);
    // Token 4 is the best even token, but the prompt made it a repeat: 2 wins.
    EXPECT_EQ(sampler.sample(std::vector<float>{0.0f, 9.0f, 1.0f, 8.0f, 2.0f}), 2);
    sampler.accept(2);
    EXPECT_EQ(seen->accepted, (std::vector<TokenId>{2}));
}

TEST(Sampler, CopiesAreIndependentAndContinueAlike) {
    SamplingParams p = plain(1.0f, 77);
    Sampler a(p);
    a.add_constraint(std::make_unique<EvenOnly>());
    const std::vector<float> logits = {0.1f, 0.0f, 0.3f, 0.2f, 0.25f, 0.0f, 0.15f};
    for (int i = 0; i < 5; ++i) a.accept(a.sample(logits));
    Sampler b = a;  // same history, random position and constraint state
    for (int i = 0; i < 50; ++i) {
        const TokenId ta = a.sample(logits), tb = b.sample(logits);
        ASSERT_EQ(ta, tb) << "step " << i;
        ASSERT_EQ(ta % 2, 0);
        a.accept(ta);
        b.accept(tb);
    }
    // Advancing one copy leaves the other alone.
    const TokenId next_b = Sampler(b).sample(logits);
    for (int i = 0; i < 10; ++i) a.accept(a.sample(logits));
    EXPECT_EQ(b.sample(logits), next_b);
}

TEST(Sampler, CallbackConstraint) {
    Sampler sampler(SamplingParams::greedy());
    sampler.add_constraint(std::make_unique<CallbackConstraint>([](CandidateList& candidates) {
        for (Candidate& c : candidates.mutable_items()) {
            if (c.id == 0) c.logit = -kInf;
        }
    }));
    EXPECT_EQ(sampler.sample(std::vector<float>{5.0f, 1.0f, 2.0f}), 2);
    EXPECT_THROW(sampler.add_constraint(nullptr), Error);
}

// A sequence of 300 steps with changing logits and penalties on, fed back through accept().
std::vector<TokenId> run_sequence(Sampler& sampler) {
    std::vector<TokenId> out;
    for (int step = 0; step < 300; ++step) {
        const TokenId t = sampler.sample(random_logits(64, 1000 + step));
        sampler.accept(t);
        out.push_back(t);
    }
    return out;
}

TEST(Sampler, SameSeedSameTokensAndResetReplays) {
    SamplingParams p;  // the default chain
    p.repeat_penalty = 1.1f;
    p.seed = 1234;
    Sampler a(p), b(p);
    const std::vector<TokenId> first = run_sequence(a);
    EXPECT_EQ(first, run_sequence(b));
    a.reset();
    EXPECT_EQ(first, run_sequence(a));

    p.seed = 1235;
    Sampler other(p);
    EXPECT_NE(first, run_sequence(other));
    EXPECT_EQ(a.seed(), 1234u);
}

TEST(Sampler, RandomSeedIsDrawnAndReported) {
    SamplingParams p;
    Sampler a(p), b(p);
    EXPECT_NE(a.seed(), SamplingParams::kRandomSeed);
    EXPECT_NE(a.seed(), b.seed());  // 64 random bits: equal with probability 2^-64
    // Reusing the reported seed reproduces the run.
    p.seed = a.seed();
    Sampler replay(p);
    EXPECT_EQ(run_sequence(a), run_sequence(replay));
}

// 20000 draws with only temperature on: the counts follow softmax(logits / T). The chi-square bound
// is the 0.1% critical value for 7 degrees of freedom (24.32); the seed is fixed, so the test is
// deterministic, and a wrong temperature or off-by-one in the walk exceeds it by far.
TEST(Sampler, FrequenciesMatchSoftmaxAtTemperature) {
    const std::vector<float> logits = {1.0f, 0.5f, 0.0f, -0.5f, 2.0f, -1.0f, 0.3f, 1.2f};
    constexpr int kDraws = 20000;
    for (float temperature : {0.7f, 1.0f, 1.5f}) {
        Sampler sampler(plain(temperature, 42));
        const std::vector<int> counts = draw_counts(sampler, logits, kDraws);
        const double chi2 = chi_square(counts, softmax(logits, temperature), kDraws);
        EXPECT_LT(chi2, 24.32) << "T = " << temperature;
        // The wrong temperature must be clearly rejected, or the test could not fail.
        const double wrong = chi_square(counts, softmax(logits, temperature * 1.25), kDraws);
        EXPECT_GT(wrong, 24.32) << "T = " << temperature;
    }
}

TEST(Sampler, TopKNeverLeavesTheKBestAndRenormalizes) {
    const std::vector<float> logits = random_logits(50, 7);
    const std::vector<TokenId> order = ranking(logits);
    const std::set<TokenId> best(order.begin(), order.begin() + 5);
    SamplingParams p = plain(1.0f, 3);
    p.top_k = 5;
    Sampler sampler(p);
    constexpr int kDraws = 20000;
    const std::vector<int> counts = draw_counts(sampler, logits, kDraws);
    std::vector<int> kept_counts;
    std::vector<float> kept_logits;
    for (TokenId id = 0; id < 50; ++id) {
        if (best.count(id)) {
            kept_counts.push_back(counts[id]);
            kept_logits.push_back(logits[id]);
        } else {
            EXPECT_EQ(counts[id], 0) << "token " << id << " is outside the top 5";
        }
    }
    // Within the five, the probabilities are the softmax over just those (4 dof: 18.47).
    EXPECT_LT(chi_square(kept_counts, softmax(kept_logits, 1.0), kDraws), 18.47);
}

TEST(Sampler, TopPStaysInNucleus) {
    const std::vector<float> logits = random_logits(40, 8);
    const std::vector<double> probs = softmax(logits, 1.0);
    const std::vector<TokenId> order = ranking(logits);
    std::set<TokenId> nucleus;
    double cumulative = 0.0;
    for (TokenId id : order) {
        nucleus.insert(id);
        cumulative += probs[id];
        if (cumulative >= 0.8) break;
    }
    ASSERT_GT(nucleus.size(), 2u);
    ASSERT_LT(nucleus.size(), 40u);
    SamplingParams p = plain(1.0f, 4);
    p.top_p = 0.8f;
    Sampler sampler(p);
    const std::vector<int> counts = draw_counts(sampler, logits, 20000);
    std::set<TokenId> seen;
    for (TokenId id = 0; id < 40; ++id) {
        if (counts[id] > 0) seen.insert(id);
    }
    EXPECT_EQ(seen, nucleus);  // every nucleus token shows up, nothing else does
}

// min-p acts before temperature, so the rule is on the model's own probabilities (T = 1).
TEST(Sampler, MinPNeverReturnsUnlikelyTokens) {
    const std::vector<float> logits = random_logits(60, 9);
    const std::vector<double> probs = softmax(logits, 1.0);
    const double max_prob = *std::max_element(probs.begin(), probs.end());
    for (float temperature : {1.0f, 2.0f}) {
        SamplingParams p = plain(temperature, 5);
        p.min_p = 0.1f;
        Sampler sampler(p);
        const std::vector<int> counts = draw_counts(sampler, logits, 20000);
        int distinct = 0;
        for (size_t id = 0; id < counts.size(); ++id) {
            if (counts[id] == 0) continue;
            ++distinct;
            EXPECT_GE(probs[id], 0.1 * max_prob) << "token " << id << " T = " << temperature;
        }
        EXPECT_GT(distinct, 3);  // the filter keeps several tokens, so the check means something
    }
}

// The default chain on a real-sized vocabulary: results obey every filter at once.
TEST(Sampler, DefaultChainObeysAllFilters) {
    const std::vector<float> logits = random_logits(32000, 10);
    const std::vector<TokenId> order = ranking(logits);
    const std::set<TokenId> top40(order.begin(), order.begin() + 40);
    SamplingParams p;
    p.seed = 77;
    Sampler sampler(p);
    for (int i = 0; i < 300; ++i) EXPECT_TRUE(top40.count(sampler.sample(logits)));
}

}  // namespace
}  // namespace pocket
