#include "lexical_search.h"

#include <string>

#include "fts.h"
#include "sqlite.h"

namespace pocket::rag {

void create_fts_vocabulary(sqlite3* db) {
    sql::exec(db,
              "CREATE VIRTUAL TABLE IF NOT EXISTS temp.chunks_fts_vocab USING "
              "fts5vocab(main, 'chunks_fts', 'row')");
}

std::vector<ScoredChunk> bm25_top_k(sqlite3* db, std::string_view query, size_t limit,
                                    const Bm25Params& p) {
    if (limit == 0) return {};
    std::vector<QueryTerm> terms;
    std::vector<int64_t> doc_freqs;
    {
        sql::Stmt df(db, "SELECT doc FROM temp.chunks_fts_vocab WHERE term = ?");
        for (auto& q : query_terms(query)) {
            df.reset();
            df.bind(1, std::string_view(q.term));
            const int64_t n = df.step() ? df.int64(0) : 0;
            // A term no chunk holds adds nothing to any score.
            if (n == 0) continue;
            terms.push_back(std::move(q));
            doc_freqs.push_back(n);
        }
    }
    if (terms.empty()) return {};
    std::string sql = "SELECT rowid, pocket_bm25(chunks_fts, ?, ?, ?, ?, ?";
    for (size_t i = 0; i < terms.size(); ++i) sql += ", ?";
    sql += ") AS s FROM chunks_fts WHERE chunks_fts MATCH ? ORDER BY s DESC, rowid LIMIT ?";
    sql::Stmt st(db, sql);
    st.bind(1, p.k1).bind(2, p.b).bind(3, p.text_weight).bind(4, p.heading_weight);
    st.bind(5, p.title_weight);
    const int first_df = 6;
    for (size_t t = 0; t < terms.size(); ++t) st.bind(first_df + int(t), doc_freqs[t]);
    const int match = first_df + int(terms.size());
    st.bind(match, fts_match_expression(terms)).bind(match + 1, static_cast<int64_t>(limit));
    std::vector<ScoredChunk> out;
    while (st.step()) out.push_back({st.int64(0), st.real(1)});
    return out;
}

}  // namespace pocket::rag
