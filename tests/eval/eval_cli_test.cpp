// `pocket eval` as users run it: JSON output and the exit codes of its error cases.
#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "support/test_support.h"

namespace pocket::test {
namespace {

const std::string kModel = shared_path("models/stories260K.gguf").string();

TEST(EvalCli, JsonObjectForALimitedRun) {
    const auto r = run_pocket({"eval", "-m", kModel, "--task", "winogrande", "-f",
                               shared_path("data/lm/winogrande_dev.jsonl").string(), "--limit",
                               "30", "--json", "-c", "512"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["task"], "winogrande");
    EXPECT_EQ(j["n"], 30);
    EXPECT_EQ(j["selection"], "llama.cpp");
    const double acc = j["accuracy"];
    EXPECT_NEAR(acc, j["correct"].get<double>() / 30.0, 1e-12);
    EXPECT_GT(j["stderr"].get<double>(), 0.0);
    EXPECT_TRUE(r.err.empty()) << "no progress when stderr is not a terminal: " << r.err;
}

TEST(EvalCli, ErrorsNameTheProblem) {
    const auto unknown = run_pocket({"eval", "-m", kModel, "--task", "mmlu", "-f", "x"});
    EXPECT_EQ(unknown.exit_code, 64);
    EXPECT_NE(unknown.err.find("mmlu"), std::string::npos);

    const auto missing =
        run_pocket({"eval", "-m", kModel, "--task", "arc-easy", "-f", "/nonexistent.jsonl"});
    EXPECT_EQ(missing.exit_code, 1);
    EXPECT_NE(missing.err.find("/nonexistent.jsonl: no such file"), std::string::npos);

    ScratchDir dir;
    const auto bad = dir / "bad.jsonl";
    std::ofstream(bad) << R"({"prompt": "q", "choices": ["a", "b"], "answer_idx": 0})"
                       << "\n"
                       << R"({"prompt": "q", "choices": ["a"], "answer_idx": 0})"
                       << "\n";
    const auto malformed =
        run_pocket({"eval", "-m", kModel, "--task", "arc-easy", "-f", bad.string()});
    EXPECT_EQ(malformed.exit_code, 65);
    EXPECT_NE(malformed.err.find("bad.jsonl:2: fewer than two choices"), std::string::npos)
        << malformed.err;
}

}  // namespace
}  // namespace pocket::test
