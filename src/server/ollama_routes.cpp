// Ollama's API: /api/chat, /api/generate (newline-delimited JSON streams), /api/embed and the
// older /api/embeddings, /api/tags, /api/ps, /api/show, /api/version. Shapes follow Ollama's
// docs/api.md so the official `ollama` clients work unchanged.
#include <charconv>

#include "pocket/core/sha256.h"
#include "pocket/tokenizer/tokenizer.h"
#include "server/generation.h"
#include "server/request_guard.h"
#include "server/streaming.h"

namespace pocket::server {
namespace {

using Clock = std::chrono::steady_clock;
const std::string kVersion = "0.1.0";

int64_t ns_since(Clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t).count();
}

std::string now_rfc3339() {
    return iso8601_utc(std::chrono::system_clock::now());
}

std::string ndjson(const json& line) {
    return dump_json(line) + "\n";
}

// keep_alive: seconds as a number, or a Go duration string ("5m", "1h30m", "10s", "-1").
std::optional<std::chrono::milliseconds> keep_alive(const json& body) {
    const auto it = body.find("keep_alive");
    if (it == body.end() || it->is_null()) return std::nullopt;
    if (it->is_number()) {
        const double s = as_number(*it, "keep_alive", -1e9, 1e9);
        return std::chrono::milliseconds(static_cast<int64_t>(s * 1000));
    }
    const std::string& text = as_string(*it, "keep_alive");
    const auto bad = [&] {
        return bad_request("`keep_alive` must be seconds or a duration such as \"5m\"",
                           "keep_alive");
    };
    if (text.empty()) throw bad();
    double total_ms = 0;
    const char* p = text.data();
    const char* end = text.data() + text.size();
    const bool negative = *p == '-';
    if (negative) ++p;
    while (p < end) {
        double value = 0;
        const auto [next, ec] = std::from_chars(p, end, value);
        if (ec != std::errc()) throw bad();
        p = next;
        double unit = 1000;  // a bare number is seconds
        if (p < end) {
            if (*p == 'h') {
                unit = 3.6e6;
                ++p;
            } else if (*p == 'm' && p + 1 < end && p[1] == 's') {
                unit = 1;
                p += 2;
            } else if (*p == 'm') {
                unit = 6e4;
                ++p;
            } else if (*p == 's') {
                ++p;
            } else {
                throw bad();
            }
        }
        total_ms += value * unit;
    }
    if (total_ms > 1e15) throw bad();
    return std::chrono::milliseconds(static_cast<int64_t>(negative ? -total_ms : total_ms));
}

std::string done_reason(FinishReason r) {
    return r == FinishReason::Length ? "length" : "stop";
}

json parameter_details(const model::ModelEntry& e) {
    std::string size;
    if (e.n_params) {
        const double n = static_cast<double>(*e.n_params);
        size = n >= 1e9 ? cat(std::round(n / 1e8) / 10, "B") : cat(std::round(n / 1e5) / 10, "M");
    }
    std::string quant = e.type;
    for (char& c : quant) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return {{"parent_model", ""},       {"format", e.format},
            {"family", e.architecture}, {"families", json::array({e.architecture})},
            {"parameter_size", size},   {"quantization_level", quant}};
}

// A stable digest for a model file: its path, size and modification time (hashing gigabytes
// of weights for a listing would be far too slow).
std::string model_digest(const model::ModelEntry& e) {
    const std::string id =
        cat(e.path.string(), "|", e.size_bytes, "|", file_time(e.path).time_since_epoch().count());
    return sha256_hex(std::string_view(id));
}

std::string modified_at(const model::ModelEntry& e) {
    return iso8601_utc(file_time(e.path));
}

json tool_calls_json(const std::vector<ToolCall>& calls) {
    json out = json::array();
    for (const ToolCall& c : calls) {
        json args = json::parse(c.arguments, nullptr, false);
        if (args.is_discarded()) args = c.arguments;
        out.push_back({{"function", {{"name", c.name}, {"arguments", std::move(args)}}}});
    }
    return out;
}

// Everything one /api/chat or /api/generate request needs once the model runs.
struct OllamaGeneration {
    ServerContext* ctx = nullptr;
    std::shared_ptr<const serve::LoadedModel> model;
    std::shared_ptr<serve::GenerationStream> stream;
    bool chat = true;
    bool streaming = true;
    ToolCallFormat tool_format = ToolCallFormat::None;
    std::vector<TokenId> prompt;  // for /api/generate's returned context
    Clock::time_point started;
    int64_t load_ns = 0;
    // --guard: the decisions; the refusal when the prompt was blocked (nothing is generated, and
    // /api/generate returns the context it was given); the answer's check.
    std::shared_ptr<RequestGuard> guard;
    std::optional<std::string> refusal;
    std::vector<TokenId> context_in;
    AnswerGuard answer;

    json head() const { return {{"model", model->name()}, {"created_at", now_rfc3339()}}; }
    json piece(const std::string& text) const {
        json line = head();
        if (chat) {
            line["message"] = {{"role", "assistant"}, {"content", text}};
        } else {
            line["response"] = text;
        }
        line["done"] = false;
        return line;
    }
    // The final line: counts and durations, and for a non-streamed answer the whole text (as
    // the guard passed it). Ollama has no value for a content filter: a blocked answer says
    // "content_filter", which clients pass on or ignore, and its text ends with the refusal.
    json last(const GenerateResult& r, const std::string* answer, bool blocked) const {
        json line = head();
        std::string text = answer ? *answer : std::string();
        json calls;
        if (tool_format != ToolCallFormat::None && answer && !blocked) {
            ParsedToolCalls parsed = parse_tool_calls(tool_format, *answer);
            if (!parsed.calls.empty()) {
                text = parsed.content;
                calls = tool_calls_json(parsed.calls);
            }
        }
        if (chat) {
            line["message"] = {{"role", "assistant"}, {"content", text}};
            if (!calls.is_null()) line["message"]["tool_calls"] = calls;
        } else {
            line["response"] = text;
        }
        line["done"] = true;
        line["done_reason"] = blocked ? "content_filter" : done_reason(r.finish);
        if (!chat) {
            std::vector<TokenId> context = prompt;
            context.insert(context.end(), r.tokens.begin(), r.tokens.end());
            line["context"] = context;
        }
        line["total_duration"] = ns_since(started);
        line["load_duration"] = load_ns;
        line["prompt_eval_count"] = r.prompt_tokens;
        line["prompt_eval_duration"] = static_cast<int64_t>(r.prompt_ms * 1e6);
        line["eval_count"] = r.completion_tokens;
        line["eval_duration"] = static_cast<int64_t>(r.generate_ms * 1e6);
        with_guard(line);
        return line;
    }
    // The final line for a blocked prompt: nothing was generated.
    json refused(bool with_text) const {
        json line = head();
        const std::string text = with_text ? *refusal : std::string();
        if (chat) {
            line["message"] = {{"role", "assistant"}, {"content", text}};
        } else {
            line["response"] = text;
        }
        line["done"] = true;
        line["done_reason"] = "content_filter";
        if (!chat) line["context"] = context_in;
        line["total_duration"] = ns_since(started);
        line["load_duration"] = load_ns;
        line["prompt_eval_count"] = 0;
        line["prompt_eval_duration"] = 0;
        line["eval_count"] = 0;
        line["eval_duration"] = 0;
        with_guard(line);
        return line;
    }
    // The guard's warn and block decisions, as in the OpenAI routes (an extension field).
    void with_guard(json& line) const {
        if (guard && !guard->reported().empty()) line["pocket"] = {{"guard", guard->reported()}};
    }
};

void respond(OllamaGeneration g, httplib::Response& res) {
    if (g.refusal) {
        if (!g.streaming) {
            send_json(res, g.refused(true));
        } else {
            res.set_content(ndjson(g.piece(*g.refusal)) + ndjson(g.refused(false)),
                            "application/x-ndjson");
        }
        return;
    }
    if (!g.streaming) {
        const GenerateResult& r = g.stream->wait();
        record_generation(*g.ctx, *g.stream, r);
        // The guard reads the whole answer sentence by sentence, as a stream would show it.
        std::string text = g.answer.push(r.text);
        if (!g.answer.blocked()) text += g.answer.finish();
        g.guard->record_answer(g.answer);
        const bool blocked = g.answer.blocked();
        if (blocked) text = with_refusal(std::move(text), g.guard->refusal_for(g.answer));
        send_json(res, g.last(r, &text, blocked));
        return;
    }
    auto state = std::make_shared<OllamaGeneration>(std::move(g));
    // Tool calls are parsed from the whole answer: they arrive in the last line.
    auto parser = std::make_shared<std::optional<ToolCallStreamParser>>();
    if (state->tool_format != ToolCallFormat::None) parser->emplace(state->tool_format);
    res.set_chunked_content_provider(
        "application/x-ndjson",
        [state, parser](size_t, httplib::DataSink& sink) {
            StreamPump pump(sink, {state->stream});
            std::string content;  // what the stream parser passed as text, for the last line
            std::vector<ToolCall> calls;
            const auto text_lines = [&](const std::string& text) -> std::string {
                if (!*parser) return text.empty() ? std::string() : ndjson(state->piece(text));
                const auto d = (*parser)->feed(text);
                for (const auto& c : d.calls) {
                    if (c.index >= calls.size()) calls.push_back({c.id, c.name, ""});
                    calls[c.index].arguments += c.arguments;
                }
                return d.content.empty() ? std::string() : ndjson(state->piece(d.content));
            };
            // Text reaches the client once the guard has passed its sentence; a blocked sentence
            // ends the answer (the generation is cancelled, the refusal follows).
            const auto on_event = [&](size_t, serve::StreamEvent& e) -> std::string {
                if (state->answer.blocked()) return {};
                const std::string text = state->answer.push(e.text);
                if (state->answer.blocked()) state->stream->cancel();
                return text_lines(text);
            };
            const auto on_end = [&](size_t) -> std::string {
                try {
                    const GenerateResult& r = state->stream->result();
                    record_generation(*state->ctx, *state->stream, r);
                    std::string out;
                    if (!state->answer.blocked()) out += text_lines(state->answer.finish());
                    const bool blocked = state->answer.blocked();
                    state->guard->record_answer(state->answer);
                    json last = state->last(r, nullptr, blocked);
                    if (*parser) {
                        const auto d = (*parser)->finish();
                        for (const auto& c : d.calls) {
                            if (c.index >= calls.size()) calls.push_back({c.id, c.name, ""});
                            calls[c.index].arguments += c.arguments;
                        }
                        if (!d.content.empty()) out += ndjson(state->piece(d.content));
                        if (!calls.empty()) last["message"]["tool_calls"] = tool_calls_json(calls);
                    }
                    if (blocked) {
                        const std::string& shown = state->answer.shown();
                        out += ndjson(state->piece(
                            with_refusal(shown, state->guard->refusal_for(state->answer))
                                .substr(shown.size())));
                    }
                    return out + ndjson(last);
                } catch (const ApiError& e) {
                    return ndjson(ollama_error_body(e));
                } catch (const std::exception& e) {
                    return ndjson(json{{"error", e.what()}});
                }
            };
            if (!pump.run(on_event, on_end, "")) return false;
            sink.done();
            return true;
        },
        CancelOnRelease{{state->stream}});
}

OllamaGeneration start(ServerContext& ctx, const json& body, bool chat) {
    OllamaGeneration g;
    g.ctx = &ctx;
    g.chat = chat;
    g.started = Clock::now();
    const std::string name = required(string(body, "model"), "model");
    g.model = ctx.model(name);
    g.load_ns = ns_since(g.started);
    if (!g.model->is_generator())
        throw bad_request(cat("model '", g.model->name(), "' is an embedding model"), "model");
    ctx.pool.touch(g.model->name(), keep_alive(body));
    request_record().model = g.model->name();
    g.streaming = boolean(body, "stream").value_or(true);
    GenerateOptions options = ollama_options(body, *g.model);
    if (const auto f = body.find("format"); f != body.end() && !f->is_null()) {
        if (f->is_string()) {
            const std::string format = f->get<std::string>();
            if (format == "json") {
                constrain_to_json(options, ctx, *g.model);
            } else if (!format.empty()) {
                throw bad_request("`format` must be \"json\" or a JSON schema", "format");
            }
        } else {
            constrain_to_schema(options, ctx, *g.model, *f, "format");
        }
    }
    g.guard = std::make_shared<RequestGuard>(ctx);
    std::string guard_prompt;  // what the guard reads: the last user message, or the prompt
    if (chat) {
        ToolRequest tools = parse_tools(body);
        const json& messages = required(array(body, "messages"), "messages");
        guard_prompt = last_user_text(messages);
        ChatPrompt prompt = chat_prompt(*g.model, messages, tools, true);
        g.tool_format = prompt.tool_format;
        if (g.tool_format != ToolCallFormat::None) options.render_special = true;
        g.prompt = std::move(prompt.tokens);
        if (ctx.options.log_prompts) request_record().prompt = prompt.text;
    } else {
        const std::string text = string(body, "prompt").value_or("");
        guard_prompt = text;
        if (ctx.options.log_prompts) request_record().prompt = text;
        if (boolean(body, "raw").value_or(false)) {
            g.prompt = text_prompt(*g.model, text);
        } else {
            json messages = json::array();
            if (auto system = string(body, "system")) {
                messages.push_back({{"role", "system"}, {"content", *system}});
            }
            messages.push_back({{"role", "user"}, {"content", text}});
            g.prompt = chat_prompt(*g.model, messages, {}, true).tokens;
        }
        // A previous answer's context continues the conversation.
        if (const json* context = array(body, "context")) {
            std::vector<TokenId> ids;
            const auto n_vocab = static_cast<int64_t>(g.model->model().tokenizer().n_vocab());
            for (size_t i = 0; i < context->size(); ++i)
                ids.push_back(static_cast<TokenId>(
                    as_integer((*context)[i], index_path("context", i), 0, n_vocab - 1)));
            g.context_in = ids;
            ids.insert(ids.end(), g.prompt.begin(), g.prompt.end());
            g.prompt = std::move(ids);
        }
    }
    // The prompt is checked once the request is known to be valid, before anything runs.
    g.refusal = g.guard->check_prompt(guard_prompt);
    if (g.refusal) return g;
    g.answer = g.guard->answer(guard_prompt);
    g.stream = submit(*g.model, g.prompt, std::move(options));
    return g;
}

void generate(ServerContext& ctx, const httplib::Request& req, httplib::Response& res) {
    const json body = parse_body(req.body);
    const auto prompt = body.find("prompt");
    if (prompt == body.end() || (prompt->is_string() && prompt->get<std::string>().empty())) {
        // An empty prompt loads (or with keep_alive 0 unloads) the model, as in Ollama.
        const std::string name = required(string(body, "model"), "model");
        auto m = ctx.model(name);
        const auto keep = keep_alive(body);
        ctx.pool.touch(m->name(), keep);
        const bool unload = keep && keep->count() == 0;
        send_json(res, {{"model", m->name()},
                        {"created_at", now_rfc3339()},
                        {"response", ""},
                        {"done", true},
                        {"done_reason", unload ? "unload" : "load"}});
        return;
    }
    respond(start(ctx, body, false), res);
}

void embed(ServerContext& ctx, const httplib::Request& req, httplib::Response& res, bool legacy) {
    const auto started = Clock::now();
    const json body = parse_body(req.body);
    auto m = embedding_model(ctx, required(string(body, "model"), "model"));
    const int64_t load_ns = ns_since(started);
    ctx.pool.touch(m->name(), keep_alive(body));
    request_record().model = m->name();
    const std::string field = legacy ? "prompt" : "input";
    const auto input = body.find(field);
    if (input == body.end()) throw missing_field(field);
    const std::vector<std::string> texts = embedding_inputs(*input, field);
    const embed::Embedder& embedder = m->embedder();
    const auto vectors = embedder.embed_batch(texts);
    int64_t tokens = 0;
    for (const auto& t : texts) tokens += static_cast<int64_t>(embedder.count_tokens(t));
    ctx.metrics.add_prompt_tokens(static_cast<uint64_t>(tokens));
    request_record().prompt_tokens = tokens;
    if (legacy) {
        send_json(res, {{"embedding", vectors.front()}});
        return;
    }
    send_json(res, {{"model", m->name()},
                    {"embeddings", vectors},
                    {"total_duration", ns_since(started)},
                    {"load_duration", load_ns},
                    {"prompt_eval_count", tokens}});
}

json model_listing(const serve::PoolModelInfo& info, bool running) {
    json m = {{"name", info.entry.name},
              {"model", info.entry.name},
              {"size", info.entry.size_bytes},
              {"digest", model_digest(info.entry)},
              {"details", parameter_details(info.entry)}};
    if (running) {
        m["size"] = info.memory_bytes;
        m["size_vram"] = 0;
        m["expires_at"] = info.expires ? iso8601_utc(*info.expires) : "9999-12-31T23:59:59Z";
    } else {
        m["modified_at"] = modified_at(info.entry);
    }
    return m;
}

}  // namespace

void add_ollama_routes(httplib::Server& http, ServerContext& ctx) {
    add_post(http, ctx, "/api/chat", [&ctx](const httplib::Request& req, httplib::Response& res) {
        respond(start(ctx, parse_body(req.body), true), res);
    });
    add_post(
        http, ctx, "/api/generate",
        [&ctx](const httplib::Request& req, httplib::Response& res) { generate(ctx, req, res); });
    add_post(http, ctx, "/api/embed", [&ctx](const httplib::Request& req, httplib::Response& res) {
        embed(ctx, req, res, false);
    });
    add_post(http, ctx, "/api/embeddings",
             [&ctx](const httplib::Request& req, httplib::Response& res) {
                 embed(ctx, req, res, true);
             });
    http.Get("/api/tags", [&ctx](const httplib::Request&, httplib::Response& res) {
        json models = json::array();
        for (const auto& info : ctx.pool.list()) models.push_back(model_listing(info, false));
        send_json(res, {{"models", std::move(models)}});
    });
    http.Get("/api/ps", [&ctx](const httplib::Request&, httplib::Response& res) {
        json models = json::array();
        for (const auto& info : ctx.pool.list()) {
            if (info.loaded) models.push_back(model_listing(info, true));
        }
        send_json(res, {{"models", std::move(models)}});
    });
    add_post(http, ctx, "/api/show", [&ctx](const httplib::Request& req, httplib::Response& res) {
        const json body = parse_body(req.body);
        std::string name = string(body, "model").value_or("");
        if (name.empty()) name = required(string(body, "name"), "model");
        for (const auto& info : ctx.pool.list()) {
            if (info.entry.name != name && info.entry.name + ":latest" != name) continue;
            auto m = ctx.model(info.entry.name);
            json out = {{"modelfile", ""},
                        {"parameters", ""},
                        {"details", parameter_details(info.entry)},
                        {"model_info",
                         {{"general.architecture", info.entry.architecture},
                          {"general.parameter_count", info.entry.n_params.value_or(0)}}},
                        {"modified_at", modified_at(info.entry)}};
            out["template"] = m->is_generator() ? m->chat_template().tmpl.source() : "";
            send_json(res, out);
            return;
        }
        throw not_found_model(name);
    });
    http.Get("/api/version", [](const httplib::Request&, httplib::Response& res) {
        send_json(res, {{"version", kVersion}});
    });
}

}  // namespace pocket::server
