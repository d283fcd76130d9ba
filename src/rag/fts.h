// The store's FTS5 extensions, registered on every connection before the index is touched:
//  - tokenizer "pocket": rag::analyze(), so documents and queries are analysed identically;
//  - auxiliary function pocket_bm25(fts, k1, b, w_text, w_heading, w_title [, df_0, df_1, ...]):
//    BM25F with tunable k1, b and per-column weights (FTS5's own bm25() fixes k1 = 1.2 and
//    b = 0.75). The optional trailing arguments are the document frequencies of the MATCH
//    expression's phrases, in order; without them each is counted over the phrase's postings.
#pragma once

#include <sqlite3.h>

#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace pocket::rag {

void register_fts(sqlite3* db);

// Lucene's BM25 idf, log(1 + (N - df + 0.5) / (df + 0.5)): never negative, so a term in most
// documents still counts a little.
double bm25_idf(double n_rows, double doc_freq);

// A query's distinct analysed terms, in query order, with the surface word each came from.
struct QueryTerm {
    std::string term;     // as indexed (lower-cased, stemmed)
    std::string surface;  // the word in the query
};
std::vector<QueryTerm> query_terms(std::string_view query);
std::string fts_match_expression(std::span<const QueryTerm> terms);

// An FTS5 MATCH expression that is the OR of the query's terms, each a quoted string so no FTS5
// syntax in user text (NEAR, column filters, quotes, *, ^) has any effect. Empty when the query
// has no searchable terms. Terms repeated in the query count once.
std::string fts_match_expression(std::string_view query);

}  // namespace pocket::rag
