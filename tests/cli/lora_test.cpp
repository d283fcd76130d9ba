// LoRA adapters through the command line: `pocket run/perplexity --lora` against the model that
// `pocket merge-lora` writes (greedy text equal, perplexity equal), --lora-scale / --lora-scaled,
// the merged file quantized, and clear failures for files that are not adapters.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "pocket/model/lora.h"
#include "pocket/model/model.h"
#include "support/random_lora.h"
#include "support/test_support.h"

namespace pocket::test {
namespace {

std::string stories() {
    return shared_path("models/stories260K.gguf").string();
}

class CliLora : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        dir_ = new ScratchDir();
        const auto base = model::Model::load(stories());
        adapter_ = (*dir_ / "adapter.gguf").string();
        // Mild (B small): the text changes but stays text, so equal outputs mean something.
        random_lora(*base, 21, 4, 8.0f, kAllProjections, 0.1f)->save(adapter_, DType::F32);
        merged_ = (*dir_ / "merged.gguf").string();
        const auto r = run_pocket(
            {"merge-lora", "-m", stories(), "--lora", adapter_, "-o", merged_, "--type", "f32"});
        ASSERT_EQ(r.exit_code, 0) << r.err;
        EXPECT_NE(r.err.find("merged (f32)"), std::string::npos) << r.err;
    }
    static void TearDownTestSuite() { delete dir_; }

    static std::string greedy(const std::string& model, std::vector<std::string> extra = {}) {
        std::vector<std::string> args = {"run", "-m", model,    "-p", "Once upon a time",
                                         "-n",  "40", "--temp", "0",  "-q"};
        args.insert(args.end(), extra.begin(), extra.end());
        const auto r = run_pocket(args);
        EXPECT_EQ(r.exit_code, 0) << r.err;
        return r.out;
    }

    static double ppl(const std::string& model, std::vector<std::string> extra = {}) {
        std::vector<std::string> args = {
            "perplexity", "-m",  model,      "-f", shared_path("reference/ppl-text.txt").string(),
            "-c",         "128", "--chunks", "3",  "--json"};
        args.insert(args.end(), extra.begin(), extra.end());
        const auto r = run_pocket(args);
        EXPECT_EQ(r.exit_code, 0) << r.err;
        if (r.exit_code != 0) return NAN;
        return nlohmann::json::parse(r.out)["ppl"].get<double>();
    }

    static ScratchDir* dir_;
    static std::string adapter_, merged_;
};

ScratchDir* CliLora::dir_ = nullptr;
std::string CliLora::adapter_, CliLora::merged_;

TEST_F(CliLora, RunWithTheAdapterWritesTheMergedModelsText) {
    const std::string base = greedy(stories());
    const std::string adapted = greedy(stories(), {"--lora", adapter_});
    EXPECT_EQ(adapted, greedy(merged_));
    EXPECT_NE(adapted, base);
    // Scale 0 in either spelling is the base model.
    EXPECT_EQ(greedy(stories(), {"--lora", adapter_, "--lora-scale", "0"}), base);
    EXPECT_EQ(greedy(stories(), {"--lora-scaled", adapter_, "0"}), base);
    // Half the adapter twice is the whole adapter.
    EXPECT_EQ(greedy(stories(),
                     {"--lora-scaled", adapter_, "0.5", "--lora", adapter_, "--lora-scale", "0.5"}),
              adapted);
}

TEST_F(CliLora, PerplexityWithTheAdapterIsTheMergedModels) {
    const double base = ppl(stories());
    const double adapted = ppl(stories(), {"--lora", adapter_});
    EXPECT_NEAR(adapted, ppl(merged_), 1e-4 * adapted);
    EXPECT_GT(std::abs(adapted - base), 1e-3 * base);
}

TEST_F(CliLora, TheMergedModelQuantizes) {
    const std::string q8 = (*dir_ / "merged-q8_0.gguf").string();
    const auto r = run_pocket({"quantize", merged_, q8, "q8_0"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_FALSE(greedy(q8).empty());
}

TEST_F(CliLora, RefusesFilesThatAreNotAdapters) {
    const auto r = run_pocket({"run", "-m", stories(), "--lora", stories(), "-p", "x", "-n", "1"});
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.err.find("not a LoRA adapter"), std::string::npos) << r.err;
    const auto missing = run_pocket({"run", "-m", stories(), "--lora", "/nonexistent/a.gguf"});
    EXPECT_NE(missing.exit_code, 0);
    const auto no_lora = run_pocket({"merge-lora", "-m", stories(), "-o", merged_ + ".x"});
    EXPECT_EQ(no_lora.exit_code, 64) << no_lora.err;
    const auto quantized = run_pocket({"merge-lora", "-m", stories(), "--lora", adapter_, "-o",
                                       merged_ + ".x", "--type", "q4_0"});
    EXPECT_EQ(quantized.exit_code, 64) << quantized.err;
    EXPECT_NE(quantized.err.find("pocket quantize"), std::string::npos) << quantized.err;
}

}  // namespace
}  // namespace pocket::test
