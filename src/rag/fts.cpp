#include "fts.h"

#include <cmath>
#include <memory>
#include <set>
#include <vector>

#include "pocket/core/error.h"
#include "pocket/rag/analyzer.h"

namespace pocket::rag {
namespace {

fts5_api* get_fts5_api(sqlite3* db) {
    fts5_api* api = nullptr;
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db, "SELECT fts5(?1)", -1, &st, nullptr) != SQLITE_OK) {
        fail("rag store: this SQLite has no FTS5 (", sqlite3_errmsg(db), ")");
    }
    sqlite3_bind_pointer(st, 1, static_cast<void*>(&api), "fts5_api_ptr", nullptr);
    sqlite3_step(st);
    sqlite3_finalize(st);
    if (api == nullptr || api->iVersion < 2)
        fail("rag store: SQLite's FTS5 API is missing or too old");
    return api;
}

// --- tokenizer -----------------------------------------------------------------------------------

int tok_create(void*, const char**, int, Fts5Tokenizer** out) {
    // Stateless: any non-null handle will do.
    static int dummy = 0;
    *out = reinterpret_cast<Fts5Tokenizer*>(&dummy);
    return SQLITE_OK;
}

void tok_delete(Fts5Tokenizer*) {}

int tok_tokenize(Fts5Tokenizer*, void* ctx, int, const char* text, int n,
                 int (*emit)(void*, int, const char*, int, int, int)) {
    try {
        for (const auto& t : analyze(std::string_view(text, static_cast<size_t>(n)))) {
            const int rc = emit(ctx, 0, t.term.data(), static_cast<int>(t.term.size()),
                                static_cast<int>(t.begin), static_cast<int>(t.end));
            if (rc != SQLITE_OK) return rc;
        }
        return SQLITE_OK;
    } catch (...) {
        return SQLITE_NOMEM;
    }
}

// --- BM25F ---------------------------------------------------------------------------------------

// Per-query statistics, computed on the first row and kept as FTS5 auxdata for the rest.
struct QueryStats {
    std::vector<double> idf;      // per phrase
    std::vector<double> avg_len;  // per column
};

int count_row(const Fts5ExtensionApi*, Fts5Context*, void* user) {
    ++*static_cast<int64_t*>(user);
    return SQLITE_OK;
}

// idf of the phrases: from the document frequencies passed after the column weights when the
// caller has them (one per phrase, from the vocabulary table: no pass over the postings), else
// counted with xQueryPhrase (one pass over each phrase's postings).
QueryStats* query_stats(const Fts5ExtensionApi* api, Fts5Context* ctx, int n_val,
                        sqlite3_value** val, int& rc) {
    if (auto* s = static_cast<QueryStats*>(api->xGetAuxdata(ctx, 0))) return s;
    auto stats = std::make_unique<QueryStats>();
    sqlite3_int64 rows = 0;
    rc = api->xRowCount(ctx, &rows);
    if (rc != SQLITE_OK) return nullptr;
    const int n_cols = api->xColumnCount(ctx);
    for (int c = 0; c < n_cols; ++c) {
        sqlite3_int64 total = 0;
        rc = api->xColumnTotalSize(ctx, c, &total);
        if (rc != SQLITE_OK) return nullptr;
        stats->avg_len.push_back(rows > 0 ? std::max(1e-9, double(total) / double(rows)) : 1.0);
    }
    const int n_phrases = api->xPhraseCount(ctx);
    const bool given = n_val == 2 + n_cols + n_phrases;
    for (int p = 0; p < n_phrases; ++p) {
        int64_t n_hit = 0;
        if (given) {
            n_hit = sqlite3_value_int64(val[2 + n_cols + p]);
        } else if ((rc = api->xQueryPhrase(ctx, p, &n_hit, count_row)) != SQLITE_OK) {
            return nullptr;
        }
        stats->idf.push_back(bm25_idf(double(rows), double(n_hit)));
    }
    auto* raw = stats.release();
    rc = api->xSetAuxdata(ctx, raw, [](void* p) { delete static_cast<QueryStats*>(p); });
    return rc == SQLITE_OK ? raw : nullptr;
}

// pocket_bm25(fts, k1, b, w_col0, w_col1, ...). BM25F: each phrase's frequency is summed over the
// columns, each column's count weighted and length-normalised on its own, then saturated once:
//   tf~ = sum_c w_c * tf_c / (1 - b + b * len_c / avglen_c);  score = sum idf * tf~(k1+1)/(tf~+k1)
// With one column and weight 1 this is Okapi BM25 exactly.
void bm25f(const Fts5ExtensionApi* api, Fts5Context* ctx, sqlite3_context* out, int n_val,
           sqlite3_value** val) {
    int rc = SQLITE_OK;
    QueryStats* stats = query_stats(api, ctx, n_val, val, rc);
    if (stats == nullptr) {
        sqlite3_result_error_code(out, rc == SQLITE_OK ? SQLITE_NOMEM : rc);
        return;
    }
    const double k1 = n_val > 0 ? sqlite3_value_double(val[0]) : 0.9;
    const double b = n_val > 1 ? sqlite3_value_double(val[1]) : 0.4;
    const int n_cols = api->xColumnCount(ctx);
    std::vector<double> norm(static_cast<size_t>(n_cols));
    for (int c = 0; c < n_cols; ++c) {
        const double w = n_val > 2 + c ? sqlite3_value_double(val[2 + c]) : 1.0;
        int len = 0;
        if ((rc = api->xColumnSize(ctx, c, &len)) != SQLITE_OK) {
            sqlite3_result_error_code(out, rc);
            return;
        }
        norm[static_cast<size_t>(c)] = w / (1.0 - b + b * double(len) / stats->avg_len[size_t(c)]);
    }
    std::vector<double> tf(stats->idf.size(), 0.0);
    int n_inst = 0;
    if ((rc = api->xInstCount(ctx, &n_inst)) != SQLITE_OK) {
        sqlite3_result_error_code(out, rc);
        return;
    }
    for (int i = 0; i < n_inst; ++i) {
        int phrase = 0, col = 0, off = 0;
        if ((rc = api->xInst(ctx, i, &phrase, &col, &off)) != SQLITE_OK) {
            sqlite3_result_error_code(out, rc);
            return;
        }
        tf[static_cast<size_t>(phrase)] += norm[static_cast<size_t>(col)];
    }
    double score = 0;
    for (size_t p = 0; p < tf.size(); ++p) {
        if (tf[p] > 0) score += stats->idf[p] * tf[p] * (k1 + 1) / (tf[p] + k1);
    }
    sqlite3_result_double(out, score);
}

}  // namespace

void register_fts(sqlite3* db) {
    fts5_api* api = get_fts5_api(db);
    fts5_tokenizer tok{tok_create, tok_delete, tok_tokenize};
    if (api->xCreateTokenizer(api, "pocket", nullptr, &tok, nullptr) != SQLITE_OK ||
        api->xCreateFunction(api, "pocket_bm25", nullptr, bm25f, nullptr) != SQLITE_OK) {
        fail("rag store: registering the FTS5 tokenizer and ranking function failed: ",
             sqlite3_errmsg(db));
    }
}

double bm25_idf(double n_rows, double doc_freq) {
    // Lucene's idf: never negative, so a term in most documents still counts a little.
    return std::log(1.0 + (n_rows - doc_freq + 0.5) / (doc_freq + 0.5));
}

std::vector<QueryTerm> query_terms(std::string_view query) {
    std::vector<QueryTerm> out;
    std::set<std::string> seen;
    for (const auto& t : analyze(query)) {
        if (!seen.insert(t.term).second) continue;
        out.push_back({t.term, std::string(query.substr(t.begin, t.end - t.begin))});
    }
    return out;
}

std::string fts_match_expression(std::span<const QueryTerm> terms) {
    std::string out;
    for (const auto& t : terms) {
        if (!out.empty()) out += " OR ";
        // The surface word goes in (the tokenizer stems it again, identically); it holds only
        // letters and digits, but quotes are doubled anyway so nothing can escape the string.
        out += '"';
        for (char ch : t.surface) {
            if (ch == '"') out += '"';
            out += ch;
        }
        out += '"';
    }
    return out;
}

std::string fts_match_expression(std::string_view query) {
    return fts_match_expression(query_terms(query));
}

}  // namespace pocket::rag
