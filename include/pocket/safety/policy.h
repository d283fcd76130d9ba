// What a front end does with a guard's verdict: per hazard category block, warn or allow, the
// refusal text, and which side (prompts, answers) is checked. Plus the streaming check of an
// answer at sentence boundaries, which holds each sentence back until the guard has passed it,
// so a harmful answer is cut before its first flagged sentence is shown.
#pragma once

#include <array>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "pocket/safety/guard.h"

namespace pocket::safety {

enum class GuardAction { allow, warn, block };
std::string_view guard_action_name(GuardAction action);  // "allow", "warn", "block"
GuardAction parse_guard_action(std::string_view text);   // throws pocket::Error

struct GuardPolicy {
    // Per category S1..S14 (index 0 is S1); an unsafe verdict takes the most severe action of its
    // categories, or `uncategorised` when it names none.
    std::array<GuardAction, kCategoryCount> actions;
    GuardAction uncategorised = GuardAction::block;
    std::string refusal = "I can't help with that.";
    std::array<std::string, kCategoryCount> refusals;  // per category; empty: `refusal`
    std::optional<double> threshold;                   // overrides the guard's own
    bool check_prompts = true;
    bool check_answers = true;
    bool log_text = false;  // decision log lines include the text checked

    GuardPolicy() { actions.fill(GuardAction::block); }

    // A JSON policy file:
    //   {"default": "block", "categories": {"S6": "warn", "S8": "allow"},
    //    "refusal": "...", "refusals": {"S11": "..."}, "threshold": 0.5,
    //    "check": {"prompts": true, "answers": true}, "log_text": false}
    // Every field is optional. Throws pocket::Error naming the file and field for anything
    // unknown or ill-typed (a typo must not silently weaken a policy).
    static GuardPolicy load(const std::filesystem::path& path);
    static GuardPolicy from_json(const nlohmann::json& policy, const std::string& origin);

    GuardAction action_for(const GuardVerdict& verdict) const;
    // The refusal for a blocked verdict: its first blocked category's own text, else `refusal`.
    const std::string& refusal_for(const GuardVerdict& verdict) const;
};

// One check and what the policy made of it.
struct GuardDecision {
    std::string stage;  // "prompt" or "answer"
    GuardVerdict verdict;
    GuardAction action = GuardAction::allow;

    // The decision log line: {"stage", "action", "safe", "score", "categories", "flags"?}
    // and "text" only when `text` is given (the policy's log_text).
    nlohmann::json to_log_json(std::optional<std::string_view> text = std::nullopt) const;
};

// Checks a prompt under the policy (allow without calling the guard when prompts are not
// checked).
GuardDecision check_prompt(const Guard& guard, const GuardPolicy& policy, std::string_view prompt);

// Checks an answer while it streams. push() takes generated text and returns the part that has
// passed the guard: whole sentences (ending in . ! ? or a newline, followed by whitespace), each
// checked with the prompt and the answer so far. The first sentence the policy blocks is not
// returned, nor anything after it; blocked() turns true and the caller stops generating.
// finish() checks and returns what is still held at the end of the answer.
class StreamingAnswerCheck {
  public:
    StreamingAnswerCheck(const Guard& guard, const GuardPolicy& policy, std::string prompt);

    std::string push(std::string_view delta);
    std::string finish();

    bool blocked() const { return blocked_; }
    // Every check made, in order (for the decision log and warnings).
    const std::vector<GuardDecision>& decisions() const { return decisions_; }
    // The decision that blocked, when blocked().
    const GuardDecision* blocking() const { return blocked_ ? &decisions_.back() : nullptr; }

  private:
    std::string release(size_t end);  // checks held_[0, end) and returns it unless blocked

    const Guard& guard_;
    const GuardPolicy& policy_;
    std::string prompt_;
    std::string shown_;  // the answer released so far
    std::string held_;   // generated, not yet checked
    bool blocked_ = false;
    std::vector<GuardDecision> decisions_;
};

}  // namespace pocket::safety
