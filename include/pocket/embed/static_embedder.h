// Static (Model2Vec) embedders: embedding(text) = mean of the table rows of the text's tokens
// (tokenized without special tokens, unknown tokens dropped, the first max_tokens kept), then
// L2-normalised when `normalize`. A text with no usable token embeds to the zero vector.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "pocket/embed/embedder.h"
#include "pocket/tokenizer/tokenizer.h"

namespace pocket::gguf {
class File;
}

namespace pocket::embed {

// GGUF layout written by write_gguf and read by from_gguf.
inline constexpr std::string_view kStaticArch = "model2vec";
inline constexpr std::string_view kStaticTableTensor = "token_embd.weight";
// The tokenizer travels as the verbatim tokenizer.json text (gguf-py's key for it), so loading
// the GGUF back tokenizes exactly like the original folder.
inline constexpr std::string_view kHfTokenizerKey = "tokenizer.huggingface.json";

class StaticEmbedder : public Embedder {
  public:
    // Model2Vec's limit: only the first 512 tokens of a text count.
    static constexpr size_t kDefaultMaxTokens = 512;

    // A Hugging Face folder: model.safetensors (tensor "embeddings" [n_vocab, dim] of I8, F16,
    // BF16, F32 or F64), tokenizer.json and optionally config.json ("normalize", default true).
    static std::unique_ptr<StaticEmbedder> open_hf(const std::filesystem::path& folder);
    static std::unique_ptr<StaticEmbedder> from_gguf(const gguf::File& file);

    size_t dim() const override { return dim_; }
    size_t n_vocab() const { return table_.size() / dim_; }
    bool normalize() const { return normalize_; }
    size_t max_tokens() const { return max_tokens_; }
    std::vector<float> embed(std::string_view text) const override;
    size_t count_tokens(std::string_view text) const override { return pooled_tokens(text).size(); }

    // The token ids that embed() averages.
    std::vector<TokenId> pooled_tokens(std::string_view text) const;
    const tokenizer::Tokenizer& tokenizer() const { return *tokenizer_; }
    std::span<const float> row(TokenId id) const;
    // The verbatim tokenizer.json text and the whole table (n_vocab x dim, row-major), for a
    // model file that carries the embedder inside it (the built-in guard classifier).
    const std::string& tokenizer_json() const { return tokenizer_json_; }
    std::span<const float> table() const { return table_; }

    // A small GGUF holding the table (F32) and the tokenizer; from_gguf reads it back.
    void write_gguf(const std::filesystem::path& path) const;

  private:
    StaticEmbedder(std::string tokenizer_json, std::vector<float> table, size_t dim, bool normalize,
                   std::string origin);

    std::string tokenizer_json_;
    std::unique_ptr<tokenizer::Tokenizer> tokenizer_;
    TokenId unk_ = kNoToken;
    std::vector<float> table_;  // n_vocab x dim, row-major
    size_t dim_ = 0;
    bool normalize_ = true;
    size_t max_tokens_ = kDefaultMaxTokens;
};

}  // namespace pocket::embed
