// The RAG store: one SQLite database holding the indexed documents, their chunks, the chunks'
// embeddings and an FTS5 full-text index over the chunks. The database is the source of truth;
// the approximate vector index (vector_index.h) is derived from it and can always be rebuilt.
//
// Every change to one document (its row, its chunks, their vectors and FTS rows) happens in one
// transaction, so a killed indexer leaves the database as it was after the last committed
// document: nothing half-written, nothing committed lost (WAL journal, synchronous=NORMAL).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace pocket::rag {

// One source file as the indexer last saw it.
struct DocumentInfo {
    int64_t id = 0;            // assigned by the store
    std::string path;          // as given to the indexer, relative to the indexed root
    std::string content_hash;  // hex SHA-256 of the file's bytes: what decides re-indexing
    int64_t size_bytes = 0;
    int64_t mtime_ns = 0;  // informational; the hash decides
    std::string format;    // "txt", "md", "html", "pdf", "docx", "code"
    std::string title;     // first heading, <title>, PDF title, or the file name
};

// One chunk of a document, as stored and as retrieved.
struct ChunkInfo {
    int64_t id = 0;  // assigned by the store (the FTS5 rowid too)
    int64_t document_id = 0;
    int32_t ordinal = 0;  // 0-based position of the chunk within its document
    std::string text;
    std::string heading;     // section path, "Intro > Setup" (empty when none)
    int32_t page = 0;        // 1-based PDF page of the chunk's start; 0 when not paged
    int64_t byte_begin = 0;  // offsets into the extracted text of the document
    int64_t byte_end = 0;
    int32_t n_tokens = 0;  // tokens by the chunker's tokenizer
};

// What the store remembers about how it was built, so search uses the same settings.
struct StoreMeta {
    std::string embed_model;  // path or name of the embedder; empty: lexical (BM25) only
    int64_t embed_dim = 0;
    int32_t chunk_tokens = 0;
    int32_t chunk_overlap = 0;
};

// BM25F over the FTS5 index (columns: chunk text, heading, document title). Defaults are the
// values tuned on SciFact's train claims (docs/RAG.md).
struct Bm25Params {
    double k1 = 0.9;
    double b = 0.75;
    double text_weight = 1.0;
    double heading_weight = 1.0;
    double title_weight = 1.0;
};

struct ScoredChunk {
    int64_t chunk_id = 0;
    double score = 0;
};

struct StoreOptions {
    bool read_only = false;  // open without write access (the file must exist)
    // Stores with more chunks than this search through pocket's own impact index (built once per
    // store generation, saved beside the database as `<db>.lex`); smaller ones through FTS5,
    // which ranks the same but scores every matching row. 0 forces the index (tests, evaluation).
    size_t lexical_index_threshold = 20000;
};

class Store {
  public:
    // Opens or creates the database (schema created or checked; a file that is not a pocket
    // store is refused with a clear error).
    static std::unique_ptr<Store> open(const std::filesystem::path& path,
                                       const StoreOptions& options);
    static std::unique_ptr<Store> open(const std::filesystem::path& path, bool read_only = false) {
        return open(path, StoreOptions{.read_only = read_only});
    }
    virtual ~Store();

    virtual StoreMeta meta() const = 0;
    // Written once by the first indexing run; later runs with other settings throw.
    virtual void set_meta(const StoreMeta& meta) = 0;

    virtual std::vector<DocumentInfo> documents() const = 0;
    virtual std::optional<DocumentInfo> find_document(std::string_view path) const = 0;

    // Replaces the document at doc.path (if any) with doc, these chunks and their embeddings
    // (embeddings empty, or one vector of meta().embed_dim floats per chunk), in one
    // transaction. Returns the document's new id.
    virtual int64_t put_document(const DocumentInfo& doc, std::span<const ChunkInfo> chunks,
                                 std::span<const std::vector<float>> embeddings) = 0;
    // Removes a document, its chunks, vectors and FTS rows (one transaction). False if absent.
    virtual bool remove_document(std::string_view path) = 0;

    virtual int64_t document_count() const = 0;
    virtual int64_t chunk_count() const = 0;
    virtual std::optional<ChunkInfo> chunk(int64_t chunk_id) const = 0;
    virtual std::optional<DocumentInfo> document(int64_t document_id) const = 0;
    virtual std::vector<ChunkInfo> chunks_of(int64_t document_id) const = 0;

    // --- what retrieval reads ---
    // The best `limit` chunks for the OR of the query's analysed terms (rag/analyzer.h), best
    // first. Any text is a valid query: FTS5 syntax in it is matched as plain words.
    virtual std::vector<ScoredChunk> lexical_search(std::string_view query, size_t limit,
                                                    const Bm25Params& params = {}) const = 0;
    // Loads or builds now the derived index lexical_search reads on a large store (<db>.lex), so
    // that the first query does not pay for it. No-op for small stores.
    virtual void prepare_lexical_index(const Bm25Params& params = {}) const { (void)params; }
    // Every stored embedding, in chunk id order.
    virtual void for_each_vector(
        const std::function<void(int64_t chunk_id, std::span<const float> vec)>& fn) const = 0;
    // Bumped by every put/remove: what derived indexes (the .hnsw file) record to detect staleness.
    virtual int64_t generation() const = 0;
    virtual const std::filesystem::path& path() const = 0;
};

}  // namespace pocket::rag
