// The individual sampling steps, each a free function on a CandidateList so it can be tested alone.
// Sampler (sampling.h) chains them; see there for the order and why.
//
// Semantics follow llama.cpp's samplers (src/llama-sampling.cpp) so that users' settings mean the
// same thing here; the token a random pick lands on differs, since the random generators differ.
#pragma once

#include <cstdint>
#include <span>

#include "pocket/core/rng.h"
#include "pocket/generate/sampling_candidates.h"

namespace pocket {

// Adds `bias` to a token's logit; a bias of -infinity bans the token.
struct LogitBias {
    TokenId token = 0;
    float bias = 0.0f;
};

// Adds each bias to the matching candidate's logit. Tokens not in the list are ignored (already
// excluded). Several entries for one token add up.
void apply_logit_bias(CandidateList& candidates, std::span<const LogitBias> biases);

// Repetition / frequency / presence penalties, llama.cpp's formula. For a token seen c > 0 times
// in the recent history (counts_by_token[id]; ids past the end count as 0):
//   logit <= 0 ? logit *= repeat : logit /= repeat   (repeat > 1 always makes the token less
//   likely) logit -= c * frequency + presence
// Tokens never seen are left alone.
void apply_penalties(CandidateList& candidates, std::span<const int32_t> counts_by_token,
                     float repeat, float frequency, float presence);

// Removes the candidates whose logit is -infinity (banned by a bias or a constraint), so later
// steps such as top-k count only tokens that can actually be picked.
void drop_masked(CandidateList& candidates);

// Keeps the k highest-logit candidates (ties: lower id), sorted. k <= 0 or k >= size: no change.
void keep_top_k(CandidateList& candidates, int32_t k);

// Nucleus: sorts, takes the softmax of the current logits and keeps the smallest prefix whose
// cumulative probability is >= p (always at least one). p >= 1: no change.
void keep_top_p(CandidateList& candidates, float p);

// Keeps the candidates whose probability is >= p times the largest probability, i.e. whose logit is
// >= max_logit + ln(p). Keeps the order. p <= 0: no change.
void keep_min_p(CandidateList& candidates, float p);

// Divides every logit by temperature (> 0): below 1 sharpens the distribution, above 1 flattens it.
void apply_temperature(CandidateList& candidates, float temperature);

// The candidate with the largest logit; on ties the lowest token id. Throws pocket::Error if the
// list is empty or every candidate is masked.
TokenId pick_greedy(const CandidateList& candidates);

// Draws from the softmax of the current logits with one rng.uniform01() call: the first candidate
// (in list order) whose cumulative probability exceeds the draw. Fills Candidate::prob.
// Throws pocket::Error if the list is empty or every candidate is masked.
TokenId pick_from_distribution(CandidateList& candidates, Rng& rng);

}  // namespace pocket
