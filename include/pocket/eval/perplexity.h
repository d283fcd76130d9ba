// Perplexity of a model over a text, computed exactly as llama.cpp's llama-perplexity does, so
// the numbers can be compared with published ones:
//
//   1. tokenize the whole text with BOS (special-token text is not parsed);
//   2. cut the tokens into chunks of n_ctx (the tail that does not fill a chunk is ignored);
//   3. for each chunk: empty KV cache, first token replaced by BOS (when the vocabulary adds one),
//      evaluate all n_ctx tokens, n_batch per pass;
//   4. score positions n_ctx/2 .. n_ctx-2: NLL = -log softmax(logits)[next token], with the
//      log-sum-exp taken in double after subtracting the row's max;
//   5. PPL = exp(mean NLL); the ± value is sqrt((mean(NLL²) - mean(NLL)²) / (N - 1)) · PPL.
//
// The base run of a KL-divergence comparison (kl_divergence.h) is this run with save_logits set.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <span>
#include <string_view>
#include <vector>

#include "pocket/core/dtype.h"
#include "pocket/core/token.h"
#include "pocket/eval/logprob_file.h"
#include "pocket/model/lora.h"

namespace pocket::model {
class Model;
}
namespace pocket::tokenizer {
class Tokenizer;
}

namespace pocket::eval {

struct PerplexityOptions {
    int64_t n_ctx = 512;     // tokens per chunk (llama-perplexity's default)
    int64_t n_batch = 512;   // tokens per decode call (capped at n_ctx)
    int64_t max_chunks = 0;  // <= 0: every full chunk
    // Non-empty: also write the log-probabilities of every scored position there, the base
    // for a later kl_divergence() run (format in logprob_file.h).
    std::filesystem::path save_logits{};
    LogProbStorage storage = LogProbStorage::F16;
    // How the context's KV cache stores keys and values (model::ContextParams::type_k/type_v):
    // measuring a quantized cache's cost is running this with them against an F16 base.
    DType type_k = DType::F16;
    DType type_v = DType::F16;
    // LoRA adapters applied without merging (`pocket perplexity --lora`): how users measure an
    // adapter on held-out text.
    std::vector<model::AppliedLora> loras{};
};

struct PerplexityChunk {
    int64_t start_token = 0;  // index of the chunk's first token in the text
    double mean_nll = 0;      // over this chunk's scored positions
    double running_ppl = 0;   // PPL over all chunks so far (what llama-perplexity prints)
};

struct PerplexityResult {
    double ppl = 0;
    double ppl_stderr = 0;
    double mean_nll = 0;
    int64_t n_text_tokens = 0;  // tokens of the whole text (with BOS)
    int64_t n_ctx = 0;
    int64_t n_chunks = 0;
    int64_t n_scored = 0;           // n_chunks * (n_ctx - 1 - n_ctx/2)
    std::vector<double> token_nll;  // per scored position, chunk by chunk
    std::vector<PerplexityChunk> chunks;
};

// Called after each chunk: chunk index (0-based), number of chunks, the chunk's numbers.
using PerplexityProgress =
    std::function<void(int64_t chunk, int64_t n_chunks, const PerplexityChunk& result)>;

// The tokens llama-perplexity evaluates for `text`: with BOS, special-token text left as text.
std::vector<TokenId> perplexity_tokens(const tokenizer::Tokenizer& tokenizer,
                                       std::string_view text);

// Throws pocket::Error when there are fewer than 2 * n_ctx tokens, on a bad option, or when the
// log-probability file cannot be written (no partial file is left behind).
PerplexityResult perplexity(const model::Model& model, std::span<const TokenId> tokens,
                            const PerplexityOptions& options = {},
                            const PerplexityProgress& progress = {});

// ppl, ppl_stderr and mean_nll from per-token NLLs (the summary formula above).
struct NllSummary {
    double mean_nll = 0;
    double ppl = 0;
    double ppl_stderr = 0;
};
NllSummary summarize_nll(std::span<const double> token_nll);

}  // namespace pocket::eval
