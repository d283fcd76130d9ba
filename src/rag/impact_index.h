// An inverted index beside the database for exact BM25F top-k on large stores.
//
// FTS5 scores every row an OR query matches (a million chunks: p99 ~2 s). This index holds, per
// analysed term (rag::analyze over the same three columns FTS5 indexes), a posting list sorted by
// chunk holding the term's count in each column, plus every chunk's column lengths; top-k runs
// MaxScore over it: terms whose summed upper bounds cannot lift a chunk above the current k-th
// score are only probed for chunks the others found.
//
// Scores are computed with the same operations in the same order as fts.cpp's pocket_bm25
// (per-column norms, the pseudo frequency summed instance by instance, the terms summed in query
// order), so ids, order and scores equal the FTS5 path's. The per-term upper bounds depend on b
// and the column weights: they are stored for the values the index was built with and recomputed
// (one pass over the postings, no re-analysis) when a search asks for others; k1 and idf are
// applied at query time.
//
// Persisted as `<db>.lex` (mapped, not parsed) with a sidecar `<db>.lex.meta` holding the store
// generation, chunk count, a checksum, b and weights; a missing, stale or damaged file is rebuilt
// from the database and saved again when the folder is writable.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string_view>
#include <vector>

#include "pocket/rag/store.h"

namespace pocket::rag {

class ImpactIndex {
  public:
    // Builds from the store's FTS5 table (read through db) without touching the disk.
    static std::unique_ptr<ImpactIndex> build(sqlite3* db, const Bm25Params& params);
    // `<db_path>.lex` when its sidecar matches generation and chunk count, else built and saved
    // (a failed save only means rebuilding next time).
    static std::unique_ptr<ImpactIndex> load_or_build(sqlite3* db,
                                                      const std::filesystem::path& db_path,
                                                      int64_t generation, int64_t chunk_count,
                                                      const Bm25Params& params);
    ~ImpactIndex();
    ImpactIndex(const ImpactIndex&) = delete;
    ImpactIndex& operator=(const ImpactIndex&) = delete;

    size_t chunk_count() const;
    size_t term_count() const;
    size_t posting_count() const;
    size_t byte_size() const;  // of the serialised index (the .lex file)

    // The `limit` best chunks for `query`, best first (ties by chunk id), as bm25_top_k. Not
    // thread-safe when params' b or weights differ from the last call (bounds are recomputed).
    std::vector<ScoredChunk> top_k(std::string_view query, size_t limit, const Bm25Params& params);

    // Writes `<db_path>.lex` and its sidecar for generation.
    void save(const std::filesystem::path& db_path, int64_t generation) const;

  private:
    struct Impl;
    explicit ImpactIndex(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace pocket::rag
