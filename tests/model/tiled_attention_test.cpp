// Tiled attention with the online softmax (model/attention.h) over a real paged KV cache:
// - the scalar kernels against attention computed independently in double precision (exact
//   softmax over the whole row), within float tolerances;
// - every SIMD table BIT-IDENTICAL to the scalar one;
// - a token's result the same bits however the batch was split (one prompt batch, token by
//   token, several sequences interleaved) and however many threads ran it (chunks folded in the
//   same order whether one thread or several computed them);
// at depths that cross KV pages (64), tiles (64) and chunks (256), with GQA, softcap, sliding
// windows, non-causal (encoder) attention and head sizes that take the kernels' fallbacks.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <random>
#include <vector>

#include "kernels/attention.h"
#include "model/attention.h"
#include "pocket/core/fp16.h"
#include "pocket/core/thread_pool.h"
#include "pocket/model/kv_cache.h"

namespace pocket::model {
namespace {

struct Shape {
    const char* name;
    int64_t n_head, n_head_kv, head_dim;
    float softcap = 0.0f;
    int64_t window = 0;
    bool causal = true;
};

void PrintTo(const Shape& s, std::ostream* os) {
    *os << s.name;
}

// A cache of `n_seq` sequences of `depth` positions of random keys and values, and random
// queries for every (sequence, position).
struct Fixture {
    Shape shape;
    int64_t depth, n_seq;
    KvCache kv;
    std::vector<float> q;  // [seq][pos][n_head * head_dim]

    Fixture(const Shape& s, int64_t depth_, int64_t n_seq_)
        : shape(s),
          depth(depth_),
          n_seq(n_seq_),
          kv(KvCacheParams{1, s.n_head_kv * s.head_dim, (depth_ + 63) / 64 * 64 * n_seq_, 64}) {
        std::mt19937 rng(1234);
        std::normal_distribution<float> dist(0.0f, 1.0f);
        const int64_t n_kv = s.n_head_kv * s.head_dim;
        for (SeqId seq = 0; seq < n_seq; ++seq) {
            kv.grow(seq, depth);
            for (int64_t p = 0; p < depth; ++p) {
                for (int64_t i = 0; i < n_kv; ++i) {
                    kv.key(0, seq, p)[i] = f32_to_f16(dist(rng));
                    kv.value(0, seq, p)[i] = f32_to_f16(dist(rng));
                }
            }
        }
        // Queries of several sizes, so the running maximum moves between tiles.
        q.resize(static_cast<size_t>(n_seq * depth * s.n_head * s.head_dim));
        for (size_t i = 0; i < q.size(); ++i) q[i] = dist(rng) * (1.0f + static_cast<float>(i % 7));
    }

    int64_t row() const { return shape.n_head * shape.head_dim; }
    const float* query(SeqId seq, int64_t pos) const {
        return q.data() + (seq * depth + pos) * row();
    }

    AttentionLayer layer() const {
        return AttentionLayer{.kv = &kv,
                              .layer = 0,
                              .n_head = shape.n_head,
                              .n_head_kv = shape.n_head_kv,
                              .head_dim = shape.head_dim,
                              .scale = 1.0f / std::sqrt(static_cast<float>(shape.head_dim)),
                              .softcap = shape.softcap,
                              .window = shape.window,
                              .causal = shape.causal};
    }

    // Runs the batch's entries through TiledAttention; returns their outputs in batch order.
    std::vector<float> run(kernels::Isa isa, ThreadPool& pool,
                           const std::vector<BatchEntry>& batch) const {
        std::vector<float> qs, out(batch.size() * static_cast<size_t>(row()));
        for (const BatchEntry& e : batch) {
            const float* src = query(e.seq, e.pos);
            qs.insert(qs.end(), src, src + row());
        }
        TiledAttention attention;
        attention.run(kernels::attention_ops(isa), pool, layer(), batch, qs.data(), out.data());
        return out;
    }

    // Every position of every sequence, in batches of `step` positions of one sequence after
    // another (step = depth: one prompt each), as a forward pass would see them; outputs
    // reordered to [seq][pos].
    std::vector<float> run_in_steps(kernels::Isa isa, ThreadPool& pool, int64_t step) const {
        std::vector<float> all(static_cast<size_t>(n_seq * depth * row()));
        for (SeqId seq = 0; seq < n_seq; ++seq) {
            for (int64_t p0 = 0; p0 < depth; p0 += step) {
                std::vector<BatchEntry> batch;
                for (int64_t p = p0; p < std::min(depth, p0 + step); ++p)
                    batch.push_back({0, p, seq, false});
                const auto out = run(isa, pool, batch);
                std::copy(out.begin(), out.end(), all.begin() + (seq * depth + p0) * row());
            }
        }
        return all;
    }

    // The same in double precision, straight from the definition: F16-rounded query, exact
    // softmax over the whole visible row.
    std::vector<double> expected(SeqId seq, int64_t pos) const {
        const Shape& s = shape;
        const int64_t group = s.n_head / s.n_head_kv, hd = s.head_dim;
        const int64_t first = s.window > 0 ? std::max<int64_t>(0, pos - s.window + 1) : 0;
        const int64_t end = s.causal ? pos + 1 : depth;
        const double scale = 1.0 / std::sqrt(static_cast<double>(hd));
        std::vector<double> out(static_cast<size_t>(row()));
        for (int64_t h = 0; h < s.n_head; ++h) {
            const int64_t kvh = h / group;
            std::vector<double> w;
            double max = -INFINITY;
            for (int64_t p = first; p < end; ++p) {
                double dot = 0.0;
                for (int64_t d = 0; d < hd; ++d) {
                    dot += static_cast<double>(round_to_f16(query(seq, pos)[h * hd + d])) *
                           f16_to_f32(kv.key(0, seq, p)[kvh * hd + d]);
                }
                if (s.softcap > 0.0f) dot = s.softcap * std::tanh(dot / s.softcap);
                w.push_back(dot * scale);
                max = std::max(max, w.back());
            }
            double sum = 0.0;
            for (double& x : w) sum += x = std::exp(x - max);
            for (int64_t d = 0; d < hd; ++d) {
                double acc = 0.0;
                for (int64_t p = first; p < end; ++p)
                    acc += w[static_cast<size_t>(p - first)] *
                           f16_to_f32(kv.value(0, seq, p)[kvh * hd + d]);
                out[static_cast<size_t>(h * hd + d)] = acc / sum;
            }
        }
        return out;
    }
};

void expect_bits_equal(const std::vector<float>& got, const std::vector<float>& want,
                       const char* what) {
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) {
        ASSERT_EQ(std::bit_cast<uint32_t>(got[i]), std::bit_cast<uint32_t>(want[i]))
            << what << " differs at " << i << ": " << got[i] << " vs " << want[i];
    }
}

class TiledAttentionTest : public ::testing::TestWithParam<Shape> {};

// Depth 520: rows ending within the first TiledAttention::kExactEnd (256) positions take
// llama.cpp's exact order, later ones the tiles; those cross pages and tiles (every 64) and chunks
// (256, 512). The positions checked sit on both sides of each boundary.
constexpr int64_t kDepth = 520;

TEST_P(TiledAttentionTest, ScalarMatchesDoublePrecision) {
    const Fixture f(GetParam(), kDepth, 1);
    ThreadPool pool(2);
    // Only the positions checked, in one batch (its blocks break at every gap).
    const std::vector<int64_t> positions = {0,   1,   15,  16,  63,  64,  65,  127,
                                            128, 200, 254, 255, 256, 257, 300, 319,
                                            320, 383, 384, 450, 511, 512, 513, 519};
    std::vector<BatchEntry> batch;
    for (int64_t pos : positions) batch.push_back({0, pos, 0, false});
    const auto got = f.run(kernels::Isa::Scalar, pool, batch);
    double worst_exact = 0.0, worst_tiled = 0.0;
    for (size_t k = 0; k < positions.size(); ++k) {
        const int64_t pos = positions[k];
        const auto want = f.expected(0, pos);
        // The exact path rounds the probabilities to F16 (as llama.cpp): a relative 2^-11 each.
        // The tiled one keeps them in F32.
        const bool exact = f.shape.causal && pos < TiledAttention::kExactEnd;
        for (int64_t i = 0; i < f.row(); ++i) {
            const double w = want[static_cast<size_t>(i)];
            const double diff =
                std::fabs(got[k * static_cast<size_t>(f.row()) + static_cast<size_t>(i)] - w);
            (exact ? worst_exact : worst_tiled) = std::max(exact ? worst_exact : worst_tiled, diff);
            ASSERT_LT(diff, (exact ? 2e-3 : 2e-5) * (1.0 + std::fabs(w)))
                << "pos " << pos << " element " << i;
        }
    }
    RecordProperty("worst_abs_diff_exact", std::to_string(worst_exact));
    RecordProperty("worst_abs_diff_tiled", std::to_string(worst_tiled));
}

TEST_P(TiledAttentionTest, SameBitsHoweverBatchedAndThreaded) {
    const Fixture f(GetParam(), kDepth, 2);
    ThreadPool one(1), two(2);
    // The active table (the SIMD ones give the scalar bits: see the next test), for speed.
    const kernels::Isa isa = kernels::active_isa();
    // Whole prompts on two threads (blocks of tokens, chunks folded within a task) is the
    // baseline; token by token (one chunk per task, folded afterwards) on one and two threads,
    // and odd batch sizes, must give the same bits.
    const auto whole = f.run_in_steps(isa, two, kDepth);
    expect_bits_equal(f.run_in_steps(isa, two, 1), whole, "token by token");
    expect_bits_equal(f.run_in_steps(isa, one, 1), whole, "one thread");
    expect_bits_equal(f.run_in_steps(isa, two, 37), whole, "batches of 37");
    expect_bits_equal(f.run_in_steps(isa, one, kDepth), whole, "one thread");
    // Two sequences interleaved in one batch (continuous batching): the blocks break at every
    // change of sequence.
    std::vector<BatchEntry> mixed;
    for (int64_t p = 240; p < 280; ++p) {
        mixed.push_back({0, p, 0, false});
        mixed.push_back({0, p, 1, false});
    }
    const auto out = f.run(isa, two, mixed);
    for (size_t i = 0; i < mixed.size(); ++i) {
        const auto row = static_cast<size_t>(f.row());
        const auto at = static_cast<size_t>((mixed[i].seq * kDepth + mixed[i].pos) * f.row());
        const std::vector<float> got(out.begin() + static_cast<ptrdiff_t>(i * row),
                                     out.begin() + static_cast<ptrdiff_t>((i + 1) * row));
        const std::vector<float> want(whole.begin() + static_cast<ptrdiff_t>(at),
                                      whole.begin() + static_cast<ptrdiff_t>(at + row));
        expect_bits_equal(got, want, "interleaved sequences");
    }
}

TEST_P(TiledAttentionTest, EverySimdTableIsBitIdenticalToScalar) {
    const Fixture f(GetParam(), kDepth, 1);
    ThreadPool pool(2);
    const auto prompt = f.run_in_steps(kernels::Isa::Scalar, pool, kDepth);
    int checked = 0;
    for (kernels::Isa isa : {kernels::Isa::Avx2, kernels::Isa::Avx512, kernels::Isa::Neon}) {
        if (!kernels::isa_supported(isa)) continue;
        SCOPED_TRACE(kernels::isa_name(isa));
        expect_bits_equal(f.run_in_steps(isa, pool, kDepth), prompt, "prompt");
        expect_bits_equal(f.run_in_steps(isa, pool, 7), prompt, "seven at a time");
        // Generation: one chunk per task, the tile walked across the task's KV heads in steps.
        expect_bits_equal(f.run_in_steps(isa, pool, 1), prompt, "one at a time");
        ++checked;
    }
    if (checked == 0) GTEST_SKIP() << "no SIMD instruction set on this CPU";
}

// qwen2.5-0.5b's grouping (7 query heads per KV head) at head size 64, llama-3.2-1b's 8 KV
// heads (generation tasks then take several KV heads each), llama-style 4:1 at 128,
// gemma2's softcap with a sliding window, a window shorter than a tile, an encoder, head sizes
// 8 (stories260K: the double-sum dot) and 48 (not a multiple of 16: the fallbacks), no GQA.
INSTANTIATE_TEST_SUITE_P(Shapes, TiledAttentionTest,
                         ::testing::Values(Shape{"gqa7_hd64", 14, 2, 64},
                                           Shape{"gqa4_kv8_hd64", 32, 8, 64},
                                           Shape{"gqa4_hd128", 8, 2, 128},
                                           Shape{"softcap_window", 4, 2, 64, 50.0f, 100},
                                           Shape{"short_window", 2, 1, 32, 0.0f, 20},
                                           Shape{"noncausal", 4, 4, 64, 0.0f, 0, false},
                                           Shape{"hd8", 4, 2, 8}, Shape{"hd48", 3, 1, 48}),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace pocket::model
