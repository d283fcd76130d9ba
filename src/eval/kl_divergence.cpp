#include "pocket/eval/kl_divergence.h"

#include <algorithm>
#include <cmath>

#include "eval/logprob_row.h"
#include "eval/ppl_chunks.h"
#include "pocket/core/error.h"
#include "pocket/model/model.h"

namespace pocket::eval {
namespace {

// Fails unless the file was made by a run this model can be compared with.
void check_compatible(const model::Model& model, const LogProbReader& base,
                      const KlDivergenceOptions& options) {
    const auto& h = base.header();
    const std::string file = base.path().string();
    if (!model.arch().lm_head)
        fail("KL divergence needs a model with a language-model head; this ", model.arch().name,
             " model outputs hidden states");
    if (h.n_vocab != model.hparams().n_vocab)
        fail(file, " holds log-probabilities over a vocabulary of ", h.n_vocab,
             " tokens but this model has ", model.hparams().n_vocab,
             ": the base was made with a model of another vocabulary");
    if (h.bos != chunk_bos(model))
        fail(file, " was made with chunks starting with token ", h.bos,
             " but this model starts them with ", chunk_bos(model),
             ": the base model's vocabulary differs");
    if (options.text_tokens.empty()) return;
    const auto file_tokens = base.tokens();
    if (options.text_tokens.size() < file_tokens.size())
        fail("the text has ", options.text_tokens.size(), " tokens but ", file, " was made from ",
             file_tokens.size(), " (", h.n_chunks, " chunks of ", h.n_ctx,
             "): another text, or another tokenizer");
    const auto diff =
        std::mismatch(file_tokens.begin(), file_tokens.end(), options.text_tokens.begin());
    if (diff.first != file_tokens.end())
        fail("the text does not match ", file, ": token ", diff.first - file_tokens.begin(), " is ",
             *diff.second, " here and ", *diff.first,
             " there (another text, or another tokenizer)");
}

struct Moments {
    double sum = 0, sum2 = 0;
    void add(double v) {
        sum += v;
        sum2 += v * v;
    }
    double mean(double n) const { return sum / n; }
    // Standard error of the mean over n samples.
    double stderr_of_mean(double n) const {
        const double var = sum2 / n - (sum / n) * (sum / n);
        return var > 0 && n > 1 ? std::sqrt(var / (n - 1)) : 0.0;
    }
};

}  // namespace

double percentile(std::span<const double> sorted, double fraction) {
    if (sorted.empty()) return 0;
    if (fraction <= 0) return sorted.front();
    if (fraction >= 1) return sorted.back();
    const double at = fraction * static_cast<double>(sorted.size() - 1);
    const auto below = static_cast<size_t>(at);
    const double t = at - static_cast<double>(below);
    const double above = sorted[std::min(below + 1, sorted.size() - 1)];
    return (1 - t) * sorted[below] + t * above;
}

KlDivergenceResult kl_divergence(const model::Model& model, LogProbReader& base,
                                 const KlDivergenceOptions& options,
                                 const KlDivergenceProgress& progress) {
    check_compatible(model, base, options);
    const auto& h = base.header();
    ChunkPlan plan{.n_ctx = h.n_ctx, .first = h.first_scored, .n_chunks = h.n_chunks, .bos = h.bos};
    if (options.max_chunks > 0) plan.n_chunks = std::min(plan.n_chunks, options.max_chunks);
    const auto n_vocab = static_cast<size_t>(h.n_vocab);

    KlDivergenceResult r;
    auto& ppl = r.ppl;
    ppl.n_text_tokens = static_cast<int64_t>(base.tokens().size());
    ppl.n_ctx = plan.n_ctx;
    ppl.n_chunks = plan.n_chunks;
    ppl.n_scored = plan.n_rows();
    ppl.token_nll.reserve(static_cast<size_t>(plan.n_rows()));
    r.kld.reserve(static_cast<size_t>(plan.n_rows()));

    std::vector<double> base_nll;
    base_nll.reserve(static_cast<size_t>(plan.n_rows()));
    std::vector<float> base_row(n_vocab);
    Moments sum_nll, sum_kld, sum_dp;
    double sum_cross = 0;  // sum of NLL * NLL_base, for the covariance
    int64_t n_same = 0, chunk_same = 0;
    double chunk_kld = 0;

    const auto on_row = [&](int64_t, int64_t, std::span<const float> logits, TokenId next) {
        base.read_row(base_row);
        const RowNorm norm = normalize_row(logits);
        const auto t = static_cast<size_t>(next);
        const double nll = -norm.log_prob(logits, t);
        const double nll_base = -static_cast<double>(base_row[t]);
        // KL(base || model) = sum_i p_base(i) (log p_base(i) - log p(i)).
        double kld = 0;
        size_t base_top = 0;
        for (size_t i = 0; i < n_vocab; ++i) {
            const double lp_base = base_row[i];
            if (base_row[i] > base_row[base_top]) base_top = i;
            kld += std::exp(lp_base) * (lp_base - norm.log_prob(logits, i));
        }
        ppl.token_nll.push_back(nll);
        base_nll.push_back(nll_base);
        r.kld.push_back(kld);
        sum_nll.add(nll);
        sum_kld.add(kld);
        sum_dp.add(std::exp(-nll) - std::exp(-nll_base));
        sum_cross += nll * nll_base;
        chunk_kld += kld;
        if (base_top == norm.argmax) {
            ++n_same;
            ++chunk_same;
        }
    };
    const auto on_chunk = [&](int64_t c) {
        const auto rows = static_cast<double>(plan.rows_per_chunk());
        const auto n = static_cast<double>(ppl.token_nll.size());
        const KlDivergenceChunk chunk{.running_ppl = std::exp(sum_nll.sum / n),
                                      .mean_kld = chunk_kld / rows,
                                      .same_top = static_cast<double>(chunk_same) / rows};
        double chunk_nll = 0;
        for (size_t i = ppl.token_nll.size() - plan.rows_per_chunk(); i < ppl.token_nll.size(); ++i)
            chunk_nll += ppl.token_nll[i];
        ppl.chunks.push_back({.start_token = c * plan.n_ctx,
                              .mean_nll = chunk_nll / rows,
                              .running_ppl = chunk.running_ppl});
        chunk_kld = 0;
        chunk_same = 0;
        if (progress) progress(c, plan.n_chunks, chunk);
    };
    evaluate_chunks(model, base.tokens(), plan, options.n_batch, options.type_k, options.type_v, {},
                    on_row, on_chunk);

    const NllSummary q = summarize_nll(ppl.token_nll);
    const NllSummary b = summarize_nll(base_nll);
    ppl.mean_nll = q.mean_nll;
    ppl.ppl = q.ppl;
    ppl.ppl_stderr = q.ppl_stderr;
    r.base_ppl = b.ppl;
    r.base_ppl_stderr = b.ppl_stderr;

    const auto n = static_cast<double>(r.kld.size());
    r.n_positions = static_cast<int64_t>(r.kld.size());
    // Standard errors of the two mean NLLs and their covariance, for the ratio and difference.
    const double se_q = q.ppl > 0 ? q.ppl_stderr / q.ppl : 0;
    const double se_b = b.ppl > 0 ? b.ppl_stderr / b.ppl : 0;
    const double cov = n > 1 ? (sum_cross / n - q.mean_nll * b.mean_nll) / (n - 1) : 0;
    r.ln_ratio = q.mean_nll - b.mean_nll;
    r.ln_ratio_stderr = std::sqrt(std::max(0.0, se_q * se_q + se_b * se_b - 2 * cov));
    r.delta_ppl = q.ppl - b.ppl;
    r.delta_ppl_stderr = std::sqrt(std::max(
        0.0, q.ppl * q.ppl * se_q * se_q + b.ppl * b.ppl * se_b * se_b - 2 * q.ppl * b.ppl * cov));
    r.ppl_correlation = se_q > 0 && se_b > 0 ? cov / (se_q * se_b) : 1.0;

    r.kld_mean = sum_kld.mean(n);
    r.kld_stderr = sum_kld.stderr_of_mean(n);
    std::vector<double> sorted = r.kld;
    std::sort(sorted.begin(), sorted.end());
    r.kld_min = sorted.front();
    r.kld_max = sorted.back();
    r.kld_median = percentile(sorted, 0.5);
    r.kld_p90 = percentile(sorted, 0.90);
    r.kld_p99 = percentile(sorted, 0.99);
    r.kld_p999 = percentile(sorted, 0.999);
    r.same_top = static_cast<double>(n_same) / n;
    r.same_top_stderr = n > 1 ? std::sqrt(r.same_top * (1 - r.same_top) / (n - 1)) : 0;
    r.rms_delta_p = std::sqrt(sum_dp.sum2 / n);
    return r;
}

}  // namespace pocket::eval
