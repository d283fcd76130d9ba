// KL divergence of a model (usually a quantized one) from a base model's log-probabilities, the
// measure llama-perplexity's --kl-divergence reports: the base run writes the log-probabilities
// of every scored position (perplexity() with save_logits), then this runs the model under test
// over the same tokens, chunked the same way, and compares the two distributions position by
// position. KL divergence sees every change of the distribution, where perplexity sees only the
// probability of the actual next token and lets errors cancel.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "pocket/core/token.h"
#include "pocket/eval/logprob_file.h"
#include "pocket/eval/perplexity.h"

namespace pocket::model {
class Model;
}

namespace pocket::eval {

struct KlDivergenceOptions {
    int64_t n_batch = 512;   // tokens per decode call (capped at the file's n_ctx)
    int64_t max_chunks = 0;  // <= 0: every chunk in the file
    // Non-empty: the tokens of the text the caller meant to evaluate; they must start with the
    // file's tokens, or the file was made from another text (or another tokenizer).
    std::span<const TokenId> text_tokens{};
    // How the context's KV cache stores keys and values (model::ContextParams::type_k/type_v).
    DType type_k = DType::F16;
    DType type_v = DType::F16;
};

struct KlDivergenceChunk {
    double running_ppl = 0;  // this model, all chunks so far
    double mean_kld = 0;     // this chunk
    double same_top = 0;     // this chunk, fraction of positions with the base's top-1 token
};

struct KlDivergenceResult {
    PerplexityResult ppl;  // this model over the file's chunks
    // The base model's perplexity, from the stored log-probabilities of the actual next tokens.
    double base_ppl = 0;
    double base_ppl_stderr = 0;
    // mean(NLL - NLL_base) = ln(PPL / PPL_base), with the standard error of that mean.
    double ln_ratio = 0;
    double ln_ratio_stderr = 0;
    double delta_ppl = 0;  // PPL - PPL_base
    double delta_ppl_stderr = 0;
    double ppl_correlation = 0;  // Pearson correlation of NLL and NLL_base over positions

    int64_t n_positions = 0;
    double kld_mean = 0;
    double kld_stderr = 0;  // standard error of the mean
    double kld_min = 0;
    double kld_max = 0;
    double kld_median = 0;
    double kld_p90 = 0;
    double kld_p99 = 0;
    double kld_p999 = 0;
    double same_top = 0;         // fraction of positions where both models' top-1 token agree
    double same_top_stderr = 0;  // binomial standard error of that fraction
    double rms_delta_p = 0;      // RMS of p(next) - p_base(next), as a probability
    std::vector<double> kld;     // per position, chunk by chunk
};

using KlDivergenceProgress =
    std::function<void(int64_t chunk, int64_t n_chunks, const KlDivergenceChunk& result)>;

// Throws pocket::Error when the file does not fit the model (vocabulary size, BOS) or the text,
// and gguf-style FormatError (from LogProbReader) when it is malformed or truncated.
KlDivergenceResult kl_divergence(const model::Model& model, LogProbReader& base,
                                 const KlDivergenceOptions& options = {},
                                 const KlDivergenceProgress& progress = {});

// The value at `fraction` (0..1) of ascending `sorted`, interpolating between neighbours.
double percentile(std::span<const double> sorted, double fraction);

}  // namespace pocket::eval
