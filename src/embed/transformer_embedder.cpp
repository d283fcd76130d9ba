#include "pocket/embed/transformer_embedder.h"

#include <cmath>

#include "pocket/core/error.h"
#include "pocket/tokenizer/tokenizer.h"

namespace pocket::embed {
namespace {

constexpr int64_t kBatchTokens = 512;

void l2_normalise(std::vector<float>& v) {
    double sum = 0.0;
    for (float x : v) sum += static_cast<double>(x) * x;
    if (sum <= 0.0) return;
    const double inv = 1.0 / std::sqrt(sum);
    for (float& x : v) x = static_cast<float>(x * inv);
}

}  // namespace

TransformerEmbedder::TransformerEmbedder(std::unique_ptr<model::Model> model)
    : model_(std::move(model)),
      // Encoders have a fixed table of absolute positions; decoders are bounded by the batch.
      max_tokens_(std::min<int64_t>(model_->hparams().n_ctx_train, kBatchTokens)),
      context_(*model_, {.n_ctx = kBatchTokens, .n_batch = kBatchTokens}) {}

std::unique_ptr<TransformerEmbedder> TransformerEmbedder::open(
    const std::filesystem::path& gguf_path) {
    return std::make_unique<TransformerEmbedder>(model::Model::load(gguf_path));
}

size_t TransformerEmbedder::dim() const {
    return static_cast<size_t>(model_->hparams().n_embd);
}

std::vector<TokenId> TransformerEmbedder::tokenize(std::string_view text) const {
    const auto& tok = model_->tokenizer();
    std::vector<TokenId> ids =
        tok.encode(text, /*add_special=*/true, /*parse_special=*/false);
    if (static_cast<int64_t>(ids.size()) > max_tokens_) {
        // Keep the end marker ([SEP] / EOS) the model was trained to see last.
        const TokenId last = ids.back();
        const bool keep_last = last == tok.eos() || last == tok.vocab().special().sep;
        ids.resize(static_cast<size_t>(max_tokens_));
        if (keep_last) ids.back() = last;
    }
    if (ids.empty()) fail("text produced no tokens to embed");
    return ids;
}

std::vector<float> TransformerEmbedder::embed(std::string_view text) const {
    const std::string copy(text);
    return embed_batch(std::span<const std::string>(&copy, 1)).front();
}

std::vector<std::vector<float>> TransformerEmbedder::embed_batch(
    std::span<const std::string> texts) const {
    std::vector<std::vector<TokenId>> tokens;
    tokens.reserve(texts.size());
    for (const auto& t : texts) tokens.push_back(tokenize(t));

    const auto pooling = model_->hparams().pooling;
    const size_t n_embd = dim();
    std::vector<std::vector<float>> out(texts.size());
    std::lock_guard lock(mutex_);
    for (size_t first = 0; first < texts.size();) {
        // Fill one batch with whole texts; each text is its own sequence starting at position 0,
        // so encoders see every token of a text in the same pass.
        std::vector<model::BatchEntry> batch;
        size_t last = first;
        while (last < texts.size() &&
               static_cast<int64_t>(batch.size() + tokens[last].size()) <= kBatchTokens) {
            const auto& ids = tokens[last];
            for (size_t i = 0; i < ids.size(); ++i) {
                batch.push_back({ids[i], static_cast<int64_t>(i),
                                 static_cast<model::SeqId>(last - first), true});
            }
            ++last;
        }
        context_.kv().clear_all();
        context_.decode(batch);
        size_t row = 0;
        for (size_t t = first; t < last; ++t) {
            const size_t n = tokens[t].size();
            std::vector<double> acc(n_embd, 0.0);
            auto add = [&](size_t r, double weight) {
                const auto e = context_.embedding(r);
                for (size_t i = 0; i < n_embd; ++i) acc[i] += weight * e[i];
            };
            switch (pooling) {
                case model::Pooling::Mean:
                    for (size_t i = 0; i < n; ++i) add(row + i, 1.0 / static_cast<double>(n));
                    break;
                case model::Pooling::Cls:
                    add(row, 1.0);
                    break;
                default:  // None/Last: the last token's state, as causal embedding models use
                    add(row + n - 1, 1.0);
                    break;
            }
            out[t].assign(acc.begin(), acc.end());
            l2_normalise(out[t]);
            row += n;
        }
        first = last;
    }
    return out;
}

}  // namespace pocket::embed
