// The chunking both perplexity and KL divergence use, as llama-perplexity does it: the token
// stream is cut into chunks of n_ctx tokens (the tail that does not fill a chunk is ignored); each
// chunk is evaluated from an empty KV cache with its first token replaced by BOS, and the logits
// of positions first .. n_ctx-2 (first = n_ctx/2) are scored against the token that follows.
// Scoring only the second half gives every scored token at least n_ctx/2 tokens of context.
#pragma once

#include <cstdint>
#include <functional>
#include <span>

#include "pocket/core/dtype.h"
#include "pocket/core/token.h"
#include "pocket/model/lora.h"

namespace pocket::model {
class Model;
}

namespace pocket::eval {

struct ChunkPlan {
    int64_t n_ctx = 0;
    int64_t first = 0;  // first scored position of a chunk
    int64_t n_chunks = 0;
    TokenId bos = kNoToken;  // replaces each chunk's first token (kNoToken: left as it is)

    int64_t rows_per_chunk() const { return n_ctx - 1 - first; }
    int64_t n_rows() const { return rows_per_chunk() * n_chunks; }
};

// Plans the chunks for `n_tokens` tokens. max_chunks <= 0: as many as fit. Throws pocket::Error
// when the text has fewer than 2 * n_ctx tokens (llama-perplexity refuses those too: the
// estimate from a single chunk is too noisy to mean anything).
ChunkPlan plan_chunks(int64_t n_tokens, int64_t n_ctx, int64_t max_chunks, TokenId bos);

// The BOS that chunks start with for this model: its BOS when the vocabulary adds one.
TokenId chunk_bos(const model::Model& model);

// Called for every scored position, in order: `logits` (n_vocab values) predict `next`.
using RowFn =
    std::function<void(int64_t chunk, int64_t row, std::span<const float> logits, TokenId next)>;
// Called after each chunk (0-based) has been scored.
using ChunkDoneFn = std::function<void(int64_t chunk)>;

// Evaluates every chunk of the plan in one context, n_batch tokens per decode call, with the KV
// cache storing keys as type_k and values as type_v and `loras` applied.
void evaluate_chunks(const model::Model& model, std::span<const TokenId> tokens,
                     const ChunkPlan& plan, int64_t n_batch, DType type_k, DType type_v,
                     std::span<const model::AppliedLora> loras, const RowFn& on_row,
                     const ChunkDoneFn& on_chunk_done);

}  // namespace pocket::eval
