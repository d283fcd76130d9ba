// The candidate list every sampling step works on: (token id, logit, probability) for each token
// still in the running. It starts as the whole vocabulary in id order; steps change logits
// (penalties, bias, constraints, temperature), reorder (sort by logit) or drop entries (top-k,
// top-p, min-p), and the pick draws one of what is left.
//
// The list keeps its buffer between calls, so a Sampler allocates only on its first call.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "pocket/core/token.h"

namespace pocket {

struct Candidate {
    TokenId id = 0;
    float logit = 0.0f;
    float prob = 0.0f;  // only valid right after compute_probs()
};

// The order every step agrees on: higher logit first, and on equal logits the lower token id, so
// sorting (and therefore sampling) never depends on how a standard library breaks ties.
inline bool ranks_before(const Candidate& a, const Candidate& b) {
    if (a.logit != b.logit) return a.logit > b.logit;
    return a.id < b.id;
}

class CandidateList {
  public:
    // Refills the list with one candidate per logit (id = index), reusing the buffer.
    // Throws pocket::Error on NaN or +infinity: they would make sorting and softmax meaningless,
    // and they mean the model is broken. -infinity is allowed (a token masked out).
    void assign(std::span<const float> logits);

    // Test convenience: exactly these candidates, in this order.
    void assign(std::span<const Candidate> candidates);

    size_t size() const { return items_.size(); }
    bool empty() const { return items_.empty(); }

    std::span<const Candidate> items() const { return items_; }
    const Candidate& operator[](size_t i) const { return items_[i]; }

    // Write access for steps that change logits or reorder; the list stops counting as sorted.
    std::span<Candidate> mutable_items() {
        sorted_prefix_ = 0;
        return items_;
    }

    // True when all entries are known to be in ranks_before order.
    bool sorted() const { return sorted_prefix_ == items_.size(); }
    // How many leading entries are known to be the best ones, in ranks_before order.
    size_t sorted_prefix() const { return sorted_prefix_; }
    void sort() { sort_prefix(items_.size()); }
    // Moves the k best entries to the front, in order; the rest stay behind in no order. Costs
    // O(n log k) for small k (one comparison per entry for most of them), so a top-40 of a
    // 150k vocabulary does not pay for a full sort.
    void sort_prefix(size_t k);
    // Drops everything from index n on (order is kept, so a sorted prefix stays sorted).
    void truncate(size_t n);
    // Multiplies every logit by factor (> 0), which keeps the order.
    void scale_logits(float factor);
    // Keeps the entries for which keep(candidate) is true, in their current order.
    template <typename Predicate>
    void keep_if(Predicate keep) {
        size_t out = 0, prefix = 0;
        for (size_t i = 0; i < items_.size(); ++i) {
            if (!keep(items_[i])) continue;
            // What survives of the sorted prefix is still the best of what remains, in order.
            if (i < sorted_prefix_) ++prefix;
            items_[out++] = items_[i];
        }
        items_.resize(out);
        sorted_prefix_ = prefix;
    }

    // Softmax over the current entries into Candidate::prob (max-subtracted, summed in double).
    // Throws pocket::Error when the list is empty or every logit is -infinity.
    void compute_probs();

  private:
    std::vector<Candidate> items_;
    size_t sorted_prefix_ = 0;
};

}  // namespace pocket
