// The ingest loop of local RAG: walks a folder, extracts, chunks and embeds every readable file
// and writes each document to the Store in its own transaction (so a killed run loses nothing it
// committed and a re-run finishes the job). Incremental: a file whose SHA-256 matches what the
// store holds is not read again; documents whose file is gone are removed. `pocket index` is a
// thin front end over index_folder().
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "pocket/rag/chunker.h"
#include "pocket/rag/store.h"

namespace pocket::embed {
class Embedder;
}

namespace pocket::rag {

// The database `pocket index DIR` uses when --db is not given: DIR/.pocket-index.sqlite.
std::filesystem::path default_index_path(const std::filesystem::path& root);

struct IndexProgress {
    size_t files_done = 0;   // files looked at so far (unchanged and skipped ones included)
    size_t files_total = 0;  // indexable files found by the walk
    size_t chunks_written = 0;
    std::string current;  // relative path of the file just handled
};

struct IndexOptions {
    ChunkOptions chunk;
    // Embeds every chunk when set; nullptr: lexical (BM25) only. Not owned.
    const embed::Embedder* embedder = nullptr;
    // What StoreMeta::embed_model records for `embedder` (a model name or absolute path); must be
    // empty exactly when embedder is nullptr.
    std::string embed_model;
    // Called after each file (on the calling thread).
    std::function<void(const IndexProgress&)> progress;
};

struct SkippedFile {
    std::string path;    // relative to the root
    std::string reason;  // why it could not be indexed
};

struct IndexReport {
    size_t files = 0;                  // indexable files found by the walk
    size_t added = 0;                  // new documents
    size_t updated = 0;                // documents whose file changed
    size_t unchanged = 0;              // same hash as in the store: not read again
    size_t removed = 0;                // documents whose file is gone
    std::vector<SkippedFile> skipped;  // unreadable or corrupt files (the run went on)
    size_t chunks_written = 0;
    double seconds = 0.0;               // the whole run
    double vector_index_seconds = 0.0;  // of which loading vectors and building the HNSW graph
};

// Indexes the files under `root` (recursively; hidden files and folders, whose names start with
// '.', are left out, and so is the database itself) into `store`. Files are handled in path
// order; extensions decide the format (format_for_path). On a fresh store it records the
// settings with Store::set_meta; on a store built with other settings (embedder, dimension,
// chunk sizes) it throws pocket::Error before changing anything.
IndexReport index_folder(Store& store, const std::filesystem::path& root,
                         const IndexOptions& options);

}  // namespace pocket::rag
