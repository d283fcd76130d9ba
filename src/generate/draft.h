// What a drafter proposes for one speculative step: the guessed tokens and, for each, the
// distribution it was drawn from (q in the acceptance rule). Internal to src/generate.
#pragma once

#include <vector>

#include "pocket/core/token.h"
#include "pocket/generate/sampling_candidates.h"

namespace pocket {

struct Draft {
    std::vector<TokenId> tokens;
    // q[i]: the distribution tokens[i] was drawn from. Empty (prompt lookup): tokens[i] was
    // proposed with certainty, q is one-hot on it.
    std::vector<std::vector<Candidate>> q;

    void clear() {
        tokens.clear();
        q.clear();
    }
    // q_i(id): the draft's probability of `id` at position i.
    float q_of(size_t i, TokenId id) const;
};

}  // namespace pocket
