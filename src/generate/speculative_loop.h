// Speculative decoding inside a generation (see pocket/generate/speculative.h for the rules).
// Internal to src/generate.
#pragma once

#include <span>

#include "generate/generation_loop.h"
#include "pocket/generate/speculative.h"

namespace pocket {

// Deliberately wrong acceptance rules, so the statistical test can show it would catch one.
// Never used outside tests.
enum class AcceptanceRule {
    Exact,           // min(1, p/q), residual max(0, p - q) on rejection: output distributed as p
    AlwaysAccept,    // wrong: keeps every drafted token (output follows the draft)
    ResampleTarget,  // wrong: draws the replacement from p instead of the residual
};

// Generates until the loop stops, drafting up to options.max_draft tokens per step and verifying
// them in one target pass. `logits` are the target's logits after the prompt.
void run_speculative(GenerationLoop& loop, const SpeculativeOptions& options,
                     std::span<const float> logits, AcceptanceRule rule = AcceptanceRule::Exact);

}  // namespace pocket
