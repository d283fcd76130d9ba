// `pocket search QUERY [--db FILE] [--k 10] [--mode bm25|vector|hybrid] [--embed-model M]
// [--json]`: the best chunks of a `pocket index` store for a query, with file, page, score and a
// snippet whose matched words are [[marked]]. The embedder defaults to the one the store was
// built with; a store without embeddings (or an embedder that cannot be opened) searches BM25
// only and says so on stderr.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/model_path.h"
#include "cli/store_options.h"
#include "pocket/core/error.h"
#include "pocket/embed/embedder.h"
#include "pocket/rag/grounded_prompt.h"
#include "pocket/rag/retriever.h"
#include "pocket/rag/store.h"

namespace pocket::cli {
namespace {

struct SearchCliOptions {
    std::string query;
    std::string db = ".pocket-index.sqlite";
    int k = 10;
    std::string mode = "hybrid";
    std::string embed_model;
    bool json = false;
};

int run_search(const SearchCliOptions& o) {
    const auto mode = rag::parse_search_mode(o.mode);
    const auto store = rag::Store::open(o.db, store_options(/*read_only=*/true));
    const auto meta = store->meta();
    std::unique_ptr<embed::Embedder> embedder;
    std::string why_lexical;
    if (mode != rag::SearchMode::Bm25) {
        const std::string model = o.embed_model.empty() ? meta.embed_model : o.embed_model;
        if (meta.embed_dim == 0) {
            why_lexical = "the store has no embeddings";
        } else {
            try {
                embedder = embed::open_embedder(resolve_model_arg(model));
            } catch (const Error& e) {
                why_lexical = cat("its embedding model could not be opened (", e.what(), ")");
            }
        }
    }
    const rag::Retriever retriever(*store, embedder.get());
    if (mode != rag::SearchMode::Bm25 && retriever.fell_back_to_bm25()) {
        std::fprintf(stderr, "pocket search: %s; searching with BM25 only\n", why_lexical.c_str());
    }
    const auto hits = retriever.search(o.query, {o.k, mode});
    if (o.json) {
        nlohmann::ordered_json out = nlohmann::ordered_json::array();
        for (size_t i = 0; i < hits.size(); ++i) {
            out.push_back(rag::hit_json(hits[i], static_cast<int>(i + 1)));
        }
        std::printf("%s\n",
                    out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
        return kExitOk;
    }
    if (hits.empty()) {
        std::printf("no matches\n");
        return kExitOk;
    }
    for (size_t i = 0; i < hits.size(); ++i) {
        const auto& h = hits[i];
        std::string where = h.document.path;
        if (h.chunk.page > 0) where += cat(", page ", h.chunk.page);
        if (!h.chunk.heading.empty()) where += " > " + h.chunk.heading;
        std::printf("%zu. %s  (score %.3f, relevance %.2f)\n   %s\n", i + 1, where.c_str(), h.score,
                    h.relevance, h.snippet.c_str());
    }
    return kExitOk;
}

}  // namespace

Runner register_search(CLI::App& app) {
    auto o = std::make_shared<SearchCliOptions>();
    app.add_option("query", o->query, "What to search for")->required();
    app.add_option("--db", o->db, "Index database (default: ./.pocket-index.sqlite)");
    app.add_option("-k,--k", o->k, "Number of results (default 10)")->check(CLI::Range(1, 1000));
    app.add_option("--mode", o->mode, "bm25, vector or hybrid (default)")
        ->check(CLI::IsMember({"bm25", "vector", "hybrid"}));
    app.add_option("--embed-model", o->embed_model,
                   "Embedding model (default: the one the store was built with)");
    app.add_flag("--json", o->json, "Print the hits as a JSON array");
    return [o] { return run_search(*o); };
}

}  // namespace pocket::cli
