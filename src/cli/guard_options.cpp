#include "cli/guard_options.h"

#include <CLI/CLI.hpp>

#include <cstdio>

#include "pocket/core/error.h"

namespace pocket::cli {

void add_guard_options(CLI::App& app, GuardCliOptions& o) {
    const char* group = "Moderation";
    o.flag = app.add_option("--guard", o.policy,
                            "Check prompts and answers with the guard; optional POLICY file "
                            "(JSON: per category block/warn/allow, refusal text)")
                 ->expected(0, 1)
                 ->group(group);
    app.add_option("--guard-model", o.model,
                   "Guard: a classifier from `pocket guard train` or a Llama Guard GGUF "
                   "(default: the built-in classifier)")
        ->group(group);
    app.add_option("--guard-threshold", o.threshold, "P(unsafe) at or above which text is unsafe")
        ->check(CLI::Range(0.0, 1.0))
        ->group(group);
}

std::optional<ActiveGuard> make_guard(const GuardCliOptions& o) {
    if (!o.flag || o.flag->count() == 0) {
        if (!o.model.empty() || o.threshold >= 0)
            fail("--guard-model and --guard-threshold need --guard");
        return std::nullopt;
    }
    ActiveGuard g;
    if (!o.policy.empty()) g.policy = safety::GuardPolicy::load(o.policy);
    g.guard = safety::load_guard(o.model);
    if (o.threshold >= 0) {
        g.guard->set_threshold(o.threshold);
    } else if (g.policy.threshold) {
        g.guard->set_threshold(*g.policy.threshold);
    }
    return g;
}

void log_guard_decision(const safety::GuardDecision& decision, const safety::GuardPolicy& policy,
                        std::string_view text) {
    const nlohmann::json line = decision.to_log_json(
        policy.log_text ? std::optional<std::string_view>(text) : std::nullopt);
    std::fprintf(stderr, "pocket guard: %s\n",
                 line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    std::fflush(stderr);
}

std::optional<std::string> refuse_prompt(const ActiveGuard* guard, std::string_view prompt) {
    if (!guard) return std::nullopt;
    const safety::GuardDecision d = safety::check_prompt(*guard->guard, guard->policy, prompt);
    if (!guard->policy.check_prompts) return std::nullopt;
    log_guard_decision(d, guard->policy, prompt);
    if (d.action != safety::GuardAction::block) return std::nullopt;
    return guard->policy.refusal_for(d.verdict);
}

GuardedAnswer::GuardedAnswer(const ActiveGuard* guard, std::string prompt, Out out)
    : guard_(guard), out_(std::move(out)) {
    if (guard_ && guard_->policy.check_answers)
        check_.emplace(*guard_->guard, guard_->policy, std::move(prompt));
}

void GuardedAnswer::emit(std::string_view text) {
    if (text.empty()) return;
    shown_ += text;
    out_(text);
}

bool GuardedAnswer::push(std::string_view piece) {
    if (!check_) {
        emit(piece);
        return true;
    }
    emit(check_->push(piece));
    return !check_->blocked();
}

void GuardedAnswer::finish() {
    if (!check_) return;
    emit(check_->finish());
    const std::string& answer = shown_;
    // Each sentence was a check; the log gets those that warned or blocked, and the last one
    // (the verdict on the whole answer).
    const auto& decisions = check_->decisions();
    for (size_t i = 0; i < decisions.size(); ++i)
        if (decisions[i].action != safety::GuardAction::allow || i + 1 == decisions.size())
            log_guard_decision(decisions[i], guard_->policy, answer);
    if (const safety::GuardDecision* b = check_->blocking())
        emit((shown_.empty() ? "" : "\n") + guard_->policy.refusal_for(b->verdict));
}

}  // namespace pocket::cli
