#include "eval/ppl_chunks.h"

#include <algorithm>
#include <vector>

#include "pocket/core/error.h"
#include "pocket/model/context.h"
#include "pocket/model/model.h"
#include "pocket/tokenizer/tokenizer.h"

namespace pocket::eval {

ChunkPlan plan_chunks(int64_t n_tokens, int64_t n_ctx, int64_t max_chunks, TokenId bos) {
    // Four positions is the least that leaves one scored position (first = 2, last scored 2).
    if (n_ctx < 4) fail("perplexity needs a context of at least 4 tokens, not ", n_ctx);
    if (n_tokens < 2 * n_ctx)
        fail("the text has ", n_tokens, " tokens; perplexity with a context of ", n_ctx,
             " needs at least 2 * ", n_ctx, " = ", 2 * n_ctx,
             " (use a longer text or a smaller context)");
    ChunkPlan plan;
    plan.n_ctx = n_ctx;
    plan.first = n_ctx / 2;
    plan.n_chunks = n_tokens / n_ctx;
    if (max_chunks > 0) plan.n_chunks = std::min(plan.n_chunks, max_chunks);
    plan.bos = bos;
    return plan;
}

TokenId chunk_bos(const model::Model& model) {
    const auto& tok = model.tokenizer();
    return tok.add_bos() ? tok.bos() : kNoToken;
}

void evaluate_chunks(const model::Model& model, std::span<const TokenId> tokens,
                     const ChunkPlan& plan, int64_t n_batch, DType type_k, DType type_v,
                     std::span<const model::AppliedLora> loras, const RowFn& on_row,
                     const ChunkDoneFn& on_chunk_done) {
    if (static_cast<int64_t>(tokens.size()) < plan.n_ctx * plan.n_chunks)
        fail("perplexity: ", tokens.size(), " tokens do not fill ", plan.n_chunks, " chunks of ",
             plan.n_ctx);
    if (n_batch < 1) fail("perplexity: batch size must be at least 1, not ", n_batch);
    n_batch = std::min(n_batch, plan.n_ctx);
    model::Context ctx(model, {.n_ctx = plan.n_ctx,
                               .n_batch = n_batch,
                               .type_k = type_k,
                               .type_v = type_v,
                               .loras = {loras.begin(), loras.end()}});
    const int64_t last_scored = plan.n_ctx - 2;  // the last position has no next token

    std::vector<model::BatchEntry> batch;
    batch.reserve(static_cast<size_t>(n_batch));
    for (int64_t c = 0; c < plan.n_chunks; ++c) {
        const std::span<const TokenId> chunk =
            tokens.subspan(static_cast<size_t>(c * plan.n_ctx), static_cast<size_t>(plan.n_ctx));
        ctx.kv().clear(0);
        for (int64_t start = 0; start < plan.n_ctx; start += n_batch) {
            const int64_t end = std::min(plan.n_ctx, start + n_batch);
            batch.clear();
            for (int64_t p = start; p < end; ++p) {
                const TokenId t = (p == 0 && plan.bos != kNoToken) ? plan.bos : chunk[p];
                batch.push_back({.token = t,
                                 .pos = p,
                                 .seq = 0,
                                 .logits = p >= plan.first && p <= last_scored});
            }
            ctx.decode(batch);
            // Outputs come in batch order: the scored positions of this batch, ascending.
            const int64_t first_out = std::max(start, plan.first);
            for (size_t i = 0; i < ctx.n_outputs(); ++i) {
                const int64_t p = first_out + static_cast<int64_t>(i);
                on_row(c, p - plan.first, ctx.logits(i), chunk[static_cast<size_t>(p + 1)]);
            }
        }
        if (on_chunk_done) on_chunk_done(c);
    }
}

}  // namespace pocket::eval
