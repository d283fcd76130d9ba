// Each sampling step alone, against values worked out by hand in the comments.
#include "pocket/generate/sampling_steps.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include <gtest/gtest.h>

#include "pocket/core/error.h"

namespace pocket {
namespace {

constexpr float kInfinity = std::numeric_limits<float>::infinity();

CandidateList from_logits(std::vector<float> logits) {
    CandidateList list;
    list.assign(std::span<const float>(logits));
    return list;
}

std::vector<TokenId> ids(const CandidateList& list) {
    std::vector<TokenId> out;
    for (const Candidate& c : list.items()) out.push_back(c.id);
    return out;
}

float logit_of(const CandidateList& list, TokenId id) {
    for (const Candidate& c : list.items()) {
        if (c.id == id) return c.logit;
    }
    ADD_FAILURE() << "token " << id << " not in the list";
    return 0.0f;
}

// Logits whose softmax is exactly the given probabilities (up to float rounding).
std::vector<float> logits_for_probs(const std::vector<double>& probs) {
    std::vector<float> out;
    for (double p : probs) out.push_back(static_cast<float>(std::log(p)));
    return out;
}

TEST(CandidateList, AssignNumbersTokensAndRejectsNonFinite) {
    CandidateList list = from_logits({0.5f, -kInfinity, 2.0f});
    EXPECT_EQ(ids(list), (std::vector<TokenId>{0, 1, 2}));
    EXPECT_EQ(list[1].logit, -kInfinity);
    EXPECT_FALSE(list.sorted());

    const std::vector<float> nan_row = {0.0f, std::nanf("")};
    EXPECT_THROW(list.assign(std::span<const float>(nan_row)), Error);
    const std::vector<float> inf_row = {kInfinity, 0.0f};
    EXPECT_THROW(list.assign(std::span<const float>(inf_row)), Error);
}

TEST(CandidateList, SortBreaksTiesByLowerId) {
    CandidateList list = from_logits({1.0f, 3.0f, 1.0f, 3.0f, 2.0f});
    list.sort();
    EXPECT_TRUE(list.sorted());
    EXPECT_EQ(ids(list), (std::vector<TokenId>{1, 3, 4, 0, 2}));
}

// sort_prefix must put the k best in front, in order, by every path it has (heap selection for
// small k, nth_element for large k, full sort for k = n), with ties broken by the lower id.
TEST(CandidateList, SortPrefixMatchesFullSort) {
    std::vector<float> logits(1000);
    Rng rng(5);
    // Few distinct values, so there are many ties.
    for (float& l : logits) l = static_cast<float>(static_cast<int>(rng.uniform01() * 50)) / 4;
    std::vector<TokenId> expected(logits.size());
    for (size_t i = 0; i < expected.size(); ++i) expected[i] = static_cast<TokenId>(i);
    std::stable_sort(expected.begin(), expected.end(),
                     [&](TokenId a, TokenId b) { return logits[a] > logits[b]; });
    for (size_t k :
         {size_t{1}, size_t{10}, size_t{62}, size_t{63}, size_t{500}, size_t{999}, size_t{1000}}) {
        CandidateList list = from_logits(logits);
        list.sort_prefix(k);
        EXPECT_EQ(list.sorted_prefix(), k);
        EXPECT_EQ(list.sorted(), k == 1000);
        ASSERT_EQ(list.size(), 1000u);  // nothing dropped
        const std::vector<TokenId> got = ids(list);
        EXPECT_EQ(
            std::vector<TokenId>(got.begin(), got.begin() + static_cast<ptrdiff_t>(k)),
            std::vector<TokenId>(expected.begin(), expected.begin() + static_cast<ptrdiff_t>(k)))
            << "k = " << k;
        std::vector<TokenId> all = got;
        std::sort(all.begin(), all.end());
        for (size_t i = 0; i < all.size(); ++i) ASSERT_EQ(all[i], static_cast<TokenId>(i));
    }
}

TEST(CandidateList, ComputeProbsIsSoftmax) {
    // exp(0) : exp(ln 2) : exp(ln 3) = 1 : 2 : 3, so the probabilities are 1/6, 2/6, 3/6.
    CandidateList list = from_logits({0.0f, std::log(2.0f), std::log(3.0f)});
    list.compute_probs();
    EXPECT_NEAR(list[0].prob, 1.0 / 6, 1e-6);
    EXPECT_NEAR(list[1].prob, 2.0 / 6, 1e-6);
    EXPECT_NEAR(list[2].prob, 3.0 / 6, 1e-6);

    // Shifting every logit by a large constant changes nothing (max-subtracted).
    CandidateList shifted = from_logits({1000.0f, 1000.0f + std::log(2.0f)});
    shifted.compute_probs();
    EXPECT_NEAR(shifted[0].prob, 1.0 / 3, 1e-4);
    EXPECT_NEAR(shifted[1].prob, 2.0 / 3, 1e-4);

    CandidateList masked = from_logits({-kInfinity, -kInfinity});
    EXPECT_THROW(masked.compute_probs(), Error);
    CandidateList empty;
    EXPECT_THROW(empty.compute_probs(), Error);
}

TEST(LogitBias, AddsBansAndAccumulates) {
    CandidateList list = from_logits({1.0f, 2.0f, 3.0f, 4.0f});
    const std::vector<LogitBias> biases = {{0, 0.5f}, {2, -kInfinity}, {3, -1.0f}, {3, -0.25f}};
    apply_logit_bias(list, biases);
    EXPECT_FLOAT_EQ(list[0].logit, 1.5f);
    EXPECT_FLOAT_EQ(list[1].logit, 2.0f);
    EXPECT_EQ(list[2].logit, -kInfinity);
    EXPECT_FLOAT_EQ(list[3].logit, 2.75f);  // 4 - 1 - 0.25
}

TEST(LogitBias, FindsTokensAfterReordering) {
    CandidateList list = from_logits({1.0f, 2.0f, 3.0f});
    list.sort();                                                    // order is now 2, 1, 0
    const std::vector<LogitBias> biases = {{0, 10.0f}, {7, 1.0f}};  // 7 is not in the list
    apply_logit_bias(list, biases);
    EXPECT_FLOAT_EQ(logit_of(list, 0), 11.0f);
    EXPECT_FLOAT_EQ(logit_of(list, 1), 2.0f);
    EXPECT_FLOAT_EQ(logit_of(list, 2), 3.0f);
    EXPECT_FALSE(list.sorted());
}

TEST(Penalties, LlamaCppFormula) {
    CandidateList list = from_logits({2.0f, -1.0f, 0.0f, 3.0f, 1.5f});
    const std::vector<int32_t> counts = {2, 1, 1, 0};  // token 4 is past the end: count 0
    apply_penalties(list, counts, /*repeat=*/1.5f, /*frequency=*/0.25f, /*presence=*/0.5f);
    // token 0: positive, divided: 2 / 1.5 = 1.3333; minus 2 * 0.25 + 0.5 = 1.0  ->  0.3333
    EXPECT_NEAR(list[0].logit, 2.0 / 1.5 - 1.0, 1e-6);
    // token 1: negative, multiplied: -1 * 1.5 = -1.5; minus 0.25 + 0.5  ->  -2.25
    EXPECT_FLOAT_EQ(list[1].logit, -2.25f);
    // token 2: zero counts as "<= 0" (multiplied, stays 0); minus 0.75  ->  -0.75
    EXPECT_FLOAT_EQ(list[2].logit, -0.75f);
    // tokens 3 and 4 were never seen
    EXPECT_FLOAT_EQ(list[3].logit, 3.0f);
    EXPECT_FLOAT_EQ(list[4].logit, 1.5f);
}

TEST(Penalties, NeutralSettingsChangeNothing) {
    CandidateList list = from_logits({2.0f, -1.0f});
    const std::vector<int32_t> counts = {3, 3};
    apply_penalties(list, counts, 1.0f, 0.0f, 0.0f);
    EXPECT_FLOAT_EQ(list[0].logit, 2.0f);
    EXPECT_FLOAT_EQ(list[1].logit, -1.0f);
}

TEST(DropMasked, RemovesOnlyMinusInfinity) {
    CandidateList list = from_logits({-kInfinity, -100.0f, -kInfinity, 0.0f});
    drop_masked(list);
    EXPECT_EQ(ids(list), (std::vector<TokenId>{1, 3}));
}

TEST(TopK, KeepsKBestSortedWithIdTieBreak) {
    CandidateList list = from_logits({1.0f, 5.0f, 3.0f, 5.0f, 2.0f, 4.0f});
    keep_top_k(list, 3);
    EXPECT_TRUE(list.sorted());
    EXPECT_EQ(ids(list), (std::vector<TokenId>{1, 3, 5}));

    // The tie at the cut goes to the lower id.
    CandidateList tie = from_logits({1.0f, 2.0f, 2.0f, 2.0f});
    keep_top_k(tie, 2);
    EXPECT_EQ(ids(tie), (std::vector<TokenId>{1, 2}));
}

TEST(TopK, ZeroOrLargeKIsNoOp) {
    CandidateList list = from_logits({1.0f, 5.0f, 3.0f});
    keep_top_k(list, 0);
    EXPECT_EQ(ids(list), (std::vector<TokenId>{0, 1, 2}));
    keep_top_k(list, -3);
    EXPECT_EQ(ids(list), (std::vector<TokenId>{0, 1, 2}));
    keep_top_k(list, 3);
    EXPECT_EQ(ids(list), (std::vector<TokenId>{0, 1, 2}));
}

// Probabilities 0.15, 0.5, 0.05, 0.2, 0.1 for tokens 0..4; sorted: 1 (0.5), 3 (0.2), 0 (0.15),
// 4 (0.1), 2 (0.05); cumulative 0.5, 0.7, 0.85, 0.95, 1.0.
const std::vector<double> kProbs = {0.15, 0.5, 0.05, 0.2, 0.1};

TEST(TopP, KeepsSmallestPrefixReachingP) {
    struct Case {
        float p;
        std::vector<TokenId> kept;
    };
    const Case cases[] = {
        {0.4f, {1}},               // 0.5 >= 0.4 already
        {0.6f, {1, 3}},            // 0.5 < 0.6 <= 0.7
        {0.75f, {1, 3, 0}},        // 0.7 < 0.75 <= 0.85
        {0.9f, {1, 3, 0, 4}},      // 0.85 < 0.9 <= 0.95
        {0.99f, {1, 3, 0, 4, 2}},  // needs all
    };
    for (const Case& c : cases) {
        CandidateList list = from_logits(logits_for_probs(kProbs));
        keep_top_p(list, c.p);
        EXPECT_EQ(ids(list), c.kept) << "p = " << c.p;
    }
}

TEST(TopP, OneIsNoOpAndTinyPKeepsOne) {
    CandidateList list = from_logits(logits_for_probs(kProbs));
    keep_top_p(list, 1.0f);
    EXPECT_EQ(list.size(), 5u);
    keep_top_p(list, 1e-9f);
    EXPECT_EQ(ids(list), (std::vector<TokenId>{1}));
}

TEST(TopP, LargeNucleusBeyondFirstOrderedBlock) {
    // 1000 equal logits: each token has probability 1/1000, so p = 0.5 needs exactly 500 tokens,
    // and with equal logits the lower ids come first.
    CandidateList list = from_logits(std::vector<float>(1000, 0.25f));
    keep_top_p(list, 0.5f);
    ASSERT_EQ(list.size(), 500u);
    EXPECT_TRUE(list.sorted());
    for (size_t i = 0; i < 500; ++i) EXPECT_EQ(list[i].id, static_cast<TokenId>(i));
}

TEST(MinP, KeepsProbAtLeastPTimesMaxInOriginalOrder) {
    // max prob 0.5. min_p 0.25 -> threshold 0.125: keeps 0.15, 0.5, 0.2 (tokens 0, 1, 3).
    CandidateList list = from_logits(logits_for_probs(kProbs));
    keep_min_p(list, 0.25f);
    EXPECT_EQ(ids(list), (std::vector<TokenId>{0, 1, 3}));
    // min_p 0.35 -> threshold 0.175: keeps 0.5 and 0.2.
    keep_min_p(list, 0.35f);
    EXPECT_EQ(ids(list), (std::vector<TokenId>{1, 3}));
    // min_p 1 keeps the max only; min_p 0 keeps everything.
    CandidateList all = from_logits(logits_for_probs(kProbs));
    keep_min_p(all, 0.0f);
    EXPECT_EQ(all.size(), 5u);
    keep_min_p(all, 1.0f);
    EXPECT_EQ(ids(all), (std::vector<TokenId>{1}));
}

TEST(MinP, KeepsSortedOrder) {
    CandidateList list = from_logits(logits_for_probs(kProbs));
    list.sort();
    keep_min_p(list, 0.25f);
    EXPECT_TRUE(list.sorted());
    EXPECT_EQ(ids(list), (std::vector<TokenId>{1, 3, 0}));
}

TEST(Temperature, DividesLogits) {
    CandidateList list = from_logits({2.0f, -1.0f, -kInfinity});
    list.sort();
    apply_temperature(list, 2.0f);
    EXPECT_TRUE(list.sorted());
    EXPECT_FLOAT_EQ(logit_of(list, 0), 1.0f);
    EXPECT_FLOAT_EQ(logit_of(list, 1), -0.5f);
    EXPECT_EQ(logit_of(list, 2), -kInfinity);
    EXPECT_THROW(apply_temperature(list, 0.0f), Error);
}

TEST(PickGreedy, HighestLogitLowestIdOnTies) {
    EXPECT_EQ(pick_greedy(from_logits({1.0f, 3.0f, 2.0f, 3.0f})), 1);
    // Same tie with the list in another order: still the lower id.
    CandidateList list;
    const std::vector<Candidate> reordered = {{5, 3.0f, 0.0f}, {2, 3.0f, 0.0f}, {0, 1.0f, 0.0f}};
    list.assign(std::span<const Candidate>(reordered));
    EXPECT_EQ(pick_greedy(list), 2);
    EXPECT_EQ(pick_greedy(from_logits({-kInfinity, -50.0f})), 1);
    EXPECT_THROW(pick_greedy(from_logits({-kInfinity, -kInfinity})), Error);
    EXPECT_THROW(pick_greedy(CandidateList{}), Error);
}

TEST(PickFromDistribution, MasksAreNeverPicked) {
    // From state {1, 2, 3, 4} the first output is 11520, so the first draw is 5 * 2^-53, almost 0:
    // the walk must skip the masked token at the front and land on the first possible one.
    Rng rng = Rng::from_state({1, 2, 3, 4});
    CandidateList list = from_logits({-kInfinity, -kInfinity, 0.0f, 0.0f});
    EXPECT_EQ(pick_from_distribution(list, rng), 2);
    CandidateList all_masked = from_logits({-kInfinity});
    EXPECT_THROW(pick_from_distribution(all_masked, rng), Error);
}

TEST(PickFromDistribution, UniformLogitsPickFloorOfDrawTimesN) {
    // Equal logits: each of 4 tokens has probability 1/4, so a draw u picks token floor(4u).
    Rng rng(99);
    for (int i = 0; i < 200; ++i) {
        Rng copy = rng;
        const double u = copy.uniform01();
        CandidateList list = from_logits({0.0f, 0.0f, 0.0f, 0.0f});
        EXPECT_EQ(pick_from_distribution(list, rng), static_cast<TokenId>(u * 4));
    }
}

}  // namespace
}  // namespace pocket
