// Text embedders: a text in, one pooled vector out. Implementations: StaticEmbedder (Model2Vec
// style: a table of token vectors averaged over the text's tokens) and TransformerEmbedder (BERT
// and other GGUF transformers); open_embedder() is the one place that picks the implementation.
#pragma once

#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pocket/tokenizer/tokenizer.h"

namespace pocket::embed {

class Embedder {
  public:
    virtual ~Embedder();
    virtual size_t dim() const = 0;
    // The embedding of one text (L2-normalised when the model says so). Thread-safe.
    virtual std::vector<float> embed(std::string_view text) const = 0;
    // The embeddings of many texts, in order, spread over ThreadPool::global().
    virtual std::vector<std::vector<float>> embed_batch(std::span<const std::string> texts) const;
    // Tokens the text is embedded from (after any cut to the model's limit): what an API bills.
    virtual size_t count_tokens(std::string_view text) const = 0;
};

// What `path` is decides the implementation:
//  - a folder with model.safetensors and tokenizer.json (a Model2Vec / static model) -> static;
//  - a .gguf file whose general.architecture is "model2vec" (written by
//    StaticEmbedder::write_gguf) -> static;
//  - a .gguf of a transformer architecture pocket runs (bert, llama, qwen2, ...) -> transformer
//    embedder (pooling as the file says; decoders use the last token);
//  - anything else: throws pocket::Error saying what is supported.
std::unique_ptr<Embedder> open_embedder(const std::filesystem::path& path);

}  // namespace pocket::embed
