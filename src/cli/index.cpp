// `pocket index DIR [--db FILE] [--embed-model MODEL] [--chunk-tokens N] [--overlap N]
// [--threads N]`: builds or updates the local RAG index of a folder (pocket::rag::index_folder).
// The database defaults to DIR/.pocket-index.sqlite; the embedder to the static Model2Vec model
// potion-base-4M-int8 in the models folder, or none (BM25 only) when that is not installed.
#include <unistd.h>

#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "cli/format.h"
#include "cli/model_path.h"
#include "cli/store_options.h"
#include "pocket/core/error.h"
#include "pocket/core/thread_pool.h"
#include "pocket/embed/embedder.h"
#include "pocket/rag/indexer.h"
#include "pocket/rag/store.h"

namespace pocket::cli {
namespace fs = std::filesystem;
namespace {

constexpr const char* kDefaultEmbedder = "potion-base-4M-int8";

struct IndexCliOptions {
    std::string dir, db, embed_model;
    int chunk_tokens = rag::ChunkOptions{}.max_tokens;
    int overlap = rag::ChunkOptions{}.overlap_tokens;
    int threads = 0;
};

// What StoreMeta records for the embedder: a path as an absolute path (the index may be searched
// from another working directory), a model name as the name (resolved in the models folder).
std::string recorded_name(const std::string& arg) {
    std::error_code ec;
    if (fs::exists(arg, ec)) return fs::absolute(arg).lexically_normal().string();
    return arg;
}

// A bar redrawn in place with files/s and chunks/s; only on a terminal, so logs stay clean.
void draw_progress(const rag::IndexProgress& p, std::chrono::steady_clock::time_point start) {
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const int width = 30;
    const int filled =
        p.files_total ? static_cast<int>(width * p.files_done / p.files_total) : width;
    std::fprintf(stderr, "\r\033[K[%s%s] %zu/%zu files  %.1f files/s  %.1f chunks/s  %s",
                 std::string(static_cast<size_t>(filled), '#').c_str(),
                 std::string(static_cast<size_t>(width - filled), ' ').c_str(), p.files_done,
                 p.files_total, s > 0 ? static_cast<double>(p.files_done) / s : 0.0,
                 s > 0 ? static_cast<double>(p.chunks_written) / s : 0.0,
                 printable(p.current, 40).c_str());
    if (p.files_done == p.files_total) std::fputc('\n', stderr);
}

int run_index(const IndexCliOptions& opt) {
    if (opt.threads > 0) ThreadPool::set_global_threads(opt.threads);
    const fs::path root = opt.dir;
    std::error_code ec;
    if (!fs::is_directory(root, ec)) fail(opt.dir, ": not a folder");
    const fs::path db = opt.db.empty() ? rag::default_index_path(root) : fs::path(opt.db);

    rag::IndexOptions options;
    options.chunk = {.max_tokens = opt.chunk_tokens, .overlap_tokens = opt.overlap};
    std::unique_ptr<embed::Embedder> embedder;
    if (opt.embed_model.empty()) {
        // The default embedder is optional: without it the index is lexical only, and says so.
        try {
            const std::string path = resolve_model_arg(kDefaultEmbedder);
            embedder = embed::open_embedder(path);
            options.embed_model = kDefaultEmbedder;
        } catch (const Error&) {
            std::fprintf(stderr,
                         "pocket index: no embedder (%s not found in the models folder): "
                         "indexing for BM25 search only\n",
                         kDefaultEmbedder);
        }
    } else if (opt.embed_model != "none") {
        embedder = embed::open_embedder(resolve_model_arg(opt.embed_model));
        options.embed_model = recorded_name(opt.embed_model);
    } else {
        std::fprintf(stderr, "pocket index: --embed-model none: indexing for BM25 search only\n");
    }
    options.embedder = embedder.get();

    const auto store = rag::Store::open(db, store_options(/*read_only=*/false));
    const auto start = std::chrono::steady_clock::now();
    if (isatty(STDERR_FILENO) != 0)
        options.progress = [start](const rag::IndexProgress& p) { draw_progress(p, start); };
    const auto r = rag::index_folder(*store, root, options);

    const std::string search = embedder ? cat("embedder ", options.embed_model) : "BM25 only";
    for (const auto& s : r.skipped)
        std::fprintf(stderr, "skipped %s: %s\n", s.path.c_str(), s.reason.c_str());
    std::printf(
        "indexed %s into %s: %zu files: %zu added, %zu updated, %zu unchanged, %zu removed, "
        "%zu skipped; %zu chunks written (%lld documents, %lld chunks in the index; %s), "
        "%.2f s\n",
        root.string().c_str(), db.string().c_str(), r.files, r.added, r.updated, r.unchanged,
        r.removed, r.skipped.size(), r.chunks_written,
        static_cast<long long>(store->document_count()),
        static_cast<long long>(store->chunk_count()), search.c_str(), r.seconds);
    if (r.vector_index_seconds >= 0.1)
        std::printf("vector index (HNSW graph beside the database) built in %.2f s\n",
                    r.vector_index_seconds);
    return kExitOk;
}

}  // namespace

Runner register_index(CLI::App& app) {
    auto opt = std::make_shared<IndexCliOptions>();
    app.add_option("dir", opt->dir, "Folder to index (recursively)")->required();
    app.add_option("--db", opt->db, "Index database (default: DIR/.pocket-index.sqlite)");
    app.add_option("--embed-model", opt->embed_model,
                   std::string("Embedding model, path or name in the models folder, or 'none' "
                               "for BM25 only (default: ") +
                       kDefaultEmbedder + " when installed)");
    app.add_option("--chunk-tokens", opt->chunk_tokens, "Tokens per chunk at most")
        ->check(CLI::Range(1, 1 << 20));
    app.add_option("--overlap", opt->overlap, "Tokens shared by consecutive chunks")
        ->check(CLI::Range(0, 1 << 20));
    app.add_option("-t,--threads", opt->threads, "Threads (default: physical cores)");
    return [opt] { return run_index(*opt); };
}

}  // namespace pocket::cli
