#include "pocket/generate/chat_template.h"

#include "generate/jinja/ast.h"
#include "generate/jinja/interpreter.h"
#include "generate/jinja/lexer.h"
#include "pocket/gguf/gguf.h"
#include "pocket/model/model.h"
#include "pocket/tokenizer/tokenizer.h"

namespace pocket {
namespace {

// ChatML, as llama.cpp and transformers fall back to for models without a template.
constexpr std::string_view kChatML =
    "{%- for message in messages -%}\n"
    "{{- '<|im_start|>' + message['role'] + '\\n' }}\n"
    "{%- if message['content'] is string -%}\n"
    "{{- message['content'] }}\n"
    "{%- else -%}\n"
    "{%- for part in message['content'] if part['type'] == 'text' -%}\n"
    "{{- part['text'] }}\n"
    "{%- endfor -%}\n"
    "{%- endif -%}\n"
    "{{- '<|im_end|>\\n' }}\n"
    "{%- endfor -%}\n"
    "{%- if add_generation_prompt -%}\n"
    "{{- '<|im_start|>assistant\\n' }}\n"
    "{%- endif -%}\n";

std::tm local_now() {
    const std::time_t t = std::time(nullptr);
    std::tm tm{};
    localtime_r(&t, &tm);
    return tm;
}

TemplateError located(const jinja::Fault& f, const std::string& source, size_t offset,
                      const std::string& name) {
    int line = 0, column = 0;
    jinja::line_column(source, offset, line, column);
    return TemplateError(f.kind, f.message, name, line, column);
}

}  // namespace

TemplateError::TemplateError(std::string kind, std::string message, std::string template_name,
                             int line, int column)
    : Error(cat(template_name, ":", line, ":", column, ": ", kind, ": ", message)),
      kind_(std::move(kind)),
      message_(std::move(message)),
      line_(line),
      column_(column) {}

ChatTemplate::ChatTemplate(std::string source, std::string name)
    : source_(std::move(source)), name_(std::move(name)), clock_(local_now) {
    std::string normalized = jinja::normalize_source(source_);
    size_t offset = 0;
    try {
        program_ = jinja::parse(normalized, offset);
    } catch (const jinja::Fault& f) {
        throw located(f, normalized, offset, name_);
    }
}

ChatTemplate::~ChatTemplate() = default;
ChatTemplate::ChatTemplate(ChatTemplate&&) noexcept = default;
ChatTemplate& ChatTemplate::operator=(ChatTemplate&&) noexcept = default;

RenderedPrompt ChatTemplate::render(const ChatTemplateInputs& inputs) const {
    using jinja::Value;
    std::unordered_map<std::string, Value> globals;
    jinja::add_globals(globals);
    size_t offset = 0;
    jinja::Text out;
    try {
        // Everything the caller passes is input (its strings cannot form special tokens), except
        // the bos/eos texts, which are the vocabulary's own and meant to be special.
        globals["messages"] = jinja::from_json(inputs.messages, true);
        globals["tools"] = jinja::from_json(inputs.tools, true);
        globals["documents"] = jinja::from_json(inputs.documents, true);
        globals["add_generation_prompt"] = Value(inputs.add_generation_prompt);
        if (inputs.bos_token) globals["bos_token"] = Value(jinja::Text(*inputs.bos_token));
        if (inputs.eos_token) globals["eos_token"] = Value(jinja::Text(*inputs.eos_token));
        if (inputs.extra.is_object())
            for (const auto& [k, v] : inputs.extra.items()) globals[k] = jinja::from_json(v, true);
        jinja::Interpreter interpreter(*program_, clock_);
        out = interpreter.render(std::move(globals), offset);
    } catch (const jinja::Fault& f) {
        throw located(f, program_->source, offset, name_);
    }
    return RenderedPrompt{std::move(out.bytes), std::move(out.input)};
}

std::string_view builtin_chat_template() {
    return kChatML;
}

ChatTemplateInputs ModelChatTemplate::inputs() const {
    ChatTemplateInputs in;
    in.bos_token = bos_token;
    in.eos_token = eos_token;
    return in;
}

ModelChatTemplate chat_template_for(const gguf::File& file, const tokenizer::Tokenizer& tok,
                                    std::string_view variant) {
    const std::string key = variant.empty() ? std::string("tokenizer.chat_template")
                                            : cat("tokenizer.chat_template.", variant);
    std::optional<std::string> source = file.get_string(key);
    if (!source && !variant.empty())
        fail("model has no chat template named '", variant, "' (", key, ")");
    const bool builtin = !source;
    ModelChatTemplate m{ChatTemplate(builtin ? std::string(kChatML) : *source,
                                     builtin ? "builtin ChatML template" : key),
                        builtin, std::nullopt, std::nullopt};
    if (tok.bos() != kNoToken) m.bos_token = tok.token_to_piece(tok.bos(), true);
    if (tok.eos() != kNoToken) m.eos_token = tok.token_to_piece(tok.eos(), true);
    return m;
}

ModelChatTemplate chat_template_for(const model::Model& model, std::string_view variant) {
    return chat_template_for(model.file(), model.tokenizer(), variant);
}

}  // namespace pocket
