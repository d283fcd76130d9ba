// Forked sequences share their pages until one writes (copy-on-write). A fork, its source and
// every truncated or cleared relative must give exactly the logits of the same tokens evaluated
// from scratch, and the cache must count each stored position once.
#include <gtest/gtest.h>

#include <cstring>
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
using model::KvCache;
using model::Model;

std::vector<TokenId> fork_tokens(size_t n, size_t offset) {
    std::vector<TokenId> out(n);
    for (size_t i = 0; i < n; ++i) out[i] = static_cast<TokenId>(5 + (i + offset) * 41 % 450);
    return out;
}

// ---- the cache alone ----

KvCache small_cache() {
    return KvCache({.n_layer = 2, .n_embd_kv = 4, .capacity = 128, .page_tokens = 16});
}

// Rows hold raw 16-bit patterns derived from (base, position): enough to tell copies apart.
void write_rows(KvCache& kv, model::SeqId seq, int64_t from, int64_t to, int base) {
    for (int64_t layer = 0; layer < 2; ++layer) {
        for (int64_t p = from; p < to; ++p) {
            kv.key(layer, seq, p)[1] = static_cast<f16_t>(base + p);
            kv.value(layer, seq, p)[2] = static_cast<f16_t>(base + 5000 + p);
        }
    }
}

void expect_rows(const KvCache& kv, model::SeqId seq, int64_t from, int64_t to, int base) {
    for (int64_t layer = 0; layer < 2; ++layer) {
        for (int64_t p = from; p < to; ++p) {
            EXPECT_EQ(kv.key(layer, seq, p)[1], static_cast<f16_t>(base + p))
                << "seq " << seq << " pos " << p;
            EXPECT_EQ(kv.value(layer, seq, p)[2], static_cast<f16_t>(base + 5000 + p));
        }
    }
}

TEST(KvForkTest, ForkSharesPagesUntilAWriteCopiesTheLastOne) {
    KvCache kv = small_cache();
    kv.grow(0, 40);
    write_rows(kv, 0, 0, 40, 100);
    EXPECT_EQ(kv.used_positions(), 40);
    EXPECT_EQ(kv.free_pages(), 5);

    kv.fork(0, 1);
    EXPECT_EQ(kv.length(1), 40);
    EXPECT_EQ(kv.used_positions(), 40);  // shared positions count once
    EXPECT_EQ(kv.free_pages(), 5);
    expect_rows(kv, 1, 0, 40, 100);
    EXPECT_THROW(kv.key(0, 0, 39), Error);  // shared rows are read-only
    EXPECT_THROW(kv.value(1, 1, 3), Error);

    // The fork appends: its partly filled last page (8 rows) is copied first.
    kv.grow(1, 41);
    EXPECT_EQ(kv.free_pages(), 4);
    EXPECT_EQ(kv.used_positions(), 40 + 9);
    write_rows(kv, 1, 40, 41, 500);
    expect_rows(kv, 1, 0, 40, 100);
    // The source's last page is its own again: it appends without copying.
    kv.grow(0, 42);
    EXPECT_EQ(kv.free_pages(), 4);
    EXPECT_EQ(kv.used_positions(), 42 + 9);
    write_rows(kv, 0, 40, 42, 900);
    expect_rows(kv, 0, 0, 40, 100);
    expect_rows(kv, 0, 40, 42, 900);
    expect_rows(kv, 1, 40, 41, 500);
    // Full pages stay shared.
    EXPECT_THROW(kv.key(0, 1, 0), Error);
}

TEST(KvForkTest, ForkAtAPageBoundaryCopiesNothing) {
    KvCache kv = small_cache();
    kv.grow(0, 32);
    kv.fork(0, 1);
    kv.grow(1, 33);
    kv.grow(0, 33);
    EXPECT_EQ(kv.free_pages(), 8 - 2 - 2);
    EXPECT_EQ(kv.used_positions(), 34);
}

TEST(KvForkTest, TruncatedForkCopiesBeforeOverwritingSharedRows) {
    KvCache kv = small_cache();
    kv.grow(0, 40);
    write_rows(kv, 0, 0, 40, 100);
    kv.fork(0, 1);
    kv.truncate(1, 20);
    EXPECT_EQ(kv.used_positions(), 40);
    EXPECT_EQ(kv.free_pages(), 5);
    kv.grow(1, 22);  // rows 16..19 copied, 20..21 written into the copy
    EXPECT_EQ(kv.free_pages(), 4);
    write_rows(kv, 1, 20, 22, 700);
    expect_rows(kv, 0, 0, 40, 100);  // the source keeps its rows 20..21
    expect_rows(kv, 1, 0, 20, 100);
    expect_rows(kv, 1, 20, 22, 700);
    EXPECT_EQ(kv.used_positions(), 40 + 6);
}

TEST(KvForkTest, ForkOfAForkAndClearingTheSource) {
    KvCache kv = small_cache();
    kv.grow(0, 24);
    write_rows(kv, 0, 0, 24, 10);
    kv.fork(0, 1);
    kv.fork(1, 2);
    EXPECT_EQ(kv.used_positions(), 24);
    EXPECT_EQ(kv.free_pages(), 6);
    kv.clear(0);
    kv.clear(1);
    EXPECT_EQ(kv.length(0), 0);
    EXPECT_EQ(kv.used_positions(), 24);
    EXPECT_EQ(kv.free_pages(), 6);  // seq 2 still holds both pages
    expect_rows(kv, 2, 0, 24, 10);
    // Now alone on its pages, seq 2 writes in place.
    kv.grow(2, 25);
    EXPECT_EQ(kv.free_pages(), 6);
    write_rows(kv, 2, 24, 25, 3);
    kv.clear(2);
    EXPECT_EQ(kv.used_positions(), 0);
    EXPECT_EQ(kv.free_positions(), 128);
}

TEST(KvForkTest, ForkReplacesTheDestinationAndCountsStay) {
    KvCache kv = small_cache();
    kv.grow(0, 20);
    kv.grow(1, 50);
    EXPECT_EQ(kv.free_pages(), 8 - 2 - 4);
    kv.fork(0, 1);  // seq 1's own pages go back to the free list
    EXPECT_EQ(kv.length(1), 20);
    EXPECT_EQ(kv.free_pages(), 6);
    EXPECT_EQ(kv.used_positions(), 20);
    kv.fork(0, 0);  // no-op
    EXPECT_EQ(kv.length(0), 20);
    kv.fork(9, 1);  // an unknown source empties the destination
    EXPECT_EQ(kv.length(1), 0);
    EXPECT_EQ(kv.used_positions(), 20);
    kv.clear_all();
    EXPECT_EQ(kv.free_pages(), 8);
    EXPECT_EQ(kv.used_positions(), 0);
}

TEST(KvForkTest, CopiesCountAgainstTheCapacity) {
    // 5 pages of 16 for a capacity of 70: a fork that would need a copy is refused when full.
    KvCache kv({.n_layer = 1, .n_embd_kv = 4, .capacity = 70, .page_tokens = 16});
    kv.grow(0, 40);
    kv.fork(0, 1);
    kv.grow(2, 16);
    EXPECT_EQ(kv.used_positions(), 56);
    kv.grow(1, 41);  // copies 8 rows, adds 1: 65
    EXPECT_EQ(kv.used_positions(), 65);
    EXPECT_THROW(kv.grow(3, 6), Error);  // 71 > 70
    EXPECT_THROW(kv.grow(0, 47), Error);
    kv.grow(0, 45);  // exactly 70
    EXPECT_EQ(kv.used_positions(), 70);
    EXPECT_EQ(kv.free_positions(), 0);
    // Two sharers writing into one page in a single batch copy it only once.
    kv.clear_all();
    kv.grow(0, 40);
    kv.fork(0, 1);
    kv.grow(2, 16);
    const std::pair<model::SeqId, int64_t> both[] = {{0, 41}, {1, 41}};
    EXPECT_NO_THROW(kv.check_grow(both));  // 56 + 1 + 8 + 1 = 66 positions, 5 pages
    kv.grow(3, 4);                         // 60 used, the last free page taken
    EXPECT_THROW(kv.check_grow(both), Error);
}

// ---- forks in a context: logits match fresh evaluations bit for bit ----

class ContextForkTest : public ::testing::Test {
  protected:
    void SetUp() override { model_ = Model::load(shared_path("models/stories260K.gguf")); }

    // Logits after evaluating each chunk in turn in a fresh context (sequence 0).
    std::vector<float> fresh(const std::vector<std::vector<TokenId>>& chunks) {
        Context ctx(*model_, {.n_ctx = 256});
        std::vector<float> last;
        for (const auto& c : chunks) last = copy_of(ctx.eval(c));
        return last;
    }

    std::unique_ptr<Model> model_;
};

TEST_F(ContextForkTest, ForkedSequencesDivergeLikeFreshOnes) {
    const auto prompt = fork_tokens(70, 0);  // one full page and 6 rows of the next
    const auto x = fork_tokens(5, 100), y = fork_tokens(9, 200), z = fork_tokens(3, 300);
    Context ctx(*model_, {.n_ctx = 256});
    ctx.eval(prompt, 0);
    const int64_t used = ctx.kv().used_positions();
    ctx.kv().fork(0, 1);
    EXPECT_EQ(ctx.kv().used_positions(), used);

    // Alternate the two, one chunk each, so each writes while the other's pages are shared.
    const auto a1 = copy_of(ctx.eval(x, 1));
    const auto b1 = copy_of(ctx.eval(y, 0));
    EXPECT_TRUE(bit_equal(a1, fresh({prompt, x})));
    EXPECT_TRUE(bit_equal(b1, fresh({prompt, y})));
    EXPECT_EQ(ctx.kv().used_positions(), 70 + 5 + 6 + 9);  // 6 rows copied once

    // Fork of a fork, then the source cleared while both forks live.
    ctx.kv().fork(1, 2);
    ctx.kv().clear(0);
    const auto c1 = copy_of(ctx.eval(z, 2));
    const auto a2 = copy_of(ctx.eval(z, 1));
    EXPECT_TRUE(bit_equal(c1, fresh({prompt, x, z})));
    EXPECT_TRUE(bit_equal(a2, fresh({prompt, x, z})));
    EXPECT_TRUE(bit_equal(a2, c1));
}

TEST_F(ContextForkTest, ForkedSequencesInOneBatch) {
    const auto prompt = fork_tokens(40, 7);
    Context ctx(*model_, {.n_ctx = 256});
    ctx.eval(prompt, 0);
    for (model::SeqId s = 1; s < 4; ++s) ctx.kv().fork(0, s);
    // n completions: each sequence gets a different next token, all in one batch.
    std::vector<BatchEntry> batch;
    for (model::SeqId s = 0; s < 4; ++s) batch.push_back({TokenId(20 + s), 40, s, true});
    ctx.decode(batch);
    // 40 rows + 3 copies of the 40-row last page (the 4th writer has it to itself) + 4 new rows.
    EXPECT_EQ(ctx.kv().used_positions(), 40 + 3 * 40 + 4);
    for (model::SeqId s = 0; s < 4; ++s) {
        const auto expected = fresh({prompt, {TokenId(20 + s)}});
        double diff = 0;
        for (size_t i = 0; i < expected.size(); ++i)
            diff = std::max(diff, double(std::abs(ctx.logits(size_t(s))[i] - expected[i])));
        EXPECT_LT(diff, 1e-4) << "sequence " << s;
    }
}

TEST_F(ContextForkTest, TruncateThenContinueMatchesAFreshRun) {
    const auto prompt = fork_tokens(100, 3);
    const auto x = fork_tokens(4, 50);
    // Kept rows come from a 100-token pass, the fresh run's from a pass of `keep` tokens: the
    // same kernels as long as both are batches (a single token takes the matrix-vector path,
    // whose rounding differs, so keep >= 2).
    // Keeps that are not a multiple of the AVX-512 F32 tile's 5 tokens put the fresh run's last
    // tokens in the remainder path; 27, 33, 61-64 and 79 differed there in the last bit before
    // the tiles' tail sums were written as explicit FMAs.
    for (const int64_t keep : {67, 64, 63, 62, 61, 33, 27, 79, 8, 2}) {
        Context ctx(*model_, {.n_ctx = 128});
        ctx.eval(prompt);
        ctx.kv().truncate(0, keep);
        EXPECT_EQ(ctx.kv().length(0), keep);
        EXPECT_EQ(ctx.kv().used_positions(), keep);
        const std::vector<TokenId> head(prompt.begin(), prompt.begin() + keep);
        EXPECT_TRUE(bit_equal(ctx.eval(x), fresh({head, x}))) << "keep " << keep;
    }
}

TEST_F(ContextForkTest, TruncatedForkMatchesAFreshRun) {
    const auto prompt = fork_tokens(90, 11);
    const auto x = fork_tokens(6, 77);
    Context ctx(*model_, {.n_ctx = 256});
    ctx.eval(prompt, 0);
    ctx.kv().fork(0, 1);
    ctx.kv().truncate(1, 80);  // inside the shared last page
    const auto got = copy_of(ctx.eval(x, 1));
    const std::vector<TokenId> head(prompt.begin(), prompt.begin() + 80);
    EXPECT_TRUE(bit_equal(got, fresh({head, x})));
    // The source is intact.
    const auto src = copy_of(ctx.eval(x, 0));
    EXPECT_TRUE(bit_equal(src, fresh({prompt, x})));
}

}  // namespace
}  // namespace pocket::test
