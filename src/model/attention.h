// Tiled attention over the paged KV cache with an online softmax (flash-attention style), the
// forward pass's attention step (internal to the library).
//
// For each block of query rows (up to kBlockTokens consecutive tokens of one sequence times the
// query heads of one GQA group) the visible positions are walked in tiles of at most kTile
// positions (never crossing a KV page). A tile's keys and values are read once for all rows of
// the block: scores for the rows, one online-softmax step (running max and sum per row, the
// accumulator rescaled), then the probability-weighted values. No row ever holds more than one
// tile of scores.
//
// Positions are grouped in chunks of kChunk: each chunk gives a partial result per row (max,
// sum, accumulator), and the partials are folded in chunk order. Generation on one sequence
// (few rows) hands runs of chunks of its KV range to different threads and folds at the end
// (flash-decoding); prompts hand whole blocks to threads and fold as they go. A generation task
// covers several KV heads and walks each tile across them (run_tile_streamed), because at depth
// the time goes to reading the cache, and whole stored rows stream far better than one head's
// slices. Either way the same
// operations happen in the same order: tile, chunk and lane boundaries sit at absolute positions,
// masked positions contribute exact identities, so a token's result is the same bits however the
// batch was split, however many threads ran it and whichever instruction set's kernels (the
// SIMD tables are bit-identical to the scalar one).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "kernels/attention.h"
#include "pocket/core/thread_pool.h"
#include "pocket/model/context.h"
#include "pocket/model/kv_cache.h"

namespace pocket::model {

struct AttentionLayer {
    const KvCache* kv = nullptr;
    int64_t layer = 0;
    int64_t n_head = 0, n_head_kv = 0, head_dim = 0;
    float scale = 1.0f;    // applied to the scores (1 when Q was scaled instead)
    float softcap = 0.0f;  // c * tanh(score / c) before the scale; 0: none
    int64_t window = 0;    // sliding window: position p is visible from pos when pos - p < window
    bool causal = true;    // otherwise every token sees its whole sequence
};

class TiledAttention {
  public:
    // Rows that see no position at or past kExactEnd keep llama.cpp's exact order (the whole
    // row of scores, softmax over it, F16-rounded probabilities summed in 16 position lanes: the
    // kernels' llama.cpp entries). The llama.cpp reference logits (tests/model/reference_test,
    // prompts and generations of up to 205 positions) sit within their tolerances only with
    // those numerics: with the online softmax in F32 the quantized models' re-quantized
    // activations flip and Q8_0/Q2_K/Q5_K/Q6_K and gemma2 land 5-35 % past their bounds (the
    // tiled path is the closer one to exact attention: within 2e-5 of double precision). Short
    // rows cost little attention either way; deep rows, where the tiling pays, are tiled.
    static constexpr int64_t kExactEnd = 256;
    static constexpr int64_t kTile = 64;        // positions whose scores exist at once
    static constexpr int64_t kChunk = 256;      // positions of one partial result
    static constexpr int64_t kBlockTokens = 8;  // tokens whose queries share a tile's K/V reads
    // Tasks with at most kStreamRows rows per KV head walk each tile in steps of kStreamStep
    // positions across their heads, asking for the next tile's rows meanwhile.
    static constexpr int64_t kStreamRows = 16;
    static constexpr int64_t kStreamStep = 16;

    // Sizes the per-thread workspaces for a model's heads (allocates only when they grow).
    void reserve(int64_t n_threads, int64_t n_head, int64_t n_head_kv, int64_t head_dim);
    // Sizes the workspaces for reading a cache whose rows are not F16 (allocates only when they
    // grow; nothing for an F16 cache).
    void reserve_conversion(const KvCache& kv, int64_t head_dim);

    // out[t][h] = attention of query q[t][h] (F32, rows of n_head * head_dim) over the positions
    // token t sees in its sequence. Every batch entry's K/V must already be in the cache.
    void run(const kernels::AttentionOps& ops, ThreadPool& pool, const AttentionLayer& layer,
             std::span<const BatchEntry> batch, const float* q, float* out);

  private:
    struct Block {
        int64_t t0 = 0, count = 0;         // batch entries [t0, t0 + count)
        int64_t lo = 0, hi = 0;            // positions any of its tokens sees: [lo, hi)
        int64_t chunk0 = 0, n_chunks = 0;  // chunks covering [lo, hi)
        int64_t first_slot = 0;            // split mode: its first partial (chunk0, KV head 0)
    };
    struct Task {
        int64_t block = 0, kvh = 0;
        int64_t chunk_begin = 0, chunk_end = 0;  // chunk indices
        int64_t kvh_end = 0;                     // tiled tasks: KV heads [kvh, kvh_end)
        // >= 0: one token's query heads [head, head + heads) in llama.cpp's exact order.
        int64_t exact_token = -1, head = 0, heads = 0;
    };
    struct alignas(64) Space {
        // Per KV head of the task, rows of the block's tokens x the head's GQA group:
        std::vector<f16_t> q16;           // rows x head_dim
        std::vector<float> m, l, r;       // running max, sum, rescale per row
        std::vector<float> acc;           // rows x head_dim
        std::vector<float> tm, tl;        // folded totals over chunks
        std::vector<float> tacc;          // rows x head_dim
        std::vector<float> scores;        // rows x kTile
        std::vector<float> ones;          // rows x 1.0f: the rescale of a tile's later steps
        std::vector<int64_t> first, end;  // visible positions of each row: [first, end)
        std::vector<float> row;           // exact path: group x kExactEnd scores
        std::vector<float> lanes;         // exact path: group x 16 lanes x head_dim
        // Quantized caches: one page's rows of one KV head converted to F16 (keys, values),
        // and the dequantized blocks they come from.
        std::vector<f16_t> k16, v16;
        std::vector<float> dequant;
    };
    void run_exact(const kernels::AttentionOps& ops, const AttentionLayer& layer,
                   std::span<const BatchEntry> batch, const Task& task, const float* q, float* out,
                   Space& ws);
    static void mask_tile(const AttentionLayer& layer, const Space& ws, int64_t rows, int64_t p0,
                          int64_t count, float* scores);
    void run_tile_streamed(const kernels::AttentionOps& ops, const AttentionLayer& layer, SeqId seq,
                           const Task& task, int64_t rows, int64_t p0, int64_t count, int64_t p1,
                           int64_t next, Space& ws);
    void run_task(const kernels::AttentionOps& ops, const AttentionLayer& layer,
                  std::span<const BatchEntry> batch, const float* q, float* out, const Task& task,
                  float* partial, int64_t partial_rows, Space& ws);

    int64_t rows_max_ = 0, head_dim_ = 0, group_ = 0, heads_max_ = 0;
    std::vector<Space> spaces_;
    std::vector<Block> blocks_;
    std::vector<Task> tasks_;
    std::vector<float> partials_;  // split mode: per (chunk, KV head), rows x (head_dim + 2)
};

}  // namespace pocket::model
