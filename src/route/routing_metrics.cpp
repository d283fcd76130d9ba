#include "pocket/route/routing_metrics.h"

#include <algorithm>
#include <cmath>

#include "pocket/core/error.h"

namespace pocket::route {

namespace {

// The q-quantile of sorted values, linearly interpolated between order statistics (numpy's and
// pandas' default), which is how RouteLLM places its thresholds.
double quantile(const std::vector<double>& sorted, double q) {
    const double pos = q * static_cast<double>(sorted.size() - 1);
    const auto lo = static_cast<size_t>(std::floor(pos));
    const size_t hi = std::min(lo + 1, sorted.size() - 1);
    return sorted[lo] + (pos - static_cast<double>(lo)) * (sorted[hi] - sorted[lo]);
}

}  // namespace

RoutingMetrics evaluate_routing(std::span<const double> scores, std::span<const double> weak,
                                std::span<const double> strong, size_t bins) {
    if (scores.size() != weak.size() || scores.size() != strong.size())
        fail("evaluate_routing: ", scores.size(), " scores but ", weak.size(), " weak and ",
             strong.size(), " strong results");
    if (scores.empty()) fail("evaluate_routing: no prompts");
    if (bins < 1) fail("evaluate_routing: bins must be >= 1");
    const size_t n = scores.size();
    RoutingMetrics m;
    m.n = n;
    for (size_t i = 0; i < n; ++i) {
        if (!std::isfinite(scores[i]) || !std::isfinite(weak[i]) || !std::isfinite(strong[i]))
            fail("evaluate_routing: prompt ", i, " has a non-finite score or result");
        m.weak_mean += weak[i];
        m.strong_mean += strong[i];
    }
    m.weak_mean /= static_cast<double>(n);
    m.strong_mean /= static_cast<double>(n);
    const double gap = m.strong_mean - m.weak_mean;
    if (gap == 0.0)
        fail("evaluate_routing: the weak and strong models perform the same on average (",
             m.weak_mean, "), so no gap can be recovered");

    std::vector<double> sorted(scores.begin(), scores.end());
    std::sort(sorted.begin(), sorted.end());
    for (size_t b = 0; b <= bins; ++b) {
        const double t = quantile(sorted, static_cast<double>(b) / static_cast<double>(bins));
        const bool last = b == bins;
        size_t routed = 0;
        double total = 0;
        for (size_t i = 0; i < n; ++i) {
            const bool strong_one = last ? scores[i] > t : scores[i] >= t;
            routed += strong_one;
            total += strong_one ? strong[i] : weak[i];
        }
        m.curve.emplace_back(static_cast<double>(routed) / static_cast<double>(n),
                             total / static_cast<double>(n));
    }
    std::stable_sort(m.curve.begin(), m.curve.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });

    // Trapezoids over the share; the weak and strong "curves" span the same share range, so the
    // ratio of areas above the weak line is the mean gap recovered.
    double area = 0;
    for (size_t k = 1; k < m.curve.size(); ++k)
        area += 0.5 * (m.curve[k].second + m.curve[k - 1].second) *
                (m.curve[k].first - m.curve[k - 1].first);
    const double span = m.curve.back().first - m.curve.front().first;
    m.apgr = span > 0 ? (area - m.weak_mean * span) / (gap * span) : 0.0;

    const auto cpt = [&](double fraction) {
        const double target = m.weak_mean + fraction * gap;
        const auto reached = [&](double v) { return gap > 0 ? v >= target : v <= target; };
        for (size_t k = 0; k < m.curve.size(); ++k) {
            if (!reached(m.curve[k].second)) continue;
            if (k == 0) return m.curve[0].first;
            const auto [x0, y0] = m.curve[k - 1];
            const auto [x1, y1] = m.curve[k];
            return y1 == y0 ? x1 : x0 + (target - y0) / (y1 - y0) * (x1 - x0);
        }
        return 1.0;
    };
    m.cpt50 = cpt(0.5);
    m.cpt80 = cpt(0.8);
    return m;
}

}  // namespace pocket::route
