// Embeddings from a transformer loaded from GGUF: BERT-style encoders (mean/CLS pooling as the
// file's pooling_type says) and decoder models (last-token pooling). Texts are evaluated together
// as separate sequences of one batch, then pooled and L2-normalised.
#pragma once

#include <filesystem>
#include <memory>
#include <mutex>

#include "pocket/embed/embedder.h"
#include "pocket/model/context.h"
#include "pocket/model/model.h"

namespace pocket::embed {

class TransformerEmbedder : public Embedder {
  public:
    explicit TransformerEmbedder(std::unique_ptr<model::Model> model);
    static std::unique_ptr<TransformerEmbedder> open(const std::filesystem::path& gguf_path);

    size_t dim() const override;
    std::vector<float> embed(std::string_view text) const override;
    // One forward pass per group of texts that fits the batch; the pool works inside each pass.
    std::vector<std::vector<float>> embed_batch(std::span<const std::string> texts) const override;
    size_t count_tokens(std::string_view text) const override { return tokenize(text).size(); }

    // Most tokens of one text that are embedded (longer texts are cut, keeping the end marker).
    int64_t max_tokens() const { return max_tokens_; }

  private:
    std::vector<TokenId> tokenize(std::string_view text) const;

    std::unique_ptr<model::Model> model_;
    int64_t max_tokens_;
    mutable std::mutex mutex_;  // the context is single-threaded; calls take turns
    mutable model::Context context_;
};

}  // namespace pocket::embed
