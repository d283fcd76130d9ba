// The impact index (MaxScore over per-term postings) must rank exactly as the FTS5 path:
// same chunk ids in the same order, same scores.
#include "rag/impact_index.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "pocket/rag/indexer.h"
#include "pocket/rag/store.h"
#include "rag/fts.h"
#include "rag/lexical_search.h"
#include "support/test_support.h"

namespace pocket::rag {
namespace {

// Words from a skewed vocabulary: a few in most chunks, many rare ones.
std::string random_text(std::mt19937& rng, int n_words) {
    std::uniform_real_distribution<double> u(0.0, 1.0);
    std::string out;
    for (int i = 0; i < n_words; ++i) {
        if (!out.empty()) out += ' ';
        out += 'w';
        out += std::to_string(static_cast<int>(std::pow(2000.0, u(rng))));
    }
    return out;
}

void put_documents(Store& store, std::mt19937& rng, int first, int n_docs, int chunks_per_doc) {
    for (int d = first; d < first + n_docs; ++d) {
        std::vector<ChunkInfo> chunks(static_cast<size_t>(chunks_per_doc));
        for (int c = 0; c < chunks_per_doc; ++c) {
            auto& chunk = chunks[static_cast<size_t>(c)];
            chunk.ordinal = c;
            // Some repeated chunks give exact score ties, broken by chunk id.
            chunk.text = c % 17 == 3 ? "w1 w2 w3 w5 w8" : random_text(rng, 3 + int(rng() % 60));
            if (c % 4 == 0) chunk.heading = random_text(rng, 1 + int(rng() % 3));
            if (c % 29 == 0) chunk.text += " w7 w7 w7 w7 w7 w7 w7 w7 w7 w7";
        }
        DocumentInfo doc;
        doc.path = "doc" + std::to_string(d) + ".txt";
        doc.content_hash = std::to_string(d);
        doc.title = random_text(rng, 2);
        store.put_document(doc, chunks, {});
    }
}

struct Db {
    std::unique_ptr<sqlite3, int (*)(sqlite3*)> db{nullptr, sqlite3_close};
    explicit Db(const std::filesystem::path& path) {
        sqlite3* raw = nullptr;
        if (sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK)
            throw std::runtime_error("open failed");
        db.reset(raw);
        register_fts(raw);
        create_fts_vocabulary(raw);
    }
    sqlite3* get() const { return db.get(); }
};

void expect_same(const std::vector<ScoredChunk>& got, const std::vector<ScoredChunk>& want,
                 const std::string& what) {
    ASSERT_EQ(got.size(), want.size()) << what;
    for (size_t i = 0; i < want.size(); ++i) {
        EXPECT_EQ(got[i].chunk_id, want[i].chunk_id) << what << " #" << i;
        EXPECT_NEAR(got[i].score, want[i].score, 1e-9 * std::abs(want[i].score))
            << what << " #" << i;
    }
}

std::vector<std::string> queries(std::mt19937& rng, int n) {
    std::vector<std::string> out;
    for (int q = 0; q < n; ++q) {
        std::string query = random_text(rng, 1 + q % 7);
        if (q % 9 == 0) query += " zzabsent";
        if (q % 11 == 0) query += " w1 w2";  // terms in most chunks
        out.push_back(query);
    }
    out.push_back("w1 w2 w3 w5 w8");  // the tied chunks
    out.push_back("W7, w7!");         // a repeated query term counts once
    out.push_back("the and of");      // stop words only
    out.push_back("");
    return out;
}

class RagImpactIndex : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        dir_ = new test::ScratchDir;
        std::mt19937 rng(7);
        auto store = Store::open(path());
        put_documents(*store, rng, 0, 40, 100);
    }
    static void TearDownTestSuite() {
        delete dir_;
        dir_ = nullptr;
    }
    static std::filesystem::path path() { return *dir_ / "index.sqlite"; }
    static test::ScratchDir* dir_;
};
test::ScratchDir* RagImpactIndex::dir_ = nullptr;

TEST_F(RagImpactIndex, RanksExactlyAsFts5) {
    Db db(path());
    const Bm25Params defaults;
    const Bm25Params tuned{
        .k1 = 1.4, .b = 0.55, .text_weight = 0.8, .heading_weight = 2.5, .title_weight = 0.3};
    auto index = ImpactIndex::build(db.get(), defaults);
    EXPECT_EQ(index->chunk_count(), 4000u);
    std::mt19937 rng(3);
    const auto qs = queries(rng, 60);
    int matched = 0;
    // The second pass recomputes the bounds for other b and weights; the third comes back.
    for (const auto& p : {defaults, tuned, defaults}) {
        for (const auto& q : qs) {
            for (size_t limit : {1, 10, 100}) {
                const auto want = bm25_top_k(db.get(), q, limit, p);
                expect_same(index->top_k(q, limit, p), want, q + " @" + std::to_string(limit));
                matched += want.empty() ? 0 : 1;
            }
        }
    }
    EXPECT_GT(matched, 450);
    // Built for the tuned parameters directly.
    auto tuned_index = ImpactIndex::build(db.get(), tuned);
    for (const auto& q : qs)
        expect_same(tuned_index->top_k(q, 10, tuned), bm25_top_k(db.get(), q, 10, tuned), q);
    EXPECT_TRUE(index->top_k("w1", 0, defaults).empty());
}

TEST_F(RagImpactIndex, SavedLoadedAndRebuiltWhenStaleOrDamaged) {
    test::ScratchDir scratch;
    const auto copy = scratch / "copy.sqlite";
    std::filesystem::copy_file(path(), copy);
    Db db(copy);
    const Bm25Params p;
    const std::string q = "w3 w12 w40 w7";
    const auto want = bm25_top_k(db.get(), q, 10, p);
    const std::filesystem::path lex = copy.string() + ".lex";
    const std::filesystem::path meta = copy.string() + ".lex.meta";

    expect_same(ImpactIndex::load_or_build(db.get(), copy, 5, 4000, p)->top_k(q, 10, p), want,
                "built");
    ASSERT_TRUE(std::filesystem::exists(lex));
    ASSERT_TRUE(std::filesystem::exists(meta));
    const auto size = std::filesystem::file_size(lex);
    const auto stamp = std::filesystem::last_write_time(lex);
    auto loaded = ImpactIndex::load_or_build(db.get(), copy, 5, 4000, p);
    EXPECT_EQ(loaded->byte_size(), size);
    EXPECT_EQ(std::filesystem::last_write_time(lex), stamp);  // mapped, not rebuilt
    expect_same(loaded->top_k(q, 10, p), want, "loaded");

    // Another generation: rebuilt, sidecar rewritten.
    expect_same(ImpactIndex::load_or_build(db.get(), copy, 6, 4000, p)->top_k(q, 10, p), want,
                "stale");
    {
        std::ifstream in(meta);
        int64_t gen = 0;
        in >> gen;
        EXPECT_EQ(gen, 6);
    }
    // Truncated, then garbage: rebuilt.
    std::filesystem::resize_file(lex, size / 2);
    expect_same(ImpactIndex::load_or_build(db.get(), copy, 6, 4000, p)->top_k(q, 10, p), want,
                "truncated");
    EXPECT_EQ(std::filesystem::file_size(lex), size);
    {
        std::ofstream out(lex, std::ios::binary | std::ios::in | std::ios::out);
        out.seekp(100);
        out << std::string(5000, '\x7f');
    }
    expect_same(ImpactIndex::load_or_build(db.get(), copy, 6, 4000, p)->top_k(q, 10, p), want,
                "damaged");
}

TEST_F(RagImpactIndex, StoreSearchesThroughItAboveTheThreshold) {
    test::ScratchDir scratch;
    const auto copy = scratch / "copy.sqlite";
    std::filesystem::copy_file(path(), copy);
    const Bm25Params p{.k1 = 1.1, .b = 0.6, .heading_weight = 2.0, .title_weight = 0.5};
    auto store = Store::open(copy, StoreOptions{.lexical_index_threshold = 0});
    std::mt19937 rng(5);
    const auto qs = queries(rng, 30);
    auto check = [&](const std::string& what) {
        Db db(copy);
        for (const auto& q : qs)
            expect_same(store->lexical_search(q, 10, p), bm25_top_k(db.get(), q, 10, p),
                        what + ": " + q);
    };
    check("first");
    EXPECT_TRUE(std::filesystem::exists(copy.string() + ".lex"));
    // A change (new generation) is seen by the next search.
    put_documents(*store, rng, 100, 3, 50);
    ASSERT_TRUE(store->remove_document("doc3.txt"));
    check("after changes");
}

TEST(RagImpactIndexIndexer, BuiltByIndexingWhenTheStoreIsLarge) {
    test::ScratchDir dir;
    std::filesystem::create_directories(dir / "docs");
    std::ofstream(dir / "docs" / "a.txt") << "Alpine lakes freeze in winter.\n";
    std::ofstream(dir / "docs" / "b.txt") << "Desert nights are cold.\n";
    const auto db = dir / "index.sqlite";
    IndexOptions options;
    {
        auto store = Store::open(db);
        index_folder(*store, dir / "docs", options);  // under the threshold: FTS5 only
    }
    EXPECT_FALSE(std::filesystem::exists(db.string() + ".lex"));
    std::ofstream(dir / "docs" / "c.txt") << "Frozen alpine meadows.\n";
    auto store = Store::open(db, StoreOptions{.lexical_index_threshold = 1});
    index_folder(*store, dir / "docs", options);
    EXPECT_TRUE(std::filesystem::exists(db.string() + ".lex"));
    const auto hits = store->lexical_search("alpine frozen", 10);
    ASSERT_EQ(hits.size(), 2u);
    EXPECT_EQ(store->chunk(hits[0].chunk_id)->text.find("Frozen"), 0u);
}

}  // namespace
}  // namespace pocket::rag
