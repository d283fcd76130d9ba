// `pocket perplexity` end to end: llama-perplexity's printed numbers for stories260K, the JSON
// output, the --save-logits / --kld-base round trip, and clear failures.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "support/test_support.h"

namespace pocket::test {
namespace {

std::string model(const std::string& name) {
    return shared_path("models/" + name).string();
}
std::string text() {
    return shared_path("reference/ppl-text.txt").string();
}

TEST(CliPerplexity, PrintsLlamaPerplexityNumbers) {
    const auto r =
        run_pocket({"perplexity", "-m", model("stories260K.gguf"), "-f", text(), "-c", "128"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    // The same lines llama-perplexity prints (running PPL per chunk, then the final estimate);
    // the last digit of the running values may differ by rounding.
    EXPECT_EQ(r.out.rfind("[1]2.618", 0), 0u) << r.out;
    EXPECT_NE(r.out.find("[7]4.3499,"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("\nPPL = 4.3499 +/- 0.3886"), std::string::npos) << r.out;
    EXPECT_EQ(r.err, "");  // no progress line: stderr is not a terminal
}

TEST(CliPerplexity, Json) {
    const auto r = run_pocket({"perplexity", "-m", model("stories260K.gguf"), "-f", text(), "-c",
                               "128", "-b", "64", "-t", "1", "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_NEAR(j["ppl"].get<double>(), 4.3499, 1e-4);
    EXPECT_NEAR(j["ppl_stderr"].get<double>(), 0.38868, 1e-4);
    EXPECT_EQ(j["tokens"], 933);
    EXPECT_EQ(j["scored_tokens"], 441);
    EXPECT_EQ(j["n_chunks"], 7);
    EXPECT_EQ(j["running_ppl"].size(), 7u);
    EXPECT_FALSE(j.contains("kld"));
}

TEST(CliPerplexity, ChunksLimitsTheRun) {
    const auto r = run_pocket({"perplexity", "-m", model("stories260K.gguf"), "-f", text(), "-c",
                               "128", "--chunks", "2", "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["n_chunks"], 2);
    EXPECT_NEAR(j["ppl"].get<double>(), 3.1849, 1e-3);
}

TEST(CliPerplexity, KlDivergenceRoundTrip) {
    ScratchDir dir;
    const std::string base = (dir / "base.lp").string();
    const auto saved = run_pocket({"perplexity", "-m", model("stories260K.gguf"), "-f", text(),
                                   "-c", "128", "--save-logits", base});
    ASSERT_EQ(saved.exit_code, 0) << saved.err;
    EXPECT_NE(saved.out.find("PPL = 4.3499"), std::string::npos);

    const auto r = run_pocket({"perplexity", "-m", model("stories260K.Q4_0.gguf"), "-f", text(),
                               "--kld-base", base, "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    // llama-perplexity --kl-divergence printed: Mean KLD 0.111927, Same top p 82.086 %,
    // PPL(Q) 4.689856, PPL(base) 4.349882 (see tests/eval for the tolerances).
    EXPECT_NEAR(j["kld"]["mean"].get<double>(), 0.1119, 0.01);
    EXPECT_NEAR(j["kld"]["same_top_percent"].get<double>(), 82.086, 3.0);
    EXPECT_NEAR(j["kld"]["base_ppl"].get<double>(), 4.3499, 1e-3);
    EXPECT_NEAR(j["ppl"].get<double>(), 4.6899, 0.02);
    for (const char* key : {"stderr", "median", "p99", "max", "min", "delta_ppl", "ln_ppl_ratio"})
        EXPECT_TRUE(j["kld"].contains(key)) << key;

    // Text output: the per-chunk table, the summary and the final line.
    const auto text_run =
        run_pocket({"perplexity", "-m", model("stories260K.Q8_0.gguf"), "--kld-base", base});
    ASSERT_EQ(text_run.exit_code, 0) << text_run.err;
    EXPECT_NE(text_run.out.find("Mean    KLD:"), std::string::npos) << text_run.out;
    EXPECT_NE(text_run.out.find("Same top p :"), std::string::npos) << text_run.out;
    EXPECT_NE(text_run.out.find("\nPPL = 4.35"), std::string::npos) << text_run.out;

    // A context that differs from the file's, and another model's vocabulary, are refused.
    const auto ctx = run_pocket(
        {"perplexity", "-m", model("stories260K.gguf"), "--kld-base", base, "-c", "256"});
    EXPECT_EQ(ctx.exit_code, 1);
    EXPECT_NE(ctx.err.find("context of 128"), std::string::npos) << ctx.err;
    const auto vocab =
        run_pocket({"perplexity", "-m", model("tiny/tiny-phi3.gguf"), "--kld-base", base});
    EXPECT_EQ(vocab.exit_code, 1);
    EXPECT_NE(vocab.err.find("vocabulary of 512"), std::string::npos) << vocab.err;
    EXPECT_EQ(vocab.out, "");

    // A truncated base file is malformed input (exit 65), named as such.
    const std::string bytes = read_file_bytes(base);
    const std::string cut = (dir / "cut.lp").string();
    std::ofstream(cut, std::ios::binary).write(bytes.data(), 5000);
    const auto truncated =
        run_pocket({"perplexity", "-m", model("stories260K.Q8_0.gguf"), "--kld-base", cut});
    EXPECT_EQ(truncated.exit_code, 65);
    EXPECT_NE(truncated.err.find("invalid log-probability file"), std::string::npos)
        << truncated.err;
    EXPECT_NE(truncated.err.find("truncated"), std::string::npos) << truncated.err;
}

TEST(CliPerplexity, ForeignBaseFile) {
    const auto r = run_pocket(
        {"perplexity", "-m", model("stories260K.gguf"), "--kld-base", model("stories260K.gguf")});
    EXPECT_EQ(r.exit_code, 65);
    EXPECT_NE(r.err.find("not a pocket log-probability file"), std::string::npos) << r.err;
}

TEST(CliPerplexity, TooShortTextFailsClearly) {
    // 933 tokens, and the default context of 512 needs 1024.
    const auto r = run_pocket({"perplexity", "-m", model("stories260K.gguf"), "-f", text()});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("933 tokens"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("at least 2 * 512 = 1024"), std::string::npos) << r.err;
}

TEST(CliPerplexity, UsageErrors) {
    EXPECT_EQ(run_pocket({"perplexity", "-m", model("stories260K.gguf")}).exit_code, 64);
    EXPECT_EQ(run_pocket({"perplexity", "-m", model("stories260K.gguf"), "-f", text(),
                          "--save-logits", "a", "--kld-base", "b"})
                  .exit_code,
              64);
    EXPECT_EQ(run_pocket({"perplexity", "-m", model("stories260K.gguf"), "-f", text(), "-c", "2"})
                  .exit_code,
              64);
}

}  // namespace
}  // namespace pocket::test
