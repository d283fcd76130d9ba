// LoRA adapters through the command line: `pocket run/perplexity/eval/ask --lora` against the model
// that `pocket merge-lora` writes (greedy text equal, perplexity and accuracy equal),
// --lora-scale / --lora-scaled, `pocket bench --lora` reporting what it applied, the merged file
// quantized, and clear failures for files that are not adapters.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "pocket/gguf/gguf.h"
#include "pocket/model/lora.h"
#include "pocket/model/model.h"
#include "support/random_lora.h"
#include "support/test_support.h"

namespace pocket::test {
namespace {

class CliLora : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        dir_ = new ScratchDir();
        const auto base = model::Model::load(stories_model());
        adapter_ = (*dir_ / "adapter.gguf").string();
        // Mild (B small): the text changes but stays text, so equal outputs mean something.
        random_lora(*base, 21, 4, 8.0f, kAllProjections, 0.1f)->save(adapter_, DType::F32);
        merged_ = (*dir_ / "merged.gguf").string();
        const auto r = run_pocket({"merge-lora", "-m", stories_model(), "--lora", adapter_, "-o",
                                   merged_, "--type", "f32"});
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
    const std::string base = greedy(stories_model());
    const std::string adapted = greedy(stories_model(), {"--lora", adapter_});
    EXPECT_EQ(adapted, greedy(merged_));
    EXPECT_NE(adapted, base);
    // Scale 0 in either spelling is the base model.
    EXPECT_EQ(greedy(stories_model(), {"--lora", adapter_, "--lora-scale", "0"}), base);
    EXPECT_EQ(greedy(stories_model(), {"--lora-scaled", adapter_, "0"}), base);
    // Half the adapter twice is the whole adapter.
    EXPECT_EQ(greedy(stories_model(),
                     {"--lora-scaled", adapter_, "0.5", "--lora", adapter_, "--lora-scale", "0.5"}),
              adapted);
}

TEST_F(CliLora, PerplexityWithTheAdapterIsTheMergedModels) {
    const double base = ppl(stories_model());
    const double adapted = ppl(stories_model(), {"--lora", adapter_});
    EXPECT_NEAR(adapted, ppl(merged_), 1e-4 * adapted);
    EXPECT_GT(std::abs(adapted - base), 1e-3 * base);
}

TEST_F(CliLora, EvalWithTheAdapterScoresAsTheMergedModel) {
    const auto eval = [](const std::string& model, std::vector<std::string> extra = {}) {
        std::vector<std::string> args = {"eval",
                                         "-m",
                                         model,
                                         "--task",
                                         "winogrande",
                                         "-f",
                                         shared_path("data/lm/winogrande_dev.jsonl").string(),
                                         "--limit",
                                         "40",
                                         "--json"};
        args.insert(args.end(), extra.begin(), extra.end());
        const auto r = run_pocket(args);
        EXPECT_EQ(r.exit_code, 0) << r.err;
        return r.exit_code == 0 ? nlohmann::json::parse(r.out)["correct"].get<int64_t>() : -1;
    };
    const int64_t base = eval(stories_model());
    const int64_t adapted = eval(stories_model(), {"--lora", adapter_});
    EXPECT_EQ(adapted, eval(merged_));
    EXPECT_NE(adapted, base);
    EXPECT_EQ(eval(stories_model(), {"--lora-scaled", adapter_, "0"}), base);
}

TEST_F(CliLora, BenchAppliesTheAdapterAndSaysSo) {
    const auto bench = [](std::vector<std::string> extra) {
        std::vector<std::string> args = {
            "bench", "-m", stories_model(), "-p", "16", "-n", "4", "-r", "1", "-t", "1", "--json"};
        args.insert(args.end(), extra.begin(), extra.end());
        const auto r = run_pocket(args);
        EXPECT_EQ(r.exit_code, 0) << r.err;
        return r.exit_code == 0 ? nlohmann::json::parse(r.out) : nlohmann::json();
    };
    EXPECT_EQ(bench({})["lora"], nlohmann::json::array());
    const nlohmann::json j = bench({"--lora-scaled", adapter_, "0.5"});
    ASSERT_EQ(j["lora"].size(), 1u) << j.dump();
    EXPECT_EQ(j["lora"][0]["file"], adapter_);
    EXPECT_EQ(j["lora"][0]["scale"], 0.5);
    // What the file holds, read here without the adapter loader: one pair per *.lora_a tensor.
    const gguf::File file = gguf::File::open(adapter_);
    uint64_t pairs = 0, values = 0;
    for (const gguf::TensorInfo& t : file.tensors()) {
        pairs += t.name.ends_with(".lora_a") ? 1 : 0;
        values += t.n_elements();
    }
    EXPECT_GT(pairs, 0u);
    EXPECT_EQ(j["lora"][0]["pairs"], pairs);
    EXPECT_EQ(j["lora"][0]["values"], values);

    const auto not_adapter =
        run_pocket({"bench", "-m", stories_model(), "--lora", stories_model()});
    EXPECT_NE(not_adapter.exit_code, 0);
    EXPECT_NE(not_adapter.err.find("not a LoRA adapter"), std::string::npos) << not_adapter.err;
}

TEST_F(CliLora, AskWithTheAdapterAnswersAsTheMergedModel) {
    std::filesystem::create_directories(*dir_ / "docs");
    std::ofstream(*dir_ / "docs/volcanoes.md", std::ios::binary)
        << "# Volcanoes\n\nA volcano erupts when magma rises through the crust. Basaltic magma is "
           "runny; rhyolitic magma is thick and erupts explosively.\n";
    std::ofstream(*dir_ / "docs/bread.md", std::ios::binary)
        << "# Bread\n\nSourdough bread rises with wild yeast and lactic acid bacteria.\n";
    const std::string db = (*dir_ / "index.sqlite").string();
    const auto indexed = run_pocket({"index", (*dir_ / "docs").string(), "--db", db});
    ASSERT_EQ(indexed.exit_code, 0) << indexed.err;
    const auto ask = [&](const std::string& model, std::vector<std::string> extra = {}) {
        std::vector<std::string> args = {"ask",    "What makes a volcano erupt explosively?",
                                         "-m",     model,
                                         "--db",   db,
                                         "-n",     "16",
                                         "--temp", "0",
                                         "--json"};
        args.insert(args.end(), extra.begin(), extra.end());
        const auto r = run_pocket(args);
        EXPECT_EQ(r.exit_code, 0) << r.err;
        if (r.exit_code != 0) return std::string();
        const auto j = nlohmann::json::parse(r.out);
        EXPECT_EQ(j["answered"], true);
        return j["answer"].get<std::string>();
    };
    const std::string base = ask(stories_model());
    const std::string adapted = ask(stories_model(), {"--lora", adapter_});
    EXPECT_EQ(adapted, ask(merged_));
    EXPECT_NE(adapted, base);
    EXPECT_EQ(ask(stories_model(), {"--lora", adapter_, "--lora-scale", "0"}), base);
}

TEST_F(CliLora, TheMergedModelQuantizes) {
    const std::string q8 = (*dir_ / "merged-q8_0.gguf").string();
    const auto r = run_pocket({"quantize", merged_, q8, "q8_0"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_FALSE(greedy(q8).empty());
}

TEST_F(CliLora, RefusesFilesThatAreNotAdapters) {
    const auto r =
        run_pocket({"run", "-m", stories_model(), "--lora", stories_model(), "-p", "x", "-n", "1"});
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.err.find("not a LoRA adapter"), std::string::npos) << r.err;
    const auto missing =
        run_pocket({"run", "-m", stories_model(), "--lora", "/nonexistent/a.gguf"});
    EXPECT_NE(missing.exit_code, 0);
    const auto no_lora = run_pocket({"merge-lora", "-m", stories_model(), "-o", merged_ + ".x"});
    EXPECT_EQ(no_lora.exit_code, 64) << no_lora.err;
    const auto quantized = run_pocket({"merge-lora", "-m", stories_model(), "--lora", adapter_,
                                       "-o", merged_ + ".x", "--type", "q4_0"});
    EXPECT_EQ(quantized.exit_code, 64) << quantized.err;
    EXPECT_NE(quantized.err.find("pocket quantize"), std::string::npos) << quantized.err;
}

}  // namespace
}  // namespace pocket::test
