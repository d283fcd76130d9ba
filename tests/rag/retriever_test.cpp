// rag::Retriever: BM25 scores against a hand computation on a tiny corpus, vector and hybrid
// ranking with a hand-made embedder, fallback without one, snippets and relevance.
#include <gtest/gtest.h>

#include <cmath>

#include "pocket/core/error.h"
#include "pocket/embed/embedder.h"
#include "pocket/rag/retriever.h"
#include "pocket/rag/store.h"
#include "support/test_support.h"

namespace pocket::rag {
namespace {

// Three axes: one per animal family; a text's vector counts its words on them.
class AxisEmbedder : public embed::Embedder {
  public:
    size_t dim() const override { return 3; }
    std::vector<float> embed(std::string_view text) const override {
        std::vector<float> v(3, 0.01f);
        auto count = [&](std::string_view w) {
            size_t n = 0;
            for (size_t p = text.find(w); p != std::string_view::npos; p = text.find(w, p + 1)) ++n;
            return static_cast<float>(n);
        };
        v[0] += count("zebra") + count("horse");
        v[1] += count("lion") + count("tiger") + count("cat");
        v[2] += count("wolf") + count("bear");
        return v;
    }
    size_t count_tokens(std::string_view text) const override { return text.size(); }
};

struct TinyStore {
    test::ScratchDir dir;
    std::unique_ptr<Store> store;
    explicit TinyStore(const embed::Embedder* e) {
        store = Store::open(dir / "tiny.db");
        store->set_meta({e ? "axis" : "", e ? 3 : 0, 100, 0});
        for (const auto& [path, text] :
             std::vector<std::pair<std::string, std::string>>{{"d1", "zebra lion zebra"},
                                                              {"d2", "lion tiger"},
                                                              {"d3", "tiger wolf bear wolf"}}) {
            DocumentInfo d;
            d.path = path;
            d.format = "txt";
            ChunkInfo c;
            c.text = text;
            std::vector<std::vector<float>> v;
            if (e) v.push_back(e->embed(text));
            store->put_document(d, std::span(&c, 1), v);
        }
    }
};

TEST(RagRetriever, Bm25MatchesAHandComputation) {
    TinyStore t(nullptr);
    const Retriever r(*t.store, nullptr);
    const auto hits = r.search("Zebra lions?", {10, SearchMode::Bm25});
    ASSERT_EQ(hits.size(), 2u);
    EXPECT_EQ(hits[0].document.path, "d1");
    EXPECT_EQ(hits[1].document.path, "d2");
    // The default k1 and b, Lucene idf, N = 3, average length 3 ("lions" stems to "lion").
    const double k1 = Bm25Params{}.k1, b = Bm25Params{}.b;
    const double idf_zebra = std::log(1 + (3 - 1 + 0.5) / 1.5);
    const double idf_lion = std::log(1 + (3 - 2 + 0.5) / 2.5);
    auto sat = [&](double tf, double len) {
        const double t = tf / (1 - b + b * len / 3.0);
        return t * (k1 + 1) / (t + k1);
    };
    EXPECT_NEAR(hits[0].bm25_score, idf_zebra * sat(2, 3) + idf_lion * sat(1, 3), 1e-9);
    EXPECT_NEAR(hits[1].bm25_score, idf_lion * sat(1, 2), 1e-9);
    EXPECT_EQ(hits[0].score, hits[0].bm25_score);
    EXPECT_EQ(hits[0].snippet, "[[zebra]] [[lion]] [[zebra]]");
    EXPECT_GT(hits[0].relevance, hits[1].relevance);
    EXPECT_GE(hits[1].relevance, 0.0);
    EXPECT_LE(hits[0].relevance, 1.0);
}

TEST(RagRetriever, WithoutAnEmbedderFallsBackToBm25) {
    TinyStore t(nullptr);
    const Retriever r(*t.store, nullptr);
    EXPECT_TRUE(r.fell_back_to_bm25());
    const auto hits = r.search("wolf", {10, SearchMode::Hybrid});
    ASSERT_EQ(hits.size(), 1u);
    EXPECT_EQ(hits[0].document.path, "d3");
    EXPECT_TRUE(r.search("the of and", {10, SearchMode::Hybrid}).empty());  // stop words only
}

TEST(RagRetriever, VectorAndHybridRankByMeaning) {
    AxisEmbedder e;
    TinyStore t(&e);
    const Retriever r(*t.store, &e);
    EXPECT_FALSE(r.fell_back_to_bm25());
    // "horse" is in no document: BM25 finds nothing, vectors find the zebra document.
    EXPECT_TRUE(r.search("horse", {10, SearchMode::Bm25}).empty());
    const auto v = r.search("horse", {2, SearchMode::Vector});
    ASSERT_EQ(v.size(), 2u);
    EXPECT_EQ(v[0].document.path, "d1");
    EXPECT_GT(v[0].vector_score, 0.85);  // (2, 1, 0) against (1, 0, 0), plus the 0.01s
    const auto h = r.search("horse", {3, SearchMode::Hybrid});
    ASSERT_FALSE(h.empty());
    EXPECT_EQ(h[0].document.path, "d1");
    // Both signals agree on d3 for "wolf bear".
    EXPECT_EQ(r.search("wolf bear", {1, SearchMode::Hybrid})[0].document.path, "d3");
    EXPECT_THROW(parse_search_mode("dense"), Error);
    EXPECT_EQ(parse_search_mode("hybrid"), SearchMode::Hybrid);
}

TEST(RagRetriever, HnswAgreesWithExactSearch) {
    AxisEmbedder e;
    TinyStore t(&e);
    RetrieverConfig hnsw;
    hnsw.hnsw_threshold = 1;  // force the graph for three vectors
    const Retriever exact(*t.store, &e), approx(*t.store, &e, hnsw);
    for (const char* q : {"horse", "cat", "bear wolf", "lion zebra"}) {
        const auto a = exact.search(q, {3, SearchMode::Vector});
        const auto b = approx.search(q, {3, SearchMode::Vector});
        ASSERT_EQ(a.size(), b.size()) << q;
        for (size_t i = 0; i < a.size(); ++i) {
            EXPECT_EQ(a[i].chunk.id, b[i].chunk.id) << q;
            EXPECT_NEAR(a[i].vector_score, b[i].vector_score, 1e-5) << q;
        }
    }
    // The graph was saved beside the database with the generation it was built from.
    EXPECT_TRUE(std::filesystem::exists(t.dir / "tiny.db.hnsw"));
    EXPECT_TRUE(std::filesystem::exists(t.dir / "tiny.db.hnsw.meta"));
    // A second retriever loads the saved graph; a damaged graph file is rebuilt, not trusted.
    const Retriever reloaded(*t.store, &e, hnsw);
    EXPECT_EQ(reloaded.search("horse", {1, SearchMode::Vector})[0].document.path, "d1");
    std::filesystem::resize_file(t.dir / "tiny.db.hnsw", 40);
    const Retriever repaired(*t.store, &e, hnsw);
    EXPECT_EQ(repaired.search("bear", {1, SearchMode::Vector})[0].document.path, "d3");
    // A new document makes it stale: the next retriever rebuilds it and finds the new chunk.
    DocumentInfo d;
    d.path = "d4";
    ChunkInfo c;
    c.text = "horse horse";
    const std::vector<std::vector<float>> v{e.embed(c.text)};
    t.store->put_document(d, std::span(&c, 1), v);
    const Retriever again(*t.store, &e, hnsw);
    EXPECT_EQ(again.search("horse", {1, SearchMode::Vector})[0].document.path, "d4");
}

// A database deleted and indexed again at the same path, with as many chunks and as many changes,
// must not be served the graph of its predecessor (its generation starts elsewhere).
TEST(RagRetriever, ARecreatedDatabaseDoesNotReuseTheOldGraph) {
    AxisEmbedder e;
    test::ScratchDir dir;
    const auto db = dir / "same.db";
    RetrieverConfig hnsw;
    hnsw.hnsw_threshold = 1;
    auto fill = [&](const std::string& text) {  // two chunks: the graph is for more than one
        auto store = Store::open(db);
        store->set_meta({"axis", 3, 100, 0});
        DocumentInfo d;
        d.path = "only";
        std::vector<ChunkInfo> chunks(2);
        chunks[0].text = text;
        chunks[1].text = "lion";
        chunks[1].ordinal = 1;
        const std::vector<std::vector<float>> v{e.embed(chunks[0].text), e.embed(chunks[1].text)};
        store->put_document(d, chunks, v);
        return store;
    };
    {
        const auto first = fill("zebra zebra");
        const Retriever r(*first, &e, hnsw);
        EXPECT_GT(r.search("zebra", {1, SearchMode::Vector})[0].vector_score, 0.99);
    }
    ASSERT_TRUE(std::filesystem::exists(dir / "same.db.hnsw"));
    for (const char* suffix : {"", "-wal", "-shm"})
        std::filesystem::remove(dir / ("same.db" + std::string(suffix)));
    const auto second = fill("wolf wolf");
    const Retriever r(*second, &e, hnsw);
    const auto hits = r.search("wolf", {1, SearchMode::Vector});
    ASSERT_EQ(hits.size(), 1u);
    EXPECT_GT(hits[0].vector_score, 0.99) << "the old graph (a zebra vector) was reused";
}

TEST(RagRetriever, RejectsAnEmbedderOfAnotherDimension) {
    AxisEmbedder e;
    TinyStore t(&e);
    struct Wide : AxisEmbedder {
        size_t dim() const override { return 4; }
    } wide;
    EXPECT_THROW(Retriever(*t.store, &wide), Error);
}

}  // namespace
}  // namespace pocket::rag
