// Hybrid-search latency at scale: builds (once) a store of N synthetic chunks made of real English
// sentences (runs of consecutive sentences drawn from the Gutenberg books in ../shared), embedded
// with the static embedder, then times BM25, vector and hybrid queries through the same
// Retriever that `pocket search` uses, and prints p50/p99 latencies and the database size.
//
//   bench_rag_scale --db /tmp/rag1m.sqlite --chunks 1000000 --corpus
//   ../shared/data/corpus/gutenberg
//                   --embed-model ../shared/models/embed/potion-base-4M-int8 [--queries 200]
//
// Queries are 2-6 word phrases cut from other random positions of the same books, so they hit
// the vocabulary the way a user's words would. A second run reuses the database (and its HNSW
// file), so the index build and the query timing can be run separately.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "pocket/embed/embedder.h"
#include "pocket/rag/retriever.h"
#include "pocket/rag/store.h"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Every sentence of every .txt file under `dir` (split after . ! ? and at blank lines; runs of
// whitespace collapsed), skipping fragments shorter than three words.
std::vector<std::string> load_sentences(const fs::path& dir) {
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(dir))
        if (e.path().extension() == ".txt") files.push_back(e.path());
    std::sort(files.begin(), files.end());
    std::vector<std::string> sentences;
    for (const auto& f : files) {
        std::ifstream in(f, std::ios::binary);
        std::stringstream ss;
        ss << in.rdbuf();
        const std::string text = ss.str();
        std::string cur;
        int words = 0;
        bool space = false;
        auto flush = [&] {
            if (words >= 3) sentences.push_back(cur);
            cur.clear();
            words = 0;
        };
        for (size_t i = 0; i < text.size(); ++i) {
            const char c = text[i];
            if (c == '\n' && i + 1 < text.size() && text[i + 1] == '\n') {
                flush();
                continue;
            }
            if (c == ' ' || c == '\n' || c == '\r' || c == '\t') {
                space = !cur.empty();
                continue;
            }
            if (space) {
                cur.push_back(' ');
                ++words;
                space = false;
            }
            if (cur.empty()) words = 1;
            cur.push_back(c);
            if (c == '.' || c == '!' || c == '?') flush();
        }
        flush();
    }
    return sentences;
}

// A chunk: consecutive sentences from a random start until ~target_words words.
std::string make_chunk(const std::vector<std::string>& sentences, std::mt19937_64& rng,
                       int target_words) {
    std::uniform_int_distribution<size_t> start(0, sentences.size() - 1);
    size_t i = start(rng);
    std::string out;
    int words = 0;
    while (words < target_words) {
        const std::string& s = sentences[i];
        if (!out.empty()) out.push_back(' ');
        out += s;
        words += static_cast<int>(std::count(s.begin(), s.end(), ' ')) + 1;
        i = (i + 1) % sentences.size();
    }
    return out;
}

std::string make_query(const std::vector<std::string>& sentences, std::mt19937_64& rng) {
    std::uniform_int_distribution<size_t> pick(0, sentences.size() - 1);
    std::istringstream words(sentences[pick(rng)]);
    std::vector<std::string> w;
    for (std::string t; words >> t;) w.push_back(t);
    std::uniform_int_distribution<int> len(2, 6);
    const size_t n = std::min(w.size(), static_cast<size_t>(len(rng)));
    std::uniform_int_distribution<size_t> from(0, w.size() - n);
    const size_t s = from(rng);
    std::string q;
    for (size_t i = s; i < s + n; ++i) q += (q.empty() ? "" : " ") + w[i];
    return q;
}

void build(pocket::rag::Store& store, const std::vector<std::string>& sentences,
           const pocket::embed::Embedder& embedder, const std::string& embed_model,
           int64_t n_chunks, int64_t per_doc) {
    using namespace pocket::rag;
    store.set_meta({.embed_model = embed_model,
                    .embed_dim = static_cast<int64_t>(embedder.dim()),
                    .chunk_tokens = 256,
                    .chunk_overlap = 0});
    std::mt19937_64 rng(20261204);
    const auto t0 = Clock::now();
    for (int64_t done = store.chunk_count(), doc = done / per_doc; done < n_chunks; ++doc) {
        const int64_t n = std::min(per_doc, n_chunks - done);
        std::vector<ChunkInfo> chunks(static_cast<size_t>(n));
        std::vector<std::string> texts(static_cast<size_t>(n));
        int64_t offset = 0;
        for (int64_t i = 0; i < n; ++i) {
            texts[i] = make_chunk(sentences, rng, 90);
            chunks[i].ordinal = static_cast<int32_t>(i);
            chunks[i].text = texts[i];
            chunks[i].byte_begin = offset;
            offset += static_cast<int64_t>(texts[i].size()) + 1;
            chunks[i].byte_end = offset - 1;
            chunks[i].n_tokens = 128;
        }
        const auto vectors = embedder.embed_batch(texts);
        DocumentInfo d;
        d.path = "synthetic/doc" + std::to_string(doc) + ".txt";
        d.content_hash = std::to_string(doc);
        d.format = "txt";
        d.title = "Synthetic document " + std::to_string(doc);
        store.put_document(d, chunks, vectors);
        done += n;
        std::fprintf(stderr, "\rbuilding: %lld / %lld chunks, %.0f chunks/s   ",
                     static_cast<long long>(done), static_cast<long long>(n_chunks),
                     static_cast<double>(done) / std::max(1e-9, seconds_since(t0)));
    }
    std::fprintf(stderr, "\n");
}

double percentile(std::vector<double> v, double p) {
    std::sort(v.begin(), v.end());
    const size_t i = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
    return v[i];
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"RAG search latency on a large synthetic store"};
    std::string db, corpus = "../shared/data/corpus/gutenberg",
                    model = "../shared/models/embed/potion-base-4M-int8";
    int64_t n_chunks = 1000000, per_doc = 1000;
    int n_queries = 200, k = 10;
    app.add_option("--db", db, "Database (built when it holds fewer chunks)")->required();
    app.add_option("--chunks", n_chunks, "Chunks in the store");
    app.add_option("--chunks-per-doc", per_doc, "Chunks per synthetic document");
    app.add_option("--corpus", corpus, "Folder of .txt books the sentences come from");
    app.add_option("--embed-model", model, "Embedding model");
    app.add_option("--queries", n_queries, "Timed queries per mode");
    app.add_option("-k", k, "Results per query");
    CLI11_PARSE(app, argc, argv);

    using namespace pocket::rag;
    const auto sentences = load_sentences(corpus);
    std::fprintf(stderr, "%zu sentences from %s\n", sentences.size(), corpus.c_str());
    const auto embedder = pocket::embed::open_embedder(model);
    {
        auto store = Store::open(db);
        if (store->chunk_count() < n_chunks)
            build(*store, sentences, *embedder, model, n_chunks, per_doc);
    }
    const auto store = Store::open(db, /*read_only=*/true);
    auto t0 = Clock::now();
    const Retriever retriever(*store, embedder.get());
    const double open_s = seconds_since(t0);
    // The lexical impact index (<db>.lex): loaded, or built when missing or stale.
    t0 = Clock::now();
    store->prepare_lexical_index();
    const double lex_s = seconds_since(t0);

    std::mt19937_64 rng(7);
    std::vector<std::string> queries;
    for (int i = 0; i < n_queries + 10; ++i) queries.push_back(make_query(sentences, rng));

    std::printf(
        "{\"chunks\": %lld, \"db_bytes\": %lld, \"hnsw_bytes\": %lld, \"open_s\": %.2f, "
        "\"lex_bytes\": %lld, \"lex_s\": %.2f",
        static_cast<long long>(store->chunk_count()), static_cast<long long>(fs::file_size(db)),
        fs::exists(db + ".hnsw") ? static_cast<long long>(fs::file_size(db + ".hnsw")) : 0LL,
        open_s, fs::exists(db + ".lex") ? static_cast<long long>(fs::file_size(db + ".lex")) : 0LL,
        lex_s);
    for (const SearchMode mode : {SearchMode::Bm25, SearchMode::Vector, SearchMode::Hybrid}) {
        std::vector<double> ms;
        for (int i = 0; i < static_cast<int>(queries.size()); ++i) {
            t0 = Clock::now();
            const auto hits = retriever.search(queries[i], {.k = k, .mode = mode});
            if (i >= 10) ms.push_back(1000.0 * seconds_since(t0));  // the first 10 warm up
        }
        std::printf(", \"%s\": {\"p50_ms\": %.2f, \"p99_ms\": %.2f, \"max_ms\": %.2f}",
                    std::string(search_mode_name(mode)).c_str(), percentile(ms, 0.5),
                    percentile(ms, 0.99), percentile(ms, 1.0));
        std::fflush(stdout);
    }
    std::printf("}\n");
    return 0;
}
