// `pocket serve -m MODEL [-m MODEL2 ...]`: the OpenAI- and Ollama-compatible server
// (pocket/server/server.h) on the command line. Ctrl-C or SIGTERM stops it cleanly.
#include <CLI/CLI.hpp>

#include <pthread.h>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <thread>

#include "cli/cloud_options.h"
#include "cli/commands.h"
#include "cli/generate_options.h"
#include "cli/guard_options.h"
#include "cli/model_path.h"
#include "pocket/core/error.h"
#include "pocket/core/thread_pool.h"
#include "pocket/server/server.h"

namespace pocket::cli {
namespace {

struct ServeOptions {
    std::vector<std::string> models;
    LoraCliOptions lora;  // applied to every -m model
    std::string embed_model;
    std::vector<std::string> rag_indexes;
    std::string host = "127.0.0.1";
    int port = 8080;
    int parallel = 4;
    int64_t ctx = 0;
    CacheTypeOptions cache_types;
    int64_t batch = 512;
    size_t queue = 64;
    std::string api_key;
    std::string cors;
    double keep_alive_s = 300;
    double max_memory_gb = 0;
    size_t max_body_mb = 16;
    bool log_prompts = false;
    bool quiet = false;
    int threads = 0;
    int http_threads = 64;
    CloudCliOptions cloud;
    GuardCliOptions guard;
};

std::string model_name(const std::filesystem::path& path) {
    std::string name = path.filename().string();
    if (name.ends_with(".gguf")) name.resize(name.size() - 5);
    return name;
}

int run_serve(const ServeOptions& opt) {
    if (opt.threads > 0) ThreadPool::set_global_threads(opt.threads);
    server::ServerOptions so;
    so.host = opt.host;
    so.port = opt.port;
    so.api_key = opt.api_key;
    so.cors_origin = opt.cors;
    so.max_body = opt.max_body_mb << 20;
    so.log_prompts = opt.log_prompts;
    so.access_log = !opt.quiet;
    so.http_threads = opt.http_threads;
    so.pool.load = model_load_options();
    so.pool.scheduler.n_slots = opt.parallel;
    so.pool.scheduler.slot_ctx = opt.ctx;
    so.pool.scheduler.n_batch = opt.batch;
    so.pool.scheduler.type_k = opt.cache_types.type_k();
    so.pool.scheduler.type_v = opt.cache_types.type_v();
    so.pool.scheduler.max_queue = opt.queue;
    so.pool.keep_alive = std::chrono::milliseconds(
        opt.keep_alive_s < 0 ? -1 : static_cast<int64_t>(opt.keep_alive_s * 1000));
    so.pool.max_memory = static_cast<uint64_t>(opt.max_memory_gb * (1ull << 30));
    for (const std::string& m : opt.models) {
        const std::filesystem::path path = resolve_model_arg(m);
        so.pool.models.push_back({model_name(path), path, opt.lora.list()});
    }
    if (!opt.embed_model.empty()) {
        const std::filesystem::path path = resolve_model_arg(opt.embed_model);
        const std::string name = model_name(path);
        bool listed = false;
        for (const auto& spec : so.pool.models) listed = listed || spec.name == name;
        if (!listed) so.pool.models.push_back({name, path});
        so.embed_model = name;
    }

    for (const std::string& spec : opt.rag_indexes) {
        const size_t eq = spec.find('=');
        if (eq == 0 || eq == std::string::npos || eq + 1 == spec.size())
            fail("--rag-index: expected NAME=DB, got '", spec, "'");
        const std::string name = spec.substr(0, eq);
        if (so.rag_indexes.contains(name)) fail("--rag-index: index '", name, "' given twice");
        so.rag_indexes[name] = spec.substr(eq + 1);
    }

    so.hybrid = hybrid_options(opt.cloud);
    if (opt.guard.flag && opt.guard.flag->count() > 0) {
        server::ServerOptions::Guard g;
        g.model = opt.guard.model;
        if (!opt.guard.policy.empty()) g.policy = safety::GuardPolicy::load(opt.guard.policy);
        if (opt.guard.threshold >= 0) g.threshold = opt.guard.threshold;
        so.guard = std::move(g);
    } else if (!opt.guard.model.empty() || opt.guard.threshold >= 0) {
        fail("--guard-model and --guard-threshold need --guard");
    }
    const std::string so_audit_log = so.hybrid ? so.hybrid->audit_log.string() : std::string();

    // Signals are taken by one thread with sigwait, which may then stop the server safely.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);

    server::Server server(std::move(so));
    const int port = server.bind();
    std::fprintf(stderr, "pocket serve: listening on http://%s:%d (models:", opt.host.c_str(),
                 port);
    for (const auto& spec : server.pool().models()) std::fprintf(stderr, " %s", spec.name.c_str());
    std::fprintf(stderr, ")\n");
    if (opt.cloud.url.empty()) {
        std::fprintf(stderr, "pocket serve: no --cloud: every request is answered here\n");
    } else {
        std::fprintf(stderr,
                     "pocket serve: hard requests go to %s (model %s, target share %.2f, PII %s); "
                     "egress audit log %s\n",
                     opt.cloud.url.c_str(), opt.cloud.model.c_str(), opt.cloud.cloud_share,
                     opt.cloud.pii.c_str(), so_audit_log.c_str());
    }
    if (opt.host != "127.0.0.1" && opt.host != "localhost" && opt.host != "::1" &&
        opt.api_key.empty())
        std::fprintf(stderr,
                     "pocket serve: warning: listening beyond this machine without --api-key\n");
    std::fflush(stderr);

    std::thread waiter([&server, signals] {
        int sig = 0;
        sigwait(&signals, &sig);
        if (sig != 0) std::fprintf(stderr, "pocket serve: stopping\n");
        server.stop();
    });
    server.run();
    // run() also returns when the server stops for another reason: release the waiter.
    pthread_kill(waiter.native_handle(), SIGTERM);
    waiter.join();
    return kExitOk;
}

}  // namespace

Runner register_serve(CLI::App& app) {
    auto opt = std::make_shared<ServeOptions>();
    app.add_option("-m,--model", opt->models, "Model file or name (repeat for several)")
        ->required();
    add_lora_options(app, opt->lora);
    app.add_option("--host", opt->host, "Address to listen on (default: loopback only)");
    app.add_option("--port", opt->port, "Port (0: any free port; printed at start)");
    app.add_option("--parallel,-n", opt->parallel, "Generations that run at once per model")
        ->check(CLI::Range(1, 256));
    app.add_option("-c,--ctx", opt->ctx,
                   "Context (tokens) of each parallel sequence (0: the model's, at most 4096)")
        ->check(CLI::Range(0, 1 << 20));
    add_cache_type_options(app, opt->cache_types);
    app.add_option("-b,--batch", opt->batch, "Tokens evaluated per step at most")
        ->check(CLI::Range(1, 1 << 16));
    app.add_option("--queue", opt->queue, "Requests that may wait for a slot before 503");
    app.add_option("--api-key", opt->api_key, "Require 'Authorization: Bearer KEY'");
    app.add_option("--cors", opt->cors, "Allow browser pages from this origin ('*': any)");
    app.add_option("--embed-model", opt->embed_model,
                   "Model for /v1/embeddings and /api/embed when a request names none");
    app.add_option("--rag-index", opt->rag_indexes,
                   "Local RAG index NAME=DB (from `pocket index`) that /v1/rag/search and the chat "
                   "extension pocket.rag may search (repeatable)");
    app.add_option("--keep-alive", opt->keep_alive_s,
                   "Seconds an unused model stays loaded (negative: forever)");
    app.add_option("--max-memory", opt->max_memory_gb,
                   "GiB that loaded models may take together (0: no limit)");
    app.add_option("--max-body", opt->max_body_mb, "Largest request body in MiB");
    app.add_flag("--log-prompts", opt->log_prompts, "Include prompt text in the access log");
    app.add_flag("-q,--quiet", opt->quiet, "No access log");
    app.add_option("-t,--threads", opt->threads, "Threads (default: physical cores)");
    app.add_option("--http-threads", opt->http_threads, "Connections served at once")
        ->check(CLI::Range(4, 4096));
    add_cloud_options(app, opt->cloud, /*with_route=*/false);
    add_guard_options(app, opt->guard);
    return [opt] { return run_serve(*opt); };
}

}  // namespace pocket::cli
