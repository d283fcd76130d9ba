// BM25F top-k over the store's FTS5 index.
//
// The idf of each query term comes from FTS5's vocabulary table (one B-tree lookup) and is handed
// to the ranking function, which otherwise counts each term's documents with a pass over its
// postings on every query. Terms no chunk holds are left out of the MATCH expression.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <string_view>
#include <vector>

#include "pocket/rag/store.h"

namespace pocket::rag {

// The per-connection vocabulary table (temp.chunks_fts_vocab) the search reads document
// frequencies from; call once after register_fts. Works on read-only connections.
void create_fts_vocabulary(sqlite3* db);

// The `limit` best chunks for `query`, best first (ties by chunk id).
std::vector<ScoredChunk> bm25_top_k(sqlite3* db, std::string_view query, size_t limit,
                                    const Bm25Params& params);

}  // namespace pocket::rag
