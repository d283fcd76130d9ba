#include "server/generation.h"

#include <chrono>
#include <random>

#include "pocket/generate/chat.h"
#include "pocket/generate/grammar.h"
#include "pocket/tokenizer/tokenizer.h"

namespace pocket::server {
namespace {

constexpr size_t kMaxStops = 16;
constexpr int64_t kMaxTokensLimit = 1 << 20;

// Settings the Sampler rejects (a negative penalty, say) are the client's mistake: 400.
void validate_sampling(const SamplingParams& params) {
    try {
        Sampler check(params);
    } catch (const Error& e) {
        throw bad_request(e.what());
    }
}

void read_logit_bias(const json& body, const serve::LoadedModel& model, SamplingParams& s) {
    const json* bias = object(body, "logit_bias");
    if (!bias) return;
    const size_t n_vocab = model.model().tokenizer().n_vocab();
    for (const auto& [key, value] : bias->items()) {
        const std::string path = join_path("logit_bias", key);
        size_t used = 0;
        long long id = -1;
        try {
            id = std::stoll(key, &used);
        } catch (const std::exception&) {
        }
        if (used != key.size() || id < 0 || static_cast<size_t>(id) >= n_vocab)
            throw bad_request(cat("`", path, "`: keys must be token ids below ", n_vocab),
                              "logit_bias");
        const double b = as_number(value, path, -100.0, 100.0);
        // OpenAI: -100 bans the token, 100 makes it the only choice.
        const float bias_value = b <= -100.0  ? -INFINITY
                                 : b >= 100.0 ? 1e9f
                                              : static_cast<float>(b);
        s.logit_bias.push_back({static_cast<TokenId>(id), bias_value});
    }
}

void read_stop(const json& body, std::string_view key, GenerateOptions& o,
               std::string_view parent = {}) {
    if (auto stop = string_or_strings(body, key, kMaxStops, parent)) o.stop = std::move(*stop);
}

std::shared_ptr<const Grammar> compile(const std::function<Grammar()>& make,
                                       std::string_view param) {
    try {
        return std::make_shared<const Grammar>(make());
    } catch (const Error& e) {
        throw bad_request(cat("`", param, "`: ", e.what()), std::string(param));
    }
}

void add_constraint(GenerateOptions& options, ServerContext& ctx, const serve::LoadedModel& model,
                    std::shared_ptr<const Grammar> grammar) {
    options.constraints.push_back(
        std::make_shared<const GrammarConstraint>(std::move(grammar), ctx.vocabulary(model)));
}

// OpenAI or Ollama messages to what chat templates read: role, content as a string, and for
// tool use the calls and results in the template family's shape.
json template_messages(const json& messages, ToolCallFormat format, bool ollama) {
    const json& list = as_array(messages, "messages");
    if (list.empty()) throw bad_request("`messages` must not be empty", "messages");
    json out = json::array();
    for (size_t i = 0; i < list.size(); ++i) {
        const std::string path = index_path("messages", i);
        const json& m = as_object(list[i], path);
        std::string role = required(string(m, "role", path), "role", path);
        if (role == "developer") role = "system";
        if (role != "system" && role != "user" && role != "assistant" && role != "tool")
            throw bad_request(cat("`", path,
                                  ".role` must be system, developer, user, assistant or "
                                  "tool, got '",
                                  role, "'"),
                              path + ".role");
        json msg = json::object();
        msg["role"] = role;
        const auto content = m.find("content");
        msg["content"] = content_text(content == m.end() ? json() : *content, path + ".content");
        if (const json* calls = array(m, "tool_calls", path)) {
            json converted = json::array();
            for (size_t k = 0; k < calls->size(); ++k) {
                const std::string call_path = index_path(path + ".tool_calls", k);
                const json& call = as_object((*calls)[k], call_path);
                const json& fn =
                    required(object(call, "function", call_path), "function", call_path);
                const std::string fn_path = call_path + ".function";
                json c = json::object();
                c["id"] = string(call, "id", call_path).value_or("call_" + std::to_string(k));
                c["type"] = "function";
                const auto args = fn.find("arguments");
                json arguments = args == fn.end() ? json::object() : *args;
                // Ollama sends arguments as an object, OpenAI as a JSON string.
                if (ollama && !arguments.is_string()) arguments = arguments.dump();
                if (!arguments.is_string())
                    throw bad_request(cat("`", fn_path, ".arguments` must be a JSON string"),
                                      fn_path + ".arguments");
                c["function"] = {{"name", required(string(fn, "name", fn_path), "name", fn_path)},
                                 {"arguments", arguments}};
                converted.push_back(std::move(c));
            }
            msg["tool_calls"] = std::move(converted);
        }
        if (auto id = string(m, "tool_call_id", path)) msg["tool_call_id"] = *id;
        if (auto name = string(m, "name", path)) msg["name"] = *name;
        out.push_back(std::move(msg));
    }
    return messages_for_template(format, out);
}

// Gemma's template (and others) refuse a system role: the system text goes in front of the
// first user message instead, as ChatSession does.
json fold_system(json messages) {
    if (messages.empty() || messages[0]["role"] != "system") return messages;
    const std::string system = messages[0]["content"].get<std::string>();
    messages.erase(messages.begin());
    for (auto& m : messages) {
        if (m["role"] == "user") {
            m["content"] = system + "\n\n" + m["content"].get<std::string>();
            return messages;
        }
    }
    messages.insert(messages.begin(), json{{"role", "user"}, {"content", system}});
    return messages;
}

}  // namespace

// Message content: a string, null, or OpenAI content parts of type "text".
std::string content_text(const json& content, const std::string& path) {
    if (content.is_null()) return {};
    if (content.is_string()) return content.get<std::string>();
    if (!content.is_array())
        throw bad_request(cat("`", path, "` must be a string or an array of content parts, got ",
                              json_type_name(content)),
                          path);
    std::string text;
    for (size_t i = 0; i < content.size(); ++i) {
        const std::string part_path = index_path(path, i);
        const json& part = as_object(content[i], part_path);
        const std::string type = required(string(part, "type", part_path), "type", part_path);
        if (type != "text")
            throw bad_request(cat("`", part_path, ".type`: content of type '", type,
                                  "' is not supported (text only)"),
                              part_path + ".type");
        text += required(string(part, "text", part_path), "text", part_path);
    }
    return text;
}

GenerateOptions openai_options(const json& body, const serve::LoadedModel& model) {
    GenerateOptions o;
    SamplingParams& s = o.sampling;
    // OpenAI's defaults: temperature 1, no top-p cut; llama.cpp's extensions keep pocket's.
    s.temperature = static_cast<float>(number(body, "temperature", 0.0, 2.0).value_or(1.0));
    s.top_p = static_cast<float>(number(body, "top_p", 0.0, 1.0).value_or(1.0));
    if (s.top_p <= 0.0f) s.top_p = 1e-6f;
    s.top_k = static_cast<int32_t>(integer(body, "top_k", 0, 1 << 20).value_or(0));
    s.min_p = static_cast<float>(number(body, "min_p", 0.0, 1.0).value_or(0.0));
    s.presence_penalty =
        static_cast<float>(number(body, "presence_penalty", -2.0, 2.0).value_or(0));
    s.frequency_penalty =
        static_cast<float>(number(body, "frequency_penalty", -2.0, 2.0).value_or(0));
    s.repeat_penalty = static_cast<float>(number(body, "repeat_penalty", 0.0, 10.0).value_or(1.0));
    s.repeat_last_n =
        static_cast<int32_t>(integer(body, "repeat_last_n", -1, 1 << 20).value_or(64));
    if (auto seed = integer(body, "seed", std::numeric_limits<int64_t>::min(),
                            std::numeric_limits<int64_t>::max()))
        s.seed = static_cast<uint64_t>(*seed);
    read_logit_bias(body, model, s);
    validate_sampling(s);

    auto max_tokens = integer(body, "max_completion_tokens", 0, kMaxTokensLimit);
    if (!max_tokens) max_tokens = integer(body, "max_tokens", 0, kMaxTokensLimit);
    o.max_tokens = max_tokens.value_or(-1);
    read_stop(body, "stop", o);
    o.ignore_eos = boolean(body, "ignore_eos").value_or(false);
    // Chat: logprobs (bool) + top_logprobs (0-20). Completions: logprobs (int 0-5) handled by
    // the caller.
    if (const auto lp = body.find("logprobs"); lp != body.end() && lp->is_boolean()) {
        if (lp->get<bool>())
            o.top_logprobs = static_cast<int32_t>(integer(body, "top_logprobs", 0, 20).value_or(0));
    } else if (lp != body.end() && !lp->is_null()) {
        o.top_logprobs = static_cast<int32_t>(as_integer(*lp, "logprobs", 0, 20));
    }
    return o;
}

GenerateOptions ollama_options(const json& body, const serve::LoadedModel& model) {
    GenerateOptions o;
    SamplingParams& s = o.sampling;
    const json* opts = object(body, "options");
    if (!opts) return o;
    const json& b = *opts;
    constexpr std::string_view p = "options";
    if (auto v = number(b, "temperature", 0.0, 100.0, p)) s.temperature = static_cast<float>(*v);
    if (auto v = number(b, "top_p", 0.0, 1.0, p)) s.top_p = std::max(1e-6f, static_cast<float>(*v));
    if (auto v = integer(b, "top_k", 0, 1 << 20, p)) s.top_k = static_cast<int32_t>(*v);
    if (auto v = number(b, "min_p", 0.0, 1.0, p)) s.min_p = static_cast<float>(*v);
    if (auto v = number(b, "repeat_penalty", 0.0, 10.0, p))
        s.repeat_penalty = static_cast<float>(*v);
    if (auto v = integer(b, "repeat_last_n", -1, 1 << 20, p))
        s.repeat_last_n = static_cast<int32_t>(*v);
    if (auto v = number(b, "presence_penalty", -2.0, 2.0, p))
        s.presence_penalty = static_cast<float>(*v);
    if (auto v = number(b, "frequency_penalty", -2.0, 2.0, p))
        s.frequency_penalty = static_cast<float>(*v);
    if (auto v = integer(b, "seed", std::numeric_limits<int64_t>::min(),
                         std::numeric_limits<int64_t>::max(), p))
        s.seed = static_cast<uint64_t>(*v);
    validate_sampling(s);
    // num_predict: -1 infinite, -2 fill the context (both: until the context is full).
    if (auto v = integer(b, "num_predict", -2, kMaxTokensLimit, p)) o.max_tokens = *v < 0 ? -1 : *v;
    read_stop(b, "stop", o, p);
    (void)model;
    return o;
}

void constrain_to_gbnf(GenerateOptions& options, ServerContext& ctx,
                       const serve::LoadedModel& model, const std::string& gbnf,
                       std::string_view param) {
    add_constraint(options, ctx, model, compile([&] { return Grammar::parse_gbnf(gbnf); }, param));
}

void constrain_to_schema(GenerateOptions& options, ServerContext& ctx,
                         const serve::LoadedModel& model, const json& schema,
                         std::string_view param) {
    if (!schema.is_object() && !schema.is_boolean())
        throw bad_request(cat("`", param, "` must be a JSON schema object"), std::string(param));
    add_constraint(options, ctx, model,
                   compile([&] { return Grammar::from_json_schema(schema); }, param));
}

void constrain_to_json(GenerateOptions& options, ServerContext& ctx,
                       const serve::LoadedModel& model) {
    add_constraint(options, ctx, model, compile([] { return Grammar::json(); }, "format"));
}

ToolRequest parse_tools(const json& body) {
    ToolRequest r;
    const json* tools = array(body, "tools");
    if (!tools || tools->empty()) return r;
    for (size_t i = 0; i < tools->size(); ++i) {
        const std::string path = index_path("tools", i);
        const json& t = as_object((*tools)[i], path);
        const std::string type = string(t, "type", path).value_or("function");
        if (type != "function")
            throw bad_request(cat("`", path, ".type`: only function tools are supported"),
                              path + ".type");
        const json& fn = required(object(t, "function", path), "function", path);
        required(string(fn, "name", path + ".function"), "name", path + ".function");
        if (const auto params = fn.find("parameters"); params != fn.end() && !params->is_object())
            throw bad_request(cat("`", path, ".function.parameters` must be a JSON schema object"),
                              path + ".function.parameters");
    }
    r.tools = *tools;
    r.parallel = boolean(body, "parallel_tool_calls").value_or(true);
    const auto choice = body.find("tool_choice");
    if (choice == body.end() || choice->is_null()) return r;
    if (choice->is_string()) {
        const std::string c = choice->get<std::string>();
        if (c == "none") {
            r.tools = json();
        } else if (c == "required") {
            r.required = true;
        } else if (c != "auto") {
            throw bad_request("`tool_choice` must be none, auto, required or a function",
                              "tool_choice");
        }
        return r;
    }
    const json& c = as_object(*choice, "tool_choice");
    const json& fn = required(object(c, "function", "tool_choice"), "function", "tool_choice");
    const std::string name =
        required(string(fn, "name", "tool_choice.function"), "name", "tool_choice.function");
    const bool known = std::any_of(tools->begin(), tools->end(),
                                   [&](const json& t) { return t["function"]["name"] == name; });
    if (!known)
        throw bad_request(cat("`tool_choice.function.name`: no tool is named '", name, "'"),
                          "tool_choice.function.name");
    r.required = true;
    r.function = name;
    return r;
}

// Every text of the messages that would be sent: string contents, text parts, tool-call
// arguments. Lenient: shapes the local path rejects are its to reject.
std::vector<std::string> message_texts(const json& messages) {
    std::vector<std::string> texts;
    for (const json& m : messages) {
        if (!m.is_object()) continue;
        if (const auto c = m.find("content"); c != m.end()) {
            if (c->is_string()) {
                texts.push_back(c->get<std::string>());
            } else if (c->is_array()) {
                for (const json& part : *c)
                    if (part.is_object() && part.contains("text") && part["text"].is_string())
                        texts.push_back(part["text"].get<std::string>());
            }
        }
        if (const auto calls = m.find("tool_calls"); calls != m.end() && calls->is_array())
            for (const json& call : *calls)
                if (call.is_object() && call.contains("function") && call["function"].is_object() &&
                    call["function"].contains("arguments") &&
                    call["function"]["arguments"].is_string())
                    texts.push_back(call["function"]["arguments"].get<std::string>());
    }
    return texts;
}

// What the router scores: the last user message (the request to answer now).
std::string last_user_text(const json& messages) {
    for (auto it = messages.rbegin(); it != messages.rend(); ++it) {
        // Lenient like message_texts: a role that is not a string is chat_prompt's to reject
        // (value() would throw a JSON type_error for it, found by fuzz_server_request).
        if (!it->is_object()) continue;
        const auto role = it->find("role");
        if (role == it->end() || !role->is_string() ||
            role->get_ref<const std::string&>() != "user")
            continue;
        const auto texts = message_texts(json::array({*it}));
        std::string out;
        for (const std::string& t : texts) out += (out.empty() ? "" : "\n") + t;
        return out;
    }
    return {};
}

ChatPrompt chat_prompt(const serve::LoadedModel& model, const json& messages,
                       const ToolRequest& tools, bool ollama, std::string_view assistant_prefix) {
    const ModelChatTemplate& tmpl = model.chat_template();
    ChatPrompt out;
    out.tool_format =
        tools.tools.is_null() ? ToolCallFormat::None : detect_tool_call_format(tmpl.tmpl.source());
    if (!tools.tools.is_null() && out.tool_format == ToolCallFormat::None)
        throw bad_request(cat("model '", model.name(),
                              "' has a chat template without tool support; `tools` cannot be used"),
                          "tools");
    ChatTemplateInputs inputs = tmpl.inputs();
    inputs.messages = template_messages(messages, out.tool_format, ollama);
    if (!tools.tools.is_null()) {
        inputs.tools = tools.tools;
        // Named: a range-for over items() of a temporary would iterate a destroyed object.
        const auto variables = tool_template_variables(out.tool_format, tools.tools);
        for (const auto& [key, value] : variables.items()) inputs.extra[key] = value;
    }
    inputs.add_generation_prompt = true;
    RenderedPrompt rendered;
    try {
        rendered = tmpl.tmpl.render(inputs);
    } catch (const TemplateError& first) {
        if (inputs.messages.empty() || inputs.messages[0]["role"] != "system")
            throw bad_request(
                cat("the model's chat template rejected the messages: ", first.description()),
                "messages");
        inputs.messages = fold_system(std::move(inputs.messages));
        try {
            rendered = tmpl.tmpl.render(inputs);
        } catch (const TemplateError& e) {
            throw bad_request(
                cat("the model's chat template rejected the messages: ", e.description()),
                "messages");
        }
    }
    if (!assistant_prefix.empty()) {
        const size_t begin = rendered.text.size();
        rendered.text += assistant_prefix;
        auto& ranges = rendered.input_ranges;  // kept sorted, disjoint and merged
        if (!ranges.empty() && ranges.back().end == begin) {
            ranges.back().end = rendered.text.size();
        } else {
            ranges.push_back({begin, rendered.text.size()});
        }
    }
    out.tokens = tokenize_rendered(model.model().tokenizer(), rendered);
    out.text = std::move(rendered.text);
    return out;
}

std::vector<TokenId> text_prompt(const serve::LoadedModel& model, const std::string& text) {
    std::vector<TokenId> ids =
        model.model().tokenizer().encode(text, /*add_special=*/true, /*parse_special=*/false);
    if (ids.empty()) throw bad_request("the prompt is empty", "prompt");
    return ids;
}

std::shared_ptr<serve::GenerationStream> submit(const serve::LoadedModel& model,
                                                std::vector<TokenId> prompt,
                                                GenerateOptions options) {
    try {
        return model.scheduler().submit(std::move(prompt), std::move(options));
    } catch (const serve::ContextLengthExceeded& e) {
        throw context_length_exceeded(e.prompt_tokens(), e.slot_ctx());
    } catch (const serve::QueueFull&) {
        throw overloaded(1);
    } catch (const Error& e) {
        throw bad_request(e.what());
    }
}

void record_generation(ServerContext& ctx, const serve::GenerationStream& stream,
                       const GenerateResult& result) {
    ctx.metrics.add_prompt_tokens(static_cast<uint64_t>(result.prompt_tokens));
    ctx.metrics.add_prompt_tokens_cached(static_cast<uint64_t>(result.reused_tokens));
    ctx.metrics.add_generated_tokens(static_cast<uint64_t>(result.completion_tokens));
    const auto first = stream.first_token_time();
    if (first) {
        using Seconds = std::chrono::duration<double>;
        ctx.metrics.observe_time_to_first_token(Seconds(*first - stream.submitted()).count());
        if (result.completion_tokens > 1) {
            const double gen = Seconds(serve::GenerationStream::Clock::now() - *first).count();
            ctx.metrics.observe_time_per_output_token(
                gen / static_cast<double>(result.completion_tokens - 1));
        }
    }
    RequestRecord& rec = request_record();
    rec.prompt_tokens = rec.prompt_tokens.value_or(0) + result.prompt_tokens;
    rec.completion_tokens = rec.completion_tokens.value_or(0) + result.completion_tokens;
}

std::chrono::system_clock::time_point file_time(const std::filesystem::path& path) {
    std::error_code ec;
    const auto mtime = std::filesystem::last_write_time(path, ec);
    if (ec) return {};
    return std::chrono::time_point_cast<std::chrono::system_clock::duration>(
        std::chrono::file_clock::to_sys(mtime));
}

std::string make_id(std::string_view prefix) {
    static constexpr char kAlphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    thread_local std::mt19937_64 rng{std::random_device{}()};
    std::string id(prefix);
    for (int i = 0; i < 24; ++i) id += kAlphabet[rng() % (sizeof(kAlphabet) - 1)];
    return id;
}

int64_t unix_time() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace pocket::server
