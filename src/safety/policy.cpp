#include "pocket/safety/policy.h"

#include <algorithm>
#include <fstream>
#include <set>

#include "pocket/core/error.h"

namespace pocket::safety {

using json = nlohmann::json;

std::string_view guard_action_name(GuardAction action) {
    switch (action) {
        case GuardAction::allow:
            return "allow";
        case GuardAction::warn:
            return "warn";
        case GuardAction::block:
            return "block";
    }
    return "block";
}

GuardAction parse_guard_action(std::string_view text) {
    if (text == "allow") return GuardAction::allow;
    if (text == "warn") return GuardAction::warn;
    if (text == "block") return GuardAction::block;
    fail("guard action must be block, warn or allow, not '", text, "'");
}

namespace {

int category_index(const std::string& code, const std::string& where) {
    const auto n = parse_category_code(code);
    if (!n) fail(where, ": '", code, "' is not a hazard category (S1..S14)");
    return *n - 1;
}

const json& typed(const json& value, json::value_t type, const std::string& where) {
    const bool ok = type == json::value_t::number_float ? value.is_number() : value.type() == type;
    if (!ok) fail(where, ": expected ", json(type).type_name(), ", got ", value.type_name());
    return value;
}

}  // namespace

GuardPolicy GuardPolicy::from_json(const json& j, const std::string& origin) {
    if (!j.is_object()) fail(origin, ": a guard policy is a JSON object");
    static const std::set<std::string> kFields = {"default",   "categories", "refusal", "refusals",
                                                  "threshold", "check",      "log_text"};
    GuardPolicy p;
    for (const auto& [key, value] : j.items()) {
        const std::string where = origin + ": " + key;
        if (!kFields.contains(key)) fail(origin, ": unknown field '", key, "'");
        if (key == "default") {
            p.uncategorised =
                parse_guard_action(typed(value, json::value_t::string, where).get<std::string>());
            p.actions.fill(p.uncategorised);
        }
    }
    if (const auto it = j.find("categories"); it != j.end()) {
        for (const auto& [code, action] :
             typed(*it, json::value_t::object, origin + ": categories").items()) {
            const std::string where = origin + ": categories." + code;
            p.actions[static_cast<size_t>(category_index(code, where))] =
                parse_guard_action(typed(action, json::value_t::string, where).get<std::string>());
        }
    }
    if (const auto it = j.find("refusal"); it != j.end())
        p.refusal = typed(*it, json::value_t::string, origin + ": refusal").get<std::string>();
    if (const auto it = j.find("refusals"); it != j.end()) {
        for (const auto& [code, text] :
             typed(*it, json::value_t::object, origin + ": refusals").items()) {
            const std::string where = origin + ": refusals." + code;
            p.refusals[static_cast<size_t>(category_index(code, where))] =
                typed(text, json::value_t::string, where).get<std::string>();
        }
    }
    if (const auto it = j.find("threshold"); it != j.end()) {
        const double t =
            typed(*it, json::value_t::number_float, origin + ": threshold").get<double>();
        if (!(t >= 0 && t <= 1)) fail(origin, ": threshold must be in [0, 1], not ", t);
        p.threshold = t;
    }
    if (const auto it = j.find("check"); it != j.end()) {
        for (const auto& [side, on] :
             typed(*it, json::value_t::object, origin + ": check").items()) {
            const std::string where = origin + ": check." + side;
            const bool value = typed(on, json::value_t::boolean, where).get<bool>();
            if (side == "prompts") {
                p.check_prompts = value;
            } else if (side == "answers") {
                p.check_answers = value;
            } else {
                fail(where, ": unknown (prompts or answers)");
            }
        }
    }
    if (const auto it = j.find("log_text"); it != j.end())
        p.log_text = typed(*it, json::value_t::boolean, origin + ": log_text").get<bool>();
    return p;
}

GuardPolicy GuardPolicy::load(const std::filesystem::path& path) {
    std::ifstream in(path);
    if (!in) fail("cannot read the guard policy ", path);
    json j;
    try {
        j = json::parse(in);
    } catch (const json::parse_error& e) {
        fail(path.string(), ": not valid JSON: ", e.what());
    }
    return from_json(j, path.string());
}

GuardAction GuardPolicy::action_for(const GuardVerdict& verdict) const {
    if (verdict.safe) return GuardAction::allow;
    if (verdict.categories.empty()) return uncategorised;
    GuardAction most = GuardAction::allow;
    for (const int c : verdict.categories)
        if (c >= 1 && c <= kCategoryCount)
            most = std::max(most, actions[static_cast<size_t>(c - 1)]);
    return most;
}

const std::string& GuardPolicy::refusal_for(const GuardVerdict& verdict) const {
    for (const int c : verdict.categories) {
        if (c < 1 || c > kCategoryCount) continue;
        const auto i = static_cast<size_t>(c - 1);
        if (actions[i] == GuardAction::block && !refusals[i].empty()) return refusals[i];
    }
    return refusal;
}

json GuardDecision::to_log_json(std::optional<std::string_view> text) const {
    json out = verdict.to_json();
    out["stage"] = stage;
    out["action"] = guard_action_name(action);
    if (text) out["text"] = json(std::string(*text));
    return out;
}

GuardDecision check_prompt(const Guard& guard, const GuardPolicy& policy, std::string_view prompt) {
    GuardDecision d;
    d.stage = "prompt";
    if (!policy.check_prompts) return d;
    d.verdict = guard.check({prompt, std::nullopt});
    d.action = policy.action_for(d.verdict);
    return d;
}

StreamingAnswerCheck::StreamingAnswerCheck(const Guard& guard, const GuardPolicy& policy,
                                           std::string prompt)
    : guard_(guard), policy_(policy), prompt_(std::move(prompt)) {}

namespace {

bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

// The end of the first whole sentence in `text` at or after `from`: just past its terminator and
// the whitespace after it; 0 when no sentence is complete yet. A terminator counts only with
// whitespace after it ("3.14" and "e.g.x" do not end sentences); CJK full stops end one at once.
size_t sentence_end(std::string_view text, size_t from) {
    for (size_t i = from; i < text.size(); ++i) {
        const char c = text[i];
        size_t end = 0;
        if (c == '\n') {
            end = i + 1;
        } else if ((c == '.' || c == '!' || c == '?') && i + 1 < text.size() &&
                   is_space(text[i + 1])) {
            end = i + 1;
        } else if (text.substr(i, 3) == "\xE3\x80\x82" || text.substr(i, 3) == "\xEF\xBC\x81" ||
                   text.substr(i, 3) == "\xEF\xBC\x9F") {  // 。！？
            end = i + 3;
        }
        if (end == 0) continue;
        while (end < text.size() && is_space(text[end])) ++end;
        return end;
    }
    return 0;
}

// The answer's last `limit` bytes, from a character boundary: what the guard sees of a long
// answer (the sentence being released is always inside it).
std::string_view tail(std::string_view text, size_t limit) {
    if (text.size() <= limit) return text;
    size_t start = text.size() - limit;
    while (start < text.size() && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) ++start;
    return text.substr(start);
}

constexpr size_t kContextBytes = 4000;

}  // namespace

std::string StreamingAnswerCheck::release(size_t end) {
    const std::string candidate = shown_ + held_.substr(0, end);
    GuardDecision d;
    d.stage = "answer";
    d.verdict = guard_.check({prompt_, tail(candidate, kContextBytes)});
    d.action = policy_.action_for(d.verdict);
    decisions_.push_back(std::move(d));
    if (decisions_.back().action == GuardAction::block) {
        blocked_ = true;
        held_.clear();
        return {};
    }
    std::string out = held_.substr(0, end);
    held_.erase(0, end);
    shown_ = candidate;
    return out;
}

std::string StreamingAnswerCheck::push(std::string_view delta) {
    if (blocked_) return {};
    if (!policy_.check_answers) return std::string(delta);
    // Held text has no terminator yet, except possibly in its last bytes: a '.' waiting for the
    // whitespace after it, or the first bytes of a 3-byte CJK full stop.
    const size_t scan_from = held_.size() < 3 ? 0 : held_.size() - 3;
    held_.append(delta);
    std::string out;
    size_t end = sentence_end(held_, scan_from);
    while (end != 0 && !blocked_) {
        out += release(end);
        end = sentence_end(held_, 0);
    }
    return out;
}

std::string StreamingAnswerCheck::finish() {
    if (blocked_ || held_.empty()) return {};
    return release(held_.size());
}

}  // namespace pocket::safety
