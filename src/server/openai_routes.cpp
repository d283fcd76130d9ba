// The OpenAI API: /v1/chat/completions, /v1/completions, /v1/embeddings, /v1/models.
// Response shapes follow api.openai.com so the official clients parse them unchanged.
#include <cmath>
#include <cstring>
#include <deque>

#include "pocket/tokenizer/tokenizer.h"
#include "server/chat_completion.h"
#include "server/cloud_routes.h"
#include "server/generation.h"
#include "server/rag_routes.h"
#include "server/request_guard.h"
#include "server/streaming.h"

namespace pocket::server {
namespace {

constexpr int64_t kMaxChoices = 16;
constexpr size_t kMaxPrompts = 16;
constexpr size_t kMaxEmbeddingInputs = 2048;
const std::string kFingerprint = "pocket-0.1.0";

std::string finish_name(FinishReason reason) {
    return reason == FinishReason::Length ? "length" : "stop";
}

json token_bytes(const std::string& piece) {
    json bytes = json::array();
    for (const unsigned char c : piece) bytes.push_back(static_cast<int>(c));
    return bytes;
}

// Chat logprobs: {"content": [{token, logprob, bytes, top_logprobs: [...]}], "refusal": null}.
json chat_logprobs(const tokenizer::Tokenizer& tok, std::span<const TokenLogprob> lps) {
    json content = json::array();
    for (const TokenLogprob& lp : lps) {
        const std::string piece = tok.token_to_piece(lp.token, true);
        json top = json::array();
        for (const TokenAlternative& alt : lp.top) {
            const std::string alt_piece = tok.token_to_piece(alt.token, true);
            top.push_back({{"token", alt_piece},
                           {"logprob", alt.logprob},
                           {"bytes", token_bytes(alt_piece)}});
        }
        content.push_back({{"token", piece},
                           {"logprob", lp.logprob},
                           {"bytes", token_bytes(piece)},
                           {"top_logprobs", std::move(top)}});
    }
    return {{"content", std::move(content)}, {"refusal", nullptr}};
}

// Completions logprobs (the legacy shape): tokens, token_logprobs, top_logprobs, text_offset.
json completion_logprobs(const tokenizer::Tokenizer& tok, std::span<const TokenLogprob> lps,
                         size_t offset) {
    json tokens = json::array(), token_lps = json::array(), tops = json::array(),
         offsets = json::array();
    for (const TokenLogprob& lp : lps) {
        const std::string piece = tok.token_to_piece(lp.token, true);
        tokens.push_back(piece);
        token_lps.push_back(lp.logprob);
        json top = json::object();
        for (const TokenAlternative& alt : lp.top)
            top[tok.token_to_piece(alt.token, true)] = alt.logprob;
        tops.push_back(std::move(top));
        offsets.push_back(offset);
        offset += piece.size();
    }
    return {{"tokens", tokens},
            {"token_logprobs", token_lps},
            {"top_logprobs", tops},
            {"text_offset", offsets}};
}

// Token logprobs of answer text the guard still holds back wait with it: a token's logprob goes
// out once the text up to its end has passed, and never for text the guard cut.
class HeldLogprobs {
  public:
    // Takes the new tokens' logprobs and `passed` more bytes of answer text that have passed the
    // guard; returns the logprobs that may now be shown.
    std::vector<TokenLogprob> pass(const tokenizer::Tokenizer& tok, std::vector<TokenLogprob> lps,
                                   size_t passed) {
        for (TokenLogprob& lp : lps) {
            sizes_.push_back(tok.token_to_piece(lp.token, true).size());
            held_.push_back(std::move(lp));
        }
        budget_ += passed;
        std::vector<TokenLogprob> out;
        while (!held_.empty() && sizes_.front() <= budget_) {
            budget_ -= sizes_.front();
            out.push_back(std::move(held_.front()));
            held_.pop_front();
            sizes_.pop_front();
        }
        return out;
    }

  private:
    std::deque<TokenLogprob> held_;
    std::deque<size_t> sizes_;
    size_t budget_ = 0;
};

json usage_json(int64_t prompt, int64_t completion, int64_t cached) {
    return {{"prompt_tokens", prompt},
            {"completion_tokens", completion},
            {"total_tokens", prompt + completion},
            {"prompt_tokens_details", {{"cached_tokens", cached}}}};
}

json tool_calls_json(const std::vector<ToolCall>& calls) {
    json out = json::array();
    for (const ToolCall& c : calls) {
        out.push_back({{"id", c.id},
                       {"type", "function"},
                       {"function", {{"name", c.name}, {"arguments", c.arguments}}}});
    }
    return out;
}

bool stream_requested(const json& body, bool& include_usage) {
    const bool stream = boolean(body, "stream").value_or(false);
    include_usage = false;
    if (const json* so = object(body, "stream_options"))
        include_usage = boolean(*so, "include_usage", "stream_options").value_or(false);
    return stream;
}

// Submits n generations of one prompt; a given seed makes choice i use seed + i.
std::vector<std::shared_ptr<serve::GenerationStream>> submit_n(const serve::LoadedModel& m,
                                                               const std::vector<TokenId>& prompt,
                                                               const GenerateOptions& options,
                                                               int64_t n) {
    std::vector<std::shared_ptr<serve::GenerationStream>> streams;
    try {
        for (int64_t i = 0; i < n; ++i) {
            GenerateOptions o = options;
            if (o.sampling.seed != SamplingParams::kRandomSeed)
                o.sampling.seed += static_cast<uint64_t>(i);
            streams.push_back(submit(m, prompt, std::move(o)));
        }
    } catch (...) {
        for (auto& s : streams) s->cancel();
        throw;
    }
    return streams;
}

// The choices' results, or the ApiError of the first that failed.
const GenerateResult& result_of(serve::GenerationStream& stream) {
    try {
        return stream.wait();
    } catch (const ApiError&) {
        throw;
    } catch (const std::exception& e) {
        throw internal_error(cat("generation failed: ", e.what()));
    }
}

json error_event(const std::exception& e) {
    if (const auto* api = dynamic_cast<const ApiError*>(&e)) return openai_error_body(*api);
    return openai_error_body(internal_error(cat("generation failed: ", e.what())));
}

void apply_response_format(const json& body, GenerateOptions& options, ServerContext& ctx,
                           const serve::LoadedModel& m) {
    const json* rf = object(body, "response_format");
    if (!rf) return;
    const std::string type =
        required(string(*rf, "type", "response_format"), "type", "response_format");
    if (type == "text") return;
    if (type == "json_object") {
        constrain_to_json(options, ctx, m);
        return;
    }
    if (type != "json_schema")
        throw bad_request("`response_format.type` must be text, json_object or json_schema",
                          "response_format.type");
    const json& js =
        required(object(*rf, "json_schema", "response_format"), "json_schema", "response_format");
    const auto schema = js.find("schema");
    constrain_to_schema(options, ctx, m, schema == js.end() ? json::object() : *schema,
                        "response_format.json_schema.schema");
}

}  // namespace

// One chat completion answered by the local model. `route` (null when routing is off) is this
// request's routing decision, returned as `pocket.route` and the x-pocket-route header;
// `continuation` is answer text the client has already seen, which the model continues.
class ChatCompletion {
  public:
    ChatCompletion(ServerContext& ctx, const json& body, json route = nullptr,
                   std::string_view continuation = {})
        : ctx_(ctx), route_(std::move(route)) {
        model_ = ctx.model(string(body, "model").value_or(""));
        if (!model_->is_generator())
            throw bad_request(cat("model '", model_->name(), "' is an embedding model"), "model");
        request_record().model = model_->name();
        stream_ = stream_requested(body, include_usage_);
        n_ = integer(body, "n", 1, kMaxChoices).value_or(1);
        GenerateOptions options = openai_options(body, *model_);
        want_logprobs_ = options.top_logprobs >= 0;
        tools_ = parse_tools(body);
        if (guard_.active()) {
            // The last user message is what the guard reads, before anything else happens.
            guard_prompt_ = last_user_text(required(array(body, "messages"), "messages"));
            refusal_ = guard_.check_prompt(guard_prompt_);
            if (refusal_) return;
        }
        // Local RAG (`pocket.rag`): the messages grounded in retrieved, numbered sources.
        grounding_ = chat_grounding(ctx, body, *model_, options.max_tokens);
        if (grounding_ && !grounding_->prompt.relevant) return;  // "I don't know", no model
        ChatPrompt prompt;
        if (grounding_) {
            prompt.tokens = grounding_->prompt.tokens;
            prompt.text = grounding_->prompt.rendered.text;
        } else {
            prompt = chat_prompt(*model_, required(array(body, "messages"), "messages"), tools_,
                                 false, continuation);
        }
        tool_format_ = prompt.tool_format;
        // Tool-call markers may be special tokens ("<|python_tag|>", "[TOOL_CALLS]"): the parser
        // must see them in the text.
        if (tool_format_ != ToolCallFormat::None) options.render_special = true;
        if (tools_.required) {
            constrain_to_gbnf(
                options, ctx, *model_,
                tool_call_grammar(tool_format_, tools_.tools, tools_.function, tools_.parallel),
                "tool_choice");
        } else {
            apply_response_format(body, options, ctx, *model_);
        }
        if (ctx.options.log_prompts) request_record().prompt = prompt.text;
        streams_ = submit_n(*model_, prompt.tokens, options, n_);
        for (size_t i = 0; i < streams_.size(); ++i)
            checks_.push_back(guard_.answer(guard_prompt_));
        held_.resize(streams_.size());
        guard_blocked_.assign(streams_.size(), false);
    }

    void respond(httplib::Response& res) {
        if (!route_.is_null()) res.set_header("x-pocket-route", "local");
        if (refusal_) {
            respond_fixed(res, *refusal_, "content_filter");
            return;
        }
        if (grounding_ && !grounding_->prompt.relevant) {
            respond_fixed(res, std::string(rag::no_answer_text()), "stop");
            return;
        }
        if (stream_) {
            stream(res);
            return;
        }
        json choices = json::array();
        int64_t prompt_tokens = 0, completion = 0, cached = 0;
        for (size_t i = 0; i < streams_.size(); ++i) {
            const GenerateResult& r = result_of(*streams_[i]);
            record_generation(ctx_, *streams_[i], r);
            prompt_tokens = r.prompt_tokens;
            cached = std::max(cached, r.reused_tokens);
            completion += r.completion_tokens;
            // The guard reads the whole answer sentence by sentence, as a stream would show it.
            std::string text = checks_[i].push(r.text);
            if (!checks_[i].blocked()) text += checks_[i].finish();
            guard_.record_answer(checks_[i]);
            // A cut answer's logprobs end with it.
            std::vector<TokenLogprob> lps = r.logprobs;
            if (checks_[i].blocked())
                lps = HeldLogprobs().pass(tokenizer(), std::move(lps), text.size());
            json message = {{"role", "assistant"}, {"content", text}, {"refusal", nullptr}};
            std::string finish = finish_name(r.finish);
            if (checks_[i].blocked()) {
                finish = "content_filter";
            } else if (tool_format_ != ToolCallFormat::None) {
                ParsedToolCalls parsed = parse_tool_calls(tool_format_, r.text);
                if (!parsed.calls.empty()) {
                    message["content"] = parsed.content.empty() ? json() : json(parsed.content);
                    message["tool_calls"] = tool_calls_json(parsed.calls);
                    finish = "tool_calls";
                }
            }
            json choice = {{"index", i},
                           {"message", std::move(message)},
                           {"logprobs", nullptr},
                           {"finish_reason", finish}};
            if (!lps.empty() || want_logprobs())
                choice["logprobs"] = chat_logprobs(tokenizer(), lps);
            choices.push_back(std::move(choice));
        }
        json out = {{"id", id_},
                    {"object", "chat.completion"},
                    {"created", created_},
                    {"model", model_->name()},
                    {"system_fingerprint", kFingerprint},
                    {"choices", std::move(choices)},
                    {"usage", usage_json(prompt_tokens, completion, cached)}};
        if (grounding_ || !route_.is_null() || !guard_.reported().empty())
            out["pocket"] =
                pocket_extension(streams_.empty() ? std::string() : result_of(*streams_[0]).text);
        send_json(res, out);
    }

    // Streams the answer into `sink`: the opening chunk of each choice when `head` (a fallback
    // that continues a cut cloud stream has shown its own), the deltas, the closing chunks, usage
    // when asked and [DONE]. False when the client went away.
    bool pump(httplib::DataSink& sink, bool head) {
        if (parsers_.size() != streams_.size()) {
            for (size_t i = 0; i < streams_.size(); ++i) parsers_.emplace_back(tool_format_);
            had_calls_.assign(streams_.size(), false);
        }
        StreamPump pump(sink, streams_);
        if (head) {
            std::string text;
            for (size_t i = 0; i < streams_.size(); ++i) {
                json first =
                    chunk(json::array({delta_choice(i, {{"role", "assistant"}, {"content", ""}})}));
                if (grounding_ || !route_.is_null() || !guard_.reported().empty())
                    first["pocket"] = pocket_extension({});
                text += sse(first);
            }
            if (!pump.write(text)) return false;
        }
        const bool ok = pump.run([&](size_t i, serve::StreamEvent& e) { return on_event(i, e); },
                                 [&](size_t i) { return on_end(i); }, ": keep-alive\n\n");
        if (!ok) return false;
        std::string tail;
        if (include_usage_) {
            json last = chunk(json::array());
            last["usage"] = usage_json(prompt_tokens_, completion_, cached_);
            tail += sse(last);
        }
        tail += "data: [DONE]\n\n";
        if (!pump.write(tail)) return false;
        sink.done();
        return true;
    }

    // Cancels the generations (the client is gone before pump() ran).
    void cancel() {
        for (const auto& s : streams_) s->cancel();
    }

  private:
    bool want_logprobs() const { return want_logprobs_; }

    // {"rag": {"index", "answered", "dropped_sources", "citations": [...]}, "route": {...}};
    // "cited" in each citation from `answer`.
    json pocket_extension(std::string_view answer) const {
        json ext = json::object();
        if (!route_.is_null()) ext["route"] = route_;
        if (!guard_.reported().empty()) ext["guard"] = guard_.reported();
        if (!grounding_) return ext;
        const rag::GroundedPrompt& p = grounding_->prompt;
        ext["rag"] = {{"index", grounding_->index},
                      {"answered", p.relevant},
                      {"dropped_sources", p.dropped_sources},
                      {"citations", rag::citations_json(p.sources, answer)}};
        return ext;
    }

    // A fixed answer without the model: nothing in the RAG index reached the relevance threshold
    // ("stop"), or the guard blocked the prompt ("content_filter").
    void respond_fixed(httplib::Response& res, const std::string& text, const std::string& finish) {
        const json ext = pocket_extension(text);
        if (!stream_) {
            json choices = json::array();
            for (int64_t i = 0; i < n_; ++i)
                choices.push_back(
                    {{"index", i},
                     {"message", {{"role", "assistant"}, {"content", text}, {"refusal", nullptr}}},
                     {"logprobs", nullptr},
                     {"finish_reason", finish}});
            send_json(res, {{"id", id_},
                            {"object", "chat.completion"},
                            {"created", created_},
                            {"model", model_->name()},
                            {"system_fingerprint", kFingerprint},
                            {"choices", std::move(choices)},
                            {"usage", usage_json(0, 0, 0)},
                            {"pocket", ext}});
            return;
        }
        std::string body;
        for (int64_t i = 0; i < n_; ++i) {
            json first = chunk(json::array(
                {delta_choice(static_cast<size_t>(i), {{"role", "assistant"}, {"content", ""}})}));
            first["pocket"] = ext;
            body += sse(first);
            body += sse(
                chunk(json::array({delta_choice(static_cast<size_t>(i), {{"content", text}})})));
            json last = chunk(json::array(
                {delta_choice(static_cast<size_t>(i), json::object(), nullptr, finish)}));
            last["pocket"] = ext;
            body += sse(last);
        }
        if (include_usage_) {
            json last = chunk(json::array());
            last["usage"] = usage_json(0, 0, 0);
            body += sse(last);
        }
        body += "data: [DONE]\n\n";
        res.set_header("Cache-Control", "no-cache");
        res.set_content(body, "text/event-stream");
    }
    const tokenizer::Tokenizer& tokenizer() const { return model_->model().tokenizer(); }

    json chunk(json choices) const {
        json c = {{"id", id_},
                  {"object", "chat.completion.chunk"},
                  {"created", created_},
                  {"model", model_->name()},
                  {"system_fingerprint", kFingerprint},
                  {"choices", std::move(choices)}};
        if (include_usage_) c["usage"] = nullptr;
        return c;
    }

    json delta_choice(size_t index, json delta, json logprobs = nullptr,
                      json finish = nullptr) const {
        return {{"index", index},
                {"delta", std::move(delta)},
                {"logprobs", std::move(logprobs)},
                {"finish_reason", std::move(finish)}};
    }

    std::string on_event(size_t i, serve::StreamEvent& event) {
        if (guard_blocked_[i]) return {};
        // Text reaches the client once the guard has passed its sentence; a blocked sentence
        // ends the choice (its stream is cancelled, on_end says content_filter).
        event.text = checks_[i].push(event.text);
        if (checks_[i].active())
            event.logprobs =
                held_[i].pass(tokenizer(), std::move(event.logprobs), event.text.size());
        if (checks_[i].blocked()) {
            guard_blocked_[i] = true;
            streams_[i]->cancel();
        }
        return format_event(i, event);
    }

    std::string format_event(size_t i, serve::StreamEvent& event) {
        json logprobs =
            event.logprobs.empty() ? json() : chat_logprobs(tokenizer(), event.logprobs);
        if (tool_format_ == ToolCallFormat::None) {
            if (event.text.empty() && logprobs.is_null()) return {};
            return sse(chunk(
                json::array({delta_choice(i, {{"content", event.text}}, std::move(logprobs))})));
        }
        return tool_deltas(i, parsers_[i].feed(event.text), std::move(logprobs));
    }

    std::string tool_deltas(size_t i, const ToolCallStreamParser::Delta& d, json logprobs) {
        std::string out;
        if (!d.content.empty() || !logprobs.is_null())
            out += sse(chunk(
                json::array({delta_choice(i, {{"content", d.content}}, std::move(logprobs))})));
        if (!d.calls.empty()) {
            json calls = json::array();
            for (const ToolCallDelta& c : d.calls) {
                json fn = {{"arguments", c.arguments}};
                json call = {{"index", c.index}};
                if (!c.id.empty()) {
                    call["id"] = c.id;
                    call["type"] = "function";
                    fn["name"] = c.name;
                }
                call["function"] = std::move(fn);
                calls.push_back(std::move(call));
            }
            had_calls_[i] = true;
            out += sse(chunk(json::array({delta_choice(i, {{"tool_calls", std::move(calls)}})})));
        }
        return out;
    }

    std::string on_end(size_t i) {
        try {
            const GenerateResult& r = streams_[i]->result();
            record_generation(ctx_, *streams_[i], r);
            prompt_tokens_ = r.prompt_tokens;
            cached_ = std::max(cached_, r.reused_tokens);
            completion_ += r.completion_tokens;
            std::string out;
            if (checks_[i].active()) {
                if (!checks_[i].blocked()) {
                    serve::StreamEvent rest;
                    rest.text = checks_[i].finish();
                    rest.logprobs = held_[i].pass(tokenizer(), {}, rest.text.size());
                    guard_blocked_[i] = checks_[i].blocked();
                    if (!rest.text.empty()) out += format_event(i, rest);
                }
                guard_.record_answer(checks_[i]);
            }
            if (tool_format_ != ToolCallFormat::None)
                out += tool_deltas(i, parsers_[i].finish(), nullptr);
            const std::string finish = guard_blocked_[i] ? "content_filter"
                                       : had_calls_[i]   ? "tool_calls"
                                                         : finish_name(r.finish);
            json last = chunk(json::array({delta_choice(i, json::object(), nullptr, finish)}));
            if (grounding_ || !guard_.reported().empty() ||
                (route_.is_object() && route_.value("fallback", false)))
                last["pocket"] = pocket_extension(r.text);
            out += sse(last);
            return out;
        } catch (const std::exception& e) {
            return sse(error_event(e));
        }
    }

    void stream(httplib::Response& res) {
        auto self = std::make_shared<ChatCompletion>(std::move(*this));
        res.set_header("Cache-Control", "no-cache");
        res.set_chunked_content_provider(
            "text/event-stream",
            [self](size_t, httplib::DataSink& sink) { return self->pump(sink, true); },
            CancelOnRelease{self->streams_});
    }

    ServerContext& ctx_;
    json route_;
    // --guard: the decisions, the prompt checked, the refusal when it was blocked, and one
    // answer check per choice.
    RequestGuard guard_{ctx_};
    std::string guard_prompt_;
    std::optional<std::string> refusal_;
    std::vector<AnswerGuard> checks_;
    std::vector<HeldLogprobs> held_;  // logprobs of the text each check holds back
    std::vector<bool> guard_blocked_;
    std::shared_ptr<const serve::LoadedModel> model_;
    bool stream_ = false;
    bool include_usage_ = false;
    bool want_logprobs_ = false;
    int64_t n_ = 1;
    ToolRequest tools_;
    std::optional<ChatGrounding> grounding_;
    ToolCallFormat tool_format_ = ToolCallFormat::None;
    std::vector<std::shared_ptr<serve::GenerationStream>> streams_;
    std::vector<ToolCallStreamParser> parsers_;
    std::vector<bool> had_calls_;
    std::string id_ = make_id("chatcmpl-");
    int64_t created_ = unix_time();
    int64_t prompt_tokens_ = 0, completion_ = 0, cached_ = 0;
};

void answer_chat_locally(ServerContext& ctx, const json& body, const json& route,
                         httplib::Response& res) {
    ChatCompletion(ctx, body, route).respond(res);
}

bool stream_chat_locally(ServerContext& ctx, const json& body, const json& route,
                         std::string_view shown, bool head, httplib::DataSink& sink) {
    std::optional<ChatCompletion> chat;
    try {
        chat.emplace(ctx, body, route, shown);
    } catch (const std::exception& e) {
        const std::string event = sse(error_event(e)) + "data: [DONE]\n\n";
        if (!sink.write(event.data(), event.size())) return false;
        sink.done();
        return true;
    }
    try {
        return chat->pump(sink, head);
    } catch (...) {
        chat->cancel();
        throw;
    }
}

namespace {

// /v1/completions prompts: a string, strings, token ids, or lists of token ids.
std::vector<std::vector<TokenId>> completion_prompts(const json& body, const serve::LoadedModel& m,
                                                     std::vector<std::string>& texts) {
    const auto it = body.find("prompt");
    if (it == body.end() || it->is_null()) throw missing_field("prompt");
    const json& p = *it;
    const auto& tok = m.model().tokenizer();
    const auto from_ids = [&](const json& ids, const std::string& path) {
        std::vector<TokenId> out;
        for (size_t i = 0; i < ids.size(); ++i)
            out.push_back(static_cast<TokenId>(as_integer(
                ids[i], index_path(path, i), 0, static_cast<int64_t>(tok.n_vocab()) - 1)));
        if (out.empty()) throw bad_request("`" + path + "` is empty", "prompt");
        return out;
    };
    std::vector<std::vector<TokenId>> prompts;
    if (p.is_string()) {
        texts.push_back(p.get<std::string>());
        prompts.push_back(text_prompt(m, texts.back()));
    } else if (p.is_array() && !p.empty() && p[0].is_number()) {
        prompts.push_back(from_ids(p, "prompt"));
        texts.push_back(tok.decode(prompts.back(), false, false));
    } else if (p.is_array() && !p.empty()) {
        if (p.size() > kMaxPrompts)
            throw bad_request(cat("`prompt` holds at most ", kMaxPrompts, " prompts"), "prompt");
        for (size_t i = 0; i < p.size(); ++i) {
            const std::string path = index_path("prompt", i);
            if (p[i].is_string()) {
                texts.push_back(p[i].get<std::string>());
                prompts.push_back(text_prompt(m, texts.back()));
            } else {
                prompts.push_back(from_ids(as_array(p[i], path), path));
                texts.push_back(tok.decode(prompts.back(), false, false));
            }
        }
    } else {
        throw bad_request("`prompt` must be a string, an array of strings or token ids", "prompt");
    }
    return prompts;
}

void completions(ServerContext& ctx, const httplib::Request& req, httplib::Response& res) {
    const json body = parse_body(req.body);
    auto m = ctx.model(string(body, "model").value_or(""));
    if (!m->is_generator())
        throw bad_request(cat("model '", m->name(), "' is an embedding model"), "model");
    request_record().model = m->name();
    bool include_usage = false;
    const bool stream = stream_requested(body, include_usage);
    const int64_t n = integer(body, "n", 1, kMaxChoices).value_or(1);
    if (auto best_of = integer(body, "best_of", 1, kMaxChoices); best_of && *best_of != n)
        throw not_implemented("`best_of` other than n is not supported", "best_of");
    if (const auto s = body.find("suffix"); s != body.end() && !s->is_null())
        throw not_implemented("`suffix` (fill in the middle) is not supported", "suffix");
    const bool echo = boolean(body, "echo").value_or(false);
    GenerateOptions options = openai_options(body, *m);
    apply_response_format(body, options, ctx, *m);
    std::vector<std::string> texts;
    const auto prompts = completion_prompts(body, *m, texts);
    if (ctx.options.log_prompts) request_record().prompt = texts.front();

    // --guard: every prompt is checked before anything is generated. A blocked prompt's choices
    // are its refusal with finish_reason content_filter, and nothing is generated for them.
    auto guard = std::make_shared<RequestGuard>(ctx);
    std::vector<std::optional<std::string>> refusals(prompts.size());
    for (size_t p = 0; p < prompts.size(); ++p) refusals[p] = guard->check_prompt(texts[p]);

    // Choice index = prompt * n + k, as OpenAI numbers them; streams[s] answers choice_of[s].
    std::vector<std::shared_ptr<serve::GenerationStream>> streams;
    std::vector<size_t> prompt_of, choice_of;
    try {
        for (size_t p = 0; p < prompts.size(); ++p) {
            if (refusals[p]) continue;
            size_t k = 0;
            for (auto& s : submit_n(*m, prompts[p], options, n)) {
                streams.push_back(std::move(s));
                prompt_of.push_back(p);
                choice_of.push_back(p * static_cast<size_t>(n) + k++);
            }
        }
    } catch (...) {
        for (auto& s : streams) s->cancel();
        throw;
    }
    // Each answer is checked at sentence boundaries, as in chat completions.
    auto checks = std::make_shared<std::vector<AnswerGuard>>();
    for (size_t s = 0; s < streams.size(); ++s)
        checks->push_back(guard->answer(texts[prompt_of[s]]));
    const std::string id = make_id("cmpl-");
    const int64_t created = unix_time();
    const auto& tok = m->model().tokenizer();
    const bool want_lp = options.top_logprobs >= 0;
    const auto make_chunk = [id, created, name = m->name()](json choices) {
        return json{
            {"id", id},      {"object", "text_completion"},        {"created", created},
            {"model", name}, {"system_fingerprint", kFingerprint}, {"choices", std::move(choices)}};
    };
    // The choices of blocked prompts, in choice order: (choice index, prompt).
    std::vector<std::pair<size_t, size_t>> refused;
    for (size_t p = 0; p < prompts.size(); ++p)
        if (refusals[p])
            for (int64_t k = 0; k < n; ++k)
                refused.emplace_back(p * static_cast<size_t>(n) + static_cast<size_t>(k), p);

    if (!stream) {
        std::vector<json> slots(prompts.size() * static_cast<size_t>(n));
        for (const auto& [choice, p] : refused)
            slots[choice] = {{"text", (echo ? texts[p] : std::string()) + *refusals[p]},
                             {"index", choice},
                             {"logprobs", nullptr},
                             {"finish_reason", "content_filter"}};
        int64_t prompt_tokens = 0, completion = 0, cached = 0;
        for (size_t s = 0; s < streams.size(); ++s) {
            const GenerateResult& r = result_of(*streams[s]);
            record_generation(ctx, *streams[s], r);
            if (choice_of[s] % static_cast<size_t>(n) == 0) prompt_tokens += r.prompt_tokens;
            cached += r.reused_tokens;
            completion += r.completion_tokens;
            AnswerGuard& check = (*checks)[s];
            std::string text = check.push(r.text);
            if (!check.blocked()) text += check.finish();
            guard->record_answer(check);
            json lp;
            const std::string& prefix = echo ? texts[prompt_of[s]] : std::string();
            if (want_lp) {
                // A cut answer's logprobs end with it.
                std::vector<TokenLogprob> lps = r.logprobs;
                if (check.blocked()) lps = HeldLogprobs().pass(tok, std::move(lps), text.size());
                lp = completion_logprobs(tok, lps, prefix.size());
            }
            slots[choice_of[s]] = {
                {"text", prefix + text},
                {"index", choice_of[s]},
                {"logprobs", std::move(lp)},
                {"finish_reason", check.blocked() ? "content_filter" : finish_name(r.finish)}};
        }
        json out = make_chunk(json(std::move(slots)));
        out["usage"] = usage_json(prompt_tokens, completion, cached);
        if (!guard->reported().empty()) out["pocket"] = {{"guard", guard->reported()}};
        send_json(res, out);
        return;
    }

    struct State {
        int64_t prompt_tokens = 0, completion = 0, cached = 0;
        std::vector<size_t> offsets;
        std::vector<HeldLogprobs> held;
        std::vector<bool> blocked;
    };
    auto state = std::make_shared<State>();
    state->offsets.assign(streams.size(), 0);
    state->held.resize(streams.size());
    state->blocked.assign(streams.size(), false);
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider(
        "text/event-stream",
        [&ctx, streams, prompt_of, choice_of, refused, refusals, texts, echo, want_lp,
         include_usage, n, state, make_chunk, m, guard, checks](size_t, httplib::DataSink& sink) {
            const auto& tok = m->model().tokenizer();
            const auto with_guard = [&](json chunk) {
                if (!guard->reported().empty()) chunk["pocket"] = {{"guard", guard->reported()}};
                return chunk;
            };
            const auto text_chunk = [&](size_t choice, const std::string& text, json lp) {
                return sse(make_chunk(json::array({{{"text", text},
                                                    {"index", choice},
                                                    {"logprobs", std::move(lp)},
                                                    {"finish_reason", nullptr}}})));
            };
            StreamPump pump(sink, streams);
            std::string head;
            if (echo)
                for (size_t s = 0; s < streams.size(); ++s)
                    head += text_chunk(choice_of[s], texts[prompt_of[s]], nullptr);
            // Refused prompts are answered at once: (the echo), the refusal, content_filter.
            for (const auto& [choice, p] : refused) {
                head +=
                    text_chunk(choice, (echo ? texts[p] : std::string()) + *refusals[p], nullptr);
                head += sse(
                    with_guard(make_chunk(json::array({{{"text", ""},
                                                        {"index", choice},
                                                        {"logprobs", nullptr},
                                                        {"finish_reason", "content_filter"}}}))));
            }
            if (!head.empty() && !pump.write(head)) return false;
            // Text (and its logprobs) goes out once the guard has passed its sentence; a blocked
            // sentence ends the choice (its stream is cancelled, on_end says content_filter).
            const auto emit = [&](size_t s, const std::string& text,
                                  std::vector<TokenLogprob> lps) -> std::string {
                json lp;
                if (want_lp) {
                    if ((*checks)[s].active())
                        lps = state->held[s].pass(tok, std::move(lps), text.size());
                    if (text.empty() && lps.empty()) return {};
                    lp = completion_logprobs(tok, lps, state->offsets[s]);
                } else if (text.empty()) {
                    return {};
                }
                state->offsets[s] += text.size();
                return text_chunk(choice_of[s], text, std::move(lp));
            };
            const auto on_event = [&](size_t s, serve::StreamEvent& e) -> std::string {
                if (state->blocked[s]) return {};
                AnswerGuard& check = (*checks)[s];
                const std::string text = check.push(e.text);
                if (check.blocked()) {
                    state->blocked[s] = true;
                    streams[s]->cancel();
                }
                return emit(s, text, std::move(e.logprobs));
            };
            const auto on_end = [&](size_t s) {
                try {
                    const GenerateResult& r = streams[s]->result();
                    record_generation(ctx, *streams[s], r);
                    if (choice_of[s] % static_cast<size_t>(n) == 0)
                        state->prompt_tokens += r.prompt_tokens;
                    state->cached += r.reused_tokens;
                    state->completion += r.completion_tokens;
                    std::string out;
                    AnswerGuard& check = (*checks)[s];
                    if (check.active()) {
                        if (!check.blocked()) {
                            out += emit(s, check.finish(), {});
                            state->blocked[s] = check.blocked();
                        }
                        guard->record_answer(check);
                    }
                    json last = make_chunk(json::array(
                        {{{"text", ""},
                          {"index", choice_of[s]},
                          {"logprobs", nullptr},
                          {"finish_reason",
                           state->blocked[s] ? "content_filter" : finish_name(r.finish)}}}));
                    return out + sse(with_guard(std::move(last)));
                } catch (const std::exception& e) {
                    return sse(error_event(e));
                }
            };
            if (!streams.empty() && !pump.run(on_event, on_end, ": keep-alive\n\n")) return false;
            std::string tail;
            if (include_usage) {
                json last = make_chunk(json::array());
                last["usage"] = usage_json(state->prompt_tokens, state->completion, state->cached);
                tail += sse(last);
            }
            tail += "data: [DONE]\n\n";
            if (!pump.write(tail)) return false;
            sink.done();
            return true;
        },
        CancelOnRelease{streams});
}

std::string base64(std::span<const float> values) {
    static constexpr char kTable[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string bytes(values.size() * sizeof(float), '\0');
    std::memcpy(bytes.data(), values.data(), bytes.size());  // little-endian float32, as OpenAI
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    for (size_t i = 0; i < bytes.size(); i += 3) {
        const auto b0 = static_cast<uint8_t>(bytes[i]);
        const auto b1 = i + 1 < bytes.size() ? static_cast<uint8_t>(bytes[i + 1]) : 0;
        const auto b2 = i + 2 < bytes.size() ? static_cast<uint8_t>(bytes[i + 2]) : 0;
        out += kTable[b0 >> 2];
        out += kTable[((b0 & 3) << 4) | (b1 >> 4)];
        out += i + 1 < bytes.size() ? kTable[((b1 & 15) << 2) | (b2 >> 6)] : '=';
        out += i + 2 < bytes.size() ? kTable[b2 & 63] : '=';
    }
    return out;
}

}  // namespace

// Texts of an embeddings request: a string or an array of strings (token-id input is decoded
// with the model's tokenizer where it has one).
std::vector<std::string> embedding_inputs(const json& input, std::string_view field) {
    std::vector<std::string> texts;
    if (input.is_string()) {
        texts.push_back(input.get<std::string>());
    } else if (input.is_array()) {
        if (input.size() > kMaxEmbeddingInputs)
            throw bad_request(cat("`", field, "` holds at most ", kMaxEmbeddingInputs, " texts"),
                              std::string(field));
        for (size_t i = 0; i < input.size(); ++i)
            texts.push_back(as_string(input[i], index_path(field, i)));
    } else {
        throw bad_request(cat("`", field, "` must be a string or an array of strings"),
                          std::string(field));
    }
    if (texts.empty()) throw bad_request(cat("`", field, "` is empty"), std::string(field));
    return texts;
}

std::shared_ptr<const serve::LoadedModel> embedding_model(ServerContext& ctx,
                                                          const std::string& name) {
    // An unknown or empty name falls back to --embed-model, so clients written for a hosted
    // embedding model ("text-embedding-3-small") work unchanged.
    if (!ctx.options.embed_model.empty() && (name.empty() || !ctx.pool.contains(name)))
        return ctx.model(ctx.options.embed_model);
    return ctx.model(name);
}

namespace {

void embeddings(ServerContext& ctx, const httplib::Request& req, httplib::Response& res) {
    const json body = parse_body(req.body);
    auto m = embedding_model(ctx, string(body, "model").value_or(""));
    request_record().model = m->name();
    const auto input = body.find("input");
    if (input == body.end()) throw missing_field("input");
    const std::vector<std::string> texts = embedding_inputs(*input, "input");
    const std::string format = string(body, "encoding_format").value_or("float");
    if (format != "float" && format != "base64")
        throw bad_request("`encoding_format` must be float or base64", "encoding_format");
    const auto dimensions = integer(body, "dimensions", 1, 1 << 16);
    const embed::Embedder& embedder = m->embedder();
    std::vector<std::vector<float>> vectors = embedder.embed_batch(texts);
    int64_t tokens = 0;
    for (const auto& t : texts) tokens += static_cast<int64_t>(embedder.count_tokens(t));
    json data = json::array();
    for (size_t i = 0; i < vectors.size(); ++i) {
        std::vector<float>& v = vectors[i];
        if (dimensions && static_cast<size_t>(*dimensions) < v.size()) {
            // Shortened as OpenAI does: the first dimensions, normalised again.
            v.resize(static_cast<size_t>(*dimensions));
            double norm = 0;
            for (const float x : v) norm += static_cast<double>(x) * x;
            if (norm > 0)
                for (float& x : v) x = static_cast<float>(x / std::sqrt(norm));
        }
        json item = {{"object", "embedding"}, {"index", i}};
        if (format == "base64") {
            item["embedding"] = base64(v);
        } else {
            item["embedding"] = v;
        }
        data.push_back(std::move(item));
    }
    ctx.metrics.add_prompt_tokens(static_cast<uint64_t>(tokens));
    request_record().prompt_tokens = tokens;
    send_json(res, {{"object", "list"},
                    {"data", std::move(data)},
                    {"model", m->name()},
                    {"usage", {{"prompt_tokens", tokens}, {"total_tokens", tokens}}}});
}

json model_object(const serve::PoolModelInfo& info) {
    const int64_t created = std::chrono::duration_cast<std::chrono::seconds>(
                                file_time(info.entry.path).time_since_epoch())
                                .count();
    return {{"id", info.entry.name},
            {"object", "model"},
            {"created", created},
            {"owned_by", "pocket"},
            {"meta",
             {{"architecture", info.entry.architecture},
              {"type", info.entry.type},
              {"size", info.entry.size_bytes},
              {"loaded", info.loaded}}}};
}

}  // namespace

void add_openai_routes(httplib::Server& http, ServerContext& ctx) {
    add_post(http, ctx, "/v1/chat/completions",
             [&ctx](const httplib::Request& req, httplib::Response& res) {
                 const json body = parse_body(req.body);
                 if (ctx.hybrid) {
                     routed_chat(ctx, body, res);
                 } else {
                     ChatCompletion(ctx, body).respond(res);
                 }
             });
    add_post(http, ctx, "/v1/completions",
             [&ctx](const httplib::Request& req, httplib::Response& res) {
                 completions(ctx, req, res);
             });
    add_post(
        http, ctx, "/v1/embeddings",
        [&ctx](const httplib::Request& req, httplib::Response& res) { embeddings(ctx, req, res); });
    // llama.cpp's token endpoints (load generators and tools use them to size prompts).
    add_post(http, ctx, "/tokenize", [&ctx](const httplib::Request& req, httplib::Response& res) {
        const json body = parse_body(req.body);
        auto m = ctx.model(string(body, "model").value_or(""));
        if (!m->is_generator())
            throw bad_request(cat("model '", m->name(), "' is an embedding model"), "model");
        const std::string content = required(string(body, "content"), "content");
        const bool add_special = boolean(body, "add_special").value_or(false);
        const bool parse_special = boolean(body, "parse_special").value_or(true);
        send_json(res,
                  {{"tokens", m->model().tokenizer().encode(content, add_special, parse_special)}});
    });
    add_post(http, ctx, "/detokenize", [&ctx](const httplib::Request& req, httplib::Response& res) {
        const json body = parse_body(req.body);
        auto m = ctx.model(string(body, "model").value_or(""));
        const auto& tok = m->model().tokenizer();
        std::vector<TokenId> ids;
        const json& tokens = required(array(body, "tokens"), "tokens");
        for (size_t i = 0; i < tokens.size(); ++i)
            ids.push_back(static_cast<TokenId>(as_integer(
                tokens[i], index_path("tokens", i), 0, static_cast<int64_t>(tok.n_vocab()) - 1)));
        send_json(res, {{"content", tok.decode(ids, false, false)}});
    });
    http.Get("/v1/models", [&ctx](const httplib::Request&, httplib::Response& res) {
        json data = json::array();
        for (const auto& info : ctx.pool.list()) data.push_back(model_object(info));
        send_json(res, {{"object", "list"}, {"data", std::move(data)}});
    });
    http.Get(R"(/v1/models/(.+))", [&ctx](const httplib::Request& req, httplib::Response& res) {
        const std::string name = req.matches[1];
        for (const auto& info : ctx.pool.list()) {
            if (info.entry.name == name) {
                send_json(res, model_object(info));
                return;
            }
        }
        throw not_found_model(name);
    });
}

}  // namespace pocket::server
