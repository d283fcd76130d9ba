// What every route of the server shares: the options, the model pool, metrics and the access
// log, plus the per-request record the access log line is made from. Internal to src/server.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include <httplib.h>

#include "pocket/generate/grammar_constraint.h"
#include "pocket/route/hybrid.h"
#include "pocket/server/server.h"
#include "server/access_log.h"
#include "server/json_fields.h"
#include "server/metrics.h"

namespace pocket::server {

struct RagIndexes;  // server/rag_routes.h

struct ServerContext {
    explicit ServerContext(ServerOptions opts);

    ServerOptions options;
    serve::ModelPool pool;
    Metrics metrics;
    AccessLog log;
    std::shared_ptr<RagIndexes> rag;  // the --rag-index databases, opened at start
    std::unique_ptr<route::HybridRouter> hybrid;  // --cloud: routing to the cloud endpoint
    std::unique_ptr<safety::Guard> guard;         // --guard (policy: options.guard->policy)
    std::atomic<bool> ready{false};
    std::atomic<bool> stopping{false};
    const std::chrono::system_clock::time_point started = std::chrono::system_clock::now();

    // The model named by the request, loaded (ApiError 404 when there is none of that name,
    // 503 when memory is short). Accepts Ollama's "name:latest" for "name"; an empty name means
    // the first model.
    std::shared_ptr<const serve::LoadedModel> model(std::string_view name);
    // The first model's name.
    const std::string& default_model() const;
    // The vocabulary index that grammar constraints of this model share (built on first use).
    std::shared_ptr<const VocabularyIndex> vocabulary(const serve::LoadedModel& model);

  private:
    std::mutex vocab_mutex_;
    std::map<const model::Model*, std::shared_ptr<const VocabularyIndex>> vocabularies_;
};

// What the access log and the metrics learn about the request being served. Each request is
// handled, its streamed body included, on one thread of the HTTP pool, so the record is
// thread-local and reset at the start of every request.
struct RequestRecord {
    std::string endpoint;  // the route pattern, for metrics labels
    std::string model;
    std::optional<int64_t> prompt_tokens;
    std::optional<int64_t> completion_tokens;
    std::string prompt;  // kept only with --log-prompts
    std::string route;   // "local" or "cloud" when routing is on (--cloud)
    json guard = json::array();  // the guard's decisions (text only with the policy's log_text)
};
RequestRecord& request_record();

// Writes an error in the API family's shape (OpenAI for /v1, Ollama for /api) with its status.
void send_error(httplib::Response& res, const ApiError& error, bool ollama);

// JSON text; invalid UTF-8 (a token's partial character in logprobs) becomes U+FFFD instead of
// failing the response.
std::string dump_json(const json& value);
// One server-sent event carrying `event`: "data: JSON\n\n".
std::string sse(const json& event);

// A JSON body response.
void send_json(httplib::Response& res, const json& body, int status = 200);

// Registers a POST route whose body is read under the --max-body cap, chunked uploads included
// (httplib caps only bodies that declare their length): a larger body is a 413.
void add_post(httplib::Server& http, ServerContext& ctx, const std::string& pattern,
              httplib::Server::Handler handler);

// Registers the OpenAI, Ollama and operations routes.
void add_openai_routes(httplib::Server& http, ServerContext& ctx);
void add_ollama_routes(httplib::Server& http, ServerContext& ctx);
void add_web_routes(httplib::Server& http, ServerContext& ctx);

}  // namespace pocket::server
