// rag::Store: round trips, replacement and removal in one transaction each, settings checked,
// files that are not pocket stores refused, and the analyzer and lexical search it indexes with.
#include <gtest/gtest.h>

#include <sqlite3.h>

#include <fstream>

#include "pocket/core/error.h"
#include "pocket/rag/analyzer.h"
#include "pocket/rag/store.h"
#include "support/test_support.h"

namespace pocket::rag {
namespace {

DocumentInfo doc(std::string path, std::string title) {
    DocumentInfo d;
    d.path = std::move(path);
    d.content_hash = "abc123";
    d.size_bytes = 42;
    d.mtime_ns = 7;
    d.format = "md";
    d.title = std::move(title);
    return d;
}

ChunkInfo chunk(int32_t ordinal, std::string text, std::string heading = "", int32_t page = 0) {
    ChunkInfo c;
    c.ordinal = ordinal;
    c.text = std::move(text);
    c.heading = std::move(heading);
    c.page = page;
    c.byte_begin = ordinal * 100;
    c.byte_end = ordinal * 100 + 50;
    c.n_tokens = 12;
    return c;
}

TEST(RagStore, RoundTripsDocumentsChunksAndVectors) {
    test::ScratchDir dir;
    const auto db = dir / "s.db";
    int64_t doc_id = 0;
    {
        auto store = Store::open(db);
        store->set_meta({"potion", 3, 256, 32});
        const std::vector<ChunkInfo> chunks = {chunk(0, "Cats purr.", "Intro", 1),
                                               chunk(1, "Dogs bark loudly.", "Intro > Dogs", 2)};
        const std::vector<std::vector<float>> vecs = {{1, 0, 0}, {0, 1, 0}};
        doc_id = store->put_document(doc("a/pets.md", "Pets"), chunks, vecs);
    }
    auto store = Store::open(db, /*read_only=*/true);
    EXPECT_EQ(store->meta().embed_model, "potion");
    EXPECT_EQ(store->meta().embed_dim, 3);
    EXPECT_EQ(store->meta().chunk_tokens, 256);
    EXPECT_EQ(store->meta().chunk_overlap, 32);
    EXPECT_EQ(store->document_count(), 1);
    EXPECT_EQ(store->chunk_count(), 2);
    const auto d = store->find_document("a/pets.md");
    ASSERT_TRUE(d);
    EXPECT_EQ(d->id, doc_id);
    EXPECT_EQ(d->title, "Pets");
    EXPECT_EQ(d->content_hash, "abc123");
    EXPECT_EQ(d->size_bytes, 42);
    EXPECT_EQ(d->mtime_ns, 7);
    EXPECT_EQ(d->format, "md");
    const auto chunks = store->chunks_of(doc_id);
    ASSERT_EQ(chunks.size(), 2u);
    EXPECT_EQ(chunks[1].text, "Dogs bark loudly.");
    EXPECT_EQ(chunks[1].heading, "Intro > Dogs");
    EXPECT_EQ(chunks[1].page, 2);
    EXPECT_EQ(chunks[1].byte_begin, 100);
    EXPECT_EQ(chunks[1].n_tokens, 12);
    EXPECT_EQ(store->chunk(chunks[0].id)->text, "Cats purr.");
    std::vector<std::pair<int64_t, std::vector<float>>> vecs;
    store->for_each_vector([&](int64_t id, std::span<const float> v) {
        vecs.emplace_back(id, std::vector<float>(v.begin(), v.end()));
    });
    ASSERT_EQ(vecs.size(), 2u);
    EXPECT_EQ(vecs[1].first, chunks[1].id);
    EXPECT_EQ(vecs[1].second, (std::vector<float>{0, 1, 0}));
    EXPECT_THROW(store->remove_document("a/pets.md"), Error);  // read-only
}

TEST(RagStore, ReplaceAndRemoveLeaveNoOrphans) {
    test::ScratchDir dir;
    auto store = Store::open(dir / "s.db");
    store->set_meta({"", 0, 100, 0});
    const auto g0 = store->generation();
    store->put_document(doc("x.txt", "X"), std::vector{chunk(0, "zebra stripes")}, {});
    store->put_document(doc("y.txt", "Y"), std::vector{chunk(0, "zebra crossing")}, {});
    EXPECT_EQ(store->lexical_search("zebra", 10).size(), 2u);
    store->put_document(doc("x.txt", "X2"),
                        std::vector{chunk(0, "lions roar"), chunk(1, "lions sleep")}, {});
    EXPECT_GT(store->generation(), g0);
    EXPECT_EQ(store->document_count(), 2);
    EXPECT_EQ(store->chunk_count(), 3);
    EXPECT_EQ(store->find_document("x.txt")->title, "X2");
    EXPECT_EQ(store->lexical_search("zebra", 10).size(), 1u);  // the old FTS row went too
    EXPECT_EQ(store->lexical_search("lion", 10).size(), 2u);
    EXPECT_TRUE(store->remove_document("x.txt"));
    EXPECT_FALSE(store->remove_document("x.txt"));
    EXPECT_EQ(store->chunk_count(), 1);
    EXPECT_TRUE(store->lexical_search("lions", 10).empty());
    EXPECT_EQ(store->documents().size(), 1u);
}

TEST(RagStore, RejectsMismatchedSettingsAndEmbeddings) {
    test::ScratchDir dir;
    auto store = Store::open(dir / "s.db");
    store->set_meta({"m", 2, 100, 10});
    store->set_meta({"m", 2, 100, 10});  // same settings: fine
    EXPECT_THROW(store->set_meta({"other", 2, 100, 10}), Error);
    const std::vector<std::vector<float>> wrong_dim = {{1, 2, 3}};
    EXPECT_THROW(store->put_document(doc("a", "A"), std::vector{chunk(0, "t")}, wrong_dim), Error);
    EXPECT_EQ(store->document_count(), 0);  // the failed put changed nothing
}

TEST(RagStore, RefusesFilesThatAreNotStores) {
    test::ScratchDir dir;
    const auto text = dir / "notes.txt";
    std::ofstream(text) << "just some text, not a database\n";
    EXPECT_THROW(Store::open(text), Error);
    EXPECT_EQ(test::read_file_bytes(text), "just some text, not a database\n");
    // Another application's SQLite database is refused too, and left alone.
    const auto other = dir / "other.db";
    {
        sqlite3* raw = nullptr;
        ASSERT_EQ(sqlite3_open(other.string().c_str(), &raw), SQLITE_OK);
        ASSERT_EQ(sqlite3_exec(raw, "CREATE TABLE t(x); INSERT INTO t VALUES(1);", nullptr, nullptr,
                               nullptr),
                  SQLITE_OK);
        sqlite3_close(raw);
    }
    EXPECT_THROW(Store::open(other), Error);
    EXPECT_THROW(Store::open(dir / "missing.db", /*read_only=*/true), Error);
}

TEST(RagAnalyzer, LowerCasesStemsAndDropsStopWords) {
    std::vector<std::string> terms;
    for (const auto& t : analyze("The Running CATS, and Café-owners' résumés (2024)!")) {
        terms.push_back(t.term);
    }
    EXPECT_EQ(terms, (std::vector<std::string>{"run", "cat", "café", "owner", "résumé", "2024"}));
    const auto words = split_words("Hello, Wörld");
    ASSERT_EQ(words.size(), 2u);
    EXPECT_EQ(words[1].term, "wörld");
    EXPECT_EQ(words[1].begin, 7u);
    EXPECT_EQ(words[1].end, 13u);
}

TEST(RagStore, FtsSyntaxInQueriesIsPlainText) {
    test::ScratchDir dir;
    auto store = Store::open(dir / "s.db");
    store->put_document(doc("a", "A"), std::vector{chunk(0, "near the column of text")}, {});
    for (const char* q : {"\"unbalanced", "text:*", "NEAR(column text)", "a AND OR NOT", "^col*",
                          "title:column", "-", "", "\")) DROP TABLE chunks; --"}) {
        EXPECT_NO_THROW(store->lexical_search(q, 5)) << q;
    }
    EXPECT_EQ(store->lexical_search("NEAR(column text)", 5).size(), 1u);
    EXPECT_EQ(store->chunk_count(), 1);
}

}  // namespace
}  // namespace pocket::rag
