#include "pocket/generate/sampling_candidates.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "pocket/core/error.h"

namespace pocket {

void CandidateList::assign(std::span<const float> logits) {
    items_.resize(logits.size());
    for (size_t i = 0; i < logits.size(); ++i) {
        const float logit = logits[i];
        if (std::isnan(logit) || logit == std::numeric_limits<float>::infinity()) {
            fail("sampling: logit of token ", i, " is ", logit,
                 " (the model produced a non-finite value)");
        }
        items_[i] = Candidate{static_cast<TokenId>(i), logit, 0.0f};
    }
    sorted_prefix_ = 0;
}

void CandidateList::assign(std::span<const Candidate> candidates) {
    items_.assign(candidates.begin(), candidates.end());
    sorted_prefix_ = 0;
}

void CandidateList::sort_prefix(size_t k) {
    const size_t n = items_.size();
    k = std::min(k, n);
    if (k <= sorted_prefix_) return;
    const auto first = items_.begin();
    const auto middle = first + static_cast<ptrdiff_t>(k);
    if (k == n) {
        std::sort(first, items_.end(), ranks_before);
    } else if (k * 16 <= n) {
        // Selection with a heap of the k best so far, its worst entry on top: most entries lose
        // against that one comparison and cost nothing more.
        std::make_heap(first, middle, ranks_before);
        for (auto it = middle; it != items_.end(); ++it) {
            if (!ranks_before(*it, *first)) continue;
            std::pop_heap(first, middle, ranks_before);
            std::swap(*(middle - 1), *it);
            std::push_heap(first, middle, ranks_before);
        }
        std::sort_heap(first, middle, ranks_before);
    } else {
        std::nth_element(first, middle, items_.end(), ranks_before);
        std::sort(first, middle, ranks_before);
    }
    sorted_prefix_ = k;
}

void CandidateList::truncate(size_t n) {
    if (n < items_.size()) items_.resize(n);
    sorted_prefix_ = std::min(sorted_prefix_, items_.size());
}

void CandidateList::scale_logits(float factor) {
    for (Candidate& c : items_) c.logit *= factor;
}

void CandidateList::compute_probs() {
    if (items_.empty()) fail("sampling: no candidate tokens left");
    float max_logit = -std::numeric_limits<float>::infinity();
    for (const Candidate& c : items_) max_logit = std::max(max_logit, c.logit);
    if (max_logit == -std::numeric_limits<float>::infinity()) {
        fail("sampling: all ", items_.size(), " candidate tokens are masked out");
    }
    if (max_logit == std::numeric_limits<float>::infinity()) {
        // Only reachable through a tiny temperature overflowing a logit: the limit of the softmax
        // is uniform over the overflowed tokens, and computing it directly avoids inf - inf.
        size_t n_top = 0;
        for (const Candidate& c : items_) n_top += c.logit == max_logit ? 1 : 0;
        for (Candidate& c : items_) c.prob = c.logit == max_logit ? 1.0f / n_top : 0.0f;
        return;
    }
    double sum = 0.0;
    for (Candidate& c : items_) {
        c.prob = std::exp(c.logit - max_logit);
        sum += c.prob;
    }
    // sum >= 1: the max itself contributes exp(0) = 1.
    const double inv = 1.0 / sum;
    for (Candidate& c : items_) c.prob = static_cast<float>(c.prob * inv);
}

}  // namespace pocket
