// `pocket router train|eval|score` from the command line: the file it writes, the --json shapes,
// the built-in router without --router.
#include <gtest/gtest.h>

#include <filesystem>

#include "support/test_support.h"

using pocket::test::run_pocket;
using pocket::test::ScratchDir;
using pocket::test::shared_path;

namespace {

const std::string kWeak = "mistralai/Mixtral-8x7B-Instruct-v0.1";
const std::string kStrong = "gpt-4-1106-preview";

std::string mmlu(const std::string& subject) {
    return shared_path("data/routing/routellm/mmlu/mmlu_" + subject + ".csv").string();
}

std::vector<std::string> data_args() {
    return {"--csv",         mmlu("abstract_algebra"),
            mmlu("anatomy"), mmlu("astronomy"),
            "--weak",        kWeak,
            "--strong",      kStrong,
            "--embedder",    shared_path("models/embed/potion-base-4M-int8").string()};
}

}  // namespace

TEST(CliRouter, TrainThenEvalJson) {
    ScratchDir dir;
    auto train = std::vector<std::string>{"router", "train"};
    for (const auto& a : data_args()) train.push_back(a);
    train.insert(train.end(), {"--cloud-share", "0.3", "-o", (dir / "r.gguf").string()});
    const auto t = run_pocket(train);
    ASSERT_EQ(t.exit_code, 0) << t.err;
    EXPECT_NE(t.out.find("threshold"), std::string::npos);
    EXPECT_LE(std::filesystem::file_size(dir / "r.gguf"), 2u << 20);

    auto eval =
        std::vector<std::string>{"router", "eval", "--router", (dir / "r.gguf").string(), "--json"};
    for (const auto& a : data_args()) eval.push_back(a);
    const auto e = run_pocket(eval);
    ASSERT_EQ(e.exit_code, 0) << e.err;
    const auto j = nlohmann::json::parse(e.out);
    ASSERT_TRUE(j.is_object());
    EXPECT_EQ(j.size(), 4u);
    for (const auto* key : {"apgr", "cpt50", "cpt80"}) {
        ASSERT_TRUE(j.contains(key) && j[key].is_number()) << key;
        EXPECT_GE(j[key].get<double>(), 0.0) << key;
    }
    EXPECT_LE(j["cpt50"].get<double>(), j["cpt80"].get<double>());
    EXPECT_EQ(j["n"].get<int>(), 100 + 135 + 152);  // the three subjects' rows

    const auto s =
        run_pocket({"router", "score", "--router", (dir / "r.gguf").string(), "-p",
                    "What is 2 + 2?", "-p", "Wie spät ist es?", "--language", "de", "--json"});
    ASSERT_EQ(s.exit_code, 0) << s.err;
    const auto scored = nlohmann::json::parse(s.out);
    ASSERT_EQ(scored.size(), 2u);
    for (const auto& r : scored) {
        EXPECT_TRUE(r["score"].is_number());
        EXPECT_TRUE(r["route"] == "cloud" || r["route"] == "local");
        EXPECT_NE(r["reason"].get<std::string>().find("language de"), std::string::npos);
    }
}

TEST(CliRouter, CrossValidationJson) {
    auto args = std::vector<std::string>{"router", "eval", "--cross-validate", "3", "--json"};
    for (const auto& a : data_args()) args.push_back(a);
    const auto r = run_pocket(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["folds"].size(), 3u);
    EXPECT_TRUE(j["apgr_sd"].is_number());
    EXPECT_TRUE(j["cloud_share"].is_number());
}

// Without --router, score and eval use the router compiled into pocket: the same output, to the
// last digit, as giving them the source tree's data/router/default-router.gguf.
TEST(CliRouter, WithoutRouterTheBuiltInOneDecides) {
    const std::string file =
        (pocket::test::source_dir() / "data/router/default-router.gguf").string();
    const std::vector<std::string> prompts = {"-p", "Write a haiku about autumn.", "-p",
                                              "Prove that there are infinitely many primes."};
    auto score = std::vector<std::string>{"router", "score", "--json"};
    score.insert(score.end(), prompts.begin(), prompts.end());
    auto score_file = score;
    score_file.insert(score_file.end(), {"--router", file});
    const auto builtin = run_pocket(score);
    const auto loaded = run_pocket(score_file);
    ASSERT_EQ(builtin.exit_code, 0) << builtin.err;
    ASSERT_EQ(loaded.exit_code, 0) << loaded.err;
    EXPECT_EQ(builtin.out, loaded.out);
    EXPECT_EQ(nlohmann::json::parse(builtin.out).size(), 2u);

    auto eval = std::vector<std::string>{"router", "eval", "--json"};
    for (const auto& a : data_args()) eval.push_back(a);
    auto eval_file = eval;
    eval_file.insert(eval_file.end(), {"--router", file});
    const auto e = run_pocket(eval);
    const auto ef = run_pocket(eval_file);
    ASSERT_EQ(e.exit_code, 0) << e.err;
    ASSERT_EQ(ef.exit_code, 0) << ef.err;
    EXPECT_EQ(e.out, ef.out);
    EXPECT_EQ(nlohmann::json::parse(e.out)["n"].get<int>(), 100 + 135 + 152);
}

TEST(CliRouter, ErrorsAreReported) {
    auto args = std::vector<std::string>{"router", "eval", "--json", "--router",
                                         "/nonexistent/router.gguf"};
    for (const auto& a : data_args()) args.push_back(a);
    const auto r = run_pocket(args);
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.err.find("/nonexistent/router.gguf"), std::string::npos) << r.err;
    const auto u = run_pocket({"router"});
    EXPECT_NE(u.exit_code, 0);
}
