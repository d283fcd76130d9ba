// Drafting with a smaller model that shares the target's vocabulary. The draft context keeps
// its own copy of the sequence in sequence 0 and re-evaluates only what changed since the last
// step (the tokens the target rejected are cut off, the target's replacement is appended).
// Internal to src/generate.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include "generate/draft.h"
#include "pocket/generate/sampling.h"
#include "pocket/model/context.h"

namespace pocket {

namespace tokenizer {
class Tokenizer;
}

// Throws pocket::Error naming the first difference (size, or the first id whose text differs):
// a drafted id must mean the same token to the target.
void check_same_vocabulary(const tokenizer::Tokenizer& target, const tokenizer::Tokenizer& draft);

class DraftModel {
  public:
    // Checks the vocabularies and clears the draft's sequence 0 (its contents are unknown).
    DraftModel(model::Context& draft, const tokenizer::Tokenizer& target);

    // Drafts up to max_draft tokens continuing `sequence` (every token so far, prompt included),
    // drawing from `sampler`: a copy of the target's sampler, so the draft sees the same
    // penalties and constraints; it is advanced here and thrown away by the caller.
    void propose(std::span<const TokenId> sequence, Sampler sampler, size_t max_draft, Draft& out);

  private:
    model::Context& ctx_;
    std::vector<TokenId> cached_;  // what sequence 0 of ctx_ holds
};

}  // namespace pocket
