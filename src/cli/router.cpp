// `pocket router train|eval`: fits the local/cloud router on labelled routing data (RouteLLM CSV,
// MT-Bench judgements) and measures it the way RouteLLM does (APGR, CPT(50 %), CPT(80 %)), on a
// trained router or by cross-validation over groups (files / subjects) it never saw.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <numeric>
#include <random>
#include <span>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "pocket/core/error.h"
#include "pocket/route/router.h"
#include "pocket/route/routing_metrics.h"

namespace pocket::cli {
namespace {

namespace rt = route;

struct RouterCliOptions {
    std::vector<std::string> csv;
    std::string weak, strong;
    std::string output, router, embedder;
    double cloud_share = 0.2;
    double l2 = 10.0;
    size_t folds = 0;
    size_t repeats = 1;
    std::vector<std::string> also_train;
    std::string group_by = "group";
    unsigned seed = 0;
    bool json = false;
    std::vector<std::string> prompts;
    std::string language;
};

std::vector<rt::RoutingExample> read_examples(const RouterCliOptions& o) {
    std::vector<std::filesystem::path> files(o.csv.begin(), o.csv.end());
    auto examples = rt::read_routing_examples(files, o.weak, o.strong);
    if (examples.empty()) fail("no labelled prompts in the given files");
    return examples;
}

rt::RouterTrainOptions train_options(const RouterCliOptions& o) {
    rt::RouterTrainOptions t;
    t.cloud_share = o.cloud_share;
    t.embedder = o.embedder;
    t.l2 = o.l2;
    return t;
}

nlohmann::ordered_json metrics_json(const rt::RoutingMetrics& m) {
    return {{"apgr", m.apgr}, {"cpt50", m.cpt50}, {"cpt80", m.cpt80}, {"n", m.n}};
}

void print_metrics(const char* label, const rt::RoutingMetrics& m) {
    std::printf("%-14s APGR %.3f  CPT(50%%) %5.1f%%  CPT(80%%) %5.1f%%  n %zu\n", label, m.apgr,
                100 * m.cpt50, 100 * m.cpt80, m.n);
}

// A router's scores on labelled prompts beside the two models' results, and how many of the
// prompts its trained threshold sends to the cloud.
struct ScoredExamples {
    std::vector<double> scores, weak, strong;
    size_t sent = 0;

    void add(const rt::Router& router, const rt::RoutingExample& e) {
        scores.push_back(router.score(e.prompt));
        weak.push_back(e.weak);
        strong.push_back(e.strong);
        sent += scores.back() >= router.threshold();
    }
    double share() const { return static_cast<double>(sent) / static_cast<double>(scores.size()); }
};

ScoredExamples score_examples(const rt::Router& router,
                              std::span<const rt::RoutingExample> examples) {
    ScoredExamples s;
    for (const auto& e : examples) s.add(router, e);
    return s;
}

// The share of `scores` that the online calibrator (starting at the router's threshold, aiming
// at `target`) sends to the cloud when they arrive in an order shuffled with `rng`.
double calibrated_share(const rt::Router& router, double target, const std::vector<double>& scores,
                        std::mt19937& rng) {
    std::vector<size_t> order(scores.size());
    std::iota(order.begin(), order.end(), size_t{0});
    std::shuffle(order.begin(), order.end(), rng);
    rt::ShareCalibrator calibrator(router.threshold(), target);
    size_t sent = 0;
    for (const size_t k : order) sent += calibrator.route_to_cloud(scores[k]);
    return static_cast<double>(sent) / static_cast<double>(scores.size());
}

int run_train(const RouterCliOptions& o) {
    const auto examples = read_examples(o);
    const auto start = std::chrono::steady_clock::now();
    const auto router = rt::Router::train(examples, train_options(o));
    router.save(o.output);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const auto scored = score_examples(router, examples);
    std::printf("trained on %zu prompts in %.1f s; wrote %s (%ju bytes)\n", examples.size(),
                seconds, o.output.c_str(),
                static_cast<uintmax_t>(std::filesystem::file_size(o.output)));
    std::printf(
        "threshold %.4f for cloud share %.1f%% (realised on the training prompts: %.1f%%)\n",
        router.threshold(), 100 * o.cloud_share, 100 * scored.share());
    try {
        print_metrics("training data",
                      rt::evaluate_routing(scored.scores, scored.weak, scored.strong));
    } catch (const Error&) {
        // No gap between the models in the training data: nothing to report.
    }
    return kExitOk;
}

double mean_of(const std::vector<double>& v) {
    return std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
}
double sd_of(const std::vector<double>& v) {
    const double m = mean_of(v);
    double s = 0;
    for (const double x : v) s += (x - m) * (x - m);
    return v.size() > 1 ? std::sqrt(s / static_cast<double>(v.size() - 1)) : 0.0;
}

// Fold assignment: whole groups (files / subjects) held out together, shuffled with the seed; or
// single prompts (--group-by prompt) for a data set that is one group. Every fold trains on the
// other folds plus --also-train (data from other domains), and is measured on its own prompts.
int run_cross_validation(const RouterCliOptions& o,
                         const std::vector<rt::RoutingExample>& examples) {
    std::vector<rt::RoutingExample> extra;
    if (!o.also_train.empty()) {
        std::vector<std::filesystem::path> files(o.also_train.begin(), o.also_train.end());
        extra = rt::read_routing_examples(files, o.weak, o.strong);
    }
    std::vector<std::string> keys;
    for (size_t i = 0; i < examples.size(); ++i)
        keys.push_back(o.group_by == "prompt" ? std::to_string(i) : examples[i].group);
    std::vector<std::string> sorted_groups = keys;
    std::sort(sorted_groups.begin(), sorted_groups.end());
    sorted_groups.erase(std::unique(sorted_groups.begin(), sorted_groups.end()),
                        sorted_groups.end());
    if (sorted_groups.size() < o.folds)
        fail("--cross-validate ", o.folds, ": only ", sorted_groups.size(),
             " groups (try --group-by prompt)");

    std::vector<double> apgr, cpt50, cpt80, shares, pooled_apgr, pooled_cpt50, pooled_cpt80;
    std::vector<double> calibrated_shares;
    std::vector<double> gaps;  // per fold: the gap in total performance, to weight its APGR
    nlohmann::ordered_json folds = nlohmann::ordered_json::array();
    for (size_t rep = 0; rep < std::max<size_t>(o.repeats, 1); ++rep) {
        auto groups = sorted_groups;
        std::mt19937 rng(o.seed + static_cast<unsigned>(rep));
        std::shuffle(groups.begin(), groups.end(), rng);
        std::map<std::string, size_t> fold_of;
        for (size_t g = 0; g < groups.size(); ++g) fold_of[groups[g]] = g * o.folds / groups.size();
        // Out-of-fold scores of every prompt: the pooled curve over all held-out prompts.
        std::vector<double> oof_scores, oof_weak, oof_strong;
        for (size_t f = 0; f < o.folds; ++f) {
            std::vector<rt::RoutingExample> train = extra;
            std::vector<const rt::RoutingExample*> test;
            for (size_t i = 0; i < examples.size(); ++i)
                if (fold_of[keys[i]] == f)
                    test.push_back(&examples[i]);
                else
                    train.push_back(examples[i]);
            const auto router = rt::Router::train(train, train_options(o));
            ScoredExamples scored;
            for (const auto* e : test) scored.add(router, *e);
            oof_scores.insert(oof_scores.end(), scored.scores.begin(), scored.scores.end());
            oof_weak.insert(oof_weak.end(), scored.weak.begin(), scored.weak.end());
            oof_strong.insert(oof_strong.end(), scored.strong.begin(), scored.strong.end());
            const double share = scored.share();
            shares.push_back(share);
            // The same held-out prompts as a stream in random order through the online calibrator.
            calibrated_shares.push_back(
                calibrated_share(router, o.cloud_share, scored.scores, rng));
            nlohmann::ordered_json j;
            try {
                const auto m = rt::evaluate_routing(scored.scores, scored.weak, scored.strong);
                apgr.push_back(m.apgr);
                gaps.push_back((m.strong_mean - m.weak_mean) * static_cast<double>(m.n));
                cpt50.push_back(m.cpt50);
                cpt80.push_back(m.cpt80);
                j = metrics_json(m);
                if (!o.json) {
                    std::printf("fold %zu.%zu: ", rep + 1, f + 1);
                    print_metrics("", m);
                }
            } catch (const Error& e) {
                // A held-out fold on which both models perform the same has no gap to recover.
                j = {{"n", test.size()}, {"error", e.what()}};
                if (!o.json) std::printf("fold %zu.%zu: %s\n", rep + 1, f + 1, e.what());
            }
            j["cloud_share"] = share;
            folds.push_back(j);
            if (!o.json)
                std::printf(
                    "          cloud share at the trained threshold: %.1f%% (target %.1f%%)\n",
                    100 * share, 100 * o.cloud_share);
        }
        const auto pooled = rt::evaluate_routing(oof_scores, oof_weak, oof_strong);
        pooled_apgr.push_back(pooled.apgr);
        pooled_cpt50.push_back(pooled.cpt50);
        pooled_cpt80.push_back(pooled.cpt80);
    }
    if (apgr.empty()) fail("no held-out fold had a gap between the two models");
    // A fold whose two models nearly tie has an APGR far from 0.5 either way by chance; the median
    // and the gap-weighted mean (total gap recovered / total gap) are not swayed by it.
    auto sorted_apgr = apgr;
    std::sort(sorted_apgr.begin(), sorted_apgr.end());
    const size_t half = sorted_apgr.size() / 2;
    const double median = sorted_apgr.size() % 2
                              ? sorted_apgr[half]
                              : 0.5 * (sorted_apgr[half - 1] + sorted_apgr[half]);
    double weighted = 0, total_gap = 0;
    for (size_t k = 0; k < apgr.size(); ++k) {
        weighted += apgr[k] * gaps[k];
        total_gap += gaps[k];
    }
    weighted /= total_gap;
    if (o.json) {
        nlohmann::ordered_json out = {{"apgr", mean_of(apgr)},
                                      {"cpt50", mean_of(cpt50)},
                                      {"cpt80", mean_of(cpt80)},
                                      {"n", examples.size()},
                                      {"apgr_sd", sd_of(apgr)},
                                      {"apgr_median", median},
                                      {"apgr_gap_weighted", weighted},
                                      {"cpt50_sd", sd_of(cpt50)},
                                      {"cpt80_sd", sd_of(cpt80)},
                                      {"pooled_apgr", mean_of(pooled_apgr)},
                                      {"pooled_cpt50", mean_of(pooled_cpt50)},
                                      {"pooled_cpt80", mean_of(pooled_cpt80)},
                                      {"cloud_share", mean_of(shares)},
                                      {"cloud_share_sd", sd_of(shares)},
                                      {"cloud_share_calibrated", mean_of(calibrated_shares)},
                                      {"cloud_share_calibrated_sd", sd_of(calibrated_shares)},
                                      {"cloud_share_target", o.cloud_share},
                                      {"folds", folds}};
        std::printf("%s\n", out.dump().c_str());
        return kExitOk;
    }
    std::printf(
        "mean over %zu folds: APGR %.3f ± %.3f  CPT(50%%) %.1f%% ± %.1f  CPT(80%%) %.1f%% ± %.1f  "
        "n %zu\n",
        apgr.size(), mean_of(apgr), sd_of(apgr), 100 * mean_of(cpt50), 100 * sd_of(cpt50),
        100 * mean_of(cpt80), 100 * sd_of(cpt80), examples.size());
    std::printf("APGR median over folds %.3f, gap-weighted mean %.3f\n", median, weighted);
    std::printf(
        "pooled out-of-fold (mean over %zu repeats): APGR %.3f  CPT(50%%) %.1f%%  CPT(80%%) "
        "%.1f%%\n",
        pooled_apgr.size(), mean_of(pooled_apgr), 100 * mean_of(pooled_cpt50),
        100 * mean_of(pooled_cpt80));
    std::printf("held-out cloud share at the trained threshold: %.1f%% ± %.1f (target %.1f%%)\n",
                100 * mean_of(shares), 100 * sd_of(shares), 100 * o.cloud_share);
    std::printf(
        "held-out cloud share, online-calibrated (window 1000, warm-up 20): %.1f%% ± %.1f\n",
        100 * mean_of(calibrated_shares), 100 * sd_of(calibrated_shares));
    return kExitOk;
}

// --router FILE, or the router built into pocket when none is given (as serve/run/chat do).
rt::Router open_router(const RouterCliOptions& o) {
    return o.router.empty() ? rt::Router::builtin() : rt::Router::load(o.router);
}

int run_eval(const RouterCliOptions& o) {
    const auto examples = read_examples(o);
    if (o.folds > 0) return run_cross_validation(o, examples);
    const auto router = open_router(o);
    const auto scored = score_examples(router, examples);
    const auto m = rt::evaluate_routing(scored.scores, scored.weak, scored.strong);
    if (o.json) {
        std::printf("%s\n", metrics_json(m).dump().c_str());
        return kExitOk;
    }
    print_metrics("router", m);
    // Latency of score() on one thread, per prompt. Also the fastest of three runs per prompt: on
    // a loaded machine single runs include time the thread was preempted, which says nothing
    // about the router.
    std::vector<double> micros, best;
    for (const auto& e : examples) {
        double fastest = 1e300;
        for (int run = 0; run < 3; ++run) {
            const auto t0 = std::chrono::steady_clock::now();
            volatile double s = router.score(e.prompt);
            (void)s;
            const double us =
                std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0)
                    .count();
            if (run == 0) micros.push_back(us);
            fastest = std::min(fastest, us);
        }
        best.push_back(fastest);
    }
    std::sort(micros.begin(), micros.end());
    std::sort(best.begin(), best.end());
    const auto pct = [&](double q) {
        return micros[static_cast<size_t>(q * static_cast<double>(micros.size() - 1))];
    };
    std::printf("score latency (one thread): p50 %.0f us, p99 %.0f us, max %.0f us\n", pct(0.5),
                pct(0.99), micros.back());
    std::printf(
        "score latency, fastest of 3 runs per prompt: p50 %.0f us, p99 %.0f us, max %.0f us\n",
        best[best.size() / 2],
        best[static_cast<size_t>(0.99 * static_cast<double>(best.size() - 1))], best.back());
    std::printf(
        "weak mean %.3f, strong mean %.3f; cloud share at the router's threshold: %.1f%% "
        "(trained for %.1f%%)\n",
        m.weak_mean, m.strong_mean, 100 * scored.share(), 100 * router.trained_cloud_share());
    std::mt19937 rng(o.seed);
    std::printf("cloud share with the online calibrator (prompts in random order): %.1f%%\n",
                100 * calibrated_share(router, router.trained_cloud_share(), scored.scores, rng));
    return kExitOk;
}

// Scores prompts with a trained router: the score, where it goes at the trained threshold, and
// the features that decided it.
int run_score(const RouterCliOptions& o) {
    const auto router = open_router(o);
    rt::RouterSignals signals;
    if (!o.language.empty()) signals.language = o.language;
    nlohmann::ordered_json out = nlohmann::ordered_json::array();
    for (const auto& p : o.prompts) {
        const double score = router.score(p, signals);
        const bool cloud = score >= router.threshold();
        if (o.json)
            out.push_back({{"score", score},
                           {"threshold", router.threshold()},
                           {"route", cloud ? "cloud" : "local"},
                           {"reason", router.describe(p, signals)}});
        else
            std::printf("%s  %s\n", cloud ? "cloud" : "local", router.describe(p, signals).c_str());
    }
    if (o.json) std::printf("%s\n", out.dump().c_str());
    return kExitOk;
}

void add_data_options(CLI::App& app, RouterCliOptions& o) {
    app.add_option(
           "--csv", o.csv,
           "Labelled prompts: RouteLLM CSV files (prompt + weak/strong columns) or MT-Bench "
           "judgements .jsonl (questions read from mt_bench_questions.jsonl beside it)")
        ->required()
        ->expected(1, -1);
    app.add_option("--weak", o.weak, "Column (or MT-Bench model) of the weak, local model")
        ->required();
    app.add_option("--strong", o.strong, "Column (or MT-Bench model) of the strong, cloud model")
        ->required();
    app.add_option(
        "--embedder", o.embedder,
        "potion-base-4M-int8 folder (default: ../shared/models/embed/potion-base-4M-int8)");
    app.add_option("--cloud-share", o.cloud_share,
                   "Share of prompts the threshold sends to the cloud")
        ->check(CLI::Range(0.0, 1.0));
    app.add_option("--l2", o.l2, "L2 penalty of the logistic regression (scikit-learn's 1/C)");
}

}  // namespace

Runner register_router(CLI::App& app) {
    auto o = std::make_shared<RouterCliOptions>();
    app.require_subcommand(1);
    auto* train = app.add_subcommand("train", "Fit the local/cloud router on labelled prompts");
    add_data_options(*train, *o);
    train->add_option("-o,--output", o->output, "Router file to write")->required();
    auto* eval =
        app.add_subcommand("eval", "APGR, CPT(50%), CPT(80%) of a router on labelled prompts");
    add_data_options(*eval, *o);
    eval->add_option("--router", o->router, "Trained router file (default: the built-in router)");
    eval->add_option("--cross-validate", o->folds,
                     "Train on K-1 folds of groups and measure on the held-out one, K times");
    eval->add_option("--group-by", o->group_by,
                     "Fold unit: group (CSV file / MT-Bench category, default) or prompt")
        ->check(CLI::IsMember({"group", "file", "prompt"}));
    eval->add_option("--seed", o->seed, "Seed of the fold assignment");
    eval->add_option("--repeats", o->repeats,
                     "Cross-validation repeats with seeds seed, seed+1, ...");
    eval->add_option("--also-train", o->also_train,
                     "Cross-validation: files added to every fold's training data (other domains)")
        ->expected(1, -1);
    eval->add_flag("--json", o->json, "Print {\"apgr\",\"cpt50\",\"cpt80\",\"n\"} as JSON");
    auto* score = app.add_subcommand("score", "Score prompts with a trained router and say why");
    score->add_option("--router", o->router, "Trained router file (default: the built-in router)");
    score->add_option("-p,--prompt", o->prompts, "A prompt to score (repeatable)")->required();
    score->add_option("--language", o->language,
                      "The prompt's language (ISO 639-1), as the language identifier would say");
    score->add_flag("--json", o->json,
                    "Print [{\"score\",\"threshold\",\"route\",\"reason\"}] as JSON");
    return [o, train, eval, score] {
        if (score->parsed()) return run_score(*o);
        if (train->parsed()) return run_train(*o);
        if (eval->parsed()) return run_eval(*o);
        return int(kExitUsage);
    };
}

}  // namespace pocket::cli
