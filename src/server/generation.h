// From a request body to a queued generation, for both API families: sampling fields to
// GenerateOptions, structured output to a grammar constraint, chat messages through the model's
// template to prompt tokens, and the scheduler's refusals to API errors. Internal to src/server.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "pocket/generate/tool_calls.h"
#include "pocket/serve/batch_scheduler.h"
#include "server/server_context.h"

namespace pocket::server {

// The OpenAI fields: temperature, top_p, max_tokens / max_completion_tokens, stop, seed,
// presence/frequency penalties, logit_bias, logprobs / top_logprobs, and the llama.cpp
// extensions top_k, min_p, repeat_penalty, repeat_last_n, ignore_eos.
GenerateOptions openai_options(const json& body, const serve::LoadedModel& model);
// Ollama's: options.{temperature, top_p, top_k, min_p, num_predict, stop, seed,
// repeat_penalty, repeat_last_n, presence_penalty, frequency_penalty}.
GenerateOptions ollama_options(const json& body, const serve::LoadedModel& model);

// Adds a constraint holding the output to `grammar` (GBNF), or to a JSON schema, or any JSON
// object. `param` names the request field in errors.
void constrain_to_gbnf(GenerateOptions& options, ServerContext& ctx,
                       const serve::LoadedModel& model, const std::string& gbnf,
                       std::string_view param);
void constrain_to_schema(GenerateOptions& options, ServerContext& ctx,
                         const serve::LoadedModel& model, const json& schema,
                         std::string_view param);
void constrain_to_json(GenerateOptions& options, ServerContext& ctx,
                       const serve::LoadedModel& model);

// OpenAI `tools` and `tool_choice`, validated.
struct ToolRequest {
    json tools;                           // null when none (or tool_choice "none")
    bool required = false;                // tool_choice "required" or a named function
    std::optional<std::string> function;  // the named function
    bool parallel = true;                 // parallel_tool_calls
};
ToolRequest parse_tools(const json& body);

// Chat messages (OpenAI or Ollama shape) rendered with the model's template and tokenized.
struct ChatPrompt {
    std::vector<TokenId> tokens;
    ToolCallFormat tool_format = ToolCallFormat::None;
    std::string text;  // the rendered prompt (for --log-prompts)
};
// `assistant_prefix`: text of the answer the client has already seen (a cloud answer cut short),
// appended after the generation prompt as input bytes, so the model continues it.
ChatPrompt chat_prompt(const serve::LoadedModel& model, const json& messages,
                       const ToolRequest& tools, bool ollama,
                       std::string_view assistant_prefix = {});

// Every text of chat messages: string contents, text parts, tool-call arguments. Lenient: shapes
// chat_prompt rejects are its to reject.
std::vector<std::string> message_texts(const json& messages);
// The last user message's text (what the router scores and the guard checks).
std::string last_user_text(const json& messages);

// Text (or, for the OpenAI completions endpoint, token ids) to prompt tokens.
// A message's content as text: a string, null (empty), or OpenAI content parts of type "text"
// (concatenated); anything else is a 400 naming `path`.
std::string content_text(const json& content, const std::string& path);

std::vector<TokenId> text_prompt(const serve::LoadedModel& model, const std::string& text);

// Queues the generation; scheduler refusals become ApiErrors (400 context_length_exceeded,
// 503 with Retry-After when the queue is full, 400 for other bad requests).
std::shared_ptr<serve::GenerationStream> submit(const serve::LoadedModel& model,
                                                std::vector<TokenId> prompt,
                                                GenerateOptions options);

// Records usage and latency of a finished generation in the metrics and the access log.
void record_generation(ServerContext& ctx, const serve::GenerationStream& stream,
                       const GenerateResult& result);

// Texts of an embeddings request's `field`: a string or an array of strings.
std::vector<std::string> embedding_inputs(const json& input, std::string_view field);
// The model that embeds for a request naming `name` (--embed-model for an empty or unknown
// name, when given).
std::shared_ptr<const serve::LoadedModel> embedding_model(ServerContext& ctx,
                                                          const std::string& name);

// When the file was last written (the epoch when that cannot be read).
std::chrono::system_clock::time_point file_time(const std::filesystem::path& path);

// A fresh id with the given prefix ("chatcmpl-", "cmpl-").
std::string make_id(std::string_view prefix);
int64_t unix_time();

}  // namespace pocket::server
