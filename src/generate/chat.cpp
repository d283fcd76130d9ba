#include "pocket/generate/chat.h"

#include <algorithm>
#include <utility>

#include "pocket/core/error.h"
#include "pocket/tokenizer/tokenizer.h"

namespace pocket {
namespace {

ModelChatTemplate pick_template(const model::Context& ctx, const ChatOptions& o) {
    ModelChatTemplate t = chat_template_for(ctx.model(), o.template_variant);
    if (o.template_source) {
        t.tmpl = ChatTemplate(*o.template_source, "template");
        t.builtin = false;
    }
    return t;
}

std::string content_text(const nlohmann::ordered_json& content) {
    if (content.is_string()) return content.get<std::string>();
    std::string out;
    if (content.is_array()) {
        for (const auto& part : content) {
            if (part.is_object() && part.value("type", "") == "text") out += part.value("text", "");
        }
    }
    return out;
}

}  // namespace

std::vector<TokenId> tokenize_rendered(const tokenizer::Tokenizer& tok,
                                       const RenderedPrompt& prompt) {
    std::vector<TokenId> ids =
        tok.encode(prompt.text, /*add_special=*/false, /*parse_special=*/true, prompt.input_ranges);
    if (tok.add_bos() && tok.bos() != kNoToken && (ids.empty() || ids.front() != tok.bos()))
        ids.insert(ids.begin(), tok.bos());
    return ids;
}

ChatSession::ChatSession(model::Context& ctx, ChatOptions options, model::SeqId seq)
    : session_(ctx, seq), options_(std::move(options)), template_(pick_template(ctx, options_)) {}

void ChatSession::add_message(std::string role, std::string content) {
    if (role == "system") {
        set_system(std::move(content));
        return;
    }
    messages_.push_back({{"role", std::move(role)}, {"content", std::move(content)}});
}

void ChatSession::set_system(std::string system) {
    options_.system = std::move(system);
}

void ChatSession::reset() {
    messages_ = nlohmann::ordered_json::array();
}

RenderedPrompt ChatSession::render(size_t first_message, bool fold_system) const {
    ChatTemplateInputs in = template_.inputs();
    if (!options_.tools.is_null()) in.tools = options_.tools;
    in.add_generation_prompt = true;
    const bool has_system = !options_.system.empty();
    if (has_system && !fold_system)
        in.messages.push_back({{"role", "system"}, {"content", options_.system}});
    bool folded = false;
    for (size_t i = first_message; i < messages_.size(); ++i) {
        nlohmann::ordered_json m = messages_[i];
        if (has_system && fold_system && !folded && m.value("role", "") == "user") {
            m["content"] = options_.system + "\n\n" + content_text(m["content"]);
            folded = true;
        }
        in.messages.push_back(std::move(m));
    }
    return template_.tmpl.render(in);
}

ChatSession::Prompt ChatSession::build_prompt(int64_t reserve) const {
    const tokenizer::Tokenizer& tok = session_.context().model().tokenizer();
    const int64_t n_ctx = session_.context().n_ctx();
    Prompt p;
    auto render_tokens = [&](size_t first) {
        if (!p.folded) {
            try {
                return tokenize_rendered(tok, render(first, false));
            } catch (const TemplateError&) {
                // Some templates (Gemma's) raise on a system message: fold it into the first
                // user message instead, as their authors recommend.
                if (options_.system.empty()) throw;
                p.folded = true;
            }
        }
        return tokenize_rendered(tok, render(first, true));
    };
    size_t first = 0;
    for (;;) {
        p.tokens = render_tokens(first);
        const auto n = static_cast<int64_t>(p.tokens.size());
        if (n + reserve <= n_ctx) break;
        // Drop the oldest turn: messages up to (not including) the next user message, so the
        // prompt still starts with a user turn, as strict templates require.
        size_t next = first + 1;
        while (next < messages_.size() && messages_[next].value("role", "") != "user") ++next;
        if (next >= messages_.size()) {
            if (n < n_ctx) break;  // the last turn alone: generate what still fits
            throw ContextOverflow(cat("chat: the last message needs ", n,
                                      " tokens but the context holds ", n_ctx,
                                      " (raise the context size or shorten the message)"));
        }
        first = next;
        p.dropped = static_cast<int64_t>(first);
    }
    return p;
}

ChatReply ChatSession::respond(const GenerateOptions& options, const TextCallback& on_text) {
    const int64_t n_ctx = session_.context().n_ctx();
    const int64_t reserve =
        options.max_tokens > 0 ? std::min(options.max_tokens, n_ctx / 2) : n_ctx / 4;
    Prompt p = build_prompt(reserve);
    ChatReply reply;
    reply.dropped_messages = p.dropped;
    reply.system_folded = p.folded;
    reply.result = session_.generate(std::span<const TokenId>(p.tokens), options, on_text);
    if (!(reply.result.finish == FinishReason::Cancelled && reply.result.text.empty()))
        messages_.push_back({{"role", "assistant"}, {"content", reply.result.text}});
    return reply;
}

ChatReply ChatSession::send(std::string_view user_text, const GenerateOptions& options,
                            const TextCallback& on_text) {
    add_message("user", std::string(user_text));
    return respond(options, on_text);
}

std::string ChatSession::render_prompt() const {
    try {
        return render(0, false).text;
    } catch (const TemplateError&) {
        if (options_.system.empty()) throw;
        return render(0, true).text;
    }
}

nlohmann::ordered_json ChatSession::to_json() const {
    return {{"system", options_.system}, {"messages", messages_}};
}

void ChatSession::load_json(const nlohmann::ordered_json& c) {
    if (!c.is_object()) fail("chat: a saved conversation must be a JSON object");
    const auto& msgs = c.contains("messages") ? c["messages"] : nlohmann::ordered_json();
    if (!msgs.is_array()) fail("chat: a saved conversation needs a \"messages\" array");
    nlohmann::ordered_json loaded = nlohmann::ordered_json::array();
    std::string system = c.contains("system") && c["system"].is_string()
                             ? c["system"].get<std::string>()
                             : std::string();
    for (size_t i = 0; i < msgs.size(); ++i) {
        const auto& m = msgs[i];
        if (!m.is_object() || !m.contains("role") || !m["role"].is_string() ||
            !m.contains("content") || !(m["content"].is_string() || m["content"].is_array()))
            fail("chat: message ", i, " needs a string \"role\" and a \"content\"");
        if (m["role"] == "system") {
            system = content_text(m["content"]);
            continue;
        }
        loaded.push_back(m);
    }
    options_.system = std::move(system);
    messages_ = std::move(loaded);
}

}  // namespace pocket
