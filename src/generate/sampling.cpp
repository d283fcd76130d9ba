#include "pocket/generate/sampling.h"

#include <cmath>
#include <random>
#include <utility>

#include "pocket/core/error.h"

namespace pocket {
namespace {

void validate(const SamplingParams& p) {
    if (std::isnan(p.temperature)) fail("sampling: temperature is NaN");
    if (!(p.top_p > 0.0f && p.top_p <= 1.0f))
        fail("sampling: top_p must be in (0, 1], got ", p.top_p);
    if (!(p.min_p >= 0.0f && p.min_p <= 1.0f))
        fail("sampling: min_p must be in [0, 1], got ", p.min_p);
    if (!(p.repeat_penalty > 0.0f && std::isfinite(p.repeat_penalty))) {
        fail("sampling: repeat_penalty must be a positive number, got ", p.repeat_penalty);
    }
    if (!std::isfinite(p.frequency_penalty)) fail("sampling: frequency_penalty is not finite");
    if (!std::isfinite(p.presence_penalty)) fail("sampling: presence_penalty is not finite");
    if (p.repeat_last_n < -1) {
        fail("sampling: repeat_last_n must be >= -1 (-1 = all), got ", p.repeat_last_n);
    }
    for (const LogitBias& b : p.logit_bias) {
        if (b.token < 0) fail("sampling: logit bias for negative token id ", b.token);
        if (std::isnan(b.bias) || b.bias == std::numeric_limits<float>::infinity()) {
            fail("sampling: logit bias for token ", b.token, " is ", b.bias,
                 " (use -infinity to ban, a finite value to bias)");
        }
    }
}

uint64_t resolve_seed(uint64_t seed) {
    if (seed != SamplingParams::kRandomSeed) return seed;
    std::random_device device;
    return (static_cast<uint64_t>(device()) << 32) ^ device();
}

}  // namespace

SamplingParams SamplingParams::greedy() {
    SamplingParams p;
    p.temperature = 0.0f;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.repeat_penalty = 1.0f;
    p.seed = 0;
    return p;
}

Sampler::Sampler(SamplingParams params)
    : params_((validate(params), std::move(params))),
      seed_(resolve_seed(params_.seed)),
      rng_(seed_),
      history_(params_.repeat_last_n) {}

Sampler::Sampler(const Sampler& other)
    : params_(other.params_),
      seed_(other.seed_),
      rng_(other.rng_),
      history_(other.history_),
      candidates_(other.candidates_) {
    constraints_.reserve(other.constraints_.size());
    for (const auto& c : other.constraints_) constraints_.push_back(c->clone());
}

Sampler& Sampler::operator=(const Sampler& other) {
    if (this != &other) *this = Sampler(other);
    return *this;
}

bool Sampler::penalties_on() const {
    return params_.repeat_last_n != 0 &&
           (params_.repeat_penalty != 1.0f || params_.frequency_penalty != 0.0f ||
            params_.presence_penalty != 0.0f);
}

bool Sampler::prepare(std::span<const float> logits) {
    if (logits.empty()) fail("sampling: empty logits row");
    for (const LogitBias& b : params_.logit_bias) {
        if (static_cast<size_t>(b.token) >= logits.size()) {
            fail("sampling: logit bias for token ", b.token, " but the vocabulary has ",
                 logits.size(), " tokens");
        }
    }
    history_.reserve_vocab(logits.size());  // allocates once; later accept() calls do not
    candidates_.assign(logits);

    if (penalties_on() && history_.size() > 0) {
        apply_penalties(candidates_, history_.counts(), params_.repeat_penalty,
                        params_.frequency_penalty, params_.presence_penalty);
    }
    apply_logit_bias(candidates_, params_.logit_bias);
    for (const auto& constraint : constraints_) constraint->apply(candidates_);
    if (!params_.logit_bias.empty() || !constraints_.empty()) drop_masked(candidates_);

    if (params_.temperature <= 0.0f) return true;

    keep_top_k(candidates_, params_.top_k);
    keep_top_p(candidates_, params_.top_p);
    keep_min_p(candidates_, params_.min_p);
    apply_temperature(candidates_, params_.temperature);
    return false;
}

TokenId Sampler::sample(std::span<const float> logits) {
    if (prepare(logits)) return pick_greedy(candidates_);
    return pick_from_distribution(candidates_, rng_);
}

std::span<const Candidate> Sampler::distribution(std::span<const float> logits) {
    if (prepare(logits)) {
        const TokenId best = pick_greedy(candidates_);
        const Candidate one_hot{best, 0.0f, 1.0f};
        candidates_.assign(std::span<const Candidate>(&one_hot, 1));
    } else {
        candidates_.compute_probs();
    }
    return candidates_.items();
}

TokenId Sampler::draw(std::span<const Candidate> distribution) {
    double total = 0.0;
    for (const Candidate& c : distribution) {
        if (c.prob > 0.0f) total += c.prob;
    }
    if (!(total > 0.0)) fail("sampling: draw from a distribution with no probability mass");
    const double target = rng_.uniform01() * total;
    double cumulative = 0.0;
    const Candidate* last_possible = nullptr;
    for (const Candidate& c : distribution) {
        if (c.prob <= 0.0f) continue;
        cumulative += c.prob;
        last_possible = &c;
        if (target < cumulative) return c.id;
    }
    return last_possible->id;  // rounding left the draw just above the last sum
}

void Sampler::reseed(uint64_t seed) {
    seed_ = seed;
    rng_.seed(seed);
}

void Sampler::accept(TokenId token) {
    history_.push(token);
    for (const auto& constraint : constraints_) constraint->accept(token);
}

void Sampler::accept_prompt(TokenId token) {
    history_.push(token);
}

bool Sampler::can_end() const {
    for (const auto& constraint : constraints_) {
        if (!constraint->can_end()) return false;
    }
    return true;
}

void Sampler::reset() {
    history_.clear();
    for (const auto& constraint : constraints_) constraint->reset();
    rng_.seed(seed_);
}

void Sampler::add_constraint(std::unique_ptr<SamplingConstraint> constraint) {
    if (!constraint) fail("sampling: add_constraint(nullptr)");
    constraints_.push_back(std::move(constraint));
}

}  // namespace pocket
