// Retrieval evaluation: test collections (BEIR layout, plus converters for SciFact's raw files and
// Cranfield's SMART files), the standard metrics (nDCG@k with linear graded gains as BEIR and
// pytrec_eval compute it, recall@k, MRR@k), and runs through the real Store + Retriever.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "pocket/rag/retriever.h"

namespace pocket::rag::eval {

struct CorpusDoc {
    std::string id;
    std::string title;
    std::string text;
};

struct Query {
    std::string id;
    std::string text;
};

// query id -> document id -> gain (> 0 relevant; 0 judged non-relevant).
using Qrels = std::map<std::string, std::map<std::string, double>>;

struct Collection {
    std::vector<CorpusDoc> corpus;
    std::vector<Query> queries;  // only queries with at least one relevant document
    Qrels qrels;
};

// BEIR: corpus.jsonl {"_id","title","text"}, queries.jsonl {"_id","text"}, qrels TSV with a
// header line (query-id, corpus-id, score).
Collection load_beir(const std::filesystem::path& corpus, const std::filesystem::path& queries,
                     const std::filesystem::path& qrels);
// SciFact from its raw files in dir (corpus_train.csv, claims_*.csv, queries.jsonl,
// qrels_test.tsv). split "test": BEIR's test set (the validation claims, qrels_test.tsv);
// "train": the train claims with their evidence documents as relevant (what tuning uses).
Collection load_scifact(const std::filesystem::path& dir, std::string_view split);
// Cranfield from dir (cran.all.1400, cran.qry, cranqrel). Query ids are 1-based positions in
// cran.qry (what cranqrel uses); grades 1..4 (1 best) become gains 4..1, -1 is non-relevant.
Collection load_cranfield(const std::filesystem::path& dir);
// Writes corpus.jsonl, queries.jsonl, qrels.tsv into dir.
void write_beir(const Collection& c, const std::filesystem::path& dir);

// --- metrics on one ranked list of document ids ---
double ndcg_at(const std::vector<std::string>& ranking, const std::map<std::string, double>& rel,
               size_t k);
double recall_at(const std::vector<std::string>& ranking, const std::map<std::string, double>& rel,
                 size_t k);
double mrr_at(const std::vector<std::string>& ranking, const std::map<std::string, double>& rel,
              size_t k);

struct Metrics {
    double ndcg10 = 0, recall10 = 0, recall100 = 0, mrr10 = 0;
    size_t n_queries = 0;
};
// query id -> ranked document ids.
using Run = std::map<std::string, std::vector<std::string>>;
// Means over the collection's queries (a query missing from run scores 0).
Metrics evaluate(const Run& run, const Collection& c);

// Plain Okapi BM25 in memory (lower-cased alphanumeric words, no stemming or stop words, Lucene
// idf): the reference the known published figures were measured with; checks the metric code.
Run plain_bm25_run(const Collection& c, double k1 = 0.9, double b = 0.4, size_t depth = 100);

// The collection indexed into a store at db_path (one chunk per document: title, blank line,
// text; the title also as the document title), with embeddings when embedder is non-null.
class IndexedCollection {
  public:
    IndexedCollection(const Collection& c, const std::filesystem::path& db_path,
                      const embed::Embedder* embedder, const std::string& embed_model_name,
                      const StoreOptions& store_options = {});
    ~IndexedCollection();
    const Store& store() const { return *store_; }
    // Ranks every query with a Retriever over the store (depth 100).
    Run run(SearchMode mode, const RetrieverConfig& config) const;
    const Collection& collection() const { return collection_; }
    const embed::Embedder* embedder() const { return embedder_; }

  private:
    const Collection& collection_;
    const embed::Embedder* embedder_;
    std::unique_ptr<Store> store_;
};

// Fits RetrieverConfig's relevance logistic (bias, cosine, coverage weights) by maximum likelihood
// to the top-10 hybrid hits of every query, labelled relevant or not by the qrels.
struct RelevanceFit {
    double bias = 0, cosine = 0, coverage = 0;
    size_t n_hits = 0, n_relevant = 0;
};
RelevanceFit fit_relevance(const IndexedCollection& index, const Collection& c,
                           const RetrieverConfig& config);

}  // namespace pocket::rag::eval
