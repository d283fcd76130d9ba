// The bert encoder against llama.cpp's recorded embeddings (reference/tiny-bert.json): token ids,
// the final hidden state of every token, the mean-pooled vector and its L2-normalised form.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "pocket/model/context.h"
#include "pocket/model/model.h"
#include "pocket/tokenizer/tokenizer.h"
#include "support/test_support.h"

namespace pocket::test {
namespace {

using model::BatchEntry;
using model::Context;
using model::Model;

// Largest accepted |difference| per component. The hidden states are O(1) (LayerNorm output).
// llama.cpp evaluates GELU through a table indexed by the F16-rounded input and rounds the result
// to F16, whose spacing near 1 is ~1e-3: an input that differs in the last float bit can land on
// the neighbouring table entry and move a component by that much (we measure 1.4e-3). 5e-3
// leaves margin for that while any wrong formula moves components by 1e-1 or more.
constexpr double kTol = 5e-3;

TEST(BertReference, EmbeddingsMatchLlamaCpp) {
    const auto ref = read_json(shared_path("reference/tiny-bert.json"));
    const auto model = Model::load(shared_path(ref["provenance"]["model_file"].get<std::string>()));
    EXPECT_EQ(model->hparams().pooling, model::Pooling::Mean);
    Context ctx(*model, {.n_ctx = 512});
    double worst = 0.0;
    for (const auto& c : ref["cases"]) {
        SCOPED_TRACE(c["name"].get<std::string>());
        const auto ids = model->tokenizer().encode(c["prompt"].get<std::string>(), true, false);
        ASSERT_EQ(ids, c["tokens"].get<std::vector<TokenId>>());

        ctx.kv().clear_all();
        std::vector<BatchEntry> batch;
        for (size_t i = 0; i < ids.size(); ++i)
            batch.push_back({ids[i], static_cast<int64_t>(i), 0, true});
        ctx.decode(batch);
        ASSERT_EQ(ctx.n_outputs(), ids.size());

        const auto& token_ref = c["token_embeddings"];
        const size_t n_embd = static_cast<size_t>(model->hparams().n_embd);
        std::vector<double> mean(n_embd, 0.0);
        for (size_t t = 0; t < ids.size(); ++t) {
            const auto e = ctx.embedding(t);
            for (size_t i = 0; i < n_embd; ++i) {
                const double diff = std::abs(e[i] - token_ref[t][i].get<double>());
                worst = std::max(worst, diff);
                ASSERT_LE(diff, kTol) << "token " << t << " component " << i;
                mean[i] += e[i] / static_cast<double>(ids.size());
            }
        }
        double norm = 0.0;
        for (double v : mean) norm += v * v;
        norm = std::sqrt(norm);
        for (size_t i = 0; i < n_embd; ++i) {
            EXPECT_NEAR(mean[i], c["embedding_unnormalized"][i].get<double>(), kTol) << i;
            EXPECT_NEAR(mean[i] / norm, c["embedding"][i].get<double>(), kTol) << i;
        }
    }
    std::printf("[ measured ] tiny-bert: max |d| token embeddings %.3g (tolerance %.3g)\n", worst,
                kTol);
}

TEST(BertReference, EncoderSequencesMustArriveWholeInOnePass) {
    const auto model = Model::load(shared_path("models/tiny/tiny-bert.gguf"));
    Context ctx(*model, {.n_ctx = 64, .n_batch = 4});
    const std::vector<BatchEntry> first = {{101, 0, 0, true}, {2023, 1, 0, true}};
    ctx.decode(first);
    const std::vector<BatchEntry> more = {{102, 2, 0, true}};
    EXPECT_THROW(ctx.decode(more), Error);  // would not see tokens 0-1 attend to it
    std::vector<BatchEntry> too_long;
    for (int i = 0; i < 5; ++i) too_long.push_back({101, i, 1, true});
    EXPECT_THROW(ctx.decode(too_long), Error);  // would be split into two passes
}

TEST(BertReference, EncoderHasNoLogits) {
    const auto model = Model::load(shared_path("models/tiny/tiny-bert.gguf"));
    Context ctx(*model, {.n_ctx = 64});
    const std::vector<BatchEntry> batch = {{101, 0, 0, true}, {102, 1, 0, true}};
    ctx.decode(batch);
    EXPECT_THROW(ctx.logits(0), Error);
    EXPECT_EQ(ctx.embedding(1).size(), 32u);
}

}  // namespace
}  // namespace pocket::test
