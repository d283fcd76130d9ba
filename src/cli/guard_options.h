// The moderation flags shared by `pocket run`, `pocket chat` and `pocket serve`: --guard [POLICY]
// turns the guard on (with an optional policy file), --guard-model picks the guard (default: the
// built-in classifier), --guard-threshold overrides its threshold. Decisions are logged as JSON
// lines on stderr, without the text unless the policy says log_text.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "pocket/safety/guard.h"
#include "pocket/safety/policy.h"

namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace pocket::cli {

struct GuardCliOptions {
    CLI::Option* flag = nullptr;  // --guard, to tell "given without a policy" from "not given"
    std::string policy;
    std::string model;
    double threshold = -1;  // < 0: the guard's own (or the policy's)
};

void add_guard_options(CLI::App& app, GuardCliOptions& o);

struct ActiveGuard {
    std::unique_ptr<safety::Guard> guard;
    safety::GuardPolicy policy;
};

// The guard the flags ask for; nullopt without --guard. Throws pocket::Error for an unreadable
// policy or guard file.
std::optional<ActiveGuard> make_guard(const GuardCliOptions& o);

// One decision log line on stderr: "pocket guard: {...}".
void log_guard_decision(const safety::GuardDecision& decision, const safety::GuardPolicy& policy,
                        std::string_view text);

// Checks the prompt (when the guard is on): logs the decision, warns on stderr, and for a
// blocked prompt returns the refusal to print instead of an answer.
std::optional<std::string> refuse_prompt(const ActiveGuard* guard, std::string_view prompt);

// An answer on its way to the user, through the guard's streaming check when the guard is on:
// sentences are shown once checked; a blocked one ends the answer with the policy's refusal.
class GuardedAnswer {
  public:
    using Out = std::function<void(std::string_view)>;
    GuardedAnswer(const ActiveGuard* guard, std::string prompt, Out out);

    // Takes generated text; false once the answer is blocked (stop generating).
    bool push(std::string_view piece);
    // The end of the answer: shows what the guard still held, logs the answer's decisions and,
    // after a block, writes a newline and the refusal.
    void finish();
    bool blocked() const { return check_ && check_->blocked(); }
    // What the user saw of the answer (the refusal included after a block).
    const std::string& shown() const { return shown_; }

  private:
    void emit(std::string_view text);
    const ActiveGuard* guard_;
    std::optional<safety::StreamingAnswerCheck> check_;
    Out out_;
    std::string shown_;
};

}  // namespace pocket::cli
