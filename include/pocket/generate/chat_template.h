// Chat templates: turning a conversation (messages, tools, documents) into the prompt text a model
// was trained on. Real models ship their template as Jinja2 source (GGUF metadata
// `tokenizer.chat_template`); ChatTemplate interprets the subset of Jinja2 those templates use and
// renders exactly what Python Jinja2 renders with the options transformers sets (trim_blocks,
// lstrip_blocks, loop controls, a json.dumps-style `tojson`, `raise_exception`, `strftime_now`).
//
// Provenance: the result says which bytes came from the caller's data (message text, tools,
// documents, extra variables). Those bytes must be tokenized as plain text, never as special
// tokens, so that a user who types "<|im_end|>" cannot end a turn. Template literals and the
// bos/eos tokens are trusted and lie outside every input range.
#pragma once

#include <cstddef>
#include <ctime>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>
#include "pocket/core/text_range.h"

#include <nlohmann/json.hpp>

#include "pocket/core/error.h"

namespace pocket {

namespace gguf {
class File;
}
namespace tokenizer {
class Tokenizer;
}
namespace model {
class Model;
}
namespace jinja {
struct Program;
}

// TextRange (bytes [begin, end) of a rendered prompt) lives in pocket/core/text_range.h, shared
// with the tokenizer, which keeps special tokens out of those ranges.

struct RenderedPrompt {
    std::string text;
    std::vector<TextRange> input_ranges;  // sorted, disjoint, merged: bytes that came from inputs
};

// A template that does not parse, or fails while rendering (unknown filter, type error, undefined
// variable used wrongly, `raise_exception(...)`). kind() is the Python exception name Jinja2 would
// raise ("TemplateSyntaxError", "TypeError", "UndefinedError", "TemplateError" for
// raise_exception, ...), message() its text; what() reads "NAME:LINE:COLUMN: KIND: MESSAGE".
class TemplateError : public Error {
  public:
    TemplateError(std::string kind, std::string message, std::string template_name, int line,
                  int column);
    const std::string& kind() const { return kind_; }
    const std::string& message() const { return message_; }
    // "KIND: MESSAGE", as Python prints the exception.
    std::string description() const { return kind_ + ": " + message_; }
    int line() const { return line_; }
    int column() const { return column_; }

  private:
    std::string kind_;
    std::string message_;
    int line_;
    int column_;
};

struct ChatTemplateInputs {
    // [{"role": ..., "content": string or [{"type": "text", "text": ...}, ...], ...}, ...]
    nlohmann::ordered_json messages = nlohmann::ordered_json::array();
    nlohmann::ordered_json tools;      // null renders as `none` (as transformers passes it)
    nlohmann::ordered_json documents;  // null renders as `none`
    bool add_generation_prompt = true;
    std::optional<std::string> bos_token;  // nullopt: undefined in the template
    std::optional<std::string> eos_token;
    // More variables (e.g. {"enable_thinking": false}); they override the ones above.
    nlohmann::ordered_json extra = nlohmann::ordered_json::object();
};

class ChatTemplate {
  public:
    // strftime_now's notion of "now", as local broken-down time.
    using Clock = std::function<std::tm()>;

    // Parses once; throws TemplateError on a syntax error. `name` appears in error messages.
    explicit ChatTemplate(std::string source, std::string name = "chat_template");
    ~ChatTemplate();
    ChatTemplate(ChatTemplate&&) noexcept;
    ChatTemplate& operator=(ChatTemplate&&) noexcept;

    // Throws TemplateError. Bounded: output over 8 MiB, nesting deeper than 256 or too many
    // evaluation steps are errors, whatever the template does.
    RenderedPrompt render(const ChatTemplateInputs& inputs) const;
    std::string render_text(const ChatTemplateInputs& inputs) const { return render(inputs).text; }

    const std::string& source() const { return source_; }
    const std::string& name() const { return name_; }
    // Default: the current local time.
    void set_clock(Clock clock) { clock_ = std::move(clock); }

  private:
    std::string source_;
    std::string name_;
    std::shared_ptr<const jinja::Program> program_;
    Clock clock_;
};

// A ChatML template, for models that ship none.
std::string_view builtin_chat_template();

// The template a model ships: GGUF `tokenizer.chat_template`, or the named variant
// `tokenizer.chat_template.<variant>` (e.g. "tool_use"; pocket::Error when missing). A model with
// no template gets builtin_chat_template() and builtin = true, so front ends can say so.
struct ModelChatTemplate {
    ChatTemplate tmpl;
    bool builtin = false;
    std::optional<std::string>
        bos_token;  // the vocabulary's BOS/EOS text; nullopt when it has none
    std::optional<std::string> eos_token;
    // Inputs with bos_token/eos_token filled in.
    ChatTemplateInputs inputs() const;
};
ModelChatTemplate chat_template_for(const gguf::File& file, const tokenizer::Tokenizer& tokenizer,
                                    std::string_view variant = "");
ModelChatTemplate chat_template_for(const model::Model& model, std::string_view variant = "");

}  // namespace pocket
