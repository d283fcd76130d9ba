#include "server/request_guard.h"

namespace pocket::server {

std::string AnswerGuard::push(std::string_view delta) {
    std::string out = check_ ? check_->push(delta) : std::string(delta);
    shown_ += out;
    return out;
}

std::string AnswerGuard::finish() {
    if (!check_) return {};
    std::string out = check_->finish();
    shown_ += out;
    return out;
}

std::optional<std::string> RequestGuard::check_prompt(std::string_view prompt) {
    if (!active() || !policy_->check_prompts) return std::nullopt;
    const safety::GuardDecision d = safety::check_prompt(*guard_, *policy_, prompt);
    record(d, prompt);
    if (d.action != safety::GuardAction::block) return std::nullopt;
    return policy_->refusal_for(d.verdict);
}

AnswerGuard RequestGuard::answer(std::string prompt) const {
    if (!checks_answers()) return {};
    return AnswerGuard(
        std::make_unique<safety::StreamingAnswerCheck>(*guard_, *policy_, std::move(prompt)));
}

void RequestGuard::record_answer(const AnswerGuard& answer) {
    const safety::StreamingAnswerCheck* check = answer.check();
    if (!check) return;
    // Each sentence was a check: the log gets those that warned or blocked, and the last one (the
    // verdict on the whole answer), as `pocket run` logs them.
    const auto& decisions = check->decisions();
    for (size_t k = 0; k < decisions.size(); ++k)
        if (decisions[k].action != safety::GuardAction::allow || k + 1 == decisions.size())
            record(decisions[k], answer.shown());
}

RequestGuard::Checked RequestGuard::check_answer(std::string prompt, std::string_view answer) {
    Checked out;
    AnswerGuard check = this->answer(std::move(prompt));
    out.text = check.push(answer);
    if (!check.blocked()) out.text += check.finish();
    record_answer(check);
    out.blocked = check.blocked();
    if (out.blocked) out.refusal = refusal_for(check);
    return out;
}

const std::string& RequestGuard::refusal_for(const AnswerGuard& answer) const {
    const safety::StreamingAnswerCheck* check = answer.check();
    if (const safety::GuardDecision* d = check ? check->blocking() : nullptr)
        return policy_->refusal_for(d->verdict);
    return policy_->refusal;
}

void RequestGuard::record(const safety::GuardDecision& d, std::string_view text) {
    request_record().guard.push_back(json(
        d.to_log_json(policy_->log_text ? std::optional<std::string_view>(text) : std::nullopt)));
    if (d.action == safety::GuardAction::allow) return;
    json j = json(d.verdict.to_json());
    j["stage"] = d.stage;
    j["action"] = safety::guard_action_name(d.action);
    reported_.push_back(std::move(j));
}

std::string with_refusal(std::string text, std::string_view refusal) {
    if (!text.empty() && text.back() != '\n') text += '\n';
    text += refusal;
    return text;
}

}  // namespace pocket::server
