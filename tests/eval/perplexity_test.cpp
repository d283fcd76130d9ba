// pocket::eval::perplexity against llama-perplexity's stored results for stories260K (F32, Q8_0,
// Q4_0) over reference/ppl-text.txt with n_ctx 128: same tokens, same chunking, and PPL, running
// PPL and per-token NLL within the rounding differences of two implementations.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "pocket/core/error.h"
#include "pocket/eval/perplexity.h"
#include "pocket/model/model.h"
#include "pocket/tokenizer/tokenizer.h"
#include "support/test_support.h"

namespace pocket::test {
namespace {

struct Reference {
    std::string model;  // relative to the shared folder
    std::string json;
    double ppl_rel_tolerance;  // on PPL and the running PPL of every chunk
    double nll_tolerance;      // on each token's NLL
};

// F32 logits agree with llama.cpp's to ~1e-3, so PPL agrees to 5 significant digits. The
// quantized models re-quantize every activation (to Q8_0 blocks), so a last-bit difference
// upstream (summation order, interleaved vs row-major kernels) can flip a rounding step and move a
// logit by up to ~0.2 (tests/model/reference_test.cpp allows 0.25; llama.cpp's own batch vs
// one-by-one runs differ by 0.18 on Q4_0). Over 441 tokens of this 260K-parameter model that
// moves PPL by ~0.05% (Q8_0) and ~0.2% (Q4_0): pocket's own kernel tables give Q8_0 4.3497-4.3528
// and Q4_0 4.6839-4.6954 around llama.cpp's 4.3505 and 4.6899, and llama.cpp itself, at the very
// commit that made these files (c392e50) but built on an AVX2-only machine, prints Q8_0 4.3496 and
// Q4_0 4.6921 (F32: 4.3499, identical). The tolerances cover that noise and stay far below the
// quantization effect being measured (Q4_0 is 8% above F32).
const Reference kReferences[] = {
    {"models/stories260K.gguf", "reference/stories260K.perplexity.json", 1e-4, 0.01},
    {"models/stories260K.Q8_0.gguf", "reference/stories260K.Q8_0.perplexity.json", 1e-3, 0.25},
    {"models/stories260K.Q4_0.gguf", "reference/stories260K.Q4_0.perplexity.json", 4e-3, 0.3},
};

std::vector<TokenId> ppl_text_tokens(const model::Model& model) {
    return eval::perplexity_tokens(model.tokenizer(),
                                   read_file_bytes(shared_path("reference/ppl-text.txt")));
}

class PerplexityReference : public ::testing::TestWithParam<Reference> {};

TEST_P(PerplexityReference, MatchesLlamaPerplexity) {
    const Reference& ref = GetParam();
    const auto expected = read_json(shared_path(ref.json));
    const auto model = model::Model::load(shared_path(ref.model));
    const auto tokens = ppl_text_tokens(*model);
    ASSERT_EQ(tokens.size(), 933u);
    ASSERT_EQ(tokens, expected["tokens"].get<std::vector<TokenId>>());

    std::vector<int64_t> progress_seen;
    const auto r = eval::perplexity(*model, tokens, {.n_ctx = 128, .n_batch = 128},
                                    [&](int64_t chunk, int64_t n_chunks, const auto&) {
                                        EXPECT_EQ(n_chunks, 7);
                                        progress_seen.push_back(chunk);
                                    });
    EXPECT_EQ(progress_seen, (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6}));
    EXPECT_EQ(r.n_text_tokens, 933);
    EXPECT_EQ(r.n_chunks, expected["n_chunk"].get<int64_t>());
    EXPECT_EQ(r.n_scored, expected["scored_tokens"].get<int64_t>());
    ASSERT_EQ(r.token_nll.size(), 441u);

    // The printed values (4 decimals) to 4 significant digits and beyond.
    const double ppl = expected["ppl"].get<double>();
    EXPECT_NEAR(r.ppl, ppl, ref.ppl_rel_tolerance * ppl) << ref.model;
    const double se = expected["ppl_stderr"].get<double>();
    EXPECT_NEAR(r.ppl_stderr, se, 10 * ref.ppl_rel_tolerance * se) << ref.model;
    EXPECT_NEAR(r.mean_nll, expected["mean_nll"].get<double>(), ref.ppl_rel_tolerance);

    const auto& chunks = expected["chunks"];
    ASSERT_EQ(r.chunks.size(), chunks.size());
    double worst = 0;
    for (size_t c = 0; c < chunks.size(); ++c) {
        const double running = chunks[c]["running_ppl"].get<double>();
        // The running PPL of the first chunks averages fewer tokens: allow more noise there.
        const double rel = ref.ppl_rel_tolerance * std::max(2.0, 7.0 / static_cast<double>(c + 1));
        EXPECT_NEAR(r.chunks[c].running_ppl, running, rel * running) << "chunk " << c;
        EXPECT_EQ(r.chunks[c].start_token, chunks[c]["start_token"].get<int64_t>());
        EXPECT_NEAR(r.chunks[c].mean_nll, chunks[c]["chunk_mean_nll"].get<double>(),
                    10 * ref.ppl_rel_tolerance);
        const auto nll = chunks[c]["token_nll"].get<std::vector<double>>();
        ASSERT_EQ(nll.size(), 63u);
        for (size_t i = 0; i < nll.size(); ++i) {
            const double d = std::abs(r.token_nll[c * 63 + i] - nll[i]);
            worst = std::max(worst, d);
            EXPECT_LT(d, ref.nll_tolerance) << "chunk " << c << " position " << 64 + i;
        }
    }
    std::printf("[ measured ] %s: PPL %.4f +/- %.5f (llama.cpp %.4f), max |dNLL| %.3g\n",
                ref.model.c_str(), r.ppl, r.ppl_stderr, ppl, worst);
}

INSTANTIATE_TEST_SUITE_P(Stories260K, PerplexityReference, ::testing::ValuesIn(kReferences),
                         [](const auto& info) {
                             const std::string m = info.param.model;
                             if (m.find("Q8_0") != std::string::npos) return std::string("Q8_0");
                             if (m.find("Q4_0") != std::string::npos) return std::string("Q4_0");
                             return std::string("F32");
                         });

// llama-perplexity prints the same values for any batch size (the shared README checks 2048);
// splitting a chunk into several passes must not change them either.
TEST(Perplexity, BatchSizeDoesNotChangeTheResult) {
    const auto model = model::Model::load(shared_path("models/stories260K.gguf"));
    const auto tokens = ppl_text_tokens(*model);
    const auto whole = eval::perplexity(*model, tokens, {.n_ctx = 128, .n_batch = 128});
    const auto split = eval::perplexity(*model, tokens, {.n_ctx = 128, .n_batch = 48});
    EXPECT_NEAR(split.ppl, whole.ppl, 1e-4 * whole.ppl);
    ASSERT_EQ(split.token_nll.size(), whole.token_nll.size());
    for (size_t i = 0; i < whole.token_nll.size(); ++i)
        EXPECT_NEAR(split.token_nll[i], whole.token_nll[i], 1e-3) << i;
}

TEST(Perplexity, MaxChunksLimitsTheRun) {
    const auto model = model::Model::load(shared_path("models/stories260K.gguf"));
    const auto expected = read_json(shared_path("reference/stories260K.perplexity.json"));
    const auto r = eval::perplexity(*model, ppl_text_tokens(*model),
                                    {.n_ctx = 128, .n_batch = 128, .max_chunks = 3});
    EXPECT_EQ(r.n_chunks, 3);
    EXPECT_EQ(r.n_scored, 3 * 63);
    const double running = expected["chunks"][2]["running_ppl"].get<double>();
    EXPECT_NEAR(r.ppl, running, 2e-4 * running);
}

TEST(Perplexity, TooShortTextIsRejectedClearly) {
    const auto model = model::Model::load(shared_path("models/stories260K.gguf"));
    const auto tokens = ppl_text_tokens(*model);
    // 933 tokens: enough for n_ctx 466, not for 467.
    EXPECT_NO_THROW(eval::perplexity(*model, tokens, {.n_ctx = 466, .max_chunks = 1}));
    try {
        eval::perplexity(*model, tokens, {.n_ctx = 467});
        FAIL() << "expected an error";
    } catch (const Error& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find("933 tokens"), std::string::npos) << what;
        EXPECT_NE(what.find("at least 2 * 467 = 934"), std::string::npos) << what;
    }
}

TEST(Perplexity, SummaryFormula) {
    const std::vector<double> nll = {1.0, 2.0, 3.0};
    const auto s = eval::summarize_nll(nll);
    EXPECT_DOUBLE_EQ(s.mean_nll, 2.0);
    EXPECT_DOUBLE_EQ(s.ppl, std::exp(2.0));
    // mean(x^2) - mean^2 = 14/3 - 4 = 2/3; / (N - 1) = 1/3.
    EXPECT_NEAR(s.ppl_stderr, std::sqrt(1.0 / 3.0) * std::exp(2.0), 1e-12);
}

}  // namespace
}  // namespace pocket::test
