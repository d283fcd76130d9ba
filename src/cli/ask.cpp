// `pocket ask QUESTION -m MODEL [--db FILE]`: a grounded answer from a local index. Retrieves the
// best chunks (pocket/rag/retriever.h), builds a prompt of numbered sources within the chat
// model's context (pocket/rag/grounded_prompt.h), streams the answer, which cites the sources as
// [1], [2], and then lists what each number refers to. When no hit reaches --min-relevance the
// model is not called and the answer is a fixed "I don't know".
#include <CLI/CLI.hpp>

#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "cli/format.h"
#include "cli/generate_options.h"
#include "cli/model_path.h"
#include "cli/store_options.h"
#include "pocket/convert/hf_loader.h"
#include "pocket/core/error.h"
#include "pocket/core/thread_pool.h"
#include "pocket/embed/embedder.h"
#include "pocket/generate/chat.h"
#include "pocket/model/context.h"
#include "pocket/model/model.h"
#include "pocket/rag/grounded_prompt.h"
#include "pocket/rag/indexer.h"
#include "pocket/rag/retriever.h"
#include "pocket/rag/store.h"

namespace pocket::cli {
namespace {

struct AskOptions {
    std::string question;
    std::string model;
    std::string db;
    int k = 5;
    std::string mode = "hybrid";
    std::string embed_model;
    double min_relevance = -1;  // < 0: rag::default_min_relevance(the mode used)
    int64_t ctx_size = 0;
    CacheTypeOptions cache_types;
    LoraCliOptions lora;
    int64_t n_predict = 512;
    int threads = 0;
    bool json = false;
    bool quiet = false;
    SamplingParams sampling;
};

int run_ask(AskOptions opt) {
    if (opt.threads > 0) ThreadPool::set_global_threads(opt.threads);
    if (opt.k < 1 || opt.k > 100) fail("--k must be between 1 and 100");
    const rag::SearchMode mode = rag::parse_search_mode(opt.mode);
    const std::filesystem::path db = opt.db.empty()
                                         ? rag::default_index_path(std::filesystem::current_path())
                                         : std::filesystem::path(opt.db);
    if (!std::filesystem::exists(db))
        fail("no index at ", db.string(), " (build one with `pocket index DIR --db FILE`)");

    const auto store = rag::Store::open(db, store_options(/*read_only=*/true));
    std::unique_ptr<embed::Embedder> embedder;
    const std::string embed_name =
        opt.embed_model.empty() ? store->meta().embed_model : opt.embed_model;
    if (mode != rag::SearchMode::Bm25 && !embed_name.empty())
        embedder = embed::open_embedder(resolve_model_arg(embed_name));
    rag::Retriever retriever(*store, embedder.get());
    const std::vector<rag::SearchHit> hits = retriever.search(opt.question, {opt.k, mode});
    const rag::SearchMode used = retriever.fell_back_to_bm25() ? rag::SearchMode::Bm25 : mode;
    if (retriever.fell_back_to_bm25() && !opt.quiet)
        std::fprintf(stderr, "pocket: the index has no embeddings; searched with bm25\n");
    if (opt.min_relevance < 0) opt.min_relevance = rag::default_min_relevance(used);

    const auto model = load_model_arg(opt.model);
    model::Context ctx(*model, {.n_ctx = opt.ctx_size,
                                .type_k = opt.cache_types.type_k(),
                                .type_v = opt.cache_types.type_v(),
                                .loras = opt.lora.load(*model)});
    const ModelChatTemplate tmpl = chat_template_for(*model);
    Session session(ctx);

    rag::GroundingOptions grounding;
    grounding.context_tokens = ctx.n_ctx();
    grounding.answer_tokens = std::min<int64_t>(opt.n_predict, ctx.n_ctx() / 2);
    grounding.min_relevance = opt.min_relevance;
    GenerateOptions gen;
    gen.sampling = opt.sampling;
    gen.max_tokens = opt.n_predict;

    const rag::GroundedAnswer answer =
        rag::answer_grounded(session, tmpl, opt.question, hits, grounding, gen,
                             opt.json ? TextCallback{} : TextCallback([](std::string_view piece) {
                                 write_out(piece);
                                 return true;
                             }));
    double best = 0;
    for (const auto& h : hits) best = std::max(best, h.relevance);

    if (opt.json) {
        nlohmann::ordered_json out = {
            {"question", opt.question},
            {"answer", answer.text},
            {"answered", answer.prompt.relevant},
            {"best_relevance", best},
            {"min_relevance", opt.min_relevance},
            {"mode", std::string(rag::search_mode_name(used))},
            {"sources", rag::citations_json(answer.prompt.sources, answer.text)},
            {"cited", answer.cited},
            {"dropped_sources", answer.prompt.dropped_sources},
            {"finish_reason", answer.prompt.relevant
                                  ? std::string(finish_reason_name(answer.result.finish))
                                  : std::string("no_relevant_sources")},
            {"usage",
             {{"prompt_tokens", answer.result.prompt_tokens},
              {"completion_tokens", answer.result.completion_tokens}}},
        };
        std::cout << out.dump(2) << "\n";
        return kExitOk;
    }
    write_out("\n");
    if (!answer.prompt.relevant) {
        if (!opt.quiet)
            std::fprintf(stderr,
                         "pocket: no source reached relevance %.2f (best %.2f of %zu hits); the "
                         "model was not asked\n",
                         opt.min_relevance, best, hits.size());
        return kExitOk;
    }
    write_out("\n" + rag::format_source_list(answer.prompt.sources));
    if (!opt.quiet && answer.prompt.dropped_sources > 0)
        std::fprintf(stderr, "pocket: %lld lower-ranked sources did not fit in the context\n",
                     static_cast<long long>(answer.prompt.dropped_sources));
    return kExitOk;
}

}  // namespace

Runner register_ask(CLI::App& app) {
    auto opt = std::make_shared<AskOptions>();
    app.add_option("question", opt->question, "The question")->required();
    app.add_option("-m,--model", opt->model,
                   "Chat model: GGUF file, Hugging Face folder, or a name in the models folder")
        ->required();
    app.add_option("--db", opt->db, "Index database (default: ./.pocket-index.sqlite)");
    app.add_option("-k,--k", opt->k, "Chunks to retrieve")->capture_default_str();
    app.add_option("--mode", opt->mode, "Retrieval: bm25, vector or hybrid")->capture_default_str();
    app.add_option("--embed-model", opt->embed_model,
                   "Embedding model for the query (default: the one the index was built with)");
    app.add_option("--min-relevance", opt->min_relevance,
                   "Below this best-hit relevance (0..1) the answer is \"I don't know\" "
                   "(default: 0.5 for hybrid and vector, 0.6 for bm25; see docs/RAG.md)");
    app.add_option("-c,--ctx-size", opt->ctx_size,
                   "Context size in tokens (default: min(train, 4096))");
    add_cache_type_options(app, opt->cache_types);
    add_lora_options(app, opt->lora);
    app.add_option("-n,--n-predict", opt->n_predict, "Answer tokens at most")
        ->capture_default_str();
    app.add_option("-t,--threads", opt->threads, "Threads (default: physical cores)");
    app.add_flag("--json", opt->json,
                 "Print one JSON object (answer, sources with citations, usage) instead");
    app.add_flag("-q,--quiet", opt->quiet, "No notes on stderr");
    add_sampling_options(app, opt->sampling);
    return [opt] { return run_ask(*opt); };
}

}  // namespace pocket::cli
