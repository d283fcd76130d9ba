// A context whose KV cache is quantized (ContextParams::type_k/type_v = Q8_0 or Q4_0), on a
// random-weight model of the "tiny" shape (2 layers, 2 KV heads of 32: rows of 64 values, two
// blocks each) and on stories260K (heads of 8: four heads share one block):
// - logits stay close to the F16 cache's, Q4_0 further off than Q8_0;
// - the quantized rows are a pure function of the token's K/V, so batch splits, page boundaries
//   and forks give the same logits bit for bit, as with F16, on the exact path (rows of up to 256
//   positions) and on the tiled one (deeper rows, read through load_tile);
// - a model whose rows do not fill whole blocks is refused with the reason.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "model/synth.h"
#include "pocket/core/error.h"
#include "pocket/model/context.h"
#include "pocket/model/model.h"
#include "pocket/quant/scheme.h"
#include "support/numeric.h"
#include "support/test_support.h"

namespace pocket::test {
namespace {

using model::BatchEntry;
using model::Context;
using model::Model;

std::vector<TokenId> vocab_tokens(size_t n, size_t offset, int64_t n_vocab) {
    std::vector<TokenId> out(n);
    for (size_t i = 0; i < n; ++i)
        out[i] = static_cast<TokenId>(3 + (i + offset) * 37 % static_cast<size_t>(n_vocab - 3));
    return out;
}

// Largest difference relative to the spread (max - min) of the reference logits: what decides
// which tokens win, whatever the model's logit scale.
double relative_diff(std::span<const float> got, std::span<const float> want) {
    const auto [lo, hi] = std::minmax_element(want.begin(), want.end());
    double m = 0.0;
    for (size_t i = 0; i < want.size(); ++i)
        m = std::max(m, static_cast<double>(std::abs(got[i] - want[i])));
    return m / static_cast<double>(*hi - *lo);
}

class KvQuantContext : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        dir_ = new ScratchDir();
        const auto path = *dir_ / "tiny.gguf";
        model::SynthOptions options;
        options.scheme = *quant::parse_scheme("q8_0");
        options.seed = 11;
        model::write_synth_model(*model::find_synth_shape("tiny"), options, path);
        tiny_ = Model::load(path).release();
        stories_ = Model::load(shared_path("models/stories260K.gguf")).release();
    }
    static void TearDownTestSuite() {
        delete tiny_;
        delete stories_;
        delete dir_;
    }

    // Logits of the last token after `prompt` in one batch, with the given cache types.
    static std::vector<float> last_logits(const Model& m, const std::vector<TokenId>& prompt,
                                          DType k, DType v) {
        Context ctx(m, {.n_ctx = 512, .type_k = k, .type_v = v});
        return copy_of(ctx.eval(prompt));
    }

    static ScratchDir* dir_;
    static Model* tiny_;
    static Model* stories_;
};

ScratchDir* KvQuantContext::dir_ = nullptr;
Model* KvQuantContext::tiny_ = nullptr;
Model* KvQuantContext::stories_ = nullptr;

// Why these bounds: a Q8_0 value is off by at most half a step, amax/254 of its block (0.4 % of
// the block's largest value; F16 rounds at 0.05 %); Q4_0's step is amax/7.5, 17x coarser. Keys
// move the scores by q.dk and values the outputs by a convex combination of dv, so the logits
// move by about a percent of their spread for Q8_0 and several percent for Q4_0 (measured on
// AVX-512: Q8_0 0.65 % on tiny and 1.6 % on stories260K, Q4_0 1.3 % and 7.7 %). The bounds
// leave room for another instruction set's rounding of the matmuls and still catch a reader
// that takes the wrong head's slice of a block (stories260K's logits then move by 47 %); the
// ordering and the non-zero checks fail if nothing was quantized.
TEST_F(KvQuantContext, LogitsStayCloseToTheF16CacheAcrossPages) {
    for (const Model* m : {tiny_, stories_}) {
        // 150 positions: three pages of 64, the last one partly filled.
        const auto prompt = vocab_tokens(150, 1, m->hparams().n_vocab);
        const auto f16 = last_logits(*m, prompt, DType::F16, DType::F16);
        const double q8 = relative_diff(last_logits(*m, prompt, DType::Q8_0, DType::Q8_0), f16);
        const double q4 = relative_diff(last_logits(*m, prompt, DType::Q4_0, DType::Q4_0), f16);
        const double k8 = relative_diff(last_logits(*m, prompt, DType::Q8_0, DType::F16), f16);
        const double v4 = relative_diff(last_logits(*m, prompt, DType::F16, DType::Q4_0), f16);
        SCOPED_TRACE(m == tiny_ ? "tiny" : "stories260K");
        EXPECT_GT(q8, 0.0);
        EXPECT_LT(q8, 0.03);
        EXPECT_GT(q4, q8);
        EXPECT_LT(q4, 0.15);
        EXPECT_GT(k8, 0.0);
        EXPECT_LT(k8, 0.03);
        EXPECT_GT(v4, 0.0);
        EXPECT_LT(v4, 0.15);
    }
}

// Rows that see more than TiledAttention::kExactEnd (256) positions take the tiled path, which
// reads the cache through load_tile: tiles of up to 64 positions, chunks of 256, generation split
// over the threads. Same bounds and the same batching guarantees there.
TEST_F(KvQuantContext, DeepRowsThroughTheTiledPath) {
    for (const Model* m : {tiny_, stories_}) {
        SCOPED_TRACE(m == tiny_ ? "tiny" : "stories260K");
        const auto prompt = vocab_tokens(330, 5, m->hparams().n_vocab);
        const auto f16 = last_logits(*m, prompt, DType::F16, DType::F16);
        for (DType type : {DType::Q8_0, DType::Q4_0}) {
            SCOPED_TRACE(dtype_name(type));
            const auto whole = last_logits(*m, prompt, type, type);
            const double diff = relative_diff(whole, f16);
            EXPECT_GT(diff, 0.0);
            EXPECT_LT(diff, type == DType::Q8_0 ? 0.03 : 0.15);
            // A prompt of 290, then 40 tokens generated one at a time (split over the threads).
            Context ctx(*m, {.n_ctx = 512, .type_k = type, .type_v = type});
            ctx.eval(std::span(prompt).first(290));
            std::vector<float> last;
            for (size_t i = 290; i < prompt.size(); ++i)
                last = copy_of(ctx.eval(std::span(prompt).subspan(i, 1)));
            // Bit for bit where the weights are quantized (tiny: integer block sums); stories260K's
            // F32 matmuls round differently for one token than for a batch, F16 cache or not.
            if (m == tiny_) {
                EXPECT_TRUE(bit_equal(last, whole));
            } else {
                EXPECT_LT(relative_diff(last, whole), 1e-4);
            }
        }
    }
}

TEST_F(KvQuantContext, BatchSplitsGiveTheSameLogits) {
    const auto prompt = vocab_tokens(140, 7, tiny_->hparams().n_vocab);
    for (DType type : {DType::Q8_0, DType::Q4_0}) {
        Context whole(*tiny_, {.n_ctx = 256, .type_k = type, .type_v = type});
        const auto want = copy_of(whole.eval(prompt));
        // Passes of 50 tokens, and a prompt fed in pieces that end inside pages.
        Context split(*tiny_, {.n_ctx = 256, .n_batch = 50, .type_k = type, .type_v = type});
        EXPECT_TRUE(bit_equal(split.eval(prompt), want)) << dtype_name(type);
        Context pieces(*tiny_, {.n_ctx = 256, .type_k = type, .type_v = type});
        std::vector<float> got;
        for (size_t at = 0; at < prompt.size(); at += 45) {
            const size_t n = std::min<size_t>(45, prompt.size() - at);
            got = copy_of(pieces.eval(std::span(prompt).subspan(at, n)));
        }
        EXPECT_TRUE(bit_equal(got, want)) << dtype_name(type);
    }
}

TEST_F(KvQuantContext, ForkedAndTruncatedSequencesMatchFreshOnes) {
    const int64_t n_vocab = tiny_->hparams().n_vocab;
    const auto prompt = vocab_tokens(70, 3, n_vocab);  // ends 6 positions into the second page
    const auto a = vocab_tokens(9, 100, n_vocab), b = vocab_tokens(12, 200, n_vocab);
    for (DType type : {DType::Q8_0, DType::Q4_0}) {
        const model::ContextParams params{.n_ctx = 512, .type_k = type, .type_v = type};
        const auto fresh = [&](const std::vector<TokenId>& tail) {
            Context ctx(*tiny_, params);
            ctx.eval(prompt);
            return copy_of(ctx.eval(tail));
        };
        Context ctx(*tiny_, params);
        ctx.eval(prompt, 0);
        ctx.kv().fork(0, 1);
        ctx.kv().fork(0, 2);
        // Both forks append into the shared, partly filled page: each writes its own copy.
        EXPECT_TRUE(bit_equal(ctx.eval(a, 1), fresh(a))) << dtype_name(type);
        EXPECT_TRUE(bit_equal(ctx.eval(b, 2), fresh(b))) << dtype_name(type);
        EXPECT_TRUE(bit_equal(ctx.eval(b, 0), fresh(b))) << dtype_name(type);
        // Back to the prompt, then another continuation over the rows a fork wrote.
        ctx.kv().truncate(1, static_cast<int64_t>(prompt.size()));
        EXPECT_TRUE(bit_equal(ctx.eval(b, 1), fresh(b))) << dtype_name(type);
    }
}

TEST_F(KvQuantContext, TheCacheReportsItsSize) {
    // tiny: 2 layers, rows of 64 values; 256 positions are 4 pages of 64.
    Context f16(*tiny_, {.n_ctx = 256});
    Context q8(*tiny_, {.n_ctx = 256, .type_k = DType::Q8_0, .type_v = DType::Q8_0});
    Context q4k(*tiny_, {.n_ctx = 256, .type_k = DType::Q4_0});
    EXPECT_EQ(f16.kv().bytes_per_position(), 2u * 2 * 128);
    EXPECT_EQ(q8.kv().bytes_per_position(), 2u * 2 * 68);
    EXPECT_EQ(q4k.kv().bytes_per_position(), 2u * (36 + 128));
    EXPECT_EQ(q8.kv().bytes_allocated(), 256u * 2 * 2 * 68);
}

TEST_F(KvQuantContext, RowsThatDoNotFillBlocksAreRefused) {
    // Two KV heads of 24: rows of 48 values, not whole blocks of 32.
    model::SynthShape shape = *model::find_synth_shape("tiny");
    shape.n_embd = 96;
    shape.head_dim = 24;
    ScratchDir dir;
    model::SynthOptions options;
    options.seed = 3;
    model::write_synth_model(shape, options, dir / "odd.gguf");
    const auto odd = Model::load(dir / "odd.gguf");
    ASSERT_EQ(odd->hparams().n_embd_kv(), 48);
    EXPECT_NO_THROW(Context(*odd, {.n_ctx = 64}));
    try {
        Context ctx(*odd, {.n_ctx = 64, .type_k = DType::Q8_0});
        ADD_FAILURE() << "a Q8_0 cache of 48-value rows was made";
    } catch (const Error& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find("48"), std::string::npos) << what;
        EXPECT_NE(what.find("use f16"), std::string::npos) << what;
    }
}

}  // namespace
}  // namespace pocket::test
