// Grammars that force a tool call: the format's markers as literals around each tool's name and
// a JSON Schema grammar for its arguments. Each tool's schema is converted on its own (its $refs
// are relative to its own root) and its rules get a per-tool prefix, so tools cannot clash.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "pocket/core/error.h"
#include "pocket/generate/json_schema.h"
#include "pocket/generate/tool_calls.h"

namespace pocket {

namespace {

using nlohmann::ordered_json;

struct Tool {
    std::string name;
    ordered_json parameters;
};

std::vector<Tool> select_tools(const ordered_json& tools, const std::optional<std::string>& only) {
    if (!tools.is_array()) fail("tool call grammar: tools must be an array");
    std::vector<Tool> out;
    for (const ordered_json& tool : tools) {
        if (!tool.is_object() || tool.value("type", ordered_json()) != "function") continue;
        const ordered_json& fn = tool.value("function", ordered_json());
        if (!fn.is_object() || !fn.contains("name") || !fn["name"].is_string()) continue;
        std::string name = fn["name"].get<std::string>();
        if (only && name != *only) continue;
        ordered_json params = fn.value("parameters", ordered_json());
        if (params.is_null()) params = {{"type", "object"}};
        out.push_back({name, params});
    }
    if (out.empty()) {
        fail("tool call grammar: ",
             only ? cat("no function named '", *only, "' among the tools") : "no function tools");
    }
    return out;
}

bool is_rule_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

// Copies a quoted literal, class or repetition count starting at text[i], up to `close`.
size_t copy_delimited(std::string_view text, size_t i, char close, std::string& out) {
    size_t j = i + 1;
    while (j < text.size() && text[j] != close) j += text[j] == '\\' ? 2 : 1;
    j = std::min(j + 1, text.size());
    out.append(text.substr(i, j - i));
    return j;
}

// Prefixes every rule name in GBNF text (as json_schema_to_gbnf writes it: names, literals,
// classes and counts), leaving the text inside literals, classes and counts alone.
std::string prefix_rules(std::string_view gbnf, const std::string& prefix) {
    std::string out;
    for (size_t i = 0; i < gbnf.size();) {
        char c = gbnf[i];
        if (c == '"') {
            i = copy_delimited(gbnf, i, '"', out);
        } else if (c == '[') {
            i = copy_delimited(gbnf, i, ']', out);
        } else if (c == '{') {
            i = copy_delimited(gbnf, i, '}', out);
        } else if (is_rule_char(c)) {
            size_t j = i;
            while (j < gbnf.size() && is_rule_char(gbnf[j])) ++j;
            out += prefix;
            out.append(gbnf.substr(i, j - i));
            i = j;
        } else {
            out += c;
            ++i;
        }
    }
    return out;
}

bool has_refs(const ordered_json& schema) {
    if (schema.is_object()) {
        if (schema.contains("$ref")) return true;
        for (const auto& [key, value] : schema.items()) {
            if (has_refs(value)) return true;
        }
    } else if (schema.is_array()) {
        for (const auto& value : schema) {
            if (has_refs(value)) return true;
        }
    }
    return false;
}

// Local $refs rewritten to point below `base`, where the schema is moved.
void rebase_refs(ordered_json& schema, const std::string& base) {
    if (schema.is_object()) {
        for (auto& [key, value] : schema.items()) {
            if (key == "$ref" && value.is_string() && value.get<std::string>().rfind("#", 0) == 0) {
                value = base + value.get<std::string>().substr(1);
            } else {
                rebase_refs(value, base);
            }
        }
    } else if (schema.is_array()) {
        for (auto& value : schema) rebase_refs(value, base);
    }
}

// The JSON object of a call: {"<name_key>": "<name>", "<args_key>": <arguments>}, the
// arguments' schema kept where its $refs still resolve.
ordered_json call_object_schema(const Tool& tool, const char* name_key, const char* args_key,
                                ordered_json leading = ordered_json::object()) {
    ordered_json schema = {{"type", "object"}};
    ordered_json props = std::move(leading);
    props[name_key] = {{"const", tool.name}};
    ordered_json required = ordered_json::array();
    for (const auto& [key, value] : props.items()) required.push_back(key);
    if (has_refs(tool.parameters)) {
        ordered_json params = tool.parameters;
        rebase_refs(params, "#/$defs/tool-parameters");
        schema["$defs"] = {{"tool-parameters", params}};
        props[args_key] = {{"$ref", "#/$defs/tool-parameters"}};
    } else {
        props[args_key] = tool.parameters;
    }
    required.push_back(args_key);
    schema["properties"] = props;
    schema["required"] = required;
    schema["additionalProperties"] = false;
    return schema;
}

class GrammarText {
  public:
    // Adds the rules for `schema` under a fresh prefix; returns the name of their root.
    std::string add_schema(const ordered_json& schema) {
        std::string prefix = cat("t", n_schemas_++, "-");
        text_ += prefix_rules(json_schema_to_gbnf(schema), prefix);
        return prefix + "root";
    }
    void rule(const std::string& name, const std::string& body) {
        text_ += cat(name, " ::= ", body, "\n");
    }
    const std::string& text() const { return text_; }

  private:
    std::string text_;
    int n_schemas_ = 0;
};

std::string alternatives(const std::vector<std::string>& items) {
    if (items.size() == 1) return items[0];
    std::string out = "( ";
    for (size_t i = 0; i < items.size(); ++i) out += (i ? " | " : "") + items[i];
    return out + " )";
}

// `item`, or with `parallel` one or more separated by `sep`.
std::string repeated(const std::string& item, const std::string& sep, bool parallel) {
    return parallel ? cat(item, " ( ", sep, " ", item, " )*") : item;
}

// Formats whose calls are JSON objects naming the function.
std::string object_call(GrammarText& g, const std::vector<Tool>& tools, const char* name_key,
                        const char* args_key, ordered_json leading = ordered_json::object()) {
    std::vector<std::string> roots;
    for (const Tool& tool : tools) {
        roots.push_back(g.add_schema(call_object_schema(tool, name_key, args_key, leading)));
    }
    g.rule("tool-call", alternatives(roots));
    return "tool-call";
}

// Formats that write the name as text and then the bare arguments object.
std::string named_call(GrammarText& g, const std::vector<Tool>& tools, const std::string& before,
                       const std::string& between, const std::string& after) {
    std::vector<std::string> calls;
    for (const Tool& tool : tools) {
        std::string call =
            cat(gbnf_literal(before + tool.name + between), " ", g.add_schema(tool.parameters));
        if (!after.empty()) call += cat(" ", gbnf_literal(after));
        calls.push_back(std::move(call));
    }
    g.rule("tool-call", alternatives(calls));
    return "tool-call";
}

void build(GrammarText& g, ToolCallFormat format, const std::vector<Tool>& tools, bool parallel) {
    switch (format) {
        case ToolCallFormat::Hermes: {
            std::string call = object_call(g, tools, "name", "arguments");
            g.rule("tool-block", cat("\"<tool_call>\\n\" ", call, " \"\\n</tool_call>\""));
            g.rule("root", repeated("tool-block", "\"\\n\"", parallel));
            return;
        }
        case ToolCallFormat::Llama3Json:
            g.rule("root",
                   repeated(object_call(g, tools, "name", "parameters"), "\"\\n\"", parallel));
            return;
        case ToolCallFormat::MistralNemo: {
            std::string call = object_call(g, tools, "name", "arguments");
            g.rule("root", cat("\"[TOOL_CALLS][\" ", repeated(call, "\", \"", parallel), " \"]\""));
            return;
        }
        case ToolCallFormat::Firefunction: {
            std::string call = object_call(g, tools, "name", "arguments");
            g.rule("root",
                   cat("\" \"? \"functools[\" ", repeated(call, "\", \"", parallel), " \"]\""));
            return;
        }
        case ToolCallFormat::CommandR7B: {
            ordered_json id = {{"tool_call_id", {{"type", "string"}, {"maxLength", 4}}}};
            std::string call = object_call(g, tools, "tool_name", "parameters", id);
            g.rule("root", cat("\"<|START_ACTION|>[\" ", repeated(call, "\",\"", parallel),
                               " \"]<|END_ACTION|>\""));
            return;
        }
        case ToolCallFormat::FunctionaryV31:
            g.rule("root",
                   repeated(named_call(g, tools, "<function=", ">", "</function>"), "", parallel));
            return;
        case ToolCallFormat::FunctionaryV32:
            // The generation prompt ends with ">>>": the first call starts with its name.
            g.rule("root", repeated(named_call(g, tools, "", "\n", ""), "\">>>\"", parallel));
            return;
        case ToolCallFormat::DeepSeekR1: {
            std::string call = named_call(g, tools, "<｜tool▁call▁begin｜>function<｜tool▁sep｜>",
                                          "\n```json\n", "\n```<｜tool▁call▁end｜>");
            g.rule("root", cat("\"<｜tool▁calls▁begin｜>\" ", repeated(call, "\"\\n\"", parallel),
                               " \"<｜tool▁calls▁end｜>\""));
            return;
        }
        case ToolCallFormat::None:
            break;
    }
    fail("tool call grammar: the chat template has no tool call format");
}

}  // namespace

std::string tool_call_grammar(ToolCallFormat format, const ordered_json& tools,
                              std::optional<std::string> only_function, bool parallel) {
    if (format == ToolCallFormat::None) {
        fail("tool call grammar: the chat template has no tool call format");
    }
    std::vector<Tool> selected = select_tools(tools, only_function);
    GrammarText g;
    build(g, format, selected, parallel);
    return g.text();
}

}  // namespace pocket
