// Which call syntax a chat template teaches, from strings that only that family's templates
// contain. The order matters where families share markers: Functionary v3.1 and Firefunction are
// Llama 3 templates too, and Hermes-style <tool_call> beats everything else.
#include <ctime>
#include <nlohmann/json.hpp>

#include "pocket/generate/tool_calls.h"

namespace pocket {

namespace {

bool has(std::string_view source, std::string_view marker) {
    return source.find(marker) != std::string_view::npos;
}

// "Jan 29 2025 13:00:00 GMT", the form Firefunction's template says "Today is" with.
std::string utc_now() {
    std::time_t now = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&now, &tm);
    char buf[64];
    size_t n = std::strftime(buf, sizeof buf, "%b %d %Y %H:%M:%S GMT", &tm);
    return std::string(buf, n);
}

}  // namespace

ToolCallFormat detect_tool_call_format(std::string_view src) {
    if (has(src, "<｜tool▁calls▁begin｜>")) return ToolCallFormat::DeepSeekR1;
    if (has(src, "<|END_THINKING|><|START_ACTION|>")) return ToolCallFormat::CommandR7B;
    if (has(src, "<tool_call>")) return ToolCallFormat::Hermes;
    if (has(src, ">>>all")) return ToolCallFormat::FunctionaryV32;
    if (has(src, " functools[")) return ToolCallFormat::Firefunction;
    if (has(src, "<|start_header_id|>") && has(src, "<function=")) {
        return ToolCallFormat::FunctionaryV31;
    }
    if (has(src, "<|start_header_id|>ipython<|end_header_id|>")) return ToolCallFormat::Llama3Json;
    if (has(src, "[TOOL_CALLS]")) return ToolCallFormat::MistralNemo;
    return ToolCallFormat::None;
}

std::string_view tool_call_format_name(ToolCallFormat format) {
    switch (format) {
        case ToolCallFormat::None:
            return "none";
        case ToolCallFormat::Hermes:
            return "hermes";
        case ToolCallFormat::Llama3Json:
            return "llama3-json";
        case ToolCallFormat::MistralNemo:
            return "mistral-nemo";
        case ToolCallFormat::FunctionaryV31:
            return "functionary-v3.1";
        case ToolCallFormat::FunctionaryV32:
            return "functionary-v3.2";
        case ToolCallFormat::Firefunction:
            return "firefunction";
        case ToolCallFormat::CommandR7B:
            return "command-r7b";
        case ToolCallFormat::DeepSeekR1:
            return "deepseek-r1";
    }
    return "none";
}

nlohmann::ordered_json tool_template_variables(ToolCallFormat format,
                                               const nlohmann::ordered_json& tools) {
    nlohmann::ordered_json vars = nlohmann::ordered_json::object();
    if (format == ToolCallFormat::Firefunction) {
        // Its template prints `functions` verbatim and fails when either variable is undefined.
        bool any = tools.is_array() && !tools.empty();
        vars["functions"] = any ? tools.dump(2) : "";
        vars["datetime"] = utc_now();
    }
    return vars;
}

}  // namespace pocket
