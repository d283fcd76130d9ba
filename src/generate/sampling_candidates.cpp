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
    sorted_ = false;
}

void CandidateList::assign(std::span<const Candidate> candidates) {
    items_.assign(candidates.begin(), candidates.end());
    sorted_ = false;
}

void CandidateList::sort() {
    if (sorted_) return;
    std::sort(items_.begin(), items_.end(), ranks_before);
    sorted_ = true;
}

void CandidateList::keep_best(size_t k) {
    if (k > items_.size()) fail("sampling: keep_best(", k, ") on ", items_.size(), " candidates");
    if (!sorted_) {
        // nth_element + sorting the k winners is O(n + k log k); a full sort would be O(n log n).
        if (k < items_.size()) {
            std::nth_element(items_.begin(), items_.begin() + static_cast<ptrdiff_t>(k),
                             items_.end(), ranks_before);
        }
        std::sort(items_.begin(), items_.begin() + static_cast<ptrdiff_t>(k), ranks_before);
        sorted_ = true;
    }
    items_.resize(k);
}

void CandidateList::truncate(size_t n) {
    if (n < items_.size()) items_.resize(n);
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
