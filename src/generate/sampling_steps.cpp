#include "pocket/generate/sampling_steps.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "pocket/core/error.h"

namespace pocket {
namespace {

constexpr float kMasked = -std::numeric_limits<float>::infinity();

}  // namespace

void apply_logit_bias(CandidateList& candidates, std::span<const LogitBias> biases) {
    if (biases.empty() || candidates.empty()) return;
    std::span<Candidate> items = candidates.mutable_items();
    for (const LogitBias& b : biases) {
        // Fast path: before any reordering candidate i is token i.
        const auto index = static_cast<size_t>(b.token);
        if (b.token >= 0 && index < items.size() && items[index].id == b.token) {
            items[index].logit += b.bias;
            continue;
        }
        for (Candidate& c : items) {
            if (c.id == b.token) {
                c.logit += b.bias;
                break;
            }
        }
    }
}

void apply_penalties(CandidateList& candidates, std::span<const int32_t> counts_by_token,
                     float repeat, float frequency, float presence) {
    if (counts_by_token.empty()) return;
    if (repeat == 1.0f && frequency == 0.0f && presence == 0.0f) return;
    for (Candidate& c : candidates.mutable_items()) {
        const auto id = static_cast<size_t>(c.id);
        const int32_t count = id < counts_by_token.size() ? counts_by_token[id] : 0;
        if (count <= 0) continue;
        // Dividing a negative logit would raise it, so negative logits are multiplied instead.
        c.logit = c.logit <= 0.0f ? c.logit * repeat : c.logit / repeat;
        c.logit -= static_cast<float>(count) * frequency + presence;
    }
}

void drop_masked(CandidateList& candidates) {
    candidates.keep_if([](const Candidate& c) { return c.logit != kMasked; });
}

void keep_top_k(CandidateList& candidates, int32_t k) {
    if (k <= 0 || static_cast<size_t>(k) >= candidates.size()) return;
    candidates.sort_prefix(static_cast<size_t>(k));
    candidates.truncate(static_cast<size_t>(k));
}

void keep_top_p(CandidateList& candidates, float p) {
    if (p >= 1.0f || candidates.empty()) return;
    // The softmax does not depend on the order, so it comes first; then the best entries are put
    // in order only as far as the walk needs them: the nucleus is usually a few dozen tokens, and
    // sorting a whole 150k vocabulary for it would cost milliseconds per token.
    candidates.compute_probs();
    double cumulative = 0.0;
    size_t walked = 0;
    size_t ordered = std::min<size_t>(candidates.size(), 64);
    for (;;) {
        candidates.sort_prefix(ordered);
        const std::span<const Candidate> items = candidates.items();
        for (; walked < ordered; ++walked) {
            cumulative += items[walked].prob;
            if (cumulative >= p) {
                candidates.truncate(walked + 1);
                return;
            }
        }
        if (ordered == candidates.size()) return;  // rounding kept the sum below p: keep all
        ordered = std::min(candidates.size(), ordered * 4);
    }
}

void keep_min_p(CandidateList& candidates, float p) {
    if (p <= 0.0f || candidates.empty()) return;
    float max_logit = kMasked;
    for (const Candidate& c : candidates.items()) max_logit = std::max(max_logit, c.logit);
    // p_i >= p * p_max  <=>  exp(l_i - l_max) >= p  <=>  l_i >= l_max + ln p; no softmax needed.
    const float threshold = max_logit + std::log(p);
    candidates.keep_if([threshold](const Candidate& c) { return c.logit >= threshold; });
}

void apply_temperature(CandidateList& candidates, float temperature) {
    if (!(temperature > 0.0f)) fail("sampling: temperature must be > 0, got ", temperature);
    candidates.scale_logits(1.0f / temperature);
}

TokenId pick_greedy(const CandidateList& candidates) {
    if (candidates.empty()) fail("sampling: no candidate tokens left");
    const Candidate* best = &candidates[0];
    for (const Candidate& c : candidates.items()) {
        if (c.logit > best->logit || (c.logit == best->logit && c.id < best->id)) best = &c;
    }
    if (best->logit == kMasked) {
        fail("sampling: all ", candidates.size(), " candidate tokens are masked out");
    }
    return best->id;
}

TokenId pick_from_distribution(CandidateList& candidates, Rng& rng) {
    candidates.compute_probs();
    const double draw = rng.uniform01();
    double cumulative = 0.0;
    const Candidate* last_possible = nullptr;
    for (const Candidate& c : candidates.items()) {
        if (c.prob <= 0.0f) continue;  // masked or underflowed: never picked
        cumulative += c.prob;
        last_possible = &c;
        if (draw < cumulative) return c.id;
    }
    // The probabilities summed to slightly under 1 and the draw fell in that gap.
    return last_possible->id;
}

}  // namespace pocket
