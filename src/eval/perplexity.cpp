#include "pocket/eval/perplexity.h"

#include <cmath>
#include <optional>

#include "eval/logprob_row.h"
#include "eval/ppl_chunks.h"
#include "pocket/core/error.h"
#include "pocket/model/model.h"
#include "pocket/tokenizer/tokenizer.h"

namespace pocket::eval {

std::vector<TokenId> perplexity_tokens(const tokenizer::Tokenizer& tokenizer,
                                       std::string_view text) {
    return tokenizer.encode(text, /*add_special=*/true, /*parse_special=*/false);
}

NllSummary summarize_nll(std::span<const double> token_nll) {
    NllSummary s;
    if (token_nll.empty()) return s;
    double sum = 0, sum2 = 0;
    for (const double v : token_nll) {
        sum += v;
        sum2 += v * v;
    }
    const auto n = static_cast<double>(token_nll.size());
    s.mean_nll = sum / n;
    s.ppl = std::exp(s.mean_nll);
    // Standard error of the mean NLL, carried to PPL by d exp(x) = exp(x) dx.
    const double variance = sum2 / n - s.mean_nll * s.mean_nll;
    if (variance > 0 && token_nll.size() > 1) s.ppl_stderr = std::sqrt(variance / (n - 1)) * s.ppl;
    return s;
}

PerplexityResult perplexity(const model::Model& model, std::span<const TokenId> tokens,
                            const PerplexityOptions& options, const PerplexityProgress& progress) {
    if (!model.arch().lm_head)
        fail("perplexity needs a model with a language-model head; this ", model.arch().name,
             " model outputs hidden states");
    const ChunkPlan plan = plan_chunks(static_cast<int64_t>(tokens.size()), options.n_ctx,
                                       options.max_chunks, chunk_bos(model));
    const auto n_vocab = static_cast<size_t>(model.hparams().n_vocab);

    PerplexityResult r;
    r.n_text_tokens = static_cast<int64_t>(tokens.size());
    r.n_ctx = plan.n_ctx;
    r.n_chunks = plan.n_chunks;
    r.n_scored = plan.n_rows();
    r.token_nll.reserve(static_cast<size_t>(r.n_scored));

    std::optional<LogProbWriter> writer;
    std::vector<float> log_probs;
    if (!options.save_logits.empty()) {
        const LogProbHeader header{.storage = options.storage,
                                   .n_vocab = static_cast<uint32_t>(n_vocab),
                                   .n_ctx = static_cast<uint32_t>(plan.n_ctx),
                                   .n_chunks = static_cast<uint32_t>(plan.n_chunks),
                                   .first_scored = static_cast<uint32_t>(plan.first),
                                   .bos = plan.bos};
        writer.emplace(options.save_logits, header,
                       tokens.first(static_cast<size_t>(plan.n_ctx * plan.n_chunks)));
        log_probs.resize(n_vocab);
    }

    double sum_nll = 0;
    const auto on_row = [&](int64_t, int64_t, std::span<const float> logits, TokenId next) {
        const RowNorm norm = normalize_row(logits);
        const double nll = -norm.log_prob(logits, static_cast<size_t>(next));
        r.token_nll.push_back(nll);
        sum_nll += nll;
        if (writer) {
            for (size_t i = 0; i < n_vocab; ++i)
                log_probs[i] = static_cast<float>(norm.log_prob(logits, i));
            writer->write_row(log_probs);
        }
    };
    const auto on_chunk = [&](int64_t c) {
        const auto rows = static_cast<size_t>(plan.rows_per_chunk());
        double chunk_sum = 0;
        for (size_t i = r.token_nll.size() - rows; i < r.token_nll.size(); ++i)
            chunk_sum += r.token_nll[i];
        PerplexityChunk chunk{
            .start_token = c * plan.n_ctx,
            .mean_nll = chunk_sum / static_cast<double>(rows),
            .running_ppl = std::exp(sum_nll / static_cast<double>(r.token_nll.size()))};
        r.chunks.push_back(chunk);
        if (progress) progress(c, plan.n_chunks, chunk);
    };
    evaluate_chunks(model, tokens, plan, options.n_batch, options.type_k, options.type_v,
                    options.loras, on_row, on_chunk);
    if (writer) writer->finish();

    const NllSummary s = summarize_nll(r.token_nll);
    r.mean_nll = s.mean_nll;
    r.ppl = s.ppl;
    r.ppl_stderr = s.ppl_stderr;
    return r;
}

}  // namespace pocket::eval
