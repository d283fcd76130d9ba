// Fuzz target: the Jinja chat-template renderer (parse and render).
//   byte 0, bit 0 clear: the rest is a template, rendered with fixed messages that use every
//                        field templates look at (system, tools, tool calls, tool results,
//                        content parts, documents, extra variables).
//   byte 0, bit 0 set:   byte 1 picks one of the real templates in the shared data; the rest is
//                        the conversation: a JSON array of messages when it parses as one
//                        (hostile shapes: content that is a number, missing roles, ...),
//                        otherwise the text of a user message (hostile text: "<|im_end|>",
//                        "{{", invalid UTF-8, ...).
//   byte 0, bit 1:       add_generation_prompt.
// Templates that do not parse or fail while rendering must end in pocket::TemplateError (a
// pocket::Error); the renderer's own bounds (output size, nesting, steps) keep it finite.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fuzz_support.h"
#include "pocket/generate/chat_template.h"

namespace {

using json = nlohmann::ordered_json;

std::tm fixed_time() {
    std::tm t{};
    t.tm_year = 124;
    t.tm_mon = 6;
    t.tm_mday = 26;
    t.tm_hour = 12;
    return t;
}

const std::vector<pocket::ChatTemplate>& shared_templates() {
    static const std::vector<pocket::ChatTemplate> templates = [] {
        std::vector<std::filesystem::path> paths;
        for (const auto& e :
             std::filesystem::directory_iterator(pocket::fuzz::shared_path("templates")))
            if (e.path().extension() == ".jinja") paths.push_back(e.path());
        std::sort(paths.begin(), paths.end());
        if (paths.empty()) throw std::runtime_error("fuzz target: no templates in the shared data");
        std::vector<pocket::ChatTemplate> out;
        for (const auto& p : paths) {
            out.emplace_back(pocket::fuzz::read_required(p), p.filename().string());
            out.back().set_clock(fixed_time);
        }
        return out;
    }();
    return templates;
}

pocket::ChatTemplateInputs fixed_inputs() {
    pocket::ChatTemplateInputs in;
    const json call = {{"id", "call_1"},
                       {"type", "function"},
                       {"function", {{"name", "get_weather"}, {"arguments", {{"city", "Paris"}}}}}};
    in.messages = json::array({
        {{"role", "system"}, {"content", "You are helpful."}},
        {{"role", "user"}, {"content", "Weather in Paris?"}},
        {{"role", "assistant"}, {"content", nullptr}, {"tool_calls", json::array({call})}},
        {{"role", "tool"},
         {"tool_call_id", "call_1"},
         {"name", "get_weather"},
         {"content", "{\"c\":21}"}},
        {{"role", "assistant"}, {"content", "It is 21 C."}},
        {{"role", "user"},
         {"content", json::array({{{"type", "text"}, {"text", "Thanks"}}, {{"type", "image"}}})}},
    });
    in.tools = json::array({{{"type", "function"},
                             {"function",
                              {{"name", "get_weather"},
                               {"description", "Current weather"},
                               {"parameters",
                                {{"type", "object"},
                                 {"properties", {{"city", {{"type", "string"}}}}},
                                 {"required", {"city"}}}}}}}});
    in.documents = json::array({{{"title", "Doc"}, {"text", "Paris is in France."}}});
    in.bos_token = "<s>";
    in.eos_token = "</s>";
    in.extra = {{"enable_thinking", false}, {"custom", {1, "two", nullptr, 3.5}}};
    return in;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1) return 0;
    const uint8_t mode = data[0];
    try {
        if ((mode & 1) == 0) {
            static const pocket::ChatTemplateInputs inputs = fixed_inputs();
            pocket::ChatTemplate tmpl(std::string(pocket::fuzz::as_text(data + 1, size - 1)),
                                      "fuzz");
            tmpl.set_clock(fixed_time);
            pocket::ChatTemplateInputs in = inputs;
            in.add_generation_prompt = mode & 2;
            (void)tmpl.render(in);
            return 0;
        }
        if (size < 2) return 0;
        const auto& templates = shared_templates();
        const pocket::ChatTemplate& tmpl = templates[data[1] % templates.size()];
        const std::string_view rest = pocket::fuzz::as_text(data + 2, size - 2);
        pocket::ChatTemplateInputs in;
        json messages = json::parse(rest, nullptr, /*allow_exceptions=*/false);
        if (messages.is_array()) {
            in.messages = std::move(messages);
        } else {
            in.messages = json::array({{{"role", "system"}, {"content", std::string(rest)}},
                                       {{"role", "user"}, {"content", std::string(rest)}}});
        }
        in.bos_token = "<s>";
        in.eos_token = "</s>";
        in.add_generation_prompt = mode & 2;
        const pocket::RenderedPrompt out = tmpl.render(in);
        // The provenance ranges must lie inside the text, sorted and disjoint.
        size_t last = 0;
        for (const auto& r : out.input_ranges) {
            if (r.begin < last || r.end < r.begin || r.end > out.text.size()) __builtin_trap();
            last = r.end;
        }
    } catch (const pocket::Error&) {
    }
    return 0;
}
