// OpenAI messages reshaped for chat templates. OpenAI sends a call's arguments as a JSON string;
// templates that `tojson` them would print that string quoted, so those get an object, as
// transformers and llama.cpp pass them. Templates that concatenate them with `+` need the string.
#include <cctype>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>

#include "pocket/core/error.h"
#include "pocket/generate/tool_calls.h"

namespace pocket {

namespace {

using nlohmann::ordered_json;

bool wants_object_arguments(ToolCallFormat format) {
    switch (format) {
        case ToolCallFormat::Hermes:
        case ToolCallFormat::Llama3Json:
        case ToolCallFormat::MistralNemo:
        case ToolCallFormat::CommandR7B:
            return true;
        default:
            return false;
    }
}

bool is_mistral_id(const std::string& id) {
    if (id.size() != 9) return false;
    for (char c : id) {
        if (!std::isalnum(static_cast<unsigned char>(c))) return false;
    }
    return true;
}

// A stable 9-alphanumeric stand-in for any id (FNV-1a), so a call and its result still match.
std::string mistral_id(const std::string& id) {
    if (is_mistral_id(id)) return id;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (char c : id) h = (h ^ static_cast<uint8_t>(c)) * 0x100000001b3ULL;
    static constexpr std::string_view kChars =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    std::string out;
    for (int i = 0; i < 9; ++i, h /= kChars.size()) out += kChars[h % kChars.size()];
    return out;
}

void reshape_arguments(ToolCallFormat format, ordered_json& function) {
    if (!function.is_object() || !function.contains("arguments")) return;
    ordered_json& args = function["arguments"];
    if (wants_object_arguments(format) && args.is_string()) {
        // Text that is not JSON stays a string: the template prints something rather than fail.
        ordered_json parsed = ordered_json::parse(args.get<std::string>(), nullptr, false);
        if (!parsed.is_discarded()) args = std::move(parsed);
    } else if (!wants_object_arguments(format) && format != ToolCallFormat::None &&
               !args.is_string()) {
        args = args.dump();
    }
}

// Reshapes one assistant message's calls and remembers each call's function name by id.
void reshape_calls(ToolCallFormat format, ordered_json& calls,
                   std::map<std::string, std::string>& names) {
    for (ordered_json& call : calls) {
        if (!call.is_object()) continue;
        if (call.contains("function")) {
            reshape_arguments(format, call["function"]);
            const ordered_json& fn = call["function"];
            if (call.contains("id") && call["id"].is_string() && fn.is_object() &&
                fn.contains("name") && fn["name"].is_string()) {
                names[call["id"].get<std::string>()] = fn["name"].get<std::string>();
            }
        }
        if (format == ToolCallFormat::MistralNemo && call.contains("id") &&
            call["id"].is_string()) {
            call["id"] = mistral_id(call["id"].get<std::string>());
        }
    }
}

void reshape_tool_result(ToolCallFormat format, ordered_json& msg,
                         const std::map<std::string, std::string>& names) {
    if (!msg.contains("tool_call_id") || !msg["tool_call_id"].is_string()) return;
    std::string id = msg["tool_call_id"].get<std::string>();
    // Some templates (Functionary, Hermes) print the function's name with its result.
    if (!msg.contains("name")) {
        if (auto it = names.find(id); it != names.end()) msg["name"] = it->second;
    }
    if (format == ToolCallFormat::MistralNemo) msg["tool_call_id"] = mistral_id(id);
}

}  // namespace

ordered_json messages_for_template(ToolCallFormat format, const ordered_json& openai_messages) {
    if (!openai_messages.is_array()) fail("messages: expected an array");
    ordered_json out = ordered_json::array();
    std::map<std::string, std::string> names;  // tool_call_id -> function name
    for (const ordered_json& message : openai_messages) {
        if (!message.is_object()) fail("messages: each message must be an object");
        ordered_json msg = message;
        // Templates concatenate content as a string; OpenAI sends null next to tool_calls.
        if (msg.contains("content") && msg["content"].is_null()) msg["content"] = "";
        if (msg.contains("tool_calls") && msg["tool_calls"].is_array()) {
            reshape_calls(format, msg["tool_calls"], names);
            if (!msg.contains("content")) msg["content"] = "";
            // DeepSeek's templates print the calls only when the content is none.
            if (format == ToolCallFormat::DeepSeekR1 && msg["content"] == "")
                msg["content"] = nullptr;
        }
        if (msg.contains("role") && msg["role"] == "tool") reshape_tool_result(format, msg, names);
        out.push_back(std::move(msg));
    }
    return out;
}

}  // namespace pocket
