// Speculative decoding: cheap guesses of the next few tokens, verified by the target model in one
// forward pass. Guesses come from a smaller draft model with the same vocabulary, or from the
// sequence itself (prompt lookup: the tokens that followed an earlier occurrence of the last
// n-gram, which pays off when the output copies from the prompt: summaries, edits, code).
//
// Greedy decoding gives exactly the tokens decoding without speculation gives. With sampling, a
// drafted token x is kept with probability min(1, p(x) / q(x)) (p: the target's sampling
// distribution, q: the draft's), and on rejection the replacement is drawn from
// max(0, p - q) renormalised, which leaves the output distributed exactly as p.
#pragma once

#include <cstdint>

namespace pocket::model {
class Context;
}

namespace pocket {

struct SpeculativeOptions {
    // A context of the draft model (vocabulary checked against the target's); nullptr: none.
    // Its sequence 0 is used and overwritten. Not owned.
    model::Context* draft = nullptr;
    // Draft by prompt lookup (no draft model needed).
    bool prompt_lookup = false;
    int32_t max_draft = 8;  // tokens guessed per verification step
    int32_t ngram_min = 2;  // prompt lookup: shortest and longest n-gram matched
    int32_t ngram_max = 4;

    bool enabled() const { return draft != nullptr || prompt_lookup; }
};

struct SpeculativeStats {
    int64_t steps = 0;     // verification passes of the target model
    int64_t drafted = 0;   // tokens guessed
    int64_t accepted = 0;  // guessed tokens the target kept
    double acceptance_rate() const {
        return drafted > 0 ? static_cast<double>(accepted) / static_cast<double>(drafted) : 0.0;
    }
};

}  // namespace pocket
