// The router's metrics (checked against curves computed by hand), its data readers, and the
// router itself: training, the file round trip, hostile files, calibration and signals.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <random>

#include "pocket/core/error.h"
#include "pocket/gguf/gguf.h"
#include "pocket/route/router.h"
#include "pocket/route/routing_metrics.h"
#include "route/routellm_models.h"
#include "support/test_support.h"

using pocket::route::evaluate_routing;
using pocket::route::read_routing_examples;
using pocket::route::Router;
using pocket::route::RouterSignals;
using pocket::route::RouterTrainOptions;
using pocket::route::RoutingExample;
using pocket::test::ScratchDir;
using pocket::test::shared_path;

namespace {

std::filesystem::path mmlu(const std::string& subject) {
    return shared_path("data/routing/routellm/mmlu/mmlu_" + subject + ".csv");
}

RouterTrainOptions options() {
    RouterTrainOptions o;
    o.embedder = shared_path("models/embed/potion-base-4M-int8");
    return o;
}

// One router trained once for the whole file (two small subjects, ~240 prompts).
const Router& small_router() {
    static const Router router = [] {
        const auto examples =
            read_routing_examples({mmlu("abstract_algebra"), mmlu("anatomy")},
                                  pocket::test::kRouteLlmWeak, pocket::test::kRouteLlmStrong);
        return Router::train(examples, options());
    }();
    return router;
}

}  // namespace

// Five prompts, two bins: thresholds at scores 1, 3, 5. Hand-computed curve for the oracle order:
// (0, .6), (.6, 1.0), (1, 1.0): area .88, APGR (.88 - .6) / .4 = .7; CPT(50) .3, CPT(80) .48.
TEST(RoutingMetrics, OracleOrderByHand) {
    const std::vector<double> scores{1, 2, 3, 4, 5}, weak{1, 1, 1, 0, 0}, strong{1, 1, 1, 1, 1};
    const auto m = evaluate_routing(scores, weak, strong, 2);
    EXPECT_NEAR(m.apgr, 0.7, 1e-12);
    EXPECT_NEAR(m.cpt50, 0.3, 1e-12);
    EXPECT_NEAR(m.cpt80, 0.48, 1e-12);
    EXPECT_EQ(m.n, 5u);
    EXPECT_NEAR(m.weak_mean, 0.6, 1e-12);
    EXPECT_NEAR(m.strong_mean, 1.0, 1e-12);
    ASSERT_EQ(m.curve.size(), 3u);
    EXPECT_NEAR(m.curve[1].first, 0.6, 1e-12);
    EXPECT_NEAR(m.curve[1].second, 1.0, 1e-12);
}

// The reversed order: (0, .6), (.6, .6), (1, 1): area .68, APGR .2; CPT(50) .8, CPT(80) .92.
TEST(RoutingMetrics, ReversedOrderByHand) {
    const std::vector<double> scores{5, 4, 3, 2, 1}, weak{1, 1, 1, 0, 0}, strong{1, 1, 1, 1, 1};
    const auto m = evaluate_routing(scores, weak, strong, 2);
    EXPECT_NEAR(m.apgr, 0.2, 1e-12);
    EXPECT_NEAR(m.cpt50, 0.8, 1e-12);
    EXPECT_NEAR(m.cpt80, 0.92, 1e-12);
}

// All scores tied: every threshold sends all or nothing, a straight line: APGR exactly 0.5.
TEST(RoutingMetrics, TiedScoresAreAStraightLine) {
    const std::vector<double> scores(6, 0.3), weak{1, 0, 0, 1, 0, 1}, strong{1, 1, 1, 0, 1, 1};
    const auto m = evaluate_routing(scores, weak, strong);
    EXPECT_NEAR(m.apgr, 0.5, 1e-12);
    // Target .5 + .5 * (5/6 - .5) reached on the line from (0, .5) to (1, 5/6) at share .5.
    EXPECT_NEAR(m.cpt50, 0.5, 1e-12);
    EXPECT_NEAR(m.cpt80, 0.8, 1e-12);
}

TEST(RoutingMetrics, RandomScoresAverageOneHalf) {
    std::mt19937 rng(7);
    std::uniform_real_distribution<double> u(0, 1);
    std::vector<double> weak(2000), strong(2000);
    for (size_t i = 0; i < weak.size(); ++i) {
        weak[i] = u(rng) < 0.6;
        strong[i] = u(rng) < 0.8;
    }
    double total = 0;
    const int seeds = 100;
    for (int s = 0; s < seeds; ++s) {
        std::vector<double> scores(weak.size());
        for (auto& x : scores) x = u(rng);
        total += evaluate_routing(scores, weak, strong).apgr;
    }
    EXPECT_NEAR(total / seeds, 0.5, 0.02);
}

TEST(RoutingMetrics, RejectsBadInput) {
    const std::vector<double> a{1, 2}, b{0, 1}, c{1, 1}, one{1};
    EXPECT_THROW(evaluate_routing(a, b, one), pocket::Error);
    EXPECT_THROW(evaluate_routing({}, {}, {}), pocket::Error);
    EXPECT_THROW(evaluate_routing(a, c, c), pocket::Error);  // no gap
    const std::vector<double> nan{1, std::nan("")};
    EXPECT_THROW(evaluate_routing(nan, b, c), pocket::Error);
}

TEST(RoutingData, ReadsQuotedMultiLineCsvFields) {
    ScratchDir dir;
    std::ofstream(dir / "set.csv") << "prompt,weak,strong,other\r\n"
                                      "\"What is 2+2?\nA. 3\nB. 4\",False,True,\"x, \"\"y\"\"\"\r\n"
                                      "plain,1,0.5,z\n";
    const auto ex = read_routing_examples({dir / "set.csv"}, "weak", "strong");
    ASSERT_EQ(ex.size(), 2u);
    EXPECT_EQ(ex[0].prompt, "What is 2+2?\nA. 3\nB. 4");
    EXPECT_EQ(ex[0].weak, 0.0);
    EXPECT_EQ(ex[0].strong, 1.0);
    EXPECT_EQ(ex[0].group, "set");
    EXPECT_EQ(ex[1].prompt, "plain");
    EXPECT_EQ(ex[1].weak, 1.0);
    EXPECT_EQ(ex[1].strong, 0.5);
    EXPECT_THROW(read_routing_examples({dir / "set.csv"}, "weak", "missing"), pocket::Error);
    std::ofstream(dir / "bad.csv") << "prompt,weak,strong\n\"open,True,False\n";
    EXPECT_THROW(read_routing_examples({dir / "bad.csv"}, "weak", "strong"), pocket::Error);
    std::ofstream(dir / "word.csv") << "prompt,weak,strong\nq,maybe,True\n";
    EXPECT_THROW(read_routing_examples({dir / "word.csv"}, "weak", "strong"), pocket::Error);
}

TEST(RoutingData, ReadsTheRealGsm8kAndMtBenchFiles) {
    const auto gsm =
        read_routing_examples({shared_path("data/routing/routellm/gsm8k/gsm8k_responses.csv")},
                              pocket::test::kRouteLlmWeak, pocket::test::kRouteLlmStrong);
    EXPECT_EQ(gsm.size(), 1319u);  // the README's count; multi-line responses must not split rows
    EXPECT_TRUE(gsm[0].prompt.starts_with("Janet"));
    const auto mt =
        read_routing_examples({shared_path("data/routing/routellm/mt_bench/judgements.jsonl")},
                              pocket::test::kRouteLlmWeak, pocket::test::kRouteLlmStrong);
    EXPECT_EQ(mt.size(), 80u);
    for (const auto& e : mt) {
        EXPECT_GE(e.weak, 1.0);
        EXPECT_LE(e.strong, 10.0);
        EXPECT_TRUE(e.group.starts_with("mt_bench_"));
    }
}

TEST(Router, SaveLoadRoundTripGivesIdenticalScoresInASmallFile) {
    const auto& router = small_router();
    ScratchDir dir;
    router.save(dir / "r.gguf");
    EXPECT_LE(std::filesystem::file_size(dir / "r.gguf"), 2u << 20);
    const auto loaded = Router::load(dir / "r.gguf");
    const auto examples = read_routing_examples({mmlu("astronomy")}, pocket::test::kRouteLlmWeak,
                                                pocket::test::kRouteLlmStrong);
    for (size_t i = 0; i < 40; ++i)
        EXPECT_EQ(router.score(examples[i].prompt), loaded.score(examples[i].prompt));
    EXPECT_EQ(router.threshold(), loaded.threshold());
    EXPECT_EQ(loaded.trained_cloud_share(), 0.2);
}

TEST(Router, ThresholdForShareRealisesTheShareOnTrainingPrompts) {
    const auto& router = small_router();
    const auto examples =
        read_routing_examples({mmlu("abstract_algebra"), mmlu("anatomy")},
                              pocket::test::kRouteLlmWeak, pocket::test::kRouteLlmStrong);
    for (const double share : {0.1, 0.2, 0.5, 0.8}) {
        const double t = router.threshold_for_share(share);
        size_t sent = 0;
        for (const auto& e : examples) sent += router.score(e.prompt) >= t;
        EXPECT_NEAR(static_cast<double>(sent) / static_cast<double>(examples.size()), share, 0.02)
            << share;
    }
    EXPECT_EQ(router.threshold_for_share(0), std::numeric_limits<double>::infinity());
    EXPECT_EQ(router.threshold_for_share(1), -std::numeric_limits<double>::infinity());
}

TEST(Router, LanguageSignalAddsTheConfiguredPrior) {
    const auto& router = small_router();
    const std::string p = "What is the capital of France?";
    RouterSignals de;
    de.language = "de";
    RouterSignals en;
    en.language = "en";
    EXPECT_DOUBLE_EQ(router.score(p, de), router.score(p) + router.non_english_bonus());
    EXPECT_EQ(router.score(p, en), router.score(p));
    EXPECT_NE(router.describe(p, de).find("language de"), std::string::npos);
    EXPECT_NE(router.describe(p).find("score"), std::string::npos);
}

TEST(Router, HostileFilesThrow) {
    const auto& router = small_router();
    ScratchDir dir;
    router.save(dir / "r.gguf");
    const auto bytes = pocket::test::read_file_bytes(dir / "r.gguf");
    // Truncated anywhere: an error, never a crash.
    for (const size_t cut : {size_t(0), size_t(3), size_t(24), size_t(200), bytes.size() / 3,
                             bytes.size() / 2, bytes.size() - 1}) {
        std::ofstream(dir / "cut.gguf", std::ios::binary) << bytes.substr(0, cut);
        EXPECT_THROW(Router::load(dir / "cut.gguf"), pocket::Error) << cut;
    }
    // Bytes flipped in the metadata: either still a valid router or an error, never a crash.
    std::mt19937 rng(3);
    for (int trial = 0; trial < 12; ++trial) {
        auto damaged = bytes;
        const size_t at = rng() % std::min<size_t>(bytes.size(), 4096);
        damaged[at] = static_cast<char>(damaged[at] ^ (1 + rng() % 255));
        std::ofstream(dir / "flip.gguf", std::ios::binary) << damaged;
        try {
            const auto r = Router::load(dir / "flip.gguf");
            (void)r.score("Which of these is a prime number?\nA. 4\nB. 6\nC. 7\nD. 9\nAnswer:");
        } catch (const pocket::Error&) {
        }
    }
    // A well-formed GGUF that is not a router, and a router with a key missing.
    pocket::gguf::Writer w;
    w.set("general.architecture", std::string("llama"));
    w.write(dir / "llama.gguf");
    EXPECT_THROW(Router::load(dir / "llama.gguf"), pocket::Error);
    pocket::gguf::Writer partial;
    partial.set("general.architecture", std::string("pocket-router"));
    partial.set("router.version", uint32_t{1});
    partial.set("router.embed_dims", uint32_t{16});
    partial.write(dir / "partial.gguf");
    EXPECT_THROW(Router::load(dir / "partial.gguf"), pocket::Error);
}

TEST(Router, TrainRejectsTooFewExamplesAndBadShares) {
    std::vector<RoutingExample> few(3, RoutingExample{"q", 0, 1, "g"});
    EXPECT_THROW(Router::train(few, options()), pocket::Error);
    const auto examples = read_routing_examples({mmlu("anatomy")}, pocket::test::kRouteLlmWeak,
                                                pocket::test::kRouteLlmStrong);
    auto o = options();
    o.cloud_share = 1.5;
    EXPECT_THROW(Router::train(examples, o), pocket::Error);
}

TEST(ShareCalibrator, FallsBackThenTracksTheTrafficsQuantile) {
    pocket::route::ShareCalibrator c(/*fallback_threshold=*/0.5, /*cloud_share=*/0.25,
                                     /*window=*/100, /*warmup=*/10);
    EXPECT_EQ(c.threshold(), 0.5);
    // Traffic far below the trained threshold: the first ten go by the fallback (none sent) ...
    size_t sent = 0;
    for (int i = 0; i < 10; ++i) sent += c.route_to_cloud(-1.0 + 0.01 * i);
    EXPECT_EQ(sent, 0u);
    // ... then the threshold is the smallest of the top quarter of what was seen.
    for (int i = 10; i < 100; ++i) c.route_to_cloud(-1.0 + 0.01 * i);  // scores -1.00 .. -0.01
    EXPECT_NEAR(c.threshold(), -0.25, 1e-12);  // 25 of 100 scores are >= -0.25
    std::mt19937 rng(5);
    std::normal_distribution<double> normal(3.0, 2.0);
    sent = 0;
    for (int i = 0; i < 4000; ++i) sent += c.route_to_cloud(normal(rng));
    EXPECT_NEAR(static_cast<double>(sent) / 4000.0, 0.25, 0.03);
    EXPECT_THROW(pocket::route::ShareCalibrator(0, 1.5), pocket::Error);
}
