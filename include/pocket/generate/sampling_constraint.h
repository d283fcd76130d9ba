// The hook through which structured output (grammars, JSON schemas) and other rules restrict
// which tokens may come next. A constraint sees the candidate list after the penalties and before
// any truncation, and masks what it forbids by setting those logits to -infinity (it may also
// bias). Masking before top-k/top-p means the truncation steps choose among allowed tokens only.
//
// A constraint advances only on generated tokens: prompt tokens are context, not output, so a
// JSON grammar starts at its root whatever the prompt held. State is cloneable, so n > 1 choices
// and speculative decoding can branch a sequence and keep each branch's constraint apart.
#pragma once

#include <functional>
#include <memory>
#include <utility>

#include "pocket/generate/sampling_candidates.h"

namespace pocket {

class SamplingConstraint {
  public:
    virtual ~SamplingConstraint() = default;

    // Masks (logit = -infinity) or biases candidates. The list is in vocabulary order
    // (candidates[i].id == i) unless an earlier constraint reordered it.
    virtual void apply(CandidateList& candidates) = 0;
    // Told about every generated token the sequence accepted, so stateful constraints (a
    // grammar) advance. Throws pocket::Error for a token the constraint does not allow.
    virtual void accept(TokenId token) {}
    // Back to the start of a new sequence.
    virtual void reset() {}
    // True when the output so far is complete as far as this constraint is concerned (a grammar
    // at an accepting state), so generation may end here.
    virtual bool can_end() const { return true; }
    // An independent copy in the same state.
    virtual std::unique_ptr<SamplingConstraint> clone() const = 0;
};

// A stateless constraint from a callable, e.g. "never emit these ids" or "only digits".
class CallbackConstraint final : public SamplingConstraint {
  public:
    explicit CallbackConstraint(std::function<void(CandidateList&)> fn) : fn_(std::move(fn)) {}
    void apply(CandidateList& candidates) override { fn_(candidates); }
    std::unique_ptr<SamplingConstraint> clone() const override {
        return std::make_unique<CallbackConstraint>(fn_);
    }

  private:
    std::function<void(CandidateList&)> fn_;
};

}  // namespace pocket
