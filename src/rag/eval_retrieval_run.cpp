// Runs for retrieval evaluation: the plain in-memory BM25 reference, and the real Store +
// Retriever over a collection indexed one chunk per document.
#include <algorithm>
#include <cmath>
#include <unordered_map>

#include "pocket/core/error.h"
#include "pocket/embed/embedder.h"
#include "pocket/rag/analyzer.h"
#include "pocket/rag/eval_retrieval.h"

namespace pocket::rag::eval {

Run plain_bm25_run(const Collection& c, double k1, double b, size_t depth) {
    // term -> (doc index, tf) postings.
    std::unordered_map<std::string, std::vector<std::pair<size_t, int>>> postings;
    std::vector<double> len(c.corpus.size());
    for (size_t d = 0; d < c.corpus.size(); ++d) {
        std::unordered_map<std::string, int> tf;
        const auto words = split_words(c.corpus[d].title + "\n" + c.corpus[d].text);
        for (const auto& w : words) ++tf[w.term];
        len[d] = double(words.size());
        for (auto& [t, n] : tf) postings[t].push_back({d, n});
    }
    double avg = 0;
    for (double l : len) avg += l;
    avg = std::max(1.0, avg / double(std::max<size_t>(1, len.size())));
    const double N = double(c.corpus.size());
    Run run;
    std::vector<double> score(c.corpus.size());
    for (const auto& q : c.queries) {
        std::fill(score.begin(), score.end(), 0.0);
        std::vector<std::string> terms;
        for (auto& w : split_words(q.text)) terms.push_back(w.term);
        std::sort(terms.begin(), terms.end());
        terms.erase(std::unique(terms.begin(), terms.end()), terms.end());
        for (const auto& t : terms) {
            const auto it = postings.find(t);
            if (it == postings.end()) continue;
            const double n = double(it->second.size());
            const double idf = std::log(1.0 + (N - n + 0.5) / (n + 0.5));
            for (const auto& [d, tf] : it->second) {
                score[d] += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len[d] / avg));
            }
        }
        std::vector<size_t> order;
        for (size_t d = 0; d < score.size(); ++d) {
            if (score[d] > 0) order.push_back(d);
        }
        const size_t n = std::min(depth, order.size());
        std::partial_sort(
            order.begin(), order.begin() + static_cast<std::ptrdiff_t>(n), order.end(),
            [&](size_t x, size_t y) { return score[x] != score[y] ? score[x] > score[y] : x < y; });
        auto& ranking = run[q.id];
        for (size_t i = 0; i < n; ++i) ranking.push_back(c.corpus[order[i]].id);
    }
    return run;
}

IndexedCollection::IndexedCollection(const Collection& c, const std::filesystem::path& db_path,
                                     const embed::Embedder* embedder,
                                     const std::string& embed_model_name,
                                     const StoreOptions& store_options)
    : collection_(c), embedder_(embedder) {
    std::filesystem::remove(db_path);
    std::filesystem::remove(db_path.string() + "-wal");
    std::filesystem::remove(db_path.string() + "-shm");
    store_ = Store::open(db_path, store_options);
    StoreMeta meta;
    if (embedder) {
        meta.embed_model = embed_model_name;
        meta.embed_dim = static_cast<int64_t>(embedder->dim());
    }
    store_->set_meta(meta);
    // Embeddings in batches (spread over the thread pool), documents one transaction each, as the
    // indexer writes them.
    constexpr size_t kBatch = 256;
    for (size_t begin = 0; begin < c.corpus.size(); begin += kBatch) {
        const size_t end = std::min(c.corpus.size(), begin + kBatch);
        std::vector<std::string> texts;
        for (size_t i = begin; i < end; ++i) {
            const auto& d = c.corpus[i];
            texts.push_back(d.title.empty() ? d.text : d.title + "\n\n" + d.text);
        }
        std::vector<std::vector<float>> vecs;
        if (embedder) vecs = embedder->embed_batch(texts);
        for (size_t i = begin; i < end; ++i) {
            const auto& d = c.corpus[i];
            DocumentInfo info;
            info.path = d.id;
            info.content_hash = d.id;
            info.format = "txt";
            info.title = d.title;
            ChunkInfo chunk;
            chunk.text = std::move(texts[i - begin]);
            chunk.byte_end = static_cast<int64_t>(chunk.text.size());
            std::vector<std::vector<float>> one;
            if (embedder) one.push_back(std::move(vecs[i - begin]));
            store_->put_document(info, std::span(&chunk, 1), one);
        }
    }
}

IndexedCollection::~IndexedCollection() = default;

Run IndexedCollection::run(SearchMode mode, const RetrieverConfig& config) const {
    const Retriever retriever(*store_, embedder_, config);
    if (mode != SearchMode::Bm25 && retriever.fell_back_to_bm25()) {
        fail("eval-retrieval: mode ", search_mode_name(mode), " needs an embedding model");
    }
    Run run;
    for (const auto& q : collection_.queries) {
        auto& ranking = run[q.id];
        for (const auto& hit : retriever.search(q.text, {100, mode, false})) {
            ranking.push_back(hit.document.path);
        }
    }
    return run;
}

}  // namespace pocket::rag::eval
