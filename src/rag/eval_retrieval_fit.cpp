// Calibration of SearchHit::relevance: logistic regression (Newton's method on three weights) of
// "this top-10 hybrid hit is relevant" on the hit's cosine and query-term coverage. The features
// are read back from the hits: relevance = logistic(z), so z is recovered exactly from any known
// weights; here the retriever runs with weights (0, 1, 0) and (0, 0, 1) to read each feature.
#include <array>
#include <cmath>

#include "pocket/core/error.h"
#include "pocket/rag/eval_retrieval.h"

namespace pocket::rag::eval {

RelevanceFit fit_relevance(const IndexedCollection& index, const Collection& c,
                           const RetrieverConfig& config) {
    if (index.embedder() == nullptr) fail("eval-retrieval: fitting relevance needs an embedder");
    auto probe = [&](double w_cos, double w_cov) {
        RetrieverConfig cfg = config;
        cfg.rel_bias = 0;
        cfg.rel_cosine = w_cos;
        cfg.rel_coverage = w_cov;
        return Retriever(index.store(), index.embedder(), cfg);
    };
    const auto by_cos = probe(1, 0), by_cov = probe(0, 1);
    auto logit = [](double p) { return std::log(p / (1 - p)); };
    std::vector<std::array<double, 3>> x;  // 1, cosine, coverage
    std::vector<double> y;
    for (const auto& q : c.queries) {
        const auto a = by_cos.search(q.text, {10, SearchMode::Hybrid});
        const auto b = by_cov.search(q.text, {10, SearchMode::Hybrid});
        const auto& rel = c.qrels.at(q.id);
        for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
            x.push_back({1.0, logit(a[i].relevance), logit(b[i].relevance)});
            const auto it = rel.find(a[i].document.path);
            y.push_back(it != rel.end() && it->second > 0 ? 1.0 : 0.0);
        }
    }
    std::array<double, 3> w{0, 0, 0};
    for (int iter = 0; iter < 50; ++iter) {
        std::array<double, 3> g{};
        std::array<std::array<double, 3>, 3> h{};
        for (size_t n = 0; n < x.size(); ++n) {
            const double z = w[0] * x[n][0] + w[1] * x[n][1] + w[2] * x[n][2];
            const double p = 1 / (1 + std::exp(-z));
            for (int i = 0; i < 3; ++i) {
                g[i] += (y[n] - p) * x[n][i];
                for (int j = 0; j < 3; ++j) h[i][j] += p * (1 - p) * x[n][i] * x[n][j];
            }
        }
        for (int i = 0; i < 3; ++i) h[i][i] += 1e-6;
        // Solve h d = g (3x3, Gaussian elimination).
        auto a = h;
        auto d = g;
        for (int col = 0; col < 3; ++col) {
            for (int row = col + 1; row < 3; ++row) {
                const double f = a[row][col] / a[col][col];
                for (int k = col; k < 3; ++k) a[row][k] -= f * a[col][k];
                d[row] -= f * d[col];
            }
        }
        for (int row = 2; row >= 0; --row) {
            for (int k = row + 1; k < 3; ++k) d[row] -= a[row][k] * d[k];
            d[row] /= a[row][row];
        }
        for (int i = 0; i < 3; ++i) w[i] += d[i];
    }
    RelevanceFit fit{w[0], w[1], w[2], y.size(), 0};
    for (double v : y) fit.n_relevant += v > 0 ? 1 : 0;
    return fit;
}

}  // namespace pocket::rag::eval
