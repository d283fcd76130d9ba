// The hook through which structured output (grammars, JSON schemas) and other rules restrict
// which tokens may come next. A constraint sees the candidate list after the penalties and before
// any truncation, and masks what it forbids by setting those logits to -infinity (it may also
// bias). Masking before top-k/top-p means the truncation steps choose among allowed tokens only.
#pragma once

#include <functional>
#include <utility>

#include "pocket/generate/sampling_candidates.h"

namespace pocket {

class SamplingConstraint {
  public:
    virtual ~SamplingConstraint() = default;

    // Masks (logit = -infinity) or biases candidates. The list is in vocabulary order
    // (candidates[i].id == i) unless an earlier constraint reordered it.
    virtual void apply(CandidateList& candidates) = 0;
    // Told about every token the sequence accepted, so stateful constraints (a grammar) advance.
    virtual void accept(TokenId token) {}
    // Back to the start of a new sequence.
    virtual void reset() {}
};

// A stateless constraint from a callable, e.g. "never emit these ids" or "only digits".
class CallbackConstraint final : public SamplingConstraint {
  public:
    explicit CallbackConstraint(std::function<void(CandidateList&)> fn) : fn_(std::move(fn)) {}
    void apply(CandidateList& candidates) override { fn_(candidates); }

  private:
    std::function<void(CandidateList&)> fn_;
};

}  // namespace pocket
