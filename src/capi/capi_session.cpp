// The C API's sessions: plain and chat generation with streaming and cancellation
// (include/pocket.h). A session is one Context (its own KV cache) with a ChatSession on sequence
// 0; plain generation goes through the same Session, so both kinds reuse the cached prefix.
#include <nlohmann/json.hpp>

#include "capi/capi_internal.h"
#include "pocket/generate/grammar.h"
#include "pocket/tokenizer/tokenizer.h"

using namespace pocket;
using capi::guarded;
using capi::require;
using capi::StatusError;

namespace {

pocket_session_options session_defaults() {
    pocket_session_options options{};
    options.struct_size = sizeof options;
    options.n_ctx = 0;
    options.n_batch = 512;
    return options;
}

pocket_generate_options generate_defaults() {
    pocket_generate_options options{};
    options.struct_size = sizeof options;
    const SamplingParams defaults;
    options.max_tokens = 256;
    options.temperature = defaults.temperature;
    options.top_k = defaults.top_k;
    options.top_p = defaults.top_p;
    options.min_p = defaults.min_p;
    options.repeat_penalty = defaults.repeat_penalty;
    options.repeat_last_n = defaults.repeat_last_n;
    options.frequency_penalty = defaults.frequency_penalty;
    options.presence_penalty = defaults.presence_penalty;
    options.seed = POCKET_RANDOM_SEED;
    return options;
}

std::shared_ptr<const VocabularyIndex> grammar_vocab(const pocket_model& model) {
    std::lock_guard lock(model.grammar_vocab_mutex);
    if (!model.grammar_vocab) {
        model.grammar_vocab = VocabularyIndex::build(model.model->tokenizer());
    }
    return model.grammar_vocab;
}

// The C options as libpocket's GenerateOptions; bad values are the caller's mistake.
GenerateOptions to_generate_options(const pocket_session& session,
                                    const pocket_generate_options* given) {
    const auto o = capi::read_options(given, generate_defaults());
    GenerateOptions options;
    options.max_tokens = o.max_tokens;
    options.sampling.temperature = o.temperature;
    options.sampling.top_k = o.top_k;
    options.sampling.top_p = o.top_p;
    options.sampling.min_p = o.min_p;
    options.sampling.repeat_penalty = o.repeat_penalty;
    options.sampling.repeat_last_n = o.repeat_last_n;
    options.sampling.frequency_penalty = o.frequency_penalty;
    options.sampling.presence_penalty = o.presence_penalty;
    options.sampling.seed = o.seed;
    options.ignore_eos = o.ignore_eos != 0;
    if (o.n_stop > 0) require(o.stop, "stop");
    for (size_t i = 0; i < o.n_stop; ++i) {
        if (o.stop[i] == nullptr)
            throw StatusError(POCKET_ERR_INVALID_ARGUMENT, cat("stop string ", i, " is NULL"));
        options.stop.emplace_back(o.stop[i]);
    }
    const int constraints =
        (o.grammar != nullptr) + (o.json_schema != nullptr) + (o.json_object != 0);
    if (constraints > 1) {
        throw StatusError(POCKET_ERR_INVALID_ARGUMENT,
                          "give at most one of grammar, json_schema and json_object");
    }
    if (constraints == 1) {
        std::shared_ptr<const Grammar> grammar;
        if (o.grammar != nullptr) {
            grammar = std::make_shared<const Grammar>(Grammar::parse_gbnf(o.grammar));
        } else if (o.json_schema != nullptr) {
            nlohmann::ordered_json schema;
            try {
                schema = nlohmann::ordered_json::parse(o.json_schema);
            } catch (const nlohmann::json::exception& e) {
                throw StatusError(POCKET_ERR_INVALID_ARGUMENT,
                                  cat("json_schema is not valid JSON: ", e.what()));
            }
            grammar = std::make_shared<const Grammar>(Grammar::from_json_schema(schema));
        } else {
            grammar = std::make_shared<const Grammar>(Grammar::json());
        }
        options.constraints.push_back(std::make_shared<const GrammarConstraint>(
            std::move(grammar), grammar_vocab(*session.model)));
    }
    return options;
}

TextCallback to_text_callback(pocket_text_callback on_text, void* user_data) {
    if (on_text == nullptr) return {};
    return [on_text, user_data](std::string_view piece) {
        return on_text(piece.data(), piece.size(), user_data) == 0;
    };
}

pocket_finish_reason to_finish(FinishReason reason) {
    switch (reason) {
        case FinishReason::Eos:
            return POCKET_FINISH_EOS;
        case FinishReason::Stop:
            return POCKET_FINISH_STOP;
        case FinishReason::Cancelled:
            return POCKET_FINISH_CANCELLED;
        case FinishReason::Length:
            break;
    }
    return POCKET_FINISH_LENGTH;
}

void report(pocket_session& session, GenerateResult&& r, pocket_generation* result) {
    session.text = std::move(r.text);
    if (result == nullptr) return;
    if (result->struct_size < sizeof(size_t) || result->struct_size > sizeof(pocket_generation)) {
        throw StatusError(POCKET_ERR_INVALID_ARGUMENT,
                          cat("result struct_size ", result->struct_size,
                              " is not one this library knows (set it to sizeof)"));
    }
    pocket_generation full{};
    full.struct_size = result->struct_size;
    full.finish = to_finish(r.finish);
    full.text = session.text.c_str();
    full.text_length = session.text.size();
    full.prompt_tokens = r.prompt_tokens;
    full.reused_tokens = r.reused_tokens;
    full.completion_tokens = r.completion_tokens;
    full.prompt_ms = r.prompt_ms;
    full.generate_ms = r.generate_ms;
    full.seed = r.seed;
    std::memcpy(static_cast<void*>(result), &full, result->struct_size);
}

pocket_session& session_of(pocket_session* session) {
    require(session, "session");
    return *session;
}

}  // namespace

extern "C" {

pocket_status pocket_session_options_init(pocket_session_options* options, size_t struct_size) {
    return guarded(POCKET_ERR_INVALID_ARGUMENT, [&] {
        capi::init_options(options, struct_size, session_defaults());
        return POCKET_OK;
    });
}

pocket_status pocket_session_create(const pocket_model* model,
                                    const pocket_session_options* options,
                                    pocket_session** out_session) {
    return guarded(POCKET_ERR_INVALID_ARGUMENT, [&] {
        require(out_session, "out_session");
        *out_session = nullptr;
        require(model, "model");
        const auto o = capi::read_options(options, session_defaults());
        if (o.n_ctx < 0 || o.n_batch <= 0) {
            throw StatusError(
                POCKET_ERR_INVALID_ARGUMENT,
                cat("n_ctx must be >= 0 and n_batch > 0 (got ", o.n_ctx, " and ", o.n_batch, ")"));
        }
        auto session = std::make_unique<pocket_session>();
        session->model = model;
        model::ContextParams params;
        params.n_ctx = o.n_ctx;
        params.n_batch = o.n_batch;
        // A bad name or a type the rows do not fit throws pocket::Error, which this function
        // reports as POCKET_ERR_INVALID_ARGUMENT.
        if (o.cache_type_k != nullptr && *o.cache_type_k != '\0')
            params.type_k = model::kv_cache_type_from_name(o.cache_type_k);
        if (o.cache_type_v != nullptr && *o.cache_type_v != '\0')
            params.type_v = model::kv_cache_type_from_name(o.cache_type_v);
        session->context = std::make_unique<model::Context>(*model->model, params);
        ChatOptions chat;
        if (o.system_prompt != nullptr) chat.system = o.system_prompt;
        if (o.chat_template != nullptr) chat.template_source = std::string(o.chat_template);
        session->chat = std::make_unique<ChatSession>(*session->context, std::move(chat));
        *out_session = session.release();
        return POCKET_OK;
    });
}

void pocket_session_free(pocket_session* session) {
    delete session;
}

pocket_status pocket_generate_options_init(pocket_generate_options* options, size_t struct_size) {
    return guarded(POCKET_ERR_INVALID_ARGUMENT, [&] {
        capi::init_options(options, struct_size, generate_defaults());
        return POCKET_OK;
    });
}

pocket_status pocket_session_generate(pocket_session* session, const char* prompt,
                                      const pocket_generate_options* options,
                                      pocket_text_callback on_text, void* user_data,
                                      pocket_generation* result) {
    return guarded(POCKET_ERR_INTERNAL, [&] {
        auto& s = session_of(session);
        require(prompt, "prompt");
        const auto generate = to_generate_options(s, options);
        const auto& tokenizer = s.model->model->tokenizer();
        const auto tokens = tokenizer.encode(prompt, /*add_special=*/true, /*parse_special=*/false);
        auto r = s.chat->session().generate(tokens, generate, to_text_callback(on_text, user_data));
        report(s, std::move(r), result);
        return POCKET_OK;
    });
}

pocket_status pocket_session_generate_tokens(pocket_session* session, const int32_t* tokens,
                                             size_t n_tokens,
                                             const pocket_generate_options* options,
                                             pocket_text_callback on_text, void* user_data,
                                             pocket_generation* result) {
    return guarded(POCKET_ERR_INTERNAL, [&] {
        auto& s = session_of(session);
        if (n_tokens == 0) throw StatusError(POCKET_ERR_INVALID_ARGUMENT, "the prompt is empty");
        require(tokens, "tokens");
        const auto generate = to_generate_options(s, options);
        const auto n_vocab = s.model->model->tokenizer().n_vocab();
        for (size_t i = 0; i < n_tokens; ++i) {
            if (tokens[i] < 0 || static_cast<size_t>(tokens[i]) >= n_vocab) {
                throw StatusError(POCKET_ERR_INVALID_ARGUMENT,
                                  cat("token ", i, " (id ", tokens[i],
                                      ") is outside the vocabulary of ", n_vocab));
            }
        }
        auto r = s.chat->session().generate(std::span<const TokenId>(tokens, n_tokens), generate,
                                            to_text_callback(on_text, user_data));
        report(s, std::move(r), result);
        return POCKET_OK;
    });
}

pocket_status pocket_session_chat(pocket_session* session, const char* user_message,
                                  const pocket_generate_options* options,
                                  pocket_text_callback on_text, void* user_data,
                                  pocket_generation* result) {
    return guarded(POCKET_ERR_INTERNAL, [&] {
        auto& s = session_of(session);
        require(user_message, "user_message");
        const auto generate = to_generate_options(s, options);
        auto reply = s.chat->send(user_message, generate, to_text_callback(on_text, user_data));
        report(s, std::move(reply.result), result);
        return POCKET_OK;
    });
}

pocket_status pocket_session_add_message(pocket_session* session, const char* role,
                                         const char* content) {
    return guarded(POCKET_ERR_INVALID_ARGUMENT, [&] {
        auto& s = session_of(session);
        require(role, "role");
        require(content, "content");
        const std::string_view r = role;
        if (r != "user" && r != "assistant" && r != "tool") {
            throw StatusError(POCKET_ERR_INVALID_ARGUMENT,
                              cat("role '", r,
                                  "' is not user, assistant or tool (the system "
                                  "prompt is a session option)"));
        }
        s.chat->add_message(std::string(r), content);
        return POCKET_OK;
    });
}

const char* pocket_session_conversation_json(pocket_session* session) {
    if (session == nullptr) return "";
    try {
        session->conversation =
            session->chat->to_json().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    } catch (...) {
        session->conversation = "{}";
    }
    return session->conversation.c_str();
}

pocket_status pocket_session_reset(pocket_session* session) {
    return guarded(POCKET_ERR_INTERNAL, [&] {
        auto& s = session_of(session);
        s.chat->reset();
        s.chat->session().reset();
        s.text.clear();
        return POCKET_OK;
    });
}

void pocket_session_cancel(pocket_session* session) {
    if (session != nullptr) session->chat->session().cancel();
}

}  // extern "C"
