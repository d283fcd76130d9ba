// What the speculative-decoding tests share: the models and a generation driven through the
// internal loop, so a test can pick the acceptance rule.
#pragma once

#include <memory>
#include <span>
#include <string>

#include "generate/generation_loop.h"
#include "generate/speculative_loop.h"
#include "pocket/generate/session.h"
#include "pocket/model/context.h"
#include "pocket/model/model.h"
#include "support/test_support.h"

namespace pocket::test {

inline std::unique_ptr<model::Model> load_shared_model(const std::string& relative) {
    return model::Model::load(shared_path(relative));
}

// Session::generate, with the acceptance rule chosen by the caller.
inline GenerateResult generate_with_rule(Session& session, std::span<const TokenId> prompt,
                                         const GenerateOptions& options, AcceptanceRule rule) {
    GenerationLoop loop(session, options, {});
    std::span<const float> logits = loop.evaluate_prompt(prompt);
    if (loop.stopped() || loop.room() <= 0) return loop.finish();
    run_speculative(loop, options.speculative, logits, rule);
    return loop.finish();
}

}  // namespace pocket::test
