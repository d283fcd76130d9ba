// The guard-language-model back end: a Llama Guard 3 style GGUF run through pocket's own
// generation loop. The prompt is the one Meta's Llama-Guard-3-8B chat template renders (categories
// S1-S14, the conversation as "User:" / "Agent:" turns, the two instruction lines), the output
// "safe" or "unsafe\nS1,S10" is parsed, and P(unsafe) is read off the first generated position:
// softmax over the logits of the first tokens of "unsafe" and "safe" (Meta's way to threshold it).
#pragma once

#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pocket/generate/sampling_constraint.h"
#include "pocket/generate/session.h"
#include "pocket/model/context.h"
#include "pocket/model/model.h"
#include "pocket/safety/guard.h"

namespace pocket::safety {

// The exact text Llama Guard 3's chat template renders for one prompt (role 'User') or a prompt
// and its response (role 'Agent'), from <|begin_of_text|> to the assistant header and its blank
// line. Turn contents are stripped of surrounding whitespace as the template's strip() does.
std::string render_llama_guard_prompt(const GuardInput& input);

// "safe" / "unsafe\nS1,S10" (surrounding whitespace ignored, codes may carry spaces).
struct LlamaGuardOutput {
    bool safe = true;
    std::vector<int> categories;  // ascending, unique
};
// nullopt for anything else (a first line that is neither word, an unknown code).
std::optional<LlamaGuardOutput> parse_llama_guard_output(std::string_view text);

struct LlamaGuardOptions {
    double threshold = 0.5;
    int max_tokens = 20;  // "unsafe\nS1,S2,...": a verdict needs a handful of tokens
    // true: P(unsafe) from the first position's logits; false: 0 or 1 from the generated text.
    bool score_from_logits = true;
    // Constraints on the generated text, for tests (a grammar forcing a given verdict).
    std::vector<std::shared_ptr<const SamplingConstraint>> constraints;
    int64_t n_ctx = 0;  // 0: min(the model's training context, 4096)
};

class LlamaGuard final : public Guard {
  public:
    LlamaGuard(std::unique_ptr<model::Model> model, std::string name,
               LlamaGuardOptions options = {});
    ~LlamaGuard() override;

    // An unparseable answer or a failure inside the model fails closed: unsafe, score 1, flag
    // "guard_error". Jailbreak signals in the texts (safety/jailbreak.h) come back as flags; the
    // model itself reads the texts unchanged.
    GuardVerdict check(const GuardInput& input) const override;
    double threshold() const override { return options_.threshold; }
    void set_threshold(double threshold) override;
    std::string describe() const override { return "llama-guard (" + name_ + ")"; }

    // The text the model generated for the last check (for tests and debugging).
    std::string last_output() const;

  private:
    GuardVerdict run(const GuardInput& input) const;

    std::unique_ptr<model::Model> model_;
    std::string name_;
    LlamaGuardOptions options_;
    TokenId safe_token_ = 0, unsafe_token_ = 0;
    // One context and session serve every check, one at a time: the shared category header stays
    // in the KV cache, so a check evaluates only its own conversation.
    mutable std::mutex mutex_;
    mutable std::unique_ptr<model::Context> ctx_;
    mutable std::unique_ptr<Session> session_;
    mutable std::string last_output_;
};

// Loads a guard model GGUF (any architecture pocket runs). Throws pocket::Error naming the file.
std::unique_ptr<LlamaGuard> load_llama_guard(const std::filesystem::path& path,
                                             LlamaGuardOptions options = {});

}  // namespace pocket::safety
