// Turning a row of logits into the next token. One Sampler per sequence: it owns the random state,
// the recent-token history for the penalties and any constraints (grammar, JSON schema).
//
// The chain, in order, and why this order:
//   1. penalties     on the model's own logits, so a penalty means the same whatever the bias or
//                    constraint settings; they change which tokens are likely, so they go before
//                    anything that decides which tokens survive.
//   2. logit bias,   after the penalties so that a ban (-infinity) is final and a bias is not
//   scaled
//      constraints   by the repetition penalty; before truncation so top-k/top-p choose among
//                    allowed tokens only (otherwise top-k could keep nothing but banned tokens).
//   3. top-k         cheap cut to k tokens first, so the sort and softmax of top-p are small.
//   4. top-p         nucleus on the probabilities at temperature 1 (llama.cpp does the same), so
//   5. min-p         which tokens are plausible does not depend on the creativity setting;
//   6. temperature   then only reshapes the distribution over the survivors,
//   7. pick          a draw from the softmax with the seeded generator.
// temperature <= 0 means greedy: after steps 1-2, the highest logit wins (lowest id on ties); the
// truncation steps cannot change that, so they are skipped.
#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <span>
#include <vector>

#include "pocket/core/rng.h"
#include "pocket/generate/sampling_candidates.h"
#include "pocket/generate/sampling_constraint.h"
#include "pocket/generate/sampling_history.h"
#include "pocket/generate/sampling_steps.h"

namespace pocket {

struct SamplingParams {
    // Seed value meaning "pick one at random" (llama.cpp's LLAMA_DEFAULT_SEED plays this role).
    static constexpr uint64_t kRandomSeed = std::numeric_limits<uint64_t>::max();

    float temperature = 0.8f;     // <= 0: greedy
    int32_t top_k = 40;           // <= 0: off
    float top_p = 0.95f;          // >= 1: off
    float min_p = 0.05f;          // <= 0: off
    float repeat_penalty = 1.0f;  // 1: off
    int32_t repeat_last_n = 64;   // tokens the penalties look back over; 0: off, -1: all
    float frequency_penalty = 0.0f;
    float presence_penalty = 0.0f;
    uint64_t seed = kRandomSeed;
    std::vector<LogitBias> logit_bias;  // bias -infinity bans a token

    // Greedy decoding with every other step off (what the llama.cpp reference outputs use).
    static SamplingParams greedy();
};

class Sampler {
  public:
    // Throws pocket::Error for out-of-range settings (negative penalties, top_p outside (0, 1],
    // ...).
    explicit Sampler(SamplingParams params = {});
    // Copies carry the whole state: history, random generator position and constraints (cloned).
    Sampler(const Sampler& other);
    Sampler& operator=(const Sampler& other);
    Sampler(Sampler&&) noexcept = default;
    Sampler& operator=(Sampler&&) noexcept = default;

    // Picks the next token from one row of logits (one per vocabulary entry). Does not record the
    // token: call accept() with whatever the sequence actually continues with.
    TokenId sample(std::span<const float> logits);

    // The distribution sample() would draw from, without drawing: every step up to the pick, with
    // Candidate::prob filled (entries with prob 0 are never drawn). Greedy (temperature <= 0): one
    // entry, the greedy token, with prob 1. Valid until the next call of sample() or
    // distribution(). Speculative decoding compares the target's and the draft's distributions
    // through this.
    std::span<const Candidate> distribution(std::span<const float> logits);
    // Draws one token from a distribution (probs as given, not renormalised beyond their sum) with
    // this sampler's random generator.
    TokenId draw(std::span<const Candidate> distribution);
    // A uniform draw in [0, 1) from this sampler's random generator.
    double uniform01() { return rng_.uniform01(); }
    // Restarts the random generator from `seed`, keeping history and constraints: a copy that
    // must not replay the draws of the sampler it was copied from (a speculative draft) uses it.
    void reseed(uint64_t seed);

    // Records a generated token: it counts for the penalties and advances the constraints.
    void accept(TokenId token);
    // Records a prompt token: it counts for the penalties but never advances a constraint (the
    // prompt is context, not output).
    void accept_prompt(TokenId token);

    // True when every constraint is at a point where the output may end.
    bool can_end() const;

    // Starts a new sequence: clears the history, resets the constraints and rewinds the random
    // generator to seed(), so the same logits give the same tokens again.
    void reset();

    void add_constraint(std::unique_ptr<SamplingConstraint> constraint);

    const SamplingParams& params() const { return params_; }
    // The seed in use; with kRandomSeed, the one drawn at construction (log it to reproduce a run).
    uint64_t seed() const { return seed_; }
    const RecentTokens& history() const { return history_; }
    // What the last random pick drew from (after every step; probs valid). For tests and debugging.
    const CandidateList& last_candidates() const { return candidates_; }

  private:
    bool penalties_on() const;
    // Steps 1-6 on candidates_; returns true when the pick is greedy (steps 3-6 skipped).
    bool prepare(std::span<const float> logits);

    SamplingParams params_;
    uint64_t seed_;
    Rng rng_;
    RecentTokens history_;
    std::vector<std::unique_ptr<SamplingConstraint>> constraints_;
    CandidateList candidates_;
};

}  // namespace pocket
