// Retrieval over a Store: lexical (BM25 over the FTS5 index), vector (embeddings, approximate
// nearest neighbours) or hybrid (the two fused). What `pocket search`, `pocket ask`, the server's
// /v1/rag/search and `pocket eval-retrieval` all call.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "pocket/rag/store.h"
#include "pocket/rag/vector_index.h"

namespace pocket::embed {
class Embedder;
}

namespace pocket::rag {

enum class SearchMode { Bm25, Vector, Hybrid };

// "bm25" | "vector" | "hybrid"; throws pocket::Error naming the valid values otherwise.
SearchMode parse_search_mode(std::string_view name);
std::string_view search_mode_name(SearchMode mode);

// How hybrid search fuses the two rankings. Both lists are cut to `candidates`; each candidate
// gets both scores (its exact cosine, its BM25 score or 0 when unmatched); each score is
// normalised per query and the two are mixed: (1 - vector_weight) * bm25' + vector_weight * cos'.
enum class ScoreNorm { MinMax, ZScore };

// Retrieval settings. The defaults are the values tuned on SciFact's train claims (docs/RAG.md).
struct RetrieverConfig {
    Bm25Params bm25;
    double vector_weight = 0.2;
    size_t candidates = 100;
    ScoreNorm norm = ScoreNorm::ZScore;
    size_t hnsw_threshold = 20000;  // exact cosine up to this many vectors, HNSW above
    // relevance = logistic(rel_bias + rel_cosine * cosine + rel_coverage * coverage), coverage
    // being the fraction of the query's distinct terms found in the chunk. `pocket ask`'s
    // don't-know thresholds were calibrated on exactly these values (docs/RAG.md, "Answering"):
    // change them only together with kDefaultMinRelevance. (A maximum-likelihood fit to
    // "top-10 hit is relevant" on SciFact train, eval-retrieval --fit-relevance, gives
    // -10.5 / 6.24 / 8.16: sharper, but it would shift every calibrated threshold.)
    double rel_bias = -4.0;
    double rel_cosine = 5.0;
    double rel_coverage = 4.0;
};

struct SearchOptions {
    int k = 10;
    SearchMode mode = SearchMode::Hybrid;
    // Fill SearchHit::snippet and ::relevance (what bulk evaluation skips to save time).
    bool details = true;
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
    std::string snippet;  // a window of the chunk with matched query terms marked [[like this]]
};

class Retriever {
  public:
    // embedder may be null: then only Bm25 works, and Hybrid/Vector fall back to Bm25 with
    // fell_back_to_bm25() true (the front ends say so). The embedder must be the one the store
    // was built with (checked against StoreMeta::embed_dim).
    Retriever(const Store& store, const embed::Embedder* embedder, RetrieverConfig config = {});
    ~Retriever();
    Retriever(const Retriever&) = delete;
    Retriever& operator=(const Retriever&) = delete;

    std::vector<SearchHit> search(std::string_view query, const SearchOptions& options) const;
    bool fell_back_to_bm25() const;
    const RetrieverConfig& config() const;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace pocket::rag
