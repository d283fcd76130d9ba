// Fuzz target: the server's request parsing, from body bytes to a generation request, for both
// API families, against a real loaded model (tiny-qwen2, whose template renders tools).
//
// The route handlers (openai_routes.cpp, ollama_routes.cpp) are reachable only through
// cpp-httplib and end by queueing a generation, so this target calls what they call, in their
// order, and stops before submit(): parse_body (UTF-8, depth, syntax, object), the model lookup,
// openai_options / ollama_options (sampling fields, logit_bias, stop, ...), parse_tools,
// chat_prompt (messages through the chat template and the tokenizer), response_format / format /
// tool_choice as grammar constraints (constrain_to_schema, constrain_to_json,
// tool_call_grammar + constrain_to_gbnf), Ollama's prompt/system/raw, embedding inputs, and the
// message texts the router and guard read.
//
// A bad request must end in ApiError (a 4xx/5xx answer) or pocket::Error (which the routes turn
// into one); anything else escaping (a JSON type_error from an unchecked access, say) is a bug.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "fuzz_support.h"
#include "pocket/generate/tool_calls.h"
#include "server/api_error.h"
#include "server/generation.h"
#include "server/json_fields.h"
#include "server/server_context.h"

namespace {

using namespace pocket::server;
using pocket::GenerateOptions;

ServerContext& context() {
    static ServerContext* ctx = [] {
        ServerOptions options;
        options.access_log = false;
        options.pool.models = {{"tiny", pocket::fuzz::shared_path("models/tiny/tiny-qwen2.gguf")}};
        options.pool.keep_alive = std::chrono::milliseconds(-1);
        options.pool.scheduler.n_slots = 1;
        options.pool.scheduler.slot_ctx = 256;
        options.pool.load.interleave = false;
        auto* c = new ServerContext(std::move(options));  // lives as long as the process
        (void)c->model("tiny");                           // load once, up front
        return c;
    }();
    return *ctx;
}

template <class F>
void attempt(F&& f) {
    try {
        f();
    } catch (const ApiError&) {
    } catch (const pocket::Error&) {
    }
}

void openai_chat(ServerContext& ctx, const json& body) {
    const auto model = ctx.model(string(body, "model").value_or(""));
    GenerateOptions options = openai_options(body, *model);
    const ToolRequest tools = parse_tools(body);
    const ChatPrompt prompt =
        chat_prompt(*model, required(array(body, "messages"), "messages"), tools, false);
    if (tools.required) {
        constrain_to_gbnf(options, ctx, *model,
                          pocket::tool_call_grammar(prompt.tool_format, tools.tools, tools.function,
                                                    tools.parallel),
                          "tool_choice");
    } else if (const json* rf = object(body, "response_format")) {
        const std::string type = required(string(*rf, "type", "response_format"), "type");
        if (type == "json_object") constrain_to_json(options, ctx, *model);
        if (type == "json_schema") {
            const json& js = required(object(*rf, "json_schema", "response_format"), "json_schema");
            const auto schema = js.find("schema");
            constrain_to_schema(options, ctx, *model, schema == js.end() ? json::object() : *schema,
                                "response_format.json_schema.schema");
        }
    }
}

void openai_completion(ServerContext& ctx, const json& body) {
    const auto model = ctx.model(string(body, "model").value_or(""));
    (void)openai_options(body, *model);
    if (const auto prompt = string(body, "prompt")) (void)text_prompt(*model, *prompt);
}

void ollama_request(ServerContext& ctx, const json& body) {
    const auto model = ctx.model(string(body, "model").value_or(""));
    GenerateOptions options = ollama_options(body, *model);
    if (const auto f = body.find("format"); f != body.end() && !f->is_null()) {
        if (!f->is_string())
            constrain_to_schema(options, ctx, *model, *f, "format");
        else if (f->get<std::string>() == "json")
            constrain_to_json(options, ctx, *model);
    }
    if (const json* messages = array(body, "messages")) {
        (void)chat_prompt(*model, *messages, parse_tools(body), true);
        return;
    }
    const std::string text = string(body, "prompt").value_or("");
    if (boolean(body, "raw").value_or(false)) {
        (void)text_prompt(*model, text);
        return;
    }
    json messages = json::array();
    if (auto system = string(body, "system"))
        messages.push_back({{"role", "system"}, {"content", *system}});
    messages.push_back({{"role", "user"}, {"content", text}});
    (void)chat_prompt(*model, messages, {}, true);
}

void embeddings(const json& body) {
    if (const auto input = body.find("input"); input != body.end())
        (void)embedding_inputs(*input, "input");
}

void texts(const json& body) {
    const auto m = body.find("messages");
    if (m == body.end()) return;
    (void)message_texts(*m);
    (void)last_user_text(*m);
    if (m->is_array())
        for (size_t i = 0; i < m->size(); ++i)
            if ((*m)[i].is_object() && (*m)[i].contains("content"))
                (void)content_text((*m)[i]["content"], index_path("messages", i) + ".content");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    ServerContext& ctx = context();
    json body;
    try {
        body = parse_body(pocket::fuzz::as_text(data, size));
    } catch (const ApiError&) {
        return 0;
    }
    attempt([&] { openai_chat(ctx, body); });
    attempt([&] { openai_completion(ctx, body); });
    attempt([&] { ollama_request(ctx, body); });
    attempt([&] { embeddings(body); });
    attempt([&] { texts(body); });
    return 0;
}
