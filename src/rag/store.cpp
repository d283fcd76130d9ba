// The SQLite implementation of rag::Store (schema below). The FTS5 table keeps its own copy of
// the text (SQLite 3.40 has no contentless-delete), with rowid = chunk id.
#include "pocket/rag/store.h"

#include <array>
#include <cstring>
#include <fstream>
#include <mutex>
#include <random>

#include "fts.h"
#include "impact_index.h"
#include "lexical_search.h"
#include "pocket/core/error.h"
#include "pocket/rag/analyzer.h"
#include "sqlite.h"

namespace pocket::rag {
namespace {

constexpr std::string_view kFormatName = "pocket-rag-store";
constexpr int kSchemaVersion = 1;

constexpr std::string_view kSchema = R"sql(
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE documents(
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    path TEXT NOT NULL UNIQUE,
    content_hash TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    format TEXT NOT NULL,
    title TEXT NOT NULL);
CREATE TABLE chunks(
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    ordinal INTEGER NOT NULL,
    text TEXT NOT NULL,
    heading TEXT NOT NULL,
    page INTEGER NOT NULL,
    byte_begin INTEGER NOT NULL,
    byte_end INTEGER NOT NULL,
    n_tokens INTEGER NOT NULL);
CREATE INDEX chunks_by_document ON chunks(document_id, ordinal);
CREATE TABLE vectors(
    chunk_id INTEGER PRIMARY KEY REFERENCES chunks(id) ON DELETE CASCADE,
    vec BLOB NOT NULL);
CREATE VIRTUAL TABLE chunks_fts USING fts5(text, heading, title, tokenize='pocket');
)sql";

constexpr std::string_view kChunkColumns =
    "id, document_id, ordinal, text, heading, page, byte_begin, byte_end, n_tokens";
constexpr std::string_view kDocumentColumns =
    "id, path, content_hash, size_bytes, mtime_ns, format, title";

ChunkInfo read_chunk(const sql::Stmt& st) {
    ChunkInfo c;
    c.id = st.int64(0);
    c.document_id = st.int64(1);
    c.ordinal = static_cast<int32_t>(st.int64(2));
    c.text = st.text(3);
    c.heading = st.text(4);
    c.page = static_cast<int32_t>(st.int64(5));
    c.byte_begin = st.int64(6);
    c.byte_end = st.int64(7);
    c.n_tokens = static_cast<int32_t>(st.int64(8));
    return c;
}

DocumentInfo read_document(const sql::Stmt& st) {
    DocumentInfo d;
    d.id = st.int64(0);
    d.path = st.text(1);
    d.content_hash = st.text(2);
    d.size_bytes = st.int64(3);
    d.mtime_ns = st.int64(4);
    d.format = st.text(5);
    d.title = st.text(6);
    return d;
}

// A non-empty file that is not SQLite is refused before SQLite sees it, so nothing is written
// into someone's file by mistake.
void refuse_non_sqlite(const std::filesystem::path& path) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) return;
    if (std::filesystem::is_directory(path, ec)) {
        fail("rag store ", path.string(), ": is a directory, not a pocket store");
    }
    if (std::filesystem::file_size(path, ec) == 0) return;
    std::array<char, 16> magic{};
    std::ifstream in(path, std::ios::binary);
    in.read(magic.data(), magic.size());
    if (in.gcount() != 16 || std::memcmp(magic.data(), "SQLite format 3", 16) != 0) {
        fail("rag store ", path.string(), ": not a pocket store (not an SQLite database)");
    }
}

// A new store's generation counter starts at a random value, not 0: the derived files beside the
// database (.hnsw, .lex) are matched to it by generation and chunk count, and a database deleted
// and re-created at the same path must not match the files of its predecessor.
int64_t first_generation() {
    std::random_device rd;
    const uint64_t r = (static_cast<uint64_t>(rd()) << 32) ^ rd();
    return static_cast<int64_t>(r >> 2);  // leaves room to count up without overflow
}

class SqliteStore final : public Store {
  public:
    SqliteStore(std::filesystem::path path, const StoreOptions& options)
        : path_(std::move(path)),
          read_only_(options.read_only),
          lexical_index_threshold_(options.lexical_index_threshold) {
        const bool read_only = read_only_;
        refuse_non_sqlite(path_);
        if (read_only && !std::filesystem::exists(path_)) {
            fail("rag store ", path_.string(), ": does not exist");
        }
        db_ = sql::open(path_, read_only);
        register_fts(db_.get());
        if (!read_only) {
            sql::exec(db_.get(), "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;");
        }
        sql::exec(db_.get(), "PRAGMA foreign_keys=ON");
        check_or_create_schema();
        create_fts_vocabulary(db_.get());
    }

    const std::filesystem::path& path() const override { return path_; }

    StoreMeta meta() const override {
        std::lock_guard lock(mu_);
        StoreMeta m;
        m.embed_model = get_meta("embed_model").value_or("");
        m.embed_dim = std::stoll(get_meta("embed_dim").value_or("0"));
        m.chunk_tokens = std::stoi(get_meta("chunk_tokens").value_or("0"));
        m.chunk_overlap = std::stoi(get_meta("chunk_overlap").value_or("0"));
        return m;
    }

    void set_meta(const StoreMeta& m) override {
        std::lock_guard lock(mu_);
        writable("set_meta");
        if (get_meta("settings_written")) {
            const auto model = get_meta("embed_model").value_or("");
            const auto dim = std::stoll(get_meta("embed_dim").value_or("0"));
            const auto ct = std::stoi(get_meta("chunk_tokens").value_or("0"));
            const auto co = std::stoi(get_meta("chunk_overlap").value_or("0"));
            if (model != m.embed_model || dim != m.embed_dim || ct != m.chunk_tokens ||
                co != m.chunk_overlap) {
                fail("rag store ", path_.string(), ": was built with embed model '", model,
                     "' (dim ", dim, "), chunks of ", ct, " tokens overlapping ", co,
                     "; these settings differ (embed model '", m.embed_model, "' dim ", m.embed_dim,
                     ", chunks ", m.chunk_tokens, "/", m.chunk_overlap,
                     "): index into a new store");
            }
            return;
        }
        sql::Transaction tx(db_.get());
        put_meta("embed_model", m.embed_model);
        put_meta("embed_dim", std::to_string(m.embed_dim));
        put_meta("chunk_tokens", std::to_string(m.chunk_tokens));
        put_meta("chunk_overlap", std::to_string(m.chunk_overlap));
        put_meta("settings_written", "1");
        tx.commit();
    }

    std::vector<DocumentInfo> documents() const override {
        std::lock_guard lock(mu_);
        sql::Stmt st(db_.get(), cat("SELECT ", kDocumentColumns, " FROM documents ORDER BY path"));
        std::vector<DocumentInfo> out;
        while (st.step()) out.push_back(read_document(st));
        return out;
    }

    std::optional<DocumentInfo> find_document(std::string_view path) const override {
        std::lock_guard lock(mu_);
        sql::Stmt st(db_.get(), cat("SELECT ", kDocumentColumns, " FROM documents WHERE path=?"));
        st.bind(1, path);
        if (!st.step()) return std::nullopt;
        return read_document(st);
    }

    std::optional<DocumentInfo> document(int64_t id) const override {
        std::lock_guard lock(mu_);
        sql::Stmt st(db_.get(), cat("SELECT ", kDocumentColumns, " FROM documents WHERE id=?"));
        st.bind(1, id);
        if (!st.step()) return std::nullopt;
        return read_document(st);
    }

    int64_t put_document(const DocumentInfo& doc, std::span<const ChunkInfo> chunks,
                         std::span<const std::vector<float>> embeddings) override {
        std::lock_guard lock(mu_);
        writable("put_document");
        const auto dim = std::stoll(get_meta("embed_dim").value_or("0"));
        if (!embeddings.empty()) {
            if (embeddings.size() != chunks.size()) {
                fail("rag store ", path_.string(), ": ", doc.path, ": ", chunks.size(),
                     " chunks but ", embeddings.size(), " embeddings");
            }
            for (const auto& e : embeddings) {
                if (static_cast<int64_t>(e.size()) != dim) {
                    fail("rag store ", path_.string(), ": ", doc.path, ": an embedding of ",
                         e.size(), " floats, but the store's embed_dim is ", dim,
                         dim == 0 ? " (set_meta first)" : "");
                }
            }
        }
        sql::Transaction tx(db_.get());
        delete_document(doc.path);
        sql::Stmt ins_doc(db_.get(),
                          "INSERT INTO documents(path, content_hash, size_bytes, mtime_ns, "
                          "format, title) VALUES(?,?,?,?,?,?)");
        ins_doc.bind(1, doc.path).bind(2, doc.content_hash).bind(3, doc.size_bytes);
        ins_doc.bind(4, doc.mtime_ns).bind(5, doc.format).bind(6, doc.title);
        ins_doc.run();
        const int64_t doc_id = sqlite3_last_insert_rowid(db_.get());
        sql::Stmt ins_chunk(db_.get(),
                            "INSERT INTO chunks(document_id, ordinal, text, heading, page, "
                            "byte_begin, byte_end, n_tokens) VALUES(?,?,?,?,?,?,?,?)");
        sql::Stmt ins_fts(db_.get(),
                          "INSERT INTO chunks_fts(rowid, text, heading, title) VALUES(?,?,?,?)");
        sql::Stmt ins_vec(db_.get(), "INSERT INTO vectors(chunk_id, vec) VALUES(?,?)");
        for (size_t i = 0; i < chunks.size(); ++i) {
            const auto& c = chunks[i];
            ins_chunk.bind(1, doc_id).bind(2, int64_t{c.ordinal}).bind(3, c.text);
            ins_chunk.bind(4, c.heading).bind(5, int64_t{c.page}).bind(6, c.byte_begin);
            ins_chunk.bind(7, c.byte_end).bind(8, int64_t{c.n_tokens});
            ins_chunk.run();
            const int64_t chunk_id = sqlite3_last_insert_rowid(db_.get());
            ins_fts.bind(1, chunk_id).bind(2, c.text).bind(3, c.heading).bind(4, doc.title);
            ins_fts.run();
            if (!embeddings.empty()) {
                ins_vec.bind(1, chunk_id).bind_blob(2, embeddings[i]);
                ins_vec.run();
            }
        }
        bump_generation();
        tx.commit();
        return doc_id;
    }

    bool remove_document(std::string_view path) override {
        std::lock_guard lock(mu_);
        writable("remove_document");
        sql::Transaction tx(db_.get());
        const bool found = delete_document(path);
        if (found) bump_generation();
        tx.commit();
        return found;
    }

    int64_t document_count() const override { return count("SELECT count(*) FROM documents"); }
    int64_t chunk_count() const override { return count("SELECT count(*) FROM chunks"); }

    std::optional<ChunkInfo> chunk(int64_t id) const override {
        std::lock_guard lock(mu_);
        sql::Stmt st(db_.get(), cat("SELECT ", kChunkColumns, " FROM chunks WHERE id=?"));
        st.bind(1, id);
        if (!st.step()) return std::nullopt;
        return read_chunk(st);
    }

    std::vector<ChunkInfo> chunks_of(int64_t document_id) const override {
        std::lock_guard lock(mu_);
        sql::Stmt st(db_.get(), cat("SELECT ", kChunkColumns,
                                    " FROM chunks WHERE document_id=? ORDER BY ordinal"));
        st.bind(1, document_id);
        std::vector<ChunkInfo> out;
        while (st.step()) out.push_back(read_chunk(st));
        return out;
    }

    std::vector<ScoredChunk> lexical_search(std::string_view query, size_t limit,
                                            const Bm25Params& p) const override {
        std::lock_guard lock(mu_);
        if (ImpactIndex* index = impact_index(p)) return index->top_k(query, limit, p);
        return bm25_top_k(db_.get(), query, limit, p);
    }

    void prepare_lexical_index(const Bm25Params& p) const override {
        std::lock_guard lock(mu_);
        impact_index(p);
    }

    void for_each_vector(
        const std::function<void(int64_t, std::span<const float>)>& fn) const override {
        std::lock_guard lock(mu_);
        sql::Stmt st(db_.get(), "SELECT chunk_id, vec FROM vectors ORDER BY chunk_id");
        std::vector<float> vec;
        while (st.step()) {
            st.floats(1, vec);
            fn(st.int64(0), vec);
        }
    }

    int64_t generation() const override {
        std::lock_guard lock(mu_);
        return std::stoll(get_meta("generation").value_or("0"));
    }

  private:
    // The impact index when the store is large enough to need one (FTS5 scores every matching
    // row: fine for thousands of chunks, seconds for a million), loaded or built for the current
    // generation; nullptr means FTS5. A failed build is not retried until the store changes.
    ImpactIndex* impact_index(const Bm25Params& p) const {
        const int64_t gen = generation();
        if (lex_generation_ == gen) return lex_.get();
        lex_.reset();
        lex_generation_ = gen;
        const int64_t chunks = chunk_count();
        if (static_cast<size_t>(chunks) <= lexical_index_threshold_) return nullptr;
        try {
            lex_ = ImpactIndex::load_or_build(db_.get(), path_, gen, chunks, p);
        } catch (const Error&) {
            // Search stays on FTS5, which gives the same ranking, only slower.
        }
        return lex_.get();
    }

    void check_or_create_schema() {
        const auto tables = count("SELECT count(*) FROM sqlite_schema");
        if (tables == 0) {
            if (read_only_) fail("rag store ", path_.string(), ": empty database (not indexed)");
            sql::Transaction tx(db_.get());
            sql::exec(db_.get(), kSchema);
            put_meta("format", std::string(kFormatName));
            put_meta("schema_version", std::to_string(kSchemaVersion));
            put_meta("analyzer_version", std::to_string(kAnalyzerVersion));
            put_meta("generation", std::to_string(first_generation()));
            tx.commit();
            return;
        }
        const bool has_meta =
            count("SELECT count(*) FROM sqlite_schema WHERE type='table' AND name='meta'") == 1;
        if (!has_meta || get_meta("format") != std::string(kFormatName)) {
            fail("rag store ", path_.string(),
                 ": an SQLite database, but not a pocket store (no pocket meta table)");
        }
        const auto version = std::stoi(get_meta("schema_version").value_or("0"));
        if (version != kSchemaVersion) {
            fail("rag store ", path_.string(), ": schema version ", version, ", this pocket reads ",
                 kSchemaVersion, ": re-index into a new store");
        }
        const auto analyzer = std::stoi(get_meta("analyzer_version").value_or("0"));
        if (analyzer != kAnalyzerVersion) {
            fail("rag store ", path_.string(), ": indexed with analyzer version ", analyzer,
                 ", this pocket analyses text with version ", kAnalyzerVersion,
                 ": re-index into a new store");
        }
    }

    void writable(std::string_view what) const {
        if (read_only_) fail("rag store ", path_.string(), ": ", what, " on a read-only store");
    }

    int64_t count(std::string_view q) const {
        std::lock_guard lock(mu_);
        sql::Stmt st(db_.get(), q);
        return st.step() ? st.int64(0) : 0;
    }

    std::optional<std::string> get_meta(std::string_view key) const {
        sql::Stmt st(db_.get(), "SELECT value FROM meta WHERE key=?");
        st.bind(1, key);
        if (!st.step()) return std::nullopt;
        return st.text(0);
    }

    void put_meta(std::string_view key, std::string_view value) {
        sql::Stmt st(db_.get(), "INSERT OR REPLACE INTO meta(key, value) VALUES(?,?)");
        st.bind(1, key).bind(2, value);
        st.run();
    }

    void bump_generation() {
        sql::exec(db_.get(),
                  "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key='generation'");
    }

    // Inside a transaction: the document at path, its chunks, vectors and FTS rows.
    bool delete_document(std::string_view path) {
        sql::Stmt find(db_.get(), "SELECT id FROM documents WHERE path=?");
        find.bind(1, path);
        if (!find.step()) return false;
        const int64_t id = find.int64(0);
        sql::Stmt del_fts(db_.get(),
                          "DELETE FROM chunks_fts WHERE rowid IN "
                          "(SELECT id FROM chunks WHERE document_id=?)");
        del_fts.bind(1, id);
        del_fts.run();
        sql::Stmt del_vec(db_.get(),
                          "DELETE FROM vectors WHERE chunk_id IN "
                          "(SELECT id FROM chunks WHERE document_id=?)");
        del_vec.bind(1, id);
        del_vec.run();
        sql::Stmt del_chunks(db_.get(), "DELETE FROM chunks WHERE document_id=?");
        del_chunks.bind(1, id);
        del_chunks.run();
        sql::Stmt del_doc(db_.get(), "DELETE FROM documents WHERE id=?");
        del_doc.bind(1, id);
        del_doc.run();
        return true;
    }

    std::filesystem::path path_;
    bool read_only_;
    size_t lexical_index_threshold_;
    sql::DbPtr db_;
    mutable std::recursive_mutex mu_;
    mutable std::unique_ptr<ImpactIndex> lex_;
    mutable int64_t lex_generation_ = -1;  // the generation lex_ was decided for
};

}  // namespace

Store::~Store() = default;

std::unique_ptr<Store> Store::open(const std::filesystem::path& path, const StoreOptions& options) {
    return std::make_unique<SqliteStore>(path, options);
}

}  // namespace pocket::rag
