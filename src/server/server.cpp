// The HTTP layer around the routes: binding, timeouts, body limits, the API key, CORS, content
// types, error bodies, the access log and metrics, /health and /metrics.
#include "pocket/server/server.h"

#include <cstdlib>
#include <iostream>
#include <set>
#include <thread>

#include "server/auth.h"
#include "server/rag_routes.h"
#include "server/server_context.h"

namespace pocket::server {
namespace {

using Clock = std::chrono::steady_clock;

thread_local RequestRecord t_record;
thread_local Clock::time_point t_started;

bool is_api_path(const std::string& path) {
    return path.starts_with("/v1/") || path.starts_with("/api/") || path == "/metrics" ||
           path == "/tokenize" || path == "/detokenize";
}

bool is_ollama_path(const std::string& path) {
    return path.starts_with("/api/");
}

// Route patterns for metrics labels; anything else is "other", so probing random paths cannot
// grow the label set.
std::string endpoint_label(const std::string& path) {
    static const std::set<std::string, std::less<>> known = {"/",
                                                             "/health",
                                                             "/metrics",
                                                             "/v1/chat/completions",
                                                             "/v1/completions",
                                                             "/v1/embeddings",
                                                             "/v1/models",
                                                             "/api/chat",
                                                             "/api/generate",
                                                             "/api/embed",
                                                             "/api/embeddings",
                                                             "/api/tags",
                                                             "/api/ps",
                                                             "/api/show",
                                                             "/api/version",
                                                             "/index.html",
                                                             "/app.js",
                                                             "/style.css",
                                                             "/tokenize",
                                                             "/detokenize"};
    if (known.contains(path)) return path;
    if (path.starts_with("/v1/models/")) return "/v1/models/{id}";
    return "other";
}

bool json_content_type(const httplib::Request& req) {
    if (!req.has_header("Content-Type")) return true;  // curl -d without -H, many scripts
    std::string type = req.get_header_value("Content-Type");
    type = type.substr(0, type.find(';'));
    while (!type.empty() && type.back() == ' ') type.pop_back();
    for (char& c : type) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return type == "application/json" || type == "text/plain";
}

ApiError error_for_status(int status) {
    switch (status) {
        case 400:
            return bad_request("the request could not be read");
        case 404:
            return not_found("no such route");
        case 405:
            return ApiError(405, "invalid_request_error", "method not allowed for this route");
        case 408:
            return ApiError(408, "invalid_request_error", "the request took too long to arrive");
        case 413:
            return ApiError(413, "invalid_request_error", "the request body is too large");
        case 414:
            return ApiError(414, "invalid_request_error", "the request URI is too long");
        default:
            return ApiError(status, status >= 500 ? "server_error" : "invalid_request_error",
                            cat("HTTP status ", status));
    }
}

}  // namespace

RequestRecord& request_record() {
    return t_record;
}

std::string dump_json(const json& value) {
    return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string sse(const json& event) {
    return "data: " + dump_json(event) + "\n\n";
}

void send_json(httplib::Response& res, const json& body, int status) {
    res.status = status;
    res.set_content(dump_json(body), "application/json");
}

void send_error(httplib::Response& res, const ApiError& error, bool ollama) {
    send_json(res, ollama ? ollama_error_body(error) : openai_error_body(error), error.status());
    if (error.retry_after_s() > 0)
        res.set_header("Retry-After", std::to_string(error.retry_after_s()));
}

void add_post(httplib::Server& http, ServerContext& ctx, const std::string& pattern,
              httplib::Server::Handler handler) {
    http.Post(pattern, [&ctx, handler = std::move(handler)](const httplib::Request& req,
                                                            httplib::Response& res,
                                                            const httplib::ContentReader& read) {
        const size_t limit = ctx.options.max_body;
        const std::string declared = req.get_header_value("Content-Length");
        if (!declared.empty() && std::strtoull(declared.c_str(), nullptr, 10) > limit) {
            res.set_header("Connection", "close");
            throw payload_too_large(limit);
        }
        std::string body;
        bool too_large = false;
        const bool complete = read([&](const char* data, size_t size) {
            if (body.size() + size > limit) {
                too_large = true;
                return false;
            }
            body.append(data, size);
            return true;
        });
        if (too_large) {
            res.set_header("Connection", "close");  // the rest of the body was never read
            throw payload_too_large(limit);
        }
        if (!complete) {
            res.set_header("Connection", "close");
            throw bad_request("the request body ended before its declared length");
        }
        httplib::Request with_body = req;
        with_body.body = std::move(body);
        handler(with_body, res);
    });
}

ServerContext::ServerContext(ServerOptions opts)
    : options(std::move(opts)),
      pool(options.pool),
      log(std::cerr, options.log_prompts),
      rag(open_rag_indexes(options.rag_indexes)) {
    if (options.hybrid) hybrid = std::make_unique<route::HybridRouter>(*options.hybrid);
    if (options.guard) {
        guard = safety::load_guard(options.guard->model);
        if (const auto t = options.guard->threshold ? options.guard->threshold
                                                    : options.guard->policy.threshold)
            guard->set_threshold(*t);
    }
    metrics.set_slots_total(0);
}

const std::string& ServerContext::default_model() const {
    if (pool.models().empty()) throw not_found("no models are configured");
    return pool.models().front().name;
}

std::shared_ptr<const serve::LoadedModel> ServerContext::model(std::string_view name) {
    std::string key(name.empty() ? std::string_view(default_model()) : name);
    if (!pool.contains(key) && key.ends_with(":latest")) key.resize(key.size() - 7);
    try {
        return pool.acquire(key);
    } catch (const serve::ModelNotFound&) {
        throw not_found_model(name);
    } catch (const serve::OutOfModelMemory& e) {
        throw ApiError(503, "server_error", e.what()).with_retry_after(5);
    } catch (const Error& e) {
        throw internal_error(cat("model '", key, "' could not be loaded: ", e.what()));
    }
}

std::shared_ptr<const VocabularyIndex> ServerContext::vocabulary(const serve::LoadedModel& m) {
    std::lock_guard lock(vocab_mutex_);
    auto& slot = vocabularies_[&m.model()];
    if (!slot) slot = VocabularyIndex::build(m.model().tokenizer());
    return slot;
}

struct Server::Impl {
    explicit Impl(ServerOptions options) : ctx(std::move(options)) {}
    ServerContext ctx;
    httplib::Server http;
    std::thread preload;
    int port = -1;

    void configure();
    void log_request(const httplib::Request& req, const httplib::Response& res);
};

void Server::Impl::configure() {
    const ServerOptions& o = ctx.options;
    const int threads = std::max(o.http_threads, 4);
    // httplib's API takes ownership of a raw pointer here.
    http.new_task_queue = [threads] {
        return new httplib::ThreadPool(static_cast<size_t>(threads));
    };
    http.set_payload_max_length(o.max_body);
    http.set_read_timeout(o.read_timeout);
    http.set_write_timeout(o.write_timeout);
    http.set_keep_alive_timeout(5);
    http.set_tcp_nodelay(true);

    http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
        t_record = RequestRecord{};
        t_record.endpoint = endpoint_label(req.path);
        t_started = Clock::now();
        const ServerOptions& o = ctx.options;
        res.set_header("X-Content-Type-Options", "nosniff");
        if (!o.cors_origin.empty()) {
            res.set_header("Access-Control-Allow-Origin", o.cors_origin);
            res.set_header("Vary", "Origin");
            if (req.method == "OPTIONS") {
                res.set_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS");
                res.set_header("Access-Control-Allow-Headers",
                               "Authorization, Content-Type, OpenAI-Organization, "
                               "OpenAI-Project, X-Stainless-Lang, X-Stainless-Package-Version, "
                               "X-Stainless-OS, X-Stainless-Arch, X-Stainless-Runtime, "
                               "X-Stainless-Runtime-Version, X-Stainless-Retry-Count, "
                               "X-Stainless-Timeout");
                res.set_header("Access-Control-Max-Age", "600");
                res.status = 204;
                return httplib::Server::HandlerResponse::Handled;
            }
        }
        const bool ollama = is_ollama_path(req.path);
        // Rejections here come before the body is read: close the connection so its unread
        // bytes are never taken for a next request.
        const auto reject = [&](const ApiError& e) {
            send_error(res, e, ollama);
            res.set_header("Connection", "close");
            return httplib::Server::HandlerResponse::Handled;
        };
        if (!o.api_key.empty() && is_api_path(req.path) &&
            !bearer_matches(req.get_header_value("Authorization"), o.api_key)) {
            res.set_header("WWW-Authenticate", "Bearer");
            return reject(unauthorized());
        }
        if (req.method == "POST" && is_api_path(req.path) && !json_content_type(req)) {
            return reject(
                ApiError(415, "invalid_request_error",
                         "the body must be JSON: send 'Content-Type: application/json' (got '" +
                             req.get_header_value("Content-Type") + "')"));
        }
        return httplib::Server::HandlerResponse::Unhandled;
    });

    http.set_exception_handler(
        [](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
            const bool ollama = is_ollama_path(req.path);
            try {
                std::rethrow_exception(ep);
            } catch (const ApiError& e) {
                send_error(res, e, ollama);
            } catch (const std::bad_alloc&) {
                send_error(res, ApiError(503, "server_error", "out of memory").with_retry_after(5),
                           ollama);
            } catch (const std::exception& e) {
                send_error(res, internal_error(e.what()), ollama);
            } catch (...) {
                send_error(res, internal_error(), ollama);
            }
        });

    // Statuses httplib sets itself (404 for unknown routes, 413 for big bodies, 400 for bad
    // requests) get an error body in the API's shape.
    http.set_error_handler(httplib::Server::HandlerWithResponse(
        [](const httplib::Request& req, httplib::Response& res) {
            if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
            send_error(res, error_for_status(res.status), is_ollama_path(req.path));
            return httplib::Server::HandlerResponse::Handled;
        }));

    http.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
        log_request(req, res);
    });

    http.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
        const bool ready = ctx.ready.load();
        send_json(res, {{"status", ready ? "ok" : "loading"}}, ready ? 200 : 503);
    });
    http.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
        const serve::SchedulerStats s = ctx.pool.stats();
        ctx.metrics.set_queue_depth(static_cast<int64_t>(s.queue_depth));
        ctx.metrics.set_slots_busy(s.slots_busy);
        ctx.metrics.set_slots_total(s.slots_total);
        ctx.metrics.set_models_loaded(static_cast<int64_t>(ctx.pool.loaded_count()));
        res.set_content(ctx.metrics.render(), "text/plain; version=0.0.4; charset=utf-8");
    });
    add_openai_routes(http, ctx);
    add_ollama_routes(http, ctx);
    add_web_routes(http, ctx);
    add_rag_routes(http, ctx);
}

void Server::Impl::log_request(const httplib::Request& req, const httplib::Response& res) {
    const RequestRecord& rec = t_record;
    const double seconds = std::chrono::duration<double>(Clock::now() - t_started).count();
    ctx.metrics.count_request(rec.endpoint.empty() ? endpoint_label(req.path) : rec.endpoint,
                              res.status);
    ctx.metrics.observe_request_duration(seconds);
    if (!ctx.options.access_log) return;
    AccessRecord r;
    r.remote_addr = req.remote_addr;
    r.method = req.method;
    r.path = req.path;
    r.status = res.status;
    r.duration_ms = seconds * 1000.0;
    r.model = rec.model;
    r.prompt_tokens = rec.prompt_tokens;
    r.completion_tokens = rec.completion_tokens;
    r.prompt = rec.prompt;
    r.route = rec.route;
    r.guard = rec.guard;
    ctx.log.write(r);
}

Server::Server(ServerOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {
    impl_->configure();
}

Server::~Server() {
    stop();
    if (impl_->preload.joinable()) impl_->preload.join();
}

int Server::bind() {
    const ServerOptions& o = impl_->ctx.options;
    if (o.port == 0) {
        impl_->port = impl_->http.bind_to_any_port(o.host);
        if (impl_->port < 0) fail("serve: cannot bind ", o.host, " on any port");
    } else {
        if (!impl_->http.bind_to_port(o.host, o.port))
            fail("serve: cannot bind ", o.host, ":", o.port,
                 " (in use, or not an address of this machine)");
        impl_->port = o.port;
    }
    return impl_->port;
}

void Server::run() {
    if (impl_->port < 0) bind();
    ServerContext& ctx = impl_->ctx;
    // The first model loads while the server already answers (/health: "loading").
    impl_->preload = std::thread([&ctx] {
        try {
            if (!ctx.pool.models().empty()) ctx.pool.acquire(ctx.pool.models().front().name);
        } catch (const std::exception& e) {
            std::cerr << "serve: " << e.what() << "\n";
        }
        ctx.ready.store(true);
    });
    impl_->http.listen_after_bind();
}

void Server::stop() {
    impl_->ctx.stopping.store(true);
    impl_->ctx.pool.cancel_all();
    impl_->http.stop();
}

serve::ModelPool& Server::pool() {
    return impl_->ctx.pool;
}

}  // namespace pocket::server
