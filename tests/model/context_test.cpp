// The context's own guarantees: batched and token-by-token evaluation agree, sequences in one
// batch do not see each other, bad batches are rejected without touching the cache.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "pocket/core/error.h"
#include "pocket/model/context.h"
#include "pocket/model/model.h"
#include "support/numeric.h"
#include "support/test_support.h"

namespace pocket::test {
namespace {

using model::BatchEntry;
using model::Context;
using model::Model;

const std::vector<TokenId> kPromptA = {1, 403, 407, 261, 378, 432, 383};
const std::vector<TokenId> kPromptB = {1, 298, 311, 265, 280};

class ContextTest : public ::testing::Test {
  protected:
    void SetUp() override { model_ = Model::load(shared_path("models/stories260K.gguf")); }
    std::unique_ptr<Model> model_;
};

TEST_F(ContextTest, BatchedAndSequentialEvaluationAgree) {
    Context batched(*model_, {.n_ctx = 128});
    const auto all = copy_of(batched.eval(kPromptA));
    Context sequential(*model_, {.n_ctx = 128});
    std::vector<float> last;
    for (TokenId t : kPromptA) last = copy_of(sequential.eval(std::span<const TokenId>(&t, 1)));
    EXPECT_LT(max_abs_diff(all, last), 1e-4);
}

TEST_F(ContextTest, SmallBatchSizeSplitsTheBatchWithoutChangingResults) {
    Context whole(*model_, {.n_ctx = 128});
    const auto expected = copy_of(whole.eval(kPromptA));
    Context split(*model_, {.n_ctx = 128, .n_batch = 3});
    EXPECT_LT(max_abs_diff(split.eval(kPromptA), expected), 1e-4);
}

// Rows that ask for no output skip the last layer's work past its K and V (and a micro-batch
// without outputs skips the rest of the last layer): what follows must still see their K and V.
TEST_F(ContextTest, RowsWithoutOutputsStillFillTheLastLayersCache) {
    Context split(*model_, {.n_ctx = 128, .n_batch = 3});
    split.eval(kPromptA);
    const auto next = copy_of(split.eval(kPromptB));
    Context sequential(*model_, {.n_ctx = 128});
    std::vector<float> last;
    for (TokenId t : kPromptA) sequential.eval(std::span<const TokenId>(&t, 1));
    for (TokenId t : kPromptB) last = copy_of(sequential.eval(std::span<const TokenId>(&t, 1)));
    EXPECT_LT(max_abs_diff(next, last), 1e-4);
}

TEST_F(ContextTest, InterleavedSequencesMatchSeparateRuns) {
    Context ctx_a(*model_, {.n_ctx = 128});
    const auto expect_a = copy_of(ctx_a.eval(kPromptA));
    Context ctx_b(*model_, {.n_ctx = 128});
    const auto expect_b = copy_of(ctx_b.eval(kPromptB));

    Context both(*model_, {.n_ctx = 128});
    std::vector<BatchEntry> batch;
    // Interleave the two prompts token by token, as a continuously batching server would.
    for (size_t i = 0; i < std::max(kPromptA.size(), kPromptB.size()); ++i) {
        if (i < kPromptA.size())
            batch.push_back({kPromptA[i], int64_t(i), 7, i + 1 == kPromptA.size()});
        if (i < kPromptB.size())
            batch.push_back({kPromptB[i], int64_t(i), 3, i + 1 == kPromptB.size()});
    }
    both.decode(batch);
    ASSERT_EQ(both.n_outputs(), 2u);
    // Outputs come in batch order: B's last token precedes A's.
    EXPECT_LT(max_abs_diff(both.logits(0), expect_b), 1e-4);
    EXPECT_LT(max_abs_diff(both.logits(1), expect_a), 1e-4);
    EXPECT_EQ(both.kv().length(7), int64_t(kPromptA.size()));
    EXPECT_EQ(both.kv().length(3), int64_t(kPromptB.size()));
}

TEST_F(ContextTest, ClearingASequenceRestartsIt) {
    Context ctx(*model_, {.n_ctx = 128});
    const auto first = copy_of(ctx.eval(kPromptA));
    ctx.eval(kPromptB);  // continues sequence 0
    ctx.kv().clear(0);
    EXPECT_EQ(max_abs_diff(ctx.eval(kPromptA), first), 0.0);
}

TEST_F(ContextTest, RejectsBadBatchesAndKeepsTheCache) {
    Context ctx(*model_, {.n_ctx = 64});
    ctx.eval(kPromptA);
    const int64_t before = ctx.kv().length(0);
    const std::vector<BatchEntry> gap = {{5, before + 1, 0, true}};
    EXPECT_THROW(ctx.decode(gap), Error);
    const std::vector<BatchEntry> bad_token = {{512, before, 0, true}};
    EXPECT_THROW(ctx.decode(bad_token), Error);
    const std::vector<BatchEntry> negative = {{-1, before, 0, true}};
    EXPECT_THROW(ctx.decode(negative), Error);
    std::vector<TokenId> too_long(100, 5);
    EXPECT_THROW(ctx.eval(too_long), Error);
    EXPECT_EQ(ctx.kv().length(0), before);
}

TEST(KvCacheTest, PagesAreReusedAfterClear) {
    model::KvCache kv({.n_layer = 2, .n_embd_kv = 8, .capacity = 128, .page_tokens = 16});
    EXPECT_EQ(kv.free_positions(), 128);
    kv.grow(0, 40);
    EXPECT_EQ(kv.free_positions(), 128 - 48);
    kv.grow(1, 80);
    EXPECT_EQ(kv.free_positions(), 0);
    EXPECT_THROW(kv.grow(2, 1), Error);
    for (int64_t p = 0; p < 40; ++p) kv.key(1, 0, p)[3] = static_cast<f16_t>(p);
    kv.truncate(0, 20);
    EXPECT_EQ(kv.length(0), 20);
    EXPECT_EQ(kv.free_positions(), 16);
    for (int64_t p = 0; p < 20; ++p) EXPECT_EQ(kv.key(1, 0, p)[3], static_cast<f16_t>(p));
    EXPECT_THROW(kv.key(1, 0, 20), Error);
    kv.clear_all();
    EXPECT_EQ(kv.free_positions(), 128);
}

}  // namespace
}  // namespace pocket::test
