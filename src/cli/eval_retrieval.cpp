// `pocket eval-retrieval`: nDCG@10, recall@10/100 and MRR@10 of bm25 / vector / hybrid search on a
// test collection, indexed into a temporary store through the same Store + Retriever code that
// `pocket index` / `pocket search` use. Collections: BEIR files (--corpus/--queries/--qrels), or
// SciFact / Cranfield from their raw files (--format scifact|cranfield --data DIR).
#include <CLI/CLI.hpp>

#include <unistd.h>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/model_path.h"
#include "cli/store_options.h"
#include "pocket/core/error.h"
#include "pocket/embed/embedder.h"
#include "pocket/rag/eval_retrieval.h"

namespace pocket::cli {
namespace {

namespace ev = rag::eval;

struct EvalRetrievalOptions {
    std::string corpus, queries, qrels;
    std::string format = "beir";
    std::string data;
    std::string split = "test";
    std::string mode = "all";
    std::string embed_model;
    std::string db;
    std::string write_beir;
    bool json = false;
    bool baseline = false;
    bool tune = false;
    rag::RetrieverConfig config;
    std::string norm = "zscore";
    bool fit_relevance = false;
};

ev::Collection load(const EvalRetrievalOptions& o) {
    if (o.format == "beir") {
        if (o.corpus.empty() || o.queries.empty() || o.qrels.empty()) {
            fail(
                "eval-retrieval: give --corpus, --queries and --qrels (or --format scifact|"
                "cranfield --data DIR)");
        }
        return ev::load_beir(o.corpus, o.queries, o.qrels);
    }
    if (o.data.empty()) fail("eval-retrieval: --format ", o.format, " needs --data DIR");
    if (o.format == "scifact") return ev::load_scifact(o.data, o.split);
    if (o.format == "cranfield") return ev::load_cranfield(o.data);
    fail("eval-retrieval: unknown --format '", o.format, "' (valid: beir, scifact, cranfield)");
}

nlohmann::ordered_json metrics_json(const ev::Metrics& m) {
    return {{"ndcg@10", m.ndcg10},
            {"recall@10", m.recall10},
            {"recall@100", m.recall100},
            {"mrr@10", m.mrr10}};
}

void print_row(const std::string& name, const ev::Metrics& m) {
    std::printf("%-28s %8.4f %10.4f %11.4f %7.4f\n", name.c_str(), m.ndcg10, m.recall10,
                m.recall100, m.mrr10);
}

// The tuning grid (docs/RAG.md): BM25's k1, b and title weight first, then the hybrid weight and
// score normalisation with the best BM25 settings. Run it on training queries only.
void tune(const ev::IndexedCollection& index, const ev::Collection& c, rag::RetrieverConfig cfg,
          bool with_vectors) {
    double best = -1;
    rag::Bm25Params best_p = cfg.bm25;
    for (double k1 : {0.6, 0.9, 1.2, 1.5}) {
        for (double b : {0.3, 0.4, 0.5, 0.75}) {
            for (double tw : {0.0, 0.5, 1.0, 2.0}) {
                cfg.bm25.k1 = k1;
                cfg.bm25.b = b;
                cfg.bm25.title_weight = tw;
                const auto m = ev::evaluate(index.run(rag::SearchMode::Bm25, cfg), c);
                std::printf("bm25 k1=%.2f b=%.2f title=%.1f  ndcg@10 %.4f  recall@100 %.4f\n", k1,
                            b, tw, m.ndcg10, m.recall100);
                if (m.ndcg10 > best) {
                    best = m.ndcg10;
                    best_p = cfg.bm25;
                }
            }
        }
    }
    std::printf("best bm25: k1=%.2f b=%.2f title=%.1f ndcg@10 %.4f\n", best_p.k1, best_p.b,
                best_p.title_weight, best);
    std::fflush(stdout);
    if (!with_vectors) return;
    cfg.bm25 = best_p;
    for (auto norm : {rag::ScoreNorm::MinMax, rag::ScoreNorm::ZScore}) {
        for (double w : {0.1, 0.2, 0.3, 0.4, 0.5, 0.6}) {
            cfg.norm = norm;
            cfg.vector_weight = w;
            const auto m = ev::evaluate(index.run(rag::SearchMode::Hybrid, cfg), c);
            std::printf("hybrid %s w=%.2f  ndcg@10 %.4f  recall@100 %.4f\n",
                        norm == rag::ScoreNorm::MinMax ? "minmax" : "zscore", w, m.ndcg10,
                        m.recall100);
            std::fflush(stdout);
        }
    }
}

int run_eval_retrieval(EvalRetrievalOptions o) {
    if (o.norm == "zscore") {
        o.config.norm = rag::ScoreNorm::ZScore;
    } else if (o.norm == "minmax") {
        o.config.norm = rag::ScoreNorm::MinMax;
    } else {
        fail("eval-retrieval: --norm '", o.norm, "' (valid: minmax, zscore)");
    }
    const auto c = load(o);
    if (!o.write_beir.empty()) {
        ev::write_beir(c, o.write_beir);
        std::fprintf(stderr, "wrote %zu documents, %zu queries to %s\n", c.corpus.size(),
                     c.queries.size(), o.write_beir.c_str());
        return kExitOk;
    }
    std::vector<rag::SearchMode> modes;
    if (o.mode == "all") {
        modes = {rag::SearchMode::Bm25, rag::SearchMode::Vector, rag::SearchMode::Hybrid};
        if (o.embed_model.empty()) modes = {rag::SearchMode::Bm25};
    } else {
        modes = {rag::parse_search_mode(o.mode)};
    }
    const bool need_vectors =
        o.tune ? !o.embed_model.empty() : std::any_of(modes.begin(), modes.end(), [](auto m) {
            return m != rag::SearchMode::Bm25;
        });
    if (need_vectors && o.embed_model.empty()) {
        fail("eval-retrieval: mode ", o.mode, " needs --embed-model");
    }
    std::unique_ptr<embed::Embedder> embedder;
    if (need_vectors) embedder = embed::open_embedder(resolve_model_arg(o.embed_model));

    // A private temporary store unless --db names one (kept then, for inspection).
    const bool temp_db = o.db.empty();
    const auto db = temp_db ? std::filesystem::temp_directory_path() /
                                  ("pocket-eval-retrieval-" + std::to_string(getpid()) + ".db")
                            : std::filesystem::path(o.db);
    struct Cleanup {
        std::filesystem::path p;
        bool on;
        ~Cleanup() {
            if (!on) return;
            std::error_code ec;
            for (const char* s : {"", "-wal", "-shm", ".hnsw", ".hnsw.meta", ".lex", ".lex.meta"}) {
                std::filesystem::remove(p.string() + s, ec);
            }
        }
    } cleanup{db, temp_db};

    const auto t0 = std::chrono::steady_clock::now();
    const ev::IndexedCollection index(c, db, embedder.get(), o.embed_model,
                                      store_options(/*read_only=*/false));
    const double index_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!o.json) {
        std::printf("%zu documents, %zu queries; indexed in %.1f s\n", c.corpus.size(),
                    c.queries.size(), index_s);
    }
    if (o.tune) {
        tune(index, c, o.config, embedder != nullptr);
        return kExitOk;
    }
    if (o.fit_relevance) {
        const auto fit = ev::fit_relevance(index, c, o.config);
        std::printf(
            "relevance = logistic(%.3f + %.3f * cosine + %.3f * coverage) over %zu hits"
            " (%zu relevant)\n",
            fit.bias, fit.cosine, fit.coverage, fit.n_hits, fit.n_relevant);
        return kExitOk;
    }
    nlohmann::ordered_json out;
    if (!o.json) {
        std::printf("%-28s %8s %10s %11s %7s\n", "mode", "nDCG@10", "recall@10", "recall@100",
                    "MRR@10");
    }
    if (o.baseline) {
        const auto m = ev::evaluate(ev::plain_bm25_run(c), c);
        if (o.json)
            out["plain-bm25"] = metrics_json(m);
        else
            print_row("plain-bm25 (reference)", m);
    }
    for (auto mode : modes) {
        const auto m = ev::evaluate(index.run(mode, o.config), c);
        const std::string name(rag::search_mode_name(mode));
        if (o.json)
            out[name] = metrics_json(m);
        else
            print_row(name, m);
    }
    if (o.json) std::printf("%s\n", out.dump(2).c_str());
    return kExitOk;
}

}  // namespace

Runner register_eval_retrieval(CLI::App& app) {
    auto o = std::make_shared<EvalRetrievalOptions>();
    app.add_option("--corpus", o->corpus, "BEIR corpus.jsonl ({\"_id\",\"title\",\"text\"} lines)");
    app.add_option("--queries", o->queries, "BEIR queries.jsonl ({\"_id\",\"text\"} lines)");
    app.add_option("--qrels", o->qrels, "BEIR qrels TSV (query-id corpus-id score, with header)");
    app.add_option("--format", o->format,
                   "Collection layout: beir (the three files above), scifact or cranfield (raw "
                   "files in --data DIR)")
        ->check(CLI::IsMember({"beir", "scifact", "cranfield"}));
    app.add_option("--data", o->data, "Folder of the raw SciFact or Cranfield files");
    app.add_option("--split", o->split,
                   "SciFact: test (BEIR's test queries) or train (train claims, for tuning)")
        ->check(CLI::IsMember({"train", "test"}));
    app.add_option("--mode", o->mode, "bm25, vector, hybrid or all (default)")
        ->check(CLI::IsMember({"bm25", "vector", "hybrid", "all"}));
    app.add_option("--embed-model", o->embed_model, "Embedding model for vector and hybrid");
    app.add_option("--db", o->db, "Index into this store and keep it (default: a temporary one)");
    app.add_option("--write-beir", o->write_beir,
                   "Convert: write the collection as BEIR files into this folder and stop");
    app.add_flag("--json", o->json, "Print {\"<mode>\": {\"ndcg@10\",...}} as JSON");
    app.add_flag("--baseline", o->baseline,
                 "Also score the plain in-memory Okapi BM25 reference (no stemming)");
    app.add_flag("--tune", o->tune, "Grid-search BM25 and hybrid settings (use a train split)");
    app.add_flag("--fit-relevance", o->fit_relevance,
                 "Fit SearchHit::relevance's logistic to the top-10 hybrid hits (train split)");
    app.add_option("--k1", o->config.bm25.k1, "BM25 k1");
    app.add_option("--b", o->config.bm25.b, "BM25 b");
    app.add_option("--title-weight", o->config.bm25.title_weight, "BM25F weight of the title");
    app.add_option("--vector-weight", o->config.vector_weight, "Hybrid: weight of the cosine");
    app.add_option("--candidates", o->config.candidates, "Hybrid: candidates per method");
    app.add_option("--norm", o->norm, "Hybrid score normalisation: minmax or zscore");
    return [o] { return run_eval_retrieval(*o); };
}

}  // namespace pocket::cli
