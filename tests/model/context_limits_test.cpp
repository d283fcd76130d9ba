// A context holds exactly n_ctx positions, whatever n_ctx is: it need not be a multiple of the
// KV cache's page, and no sequence may grow past it (the attention scores are sized for n_ctx).
// Every refusal leaves the cache as it was. Run under ASan these also show nothing is written
// past a buffer sized from n_ctx or n_batch.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
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

// Valid, varied token ids for stories260K (512 tokens).
std::vector<TokenId> tokens(size_t n, size_t offset = 0) {
    std::vector<TokenId> out(n);
    for (size_t i = 0; i < n; ++i) out[i] = static_cast<TokenId>(5 + (i + offset) * 37 % 400);
    return out;
}

std::string error_of(const std::function<void()>& fn) {
    try {
        fn();
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

class ContextLimitsTest : public ::testing::TestWithParam<int64_t> {
  protected:
    static void SetUpTestSuite() { model_ = Model::load(shared_path("models/stories260K.gguf")); }
    static void TearDownTestSuite() { model_.reset(); }
    static std::unique_ptr<Model> model_;
};
std::unique_ptr<Model> ContextLimitsTest::model_;

TEST_P(ContextLimitsTest, PromptThatFitsExactlyIsEvaluated) {
    const int64_t n_ctx = GetParam();
    Context ctx(*model_, {.n_ctx = n_ctx});
    const auto prompt = tokens(static_cast<size_t>(n_ctx));
    const auto logits = copy_of(ctx.eval(prompt));
    EXPECT_EQ(ctx.kv().length(0), n_ctx);
    EXPECT_EQ(ctx.kv().free_positions(), 0);
    // The same tokens in a roomier context give the same logits.
    Context roomy(*model_, {.n_ctx = 256});
    EXPECT_LT(max_abs_diff(roomy.eval(prompt), logits), 1e-5);
}

TEST_P(ContextLimitsTest, PromptOneOverIsRefusedAndTheCacheKept) {
    const int64_t n_ctx = GetParam();
    for (const int64_t n_batch : {int64_t{512}, int64_t{1}, int64_t{7}}) {
        Context ctx(*model_, {.n_ctx = n_ctx, .n_batch = n_batch});
        const auto prompt = tokens(static_cast<size_t>(n_ctx + 1));
        const std::string message = error_of([&] { ctx.eval(prompt); });
        EXPECT_EQ(message, "sequence 0 would hold " + std::to_string(n_ctx + 1) +
                               " positions but the context holds " + std::to_string(n_ctx));
        EXPECT_EQ(ctx.kv().length(0), 0);
        EXPECT_EQ(ctx.kv().used_positions(), 0);
        EXPECT_EQ(ctx.kv().free_positions(), n_ctx);
        // The refused context still works.
        ctx.eval(tokens(static_cast<size_t>(n_ctx)));
        EXPECT_EQ(ctx.kv().length(0), n_ctx);
    }
}

TEST_P(ContextLimitsTest, GrowsOneTokenAtATimeUpToTheLimit) {
    const int64_t n_ctx = GetParam();
    Context ctx(*model_, {.n_ctx = n_ctx});
    const auto all = tokens(static_cast<size_t>(n_ctx) + 1);
    std::vector<float> last;
    for (int64_t i = 0; i < n_ctx; ++i) {
        last = copy_of(ctx.eval(std::span(all).subspan(static_cast<size_t>(i), 1)));
        EXPECT_EQ(ctx.kv().length(0), i + 1);
        EXPECT_EQ(ctx.kv().used_positions(), i + 1);
    }
    EXPECT_THROW(ctx.eval(std::span(all).subspan(static_cast<size_t>(n_ctx), 1)), Error);
    EXPECT_EQ(ctx.kv().length(0), n_ctx);
    // Token by token and in one pass agree, to the rounding of their different matmul paths
    // (which adds up over a hundred positions).
    Context whole(*model_, {.n_ctx = n_ctx});
    EXPECT_LT(max_abs_diff(whole.eval(std::span(all).first(static_cast<size_t>(n_ctx))), last),
              1e-2);
}

TEST_P(ContextLimitsTest, SequencesShareTheCapacityExactly) {
    const int64_t n_ctx = GetParam();
    if (n_ctx < 2) GTEST_SKIP() << "needs room for two sequences";
    Context ctx(*model_, {.n_ctx = n_ctx});
    const int64_t a = n_ctx / 2, b = n_ctx - a;
    // Both sequences in one batch, exactly filling the context when pages allow.
    std::vector<BatchEntry> batch;
    for (int64_t i = 0; i < std::max(a, b); ++i) {
        if (i < a) batch.push_back({tokens(1, size_t(i))[0], i, 0, i + 1 == a});
        if (i < b) batch.push_back({tokens(1, size_t(i) + 3)[0], i, 1, i + 1 == b});
    }
    const int64_t pages_needed = (a + 63) / 64 + (b + 63) / 64;
    const int64_t pages = (n_ctx + 63) / 64;
    if (pages_needed > pages) {
        // Two partly filled pages do not fit in one page's worth of context.
        EXPECT_THROW(ctx.decode(batch), Error);
        EXPECT_EQ(ctx.kv().length(0), 0);
        EXPECT_EQ(ctx.kv().length(1), 0);
        return;
    }
    ctx.decode(batch);
    EXPECT_EQ(ctx.kv().used_positions(), n_ctx);
    EXPECT_EQ(ctx.kv().free_positions(), 0);
    // No sequence can take one more position, even where its last page has room.
    const std::vector<BatchEntry> more_a = {{7, a, 0, true}};
    EXPECT_THROW(ctx.decode(more_a), Error);
    const std::vector<BatchEntry> more_b = {{7, b, 1, true}};
    EXPECT_THROW(ctx.decode(more_b), Error);
    const std::vector<BatchEntry> new_seq = {{7, 0, 2, true}};
    EXPECT_THROW(ctx.decode(new_seq), Error);
    EXPECT_EQ(ctx.kv().length(0), a);
    EXPECT_EQ(ctx.kv().length(1), b);
    EXPECT_EQ(ctx.kv().length(2), 0);
    // Freeing one makes room for the other's growth.
    ctx.kv().truncate(1, b - 1);
    EXPECT_EQ(ctx.kv().used_positions(), n_ctx - 1);
    ctx.decode(more_a);
    EXPECT_EQ(ctx.kv().length(0), a + 1);
}

INSTANTIATE_TEST_SUITE_P(NCtx, ContextLimitsTest, ::testing::Values(1, 63, 64, 65, 100, 127));

class ContextBoundaryTest : public ::testing::Test {
  protected:
    void SetUp() override { model_ = Model::load(shared_path("models/stories260K.gguf")); }
    std::unique_ptr<Model> model_;
};

// The reported bug: 128 tokens in a context of 100 (two 64-position pages) ran the attention
// scores past their n_ctx-sized buffer.
TEST_F(ContextBoundaryTest, PromptBeyondANonPageMultipleContextIsRefused) {
    Context ctx(*model_, {.n_ctx = 100});
    EXPECT_EQ(error_of([&] { ctx.eval(tokens(128)); }),
              "sequence 0 would hold 128 positions but the context holds 100");
    EXPECT_EQ(ctx.kv().length(0), 0);
}

TEST_F(ContextBoundaryTest, BatchOverflowingOneSequenceLeavesTheOthersUntouched) {
    Context ctx(*model_, {.n_ctx = 100});
    ctx.eval(tokens(30), 4);
    std::vector<BatchEntry> batch;
    for (int64_t i = 0; i < 20; ++i) batch.push_back({9, 30 + i, 4, false});
    for (int64_t i = 0; i < 101; ++i) batch.push_back({9, i, 5, i == 100});
    EXPECT_THROW(ctx.decode(batch), Error);
    EXPECT_EQ(ctx.kv().length(4), 30);
    EXPECT_EQ(ctx.kv().length(5), 0);
    EXPECT_EQ(ctx.kv().used_positions(), 30);
}

TEST_F(ContextBoundaryTest, RejectsBadParameters) {
    EXPECT_THROW(Context(*model_, {.n_ctx = -1}), Error);
    EXPECT_THROW(Context(*model_, {.n_ctx = 16, .n_batch = 0}), Error);
    EXPECT_THROW(Context(*model_, {.n_ctx = 16, .n_batch = -3}), Error);
}

TEST(KvCacheLimitsTest, CapacityIsExactNotRoundedToPages) {
    model::KvCache kv({.n_layer = 1, .n_embd_kv = 4, .capacity = 100, .page_tokens = 64});
    EXPECT_EQ(kv.free_positions(), 100);
    EXPECT_THROW(kv.grow(0, 101), Error);
    EXPECT_EQ(kv.length(0), 0);
    kv.grow(0, 100);
    EXPECT_EQ(kv.free_positions(), 0);
    EXPECT_THROW(kv.grow(0, 101), Error);
    EXPECT_THROW(kv.grow(1, 1), Error);
    EXPECT_EQ(kv.length(0), 100);
    EXPECT_EQ(kv.length(1), 0);
    const std::pair<model::SeqId, int64_t> too_much[] = {{0, 100}, {1, 1}};
    EXPECT_THROW(kv.check_grow(too_much), Error);
}

}  // namespace
}  // namespace pocket::test
