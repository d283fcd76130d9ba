// The store's FTS5 extensions, registered on every connection before the index is touched:
//  - tokenizer "pocket": rag::analyze(), so documents and queries are analysed identically;
//  - auxiliary function pocket_bm25(fts, k1, b, w_text, w_heading, w_title): BM25F with tunable
//    k1, b and per-column weights (FTS5's own bm25() fixes k1 = 1.2 and b = 0.75).
#pragma once

#include <sqlite3.h>

#include <string>
#include <string_view>

namespace pocket::rag {

void register_fts(sqlite3* db);

// An FTS5 MATCH expression that is the OR of the query's terms, each a quoted string so no FTS5
// syntax in user text (NEAR, column filters, quotes, *, ^) has any effect. Empty when the query
// has no searchable terms. Terms repeated in the query count once.
std::string fts_match_expression(std::string_view query);

}  // namespace pocket::rag
