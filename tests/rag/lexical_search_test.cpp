// bm25_top_k hands the ranking function document frequencies read from FTS5's vocabulary table;
// the ranking must equal the one the function computes by counting each term's postings itself.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <cmath>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "pocket/rag/store.h"
#include "rag/fts.h"
#include "rag/lexical_search.h"
#include "support/test_support.h"

namespace pocket::rag {
namespace {

// Words drawn from a skewed vocabulary: a few in most chunks, many rare ones.
std::string random_words(std::mt19937& rng, int n_words) {
    std::uniform_real_distribution<double> u(0.0, 1.0);
    std::string out;
    for (int i = 0; i < n_words; ++i) {
        if (!out.empty()) out += ' ';
        out += "w" + std::to_string(static_cast<int>(std::pow(300.0, u(rng))));
    }
    return out;
}

TEST(RagLexicalSearch, VocabularyDocumentFrequenciesRankAsPostingCounts) {
    test::ScratchDir dir;
    const auto path = dir / "index.sqlite";
    std::mt19937 rng(11);
    {
        auto store = Store::open(path);
        for (int d = 0; d < 10; ++d) {
            std::vector<ChunkInfo> chunks(50);
            for (int c = 0; c < 50; ++c) {
                chunks[c].ordinal = c;
                chunks[c].text = random_words(rng, 5 + static_cast<int>(rng() % 30));
                if (c % 5 == 0) chunks[c].heading = random_words(rng, 2);
            }
            DocumentInfo doc;
            doc.path = "doc" + std::to_string(d) + ".txt";
            doc.content_hash = std::to_string(d);
            doc.title = random_words(rng, 3);
            store->put_document(doc, chunks, {});
        }
    }
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
    std::unique_ptr<sqlite3, int (*)(sqlite3*)> db(raw, sqlite3_close);
    register_fts(db.get());
    create_fts_vocabulary(db.get());

    const Bm25Params p{.k1 = 1.1, .b = 0.6, .heading_weight = 2.0, .title_weight = 0.5};
    int matched = 0;
    for (int q = 0; q < 40; ++q) {
        // Terms no chunk holds are dropped from the vocabulary path; the counting path scores
        // them as absent. Both must agree.
        const std::string query = random_words(rng, 1 + q % 4) + (q % 7 == 0 ? " zzabsent" : "");
        const auto got = bm25_top_k(db.get(), query, 20, p);
        sqlite3_stmt* st = nullptr;
        ASSERT_EQ(sqlite3_prepare_v2(db.get(),
                                     "SELECT rowid, pocket_bm25(chunks_fts, ?, ?, ?, ?, ?) AS s "
                                     "FROM chunks_fts WHERE chunks_fts MATCH ? "
                                     "ORDER BY s DESC, rowid LIMIT 20",
                                     -1, &st, nullptr),
                  SQLITE_OK);
        const double args[] = {p.k1, p.b, p.text_weight, p.heading_weight, p.title_weight};
        for (int i = 0; i < 5; ++i) sqlite3_bind_double(st, i + 1, args[i]);
        const std::string match = fts_match_expression(query);
        sqlite3_bind_text(st, 6, match.c_str(), -1, SQLITE_TRANSIENT);
        std::vector<ScoredChunk> want;
        while (sqlite3_step(st) == SQLITE_ROW)
            want.push_back({sqlite3_column_int64(st, 0), sqlite3_column_double(st, 1)});
        sqlite3_finalize(st);
        ASSERT_EQ(got.size(), want.size()) << query;
        for (size_t i = 0; i < want.size(); ++i) {
            EXPECT_EQ(got[i].chunk_id, want[i].chunk_id) << query << " #" << i;
            EXPECT_NEAR(got[i].score, want[i].score, 1e-12) << query << " #" << i;
        }
        matched += want.empty() ? 0 : 1;
    }
    EXPECT_GT(matched, 30);
}

}  // namespace
}  // namespace pocket::rag
