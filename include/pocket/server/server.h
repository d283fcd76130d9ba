// `pocket serve` as a library: an HTTP server that speaks the OpenAI API (/v1/chat/completions,
// /v1/completions, /v1/embeddings, /v1/models) and Ollama's (/api/chat, /api/generate,
// /api/embed, /api/tags, /api/ps, /api/version), with /health, Prometheus /metrics and a web chat
// page at /; local RAG over the indexes named at start (/v1/rag/search, /v1/rag/indexes and the
// `pocket.rag` extension of /v1/chat/completions). Generation runs through serve::ModelPool and
// serve::BatchScheduler (continuous batching, prompt cache); the HTTP layer only translates.
//
// Safe defaults: loopback only, no CORS, bounded bodies, read and write timeouts; with an API key
// every API route wants `Authorization: Bearer KEY` (compared in constant time). Nothing is
// logged of a prompt unless log_prompts is set.
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "pocket/route/hybrid.h"
#include "pocket/safety/policy.h"
#include "pocket/serve/model_pool.h"

namespace pocket::server {

struct ServerOptions {
    std::string host = "127.0.0.1";
    int port = 8080;              // 0: any free port (bind() says which)
    std::string api_key;          // empty: no authentication
    std::string cors_origin;      // empty: no CORS headers; "*" or one origin
    size_t max_body = 16u << 20;  // bytes; larger bodies get 413
    bool log_prompts = false;     // the access log includes prompt text
    bool access_log = true;       // one JSON line per request on stderr
    std::chrono::seconds read_timeout{15};
    std::chrono::seconds write_timeout{30};
    int http_threads = 64;  // connections served at once (streams hold one each)
    // The model /v1/embeddings and /api/embed use when a request names none, or names a
    // language model that cannot embed; empty: the request's model.
    std::string embed_model;
    // Local RAG indexes by name (`--rag-index NAME=DB`), opened read-only at start: what
    // /v1/rag/search and the chat extension `pocket.rag` may search. Requests name an index,
    // never a path.
    std::map<std::string, std::filesystem::path> rag_indexes;
    serve::ModelPoolOptions pool;
    // Hybrid routing (`--cloud`): chat completions the router finds hard go to this
    // OpenAI-compatible endpoint, redacted, audited, re-hydrated; unset: nothing leaves.
    std::optional<route::HybridOptions> hybrid;
    // Moderation (`--guard`): chat prompts are checked before generation and answers while they
    // stream; blocked ones end with finish_reason "content_filter". Unset: no checks.
    struct Guard {
        std::filesystem::path model;  // empty: the built-in classifier
        safety::GuardPolicy policy;
        std::optional<double> threshold;
    };
    std::optional<Guard> guard;
};

class Server {
  public:
    explicit Server(ServerOptions options);
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    // Binds the address; returns the port (the one chosen when options.port is 0). Throws
    // pocket::Error when the address cannot be bound.
    int bind();
    // Serves until stop(). Loads the first model in the background meanwhile (/health says
    // "loading" until it is ready).
    void run();
    // From any thread (a signal handler's thread included): stops accepting, ends streams.
    void stop();

    serve::ModelPool& pool();

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace pocket::server
