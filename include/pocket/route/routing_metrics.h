// Router quality as RouteLLM (Ong et al., 2024) measures it. A router's scores are cut at the
// quantiles of 10 equal bins (11 thresholds); at each threshold the prompts scoring >= it go to
// the strong model (at the largest, only those scoring above it, i.e. none), which gives a curve
// of (strong share, mean performance) from (0, weak mean) to (1, strong mean).
//  - APGR, the average performance gap recovered: the area under that curve above the weak
//    model's, divided by the strong model's area above the weak model's (trapezoids over the
//    share). Random routing scores 0.5 in expectation; an oracle close to 1 or above.
//  - CPT(x): the strong share at which the curve, linearly interpolated, first recovers x of the
//    gap (mean >= weak + x (strong - weak)).
#pragma once

#include <cstddef>
#include <span>
#include <utility>
#include <vector>

namespace pocket::route {

struct RoutingMetrics {
    double apgr = 0;
    double cpt50 = 0;  // share in [0, 1]
    double cpt80 = 0;
    size_t n = 0;
    double weak_mean = 0;
    double strong_mean = 0;
    std::vector<std::pair<double, double>> curve;  // (strong share, mean performance), by share
};

// scores: the router's score per prompt (higher = strong); weak / strong: each model's
// performance on that prompt. Throws pocket::Error on mismatched sizes, no prompts, non-finite
// values, or a zero gap between the two models' means (APGR is undefined then).
RoutingMetrics evaluate_routing(std::span<const double> scores, std::span<const double> weak,
                                std::span<const double> strong, size_t bins = 10);

}  // namespace pocket::route
