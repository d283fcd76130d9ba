// The `pocket` binary end to end, as a user runs it.
#include <gtest/gtest.h>

#include <string>

#include "support/test_support.h"

namespace pocket::test {
namespace {

std::string hex_to_bytes(const std::string& hex) {
    std::string out;
    for (size_t i = 0; i + 1 < hex.size(); i += 2)
        out += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
    return out;
}

TEST(CliRun, Stories260KGreedyMatchesThe200TokenReference) {
    const auto ref = read_json(shared_path("reference/stories260K.json"))["long_generation"];
    ASSERT_EQ(ref["n_gen"].get<int>(), 200);
    const auto r = run_pocket({"run", "-m", shared_path("models/stories260K.gguf").string(), "-p",
                               ref["prompt"].get<std::string>(), "-n", "200", "--temp", "0"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, hex_to_bytes(ref["generated_text_hex"].get<std::string>()) + "\n");
    EXPECT_NE(r.err.find("tokens/s"), std::string::npos) << "timing summary missing: " << r.err;
}

TEST(CliRun, SeededSamplingIsReproducible) {
    const std::vector<std::string> args = {"run",
                                           "-m",
                                           shared_path("models/stories260K.gguf").string(),
                                           "-p",
                                           "Once upon a time",
                                           "-n",
                                           "40",
                                           "--temp",
                                           "1.0",
                                           "--seed",
                                           "1234",
                                           "-q"};
    const auto a = run_pocket(args);
    const auto b = run_pocket(args);
    ASSERT_EQ(a.exit_code, 0) << a.err;
    EXPECT_EQ(a.out, b.out);
    EXPECT_FALSE(a.out.empty());
}

TEST(CliRun, MissingModelIsAClearError) {
    const auto r = run_pocket({"run", "-m", "/nonexistent/model.gguf", "-p", "hi"});
    EXPECT_NE(r.exit_code, 0);
    EXPECT_LT(r.exit_code, 128) << "crashed";
    EXPECT_NE(r.err.find("/nonexistent/model.gguf"), std::string::npos) << r.err;
}

TEST(CliRun, UsageErrorsExitWithUsageCode) {
    EXPECT_EQ(run_pocket({"run", "-p", "hi"}).exit_code, 64);  // -m missing
    EXPECT_EQ(run_pocket({"frobnicate"}).exit_code, 64);
}

TEST(CliInfo, DescribesStories260K) {
    const auto r = run_pocket(
        {"info", shared_path("models/stories260K.Q8_0.gguf").string(), "--json", "--tensors"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["architecture"], "llama");
    EXPECT_EQ(j["n_params"].get<uint64_t>(), 292800u);  // model_info.n_params in the reference
    EXPECT_EQ(j["tensors"].size(), 48u);
    EXPECT_EQ(j["tensor_types"]["q8_0"].get<int>(), 32);
    EXPECT_EQ(j["tensor_types"]["f16"].get<int>(), 5);
    EXPECT_EQ(j["hparams"]["n_layer"].get<int>(), 5);

    const auto text = run_pocket({"info", shared_path("models/stories260K.gguf").string()});
    ASSERT_EQ(text.exit_code, 0) << text.err;
    EXPECT_NE(text.out.find("architecture:  llama"), std::string::npos) << text.out;
    EXPECT_NE(text.out.find("tokenizer.ggml.tokens"), std::string::npos);
}

TEST(CliSynth, WritesALoadableModelThatRuns) {
    ScratchDir dir;
    const auto path = (dir / "tiny.gguf").string();
    const auto w = run_pocket({"synth", "--shape", "tiny", "--type", "q8_0", "-o", path});
    ASSERT_EQ(w.exit_code, 0) << w.err;
    const auto info = run_pocket({"info", path, "--json"});
    ASSERT_EQ(info.exit_code, 0) << info.err;
    const auto j = nlohmann::json::parse(info.out);
    EXPECT_EQ(j["tensor_types"]["q8_0"].get<int>(), 2 * 7 + 2);
    const auto run = run_pocket(
        {"run", "-m", path, "-p", "hello world", "-n", "16", "--temp", "0", "--ignore-eos"});
    ASSERT_EQ(run.exit_code, 0) << run.err;
    EXPECT_NE(run.err.find("generated 16 tokens"), std::string::npos) << run.err;
}

}  // namespace
}  // namespace pocket::test
