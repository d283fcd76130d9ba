// Tool calls (OpenAI `tools` / `tool_calls`) in the formats real chat templates teach their
// models. A model calls a tool by writing text in its family's own syntax, e.g. Qwen 2.5:
//
//   <tool_call>
//   {"name": "get_weather", "arguments": {"city": "Zürich"}}
//   </tool_call>
//
// This component knows those syntaxes: which one a template uses (from its Jinja source), how to
// pull calls out of generated text (whole, or incrementally while streaming), a GBNF grammar that
// forces a call (tool_choice "required" or a named function), and how to shape OpenAI messages so
// the templates render earlier calls and their results.
//
// Generated text must include the text of special tokens (GenerateOptions::render_special), since
// several formats open a call with one: [TOOL_CALLS], <|python_tag|>, <|START_ACTION|>, the
// DeepSeek <｜tool▁calls▁begin｜> family.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace pocket {

enum class ToolCallFormat {
    None,            // the template has no tool support (or one not listed here)
    Hermes,          // <tool_call>{"name": .., "arguments": {..}}</tool_call>: Qwen 2.5, Hermes 2/3
    Llama3Json,      // {"name": .., "parameters": {..}}, maybe after <|python_tag|>: Llama 3.1-3.3
    MistralNemo,     // [TOOL_CALLS][{"name": .., "arguments": {..}, "id": ..}, ..]
    FunctionaryV31,  // <function=name>{..}</function>, or <|python_tag|>code
    FunctionaryV32,  // >>>name\n{..}; >>>all\n starts text. The generation prompt ends with
                     // ">>>", so the output's first recipient comes bare ("all\nHi", "f\n{..}")
    Firefunction,    // functools[{"name": .., "arguments": {..}}, ..]
    CommandR7B,      // <|START_ACTION|>[{"tool_call_id": .., "tool_name": .., "parameters": ..}]
                     // <|END_ACTION|>
    DeepSeekR1,  // <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>name\n
                 // ```json\n{..}\n```<｜tool▁call▁end｜>..<｜tool▁calls▁end｜>
};

// The format a chat template's Jinja source teaches, recognised by strings only that format's
// templates contain (the same markers llama.cpp looks for). None when the template has no tool
// support.
ToolCallFormat detect_tool_call_format(std::string_view template_source);
// "none", "hermes", "llama3-json", "mistral-nemo", "functionary-v3.1", "functionary-v3.2",
// "firefunction", "command-r7b", "deepseek-r1".
std::string_view tool_call_format_name(ToolCallFormat format);

struct ToolCall {
    std::string id;  // the model's id where the format carries one, else generated
    std::string name;
    std::string arguments;  // JSON text, as the model wrote it (an object, normally)
};

struct ParsedToolCalls {
    std::string content;  // the text outside the calls (markers and whitespace around calls go)
    std::vector<ToolCall> calls;
};

// Parses a complete model output. Text that looks like a call but is not one (bad JSON, missing
// name) stays in content; never throws on model output. Whitespace around a call belongs to it.
// A closing marker missing at the very end is forgiven (models often stop at end-of-turn
// instead). Formats that carry no ids get "call_" + 24 random alphanumerics; Mistral Nemo calls
// without an id get 9 (its template requires exactly 9). Command R7B's ids ("0", "1", ...) repeat
// every turn, so its calls get generated ids too.
ParsedToolCalls parse_tool_calls(ToolCallFormat format, std::string_view output);

// One piece of a tool call in OpenAI's streaming shape: the first delta of a call carries index,
// id and name (and maybe the start of the arguments); later ones only append to arguments.
struct ToolCallDelta {
    size_t index = 0;
    std::string id;    // empty after the first delta of a call
    std::string name;  // empty after the first delta of a call
    std::string arguments;
};

// Incremental parse_tool_calls for streaming. feed() each piece of generated text as it comes;
// each call returns what is certain by then: content that can no longer belong to a call (a
// possible start of a call marker, and whitespace before one, is held back) and call deltas.
// finish() flushes what is held back. All content and argument text is cut at UTF-8 character
// boundaries, so every delta is valid UTF-8 if the input is.
//
// Concatenating the deltas gives exactly what parse_tool_calls returns for the whole text,
// however the text is split, with one exception: with stream_arguments, a call whose arguments
// already began streaming and that then turns out malformed keeps what was sent (the rest of its
// text becomes content), since a stream cannot take deltas back. Without stream_arguments each
// call is sent whole, in one delta, once it is complete; the equality then always holds.
class ToolCallStreamParser {
  public:
    struct Options {
        // Send arguments as they are generated (name first), where the format allows: not for
        // formats whose id comes after the arguments (Mistral Nemo), nor for arguments written as
        // a JSON string or python code.
        bool stream_arguments = true;
    };
    struct Delta {
        // Content decided by this feed. A Delta does not order content against calls; pieces
        // are tokens, which rarely hold both (send content first).
        std::string content;
        std::vector<ToolCallDelta> calls;  // in order; index counts calls from 0
        bool empty() const { return content.empty() && calls.empty(); }
    };

    explicit ToolCallStreamParser(ToolCallFormat format)
        : ToolCallStreamParser(format, Options{}) {}
    ToolCallStreamParser(ToolCallFormat format, Options options);

    Delta feed(std::string_view piece);
    // The end of the output: everything still held back is decided.
    Delta finish();
    // How many calls have been started so far.
    size_t n_calls() const { return n_calls_; }

  private:
    friend ParsedToolCalls parse_tool_calls(ToolCallFormat, std::string_view);
    Delta drain(bool final);
    void skip_separators(bool final);
    void emit_group(Delta& out, const std::vector<ToolCall>& calls);
    void emit_call(Delta& out, const ToolCall& call);
    void emit_partial(Delta& out, const std::string& name, const std::string& arguments);
    void end_group();

    ToolCallFormat format_;
    Options options_;
    std::string pending_;          // undecided text
    bool at_start_ = true;         // nothing of the output decided yet
    bool skip_separator_ = false;  // whitespace after a call belongs to it
    size_t n_calls_ = 0;
    // The group of calls (one marker, maybe several calls) being written: how many of its calls
    // went out whole, and for the one being streamed, whether its first delta went out and the
    // argument text sent so far.
    size_t group_sent_ = 0;
    bool partial_open_ = false;
    std::string partial_args_;
};

// GBNF (for Grammar::parse_gbnf / GrammarConstraint) whose sentences are exactly one call (with
// `parallel`, one or more) in the format, naming one of `tools` (OpenAI shape:
// [{"type": "function", "function": {"name", "parameters"}}]; other entries are ignored) or only
// `only_function`, with arguments valid under the tool's `parameters` JSON schema (see
// json_schema.h for what is supported). For tool_choice "required" or a named function. Throws
// pocket::Error for format None, no usable tool, an unknown only_function or an unsupported schema.
// Call markers that are special tokens ([TOOL_CALLS], <|START_ACTION|>, DeepSeek's) appear as
// text: GrammarConstraint only lets ordinary tokens spell them.
std::string tool_call_grammar(ToolCallFormat format, const nlohmann::ordered_json& tools,
                              std::optional<std::string> only_function, bool parallel);

// OpenAI messages reshaped for the format's templates: assistant tool_calls arguments become
// objects where the templates `tojson` them (Hermes, Llama 3, Mistral Nemo, Command R7B) and stay
// JSON strings where they concatenate them (Functionary, Firefunction, DeepSeek R1); null content
// becomes "" (except next to DeepSeek R1 calls, which its templates print only when the content
// is none); tool messages get the function's "name" when missing (looked up by tool_call_id);
// for Mistral Nemo, ids that are not 9 alphanumerics are mapped (deterministically, the same in
// tool_calls and tool_call_id) to ones that are, since its template rejects others.
// Throws pocket::Error when `openai_messages` is not an array of objects.
nlohmann::ordered_json messages_for_template(ToolCallFormat format,
                                             const nlohmann::ordered_json& openai_messages);

// Extra template variables (ChatTemplateInputs::extra) a format's template needs when tools are
// given: Firefunction reads `functions` (the tools as JSON text; "" without tools) and
// `datetime` (now, UTC), and fails without them. An empty object for the others.
nlohmann::ordered_json tool_template_variables(ToolCallFormat format,
                                               const nlohmann::ordered_json& tools);

// A fresh call id for the format: "call_" + 24 random alphanumerics, or 9 for Mistral Nemo.
std::string make_tool_call_id(ToolCallFormat format);

}  // namespace pocket
