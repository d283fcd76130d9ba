// Helpers for the chat-template tests: the fixed clock the reference outputs were made with,
// building inputs from an expected.json case, rendering a snippet.
#pragma once

#include <ctime>
#include <string>

#include <nlohmann/json.hpp>

#include "pocket/generate/chat_template.h"

namespace pocket::test {

// 2024-07-26 12:00:00, the time the reference outputs were rendered at.
inline std::tm fixed_clock() {
    std::tm tm{};
    tm.tm_year = 2024 - 1900;
    tm.tm_mon = 6;
    tm.tm_mday = 26;
    tm.tm_hour = 12;
    tm.tm_wday = 5;  // a Friday
    tm.tm_yday = 207;
    return tm;
}

// The render call of an expected.json case: its variables, then the case's overrides.
inline ChatTemplateInputs inputs_for_case(const nlohmann::ordered_json& variables,
                                          const nlohmann::ordered_json& c) {
    ChatTemplateInputs in;
    in.messages = c["messages"];
    in.add_generation_prompt = c["add_generation_prompt"].get<bool>();
    nlohmann::ordered_json vars = variables;
    if (c.contains("variables_override"))
        for (const auto& [k, v] : c["variables_override"].items()) vars[k] = v;
    for (const auto& [k, v] : vars.items()) {
        if (k == "tools")
            in.tools = v;
        else if (k == "documents")
            in.documents = v;
        else if (k == "bos_token" && v.is_string())
            in.bos_token = v.get<std::string>();
        else if (k == "eos_token" && v.is_string())
            in.eos_token = v.get<std::string>();
        else
            in.extra[k] = v;
    }
    return in;
}

// Whether bytes [begin, end) lie inside the input ranges.
inline bool covered(const RenderedPrompt& p, size_t begin, size_t end) {
    for (size_t i = begin; i < end; ++i) {
        bool in = false;
        for (const TextRange& r : p.input_ranges) in = in || (r.begin <= i && i < r.end);
        if (!in) return false;
    }
    return true;
}

// Renders `source` with the given variables (all as extra input) and the fixed clock.
inline std::string render(const std::string& source,
                          const nlohmann::ordered_json& vars = nlohmann::ordered_json::object()) {
    ChatTemplate t(source, "test");
    t.set_clock(fixed_clock);
    ChatTemplateInputs in;
    in.extra = vars;
    return t.render_text(in);
}

}  // namespace pocket::test
