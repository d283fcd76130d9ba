// Retrieval metrics, as pytrec_eval computes them: linear gains, log2 discounts, ideal ranking
// from all judged relevant documents of the query.
#include <algorithm>
#include <cmath>

#include "pocket/rag/eval_retrieval.h"

namespace pocket::rag::eval {
namespace {

double gain_of(const std::map<std::string, double>& rel, const std::string& id) {
    const auto it = rel.find(id);
    return it == rel.end() ? 0.0 : std::max(0.0, it->second);
}

size_t n_relevant(const std::map<std::string, double>& rel) {
    return static_cast<size_t>(
        std::count_if(rel.begin(), rel.end(), [](const auto& kv) { return kv.second > 0; }));
}

}  // namespace

double ndcg_at(const std::vector<std::string>& ranking, const std::map<std::string, double>& rel,
               size_t k) {
    double dcg = 0;
    for (size_t i = 0; i < std::min(k, ranking.size()); ++i) {
        dcg += gain_of(rel, ranking[i]) / std::log2(double(i) + 2.0);
    }
    std::vector<double> ideal;
    for (const auto& [id, g] : rel) {
        if (g > 0) ideal.push_back(g);
    }
    std::sort(ideal.rbegin(), ideal.rend());
    double idcg = 0;
    for (size_t i = 0; i < std::min(k, ideal.size()); ++i) idcg += ideal[i] / std::log2(i + 2.0);
    return idcg > 0 ? dcg / idcg : 0.0;
}

double recall_at(const std::vector<std::string>& ranking, const std::map<std::string, double>& rel,
                 size_t k) {
    const size_t n = n_relevant(rel);
    if (n == 0) return 0;
    size_t found = 0;
    for (size_t i = 0; i < std::min(k, ranking.size()); ++i) {
        if (gain_of(rel, ranking[i]) > 0) ++found;
    }
    return double(found) / double(n);
}

double mrr_at(const std::vector<std::string>& ranking, const std::map<std::string, double>& rel,
              size_t k) {
    for (size_t i = 0; i < std::min(k, ranking.size()); ++i) {
        if (gain_of(rel, ranking[i]) > 0) return 1.0 / double(i + 1);
    }
    return 0;
}

Metrics evaluate(const Run& run, const Collection& c) {
    Metrics m;
    static const std::vector<std::string> empty;
    for (const auto& q : c.queries) {
        const auto rel = c.qrels.find(q.id);
        if (rel == c.qrels.end()) continue;
        const auto it = run.find(q.id);
        const auto& ranking = it == run.end() ? empty : it->second;
        m.ndcg10 += ndcg_at(ranking, rel->second, 10);
        m.recall10 += recall_at(ranking, rel->second, 10);
        m.recall100 += recall_at(ranking, rel->second, 100);
        m.mrr10 += mrr_at(ranking, rel->second, 10);
        ++m.n_queries;
    }
    if (m.n_queries > 0) {
        const double n = double(m.n_queries);
        m.ndcg10 /= n;
        m.recall10 /= n;
        m.recall100 /= n;
        m.mrr10 /= n;
    }
    return m;
}

}  // namespace pocket::rag::eval
