// Retriever: BM25 from the store's FTS5 index, cosine from the VectorIndex, and their fusion.
#include "pocket/rag/retriever.h"

#include <algorithm>
#include <cmath>
#include <mutex>
#include <set>
#include <unordered_map>

#include "pocket/core/error.h"
#include "pocket/embed/embedder.h"
#include "pocket/rag/analyzer.h"
#include "snippet.h"

namespace pocket::rag {

SearchMode parse_search_mode(std::string_view name) {
    if (name == "bm25") return SearchMode::Bm25;
    if (name == "vector") return SearchMode::Vector;
    if (name == "hybrid") return SearchMode::Hybrid;
    fail("unknown search mode '", name, "' (valid: bm25, vector, hybrid)");
}

std::string_view search_mode_name(SearchMode mode) {
    switch (mode) {
        case SearchMode::Bm25:
            return "bm25";
        case SearchMode::Vector:
            return "vector";
        case SearchMode::Hybrid:
            return "hybrid";
    }
    return "?";
}

namespace {

// Relevance without vectors (a lexical-only store, or bm25 mode) stands in this cosine, a typical
// one for a relevant hit, so coverage alone decides on the same scale.
constexpr double kLexicalOnlyCosine = 0.45;

struct Candidate {
    int64_t chunk_id = 0;
    double bm25 = 0;
    double cosine = 0;
    double score = 0;
};

// Per-query normalisation of one score over the candidate list, so the two scales can be mixed.
void normalise(std::vector<double>& xs, ScoreNorm norm) {
    if (xs.empty()) return;
    if (norm == ScoreNorm::MinMax) {
        const auto [lo, hi] = std::minmax_element(xs.begin(), xs.end());
        const double a = *lo, range = *hi - *lo;
        for (double& x : xs) x = range > 0 ? (x - a) / range : 0.0;
        return;
    }
    double mean = 0, var = 0;
    for (double x : xs) mean += x;
    mean /= double(xs.size());
    for (double x : xs) var += (x - mean) * (x - mean);
    const double sd = std::sqrt(var / double(xs.size()));
    for (double& x : xs) x = sd > 0 ? (x - mean) / sd : 0.0;
}

}  // namespace

struct Retriever::Impl {
    Impl(const Store& s, const embed::Embedder* e, RetrieverConfig c)
        : store(s), embedder(e), config(c) {}
    const Store& store;
    const embed::Embedder* embedder;
    RetrieverConfig config;
    bool vectors_usable = false;
    mutable std::once_flag index_once;
    mutable std::unique_ptr<VectorIndex> index;

    const VectorIndex& vectors() const {
        std::call_once(index_once, [&] {
            index = std::make_unique<VectorIndex>(store, config.hnsw_threshold);
        });
        return *index;
    }

    std::vector<Candidate> rank(std::string_view query, SearchMode mode, size_t k) const {
        std::vector<Candidate> out;
        if (mode == SearchMode::Bm25) {
            for (const auto& s : store.lexical_search(query, k, config.bm25)) {
                out.push_back({s.chunk_id, s.score, 0, s.score});
            }
            return out;
        }
        const auto qv = embedder->embed(query);
        const auto& index = vectors();
        if (mode == SearchMode::Vector) {
            for (const auto& h : index.search(qv, k)) {
                out.push_back({h.chunk_id, 0, h.cosine, h.cosine});
            }
            return out;
        }
        const size_t depth = std::max(k, config.candidates);
        std::unordered_map<int64_t, Candidate> pool;
        for (const auto& s : store.lexical_search(query, depth, config.bm25)) {
            pool[s.chunk_id] = {s.chunk_id, s.score, 0, 0};
        }
        for (const auto& h : index.search(qv, depth)) pool[h.chunk_id].chunk_id = h.chunk_id;
        out.reserve(pool.size());
        for (auto& [id, c] : pool) {
            c.cosine = index.cosine(id, qv).value_or(0.0);
            out.push_back(c);
        }
        std::vector<double> b, v;
        for (const auto& c : out) {
            b.push_back(c.bm25);
            v.push_back(c.cosine);
        }
        normalise(b, config.norm);
        normalise(v, config.norm);
        const double w = config.vector_weight;
        for (size_t i = 0; i < out.size(); ++i) out[i].score = (1 - w) * b[i] + w * v[i];
        const auto better = [](const Candidate& x, const Candidate& y) {
            return x.score != y.score ? x.score > y.score : x.chunk_id < y.chunk_id;
        };
        const size_t n = std::min(k, out.size());
        std::partial_sort(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(n), out.end(),
                          better);
        out.resize(n);
        return out;
    }
};

Retriever::Retriever(const Store& store, const embed::Embedder* embedder, RetrieverConfig config)
    : impl_(std::make_unique<Impl>(store, embedder, config)) {
    if (embedder == nullptr) return;
    const auto meta = store.meta();
    if (meta.embed_dim == 0) return;  // a lexical-only store
    if (static_cast<int64_t>(embedder->dim()) != meta.embed_dim) {
        fail("rag store ", store.path().string(), ": built with embeddings of ", meta.embed_dim,
             " dimensions (", meta.embed_model, "), but the embedder gives ", embedder->dim());
    }
    impl_->vectors_usable = true;
}

Retriever::~Retriever() = default;

bool Retriever::fell_back_to_bm25() const {
    return !impl_->vectors_usable;
}
const RetrieverConfig& Retriever::config() const {
    return impl_->config;
}

std::vector<SearchHit> Retriever::search(std::string_view query,
                                         const SearchOptions& options) const {
    const auto& cfg = impl_->config;
    const SearchMode mode = impl_->vectors_usable ? options.mode : SearchMode::Bm25;
    const size_t k = static_cast<size_t>(std::max(0, options.k));
    std::set<std::string> terms;
    for (auto& t : analyze(query)) terms.insert(std::move(t.term));
    std::vector<SearchHit> hits;
    std::unordered_map<int64_t, DocumentInfo> docs;
    for (const auto& c : impl_->rank(query, mode, k)) {
        SearchHit h;
        auto chunk = impl_->store.chunk(c.chunk_id);
        if (!chunk) continue;  // removed since the index was read
        h.chunk = std::move(*chunk);
        auto it = docs.find(h.chunk.document_id);
        if (it == docs.end()) {
            it = docs.emplace(h.chunk.document_id,
                              impl_->store.document(h.chunk.document_id).value_or(DocumentInfo{}))
                     .first;
        }
        h.document = it->second;
        h.score = c.score;
        h.bm25_score = c.bm25;
        h.vector_score = c.cosine;
        if (!options.details) {
            hits.push_back(std::move(h));
            continue;
        }
        const double coverage = term_coverage(h.chunk.text + "\n" + h.document.title, terms);
        const double z =
            impl_->vectors_usable && mode != SearchMode::Bm25
                ? cfg.rel_bias + cfg.rel_cosine * c.cosine + cfg.rel_coverage * coverage
                : cfg.rel_bias + cfg.rel_cosine * kLexicalOnlyCosine + cfg.rel_coverage * coverage;
        h.relevance = 1.0 / (1.0 + std::exp(-z));
        h.snippet = make_snippet(h.chunk.text, terms);
        hits.push_back(std::move(h));
    }
    return hits;
}

}  // namespace pocket::rag
