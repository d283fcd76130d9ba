// A conversation with a model in its own chat format: messages are rendered with the model's chat
// template (pocket/generate/chat_template.h), tokenized so that nothing the user wrote can act as
// a special token, and answered through a Session, which reuses every token of the conversation
// the cache already holds (a new turn costs its new tokens only).
//
// When a conversation outgrows the context, the oldest turns after the system prompt are left out
// of the prompt (never out of the history: messages() and to_json() keep everything), and the
// reply says how many were left out, so front ends can tell the user.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "pocket/generate/chat_template.h"
#include "pocket/generate/session.h"

namespace pocket {

struct ChatOptions {
    std::string system;  // system prompt; empty: none
    // Named template variant from the model (e.g. "tool_use"); empty: the default template.
    std::string template_variant;
    // Template source to use instead of the model's.
    std::optional<std::string> template_source;
    // OpenAI-style tool definitions passed to the template; null: none.
    nlohmann::ordered_json tools;
};

struct ChatReply {
    GenerateResult result;
    // Messages of the history (oldest first, after the system prompt) that no longer fit in the
    // context and were left out of this turn's prompt.
    int64_t dropped_messages = 0;
    // The system prompt was folded into the first user message because the template rejects a
    // system role (Gemma's does).
    bool system_folded = false;
};

// Renders with the template and tokenizes the result: special tokens of the template are parsed,
// bytes that came from the inputs never are; BOS is added when the vocabulary asks for it and the
// rendered text does not already start with it.
std::vector<TokenId> tokenize_rendered(const tokenizer::Tokenizer& tokenizer,
                                       const RenderedPrompt& prompt);

class ChatSession {
  public:
    // Uses sequence `seq` of `ctx`. Throws TemplateError for a template that does not parse.
    explicit ChatSession(model::Context& ctx, ChatOptions options = {}, model::SeqId seq = 0);

    // Adds a user message and generates the assistant's reply, which joins the history (unless
    // the generation was cancelled before producing any text).
    ChatReply send(std::string_view user_text, const GenerateOptions& options,
                   const TextCallback& on_text = {});
    // Generates the next assistant message for the history as it is.
    ChatReply respond(const GenerateOptions& options, const TextCallback& on_text = {});

    void add_message(std::string role, std::string content);
    void set_system(std::string system);
    const std::string& system() const { return options_.system; }
    // Forgets the conversation (the system prompt stays).
    void reset();

    // The history without the system prompt: [{"role": ..., "content": ...}, ...].
    const nlohmann::ordered_json& messages() const { return messages_; }
    // {"system": ..., "messages": [...]}, and back (pocket::Error on a malformed document).
    nlohmann::ordered_json to_json() const;
    void load_json(const nlohmann::ordered_json& conversation);

    // The prompt text the model would see now for the next reply (for display and debugging).
    std::string render_prompt() const;

    bool template_is_builtin() const { return template_.builtin; }
    const ChatTemplate& chat_template() const { return template_.tmpl; }
    Session& session() { return session_; }

  private:
    struct Prompt {
        std::vector<TokenId> tokens;
        int64_t dropped = 0;
        bool folded = false;
    };
    RenderedPrompt render(size_t first_message, bool fold_system) const;
    Prompt build_prompt(int64_t reserve) const;

    Session session_;
    ChatOptions options_;
    ModelChatTemplate template_;
    nlohmann::ordered_json messages_ = nlohmann::ordered_json::array();
};

}  // namespace pocket
