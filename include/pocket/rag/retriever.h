// Retrieval over a Store: lexical (BM25 over the FTS5 index), vector (embeddings, approximate
// nearest neighbours) or hybrid (the two fused). What `pocket search`, `pocket ask`, the server's
// /v1/rag/search and `pocket eval-retrieval` all call.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "pocket/rag/store.h"

namespace pocket::embed {
class Embedder;
}

namespace pocket::rag {

enum class SearchMode { Bm25, Vector, Hybrid };

// "bm25" | "vector" | "hybrid"; throws pocket::Error naming the valid values otherwise.
SearchMode parse_search_mode(std::string_view name);
std::string_view search_mode_name(SearchMode mode);

struct SearchOptions {
    int k = 10;
    SearchMode mode = SearchMode::Hybrid;
};

struct SearchHit {
    ChunkInfo chunk;
    DocumentInfo document;
    double score = 0;         // the mode's ranking score (higher is better)
    double bm25_score = 0;    // 0 when the chunk was not matched lexically
    double vector_score = 0;  // cosine similarity; 0 when not scored by vectors
    // Relevance on a fixed scale (0..1) comparable across queries: what `ask` thresholds on to
    // decide that nothing relevant was found.
    double relevance = 0;
    std::string snippet;      // a window of the chunk with matched query terms marked [[like this]]
};

class Retriever {
  public:
    // embedder may be null: then only Bm25 works, and Hybrid/Vector fall back to Bm25 with
    // fell_back_to_bm25() true (the front ends say so). The embedder must be the one the store
    // was built with (checked against StoreMeta::embed_dim).
    Retriever(const Store& store, const embed::Embedder* embedder);
    ~Retriever();
    Retriever(const Retriever&) = delete;
    Retriever& operator=(const Retriever&) = delete;

    std::vector<SearchHit> search(std::string_view query, const SearchOptions& options) const;
    bool fell_back_to_bm25() const;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace pocket::rag
