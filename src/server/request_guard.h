// --guard for one request, shared by every route that generates (/v1/chat/completions,
// /v1/completions, /api/chat, /api/generate, and answers from the cloud endpoint): the prompt
// check, one streaming answer check per answer, and the record of every decision, which goes to
// the access log line ("guard") and, for the warn and block decisions, to the response
// (`pocket.guard`). Inactive (every call a no-op that allows) when the server has no guard.
// Internal to src/server.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "pocket/safety/policy.h"
#include "server/server_context.h"

namespace pocket::server {

// One answer's check, sentence by sentence (safety::StreamingAnswerCheck), keeping what it let
// through for the decision log. Without a check (no guard, or answers not checked) text passes
// unchanged.
class AnswerGuard {
  public:
    AnswerGuard() = default;
    explicit AnswerGuard(std::unique_ptr<safety::StreamingAnswerCheck> check)
        : check_(std::move(check)) {}

    bool active() const { return check_ != nullptr; }
    // The part of `delta` (with what was held before) that has passed.
    std::string push(std::string_view delta);
    // What is still held, once checked: call at the end of the answer (again: nothing).
    std::string finish();
    bool blocked() const { return check_ && check_->blocked(); }
    const std::string& shown() const { return shown_; }
    const safety::StreamingAnswerCheck* check() const { return check_.get(); }

  private:
    std::unique_ptr<safety::StreamingAnswerCheck> check_;  // a pointer: it holds references
    std::string shown_;
};

class RequestGuard {
  public:
    explicit RequestGuard(const ServerContext& ctx)
        : guard_(ctx.guard.get()),
          policy_(ctx.options.guard ? &ctx.options.guard->policy : nullptr) {}

    bool active() const { return guard_ != nullptr; }
    bool checks_answers() const { return active() && policy_->check_answers; }

    // Checks a prompt and records the decision; the refusal when the policy blocks it (nothing
    // must then be generated for it).
    std::optional<std::string> check_prompt(std::string_view prompt);

    // The check of one answer to `prompt` (inactive when answers are not checked).
    AnswerGuard answer(std::string prompt) const;

    // Records an answer's checks that warned or blocked, and its last (the verdict on the
    // whole answer); call once, when the answer has ended.
    void record_answer(const AnswerGuard& answer);

    // Checks a whole answer as a stream would show it, sentence by sentence, and records the
    // decisions. Returns what passes: the answer up to its first blocked sentence.
    struct Checked {
        std::string text;
        bool blocked = false;
        std::string refusal;  // when blocked
    };
    Checked check_answer(std::string prompt, std::string_view answer);

    // The refusal for an answer check that blocked.
    const std::string& refusal_for(const AnswerGuard& answer) const;

    // The warn and block decisions so far, for `pocket.guard` (an empty array when none).
    const json& reported() const { return reported_; }

    // Records a decision made elsewhere (`text`: what was checked, logged only with log_text).
    void record(const safety::GuardDecision& d, std::string_view text);

  private:
    const safety::Guard* guard_;
    const safety::GuardPolicy* policy_;
    json reported_ = json::array();
};

// `text` followed by `refusal` on a line of its own: what a client that has no field for a
// content filter is shown when an answer was cut (the Ollama routes).
std::string with_refusal(std::string text, std::string_view refusal);

}  // namespace pocket::server
