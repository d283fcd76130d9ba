// The walk / extract / chunk / embed / store loop behind `pocket index` (see indexer.h).
#include "pocket/rag/indexer.h"

#include <algorithm>
#include <chrono>
#include <set>
#include <string>
#include <system_error>

#include "pocket/core/error.h"
#include "pocket/core/read_file.h"
#include "pocket/core/sha256.h"
#include "pocket/embed/embedder.h"
#include "pocket/rag/extract.h"
#include "pocket/rag/vector_index.h"

namespace pocket::rag {
namespace fs = std::filesystem;
namespace {

struct Candidate {
    fs::path path;    // absolute
    std::string rel;  // relative to the root, '/'-separated: the document's key in the store
    std::string format;
};

bool hidden(const fs::path& p) {
    const std::string name = p.filename().string();
    return !name.empty() && name[0] == '.';
}

// Indexable files under root, sorted by relative path. Hidden entries (.git, the default
// database) are left out, and so are files of no known format (a database anywhere is one);
// unreadable folders are skipped rather than fatal.
std::vector<Candidate> walk(const fs::path& root) {
    std::vector<Candidate> out;
    std::error_code ec;
    fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, ec);
    if (ec) fail(root.string(), ": cannot read folder: ", ec.message());
    for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
        if (ec) break;
        const fs::path& p = it->path();
        if (hidden(p)) {
            if (it->is_directory(ec)) it.disable_recursion_pending();
            continue;
        }
        if (!it->is_regular_file(ec)) continue;
        auto format = format_for_path(p);
        if (!format) continue;
        out.push_back({p, fs::relative(p, root, ec).generic_string(), *format});
    }
    std::sort(out.begin(), out.end(),
              [](const Candidate& a, const Candidate& b) { return a.rel < b.rel; });
    return out;
}

int64_t mtime_ns(const fs::path& p) {
    std::error_code ec;
    const auto t = fs::last_write_time(p, ec);
    if (ec) return 0;
    return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

// Refuses to mix settings into a store built with others: vectors of two embedders, or chunks of
// two sizes, in one index would make search results quietly worse.
void check_meta(Store& store, const StoreMeta& want) {
    const StoreMeta have = store.meta();
    if (have.chunk_tokens == 0 && store.document_count() == 0) {
        store.set_meta(want);
        return;
    }
    if (have.embed_model != want.embed_model || have.embed_dim != want.embed_dim ||
        have.chunk_tokens != want.chunk_tokens || have.chunk_overlap != want.chunk_overlap) {
        auto describe = [](const StoreMeta& m) {
            return cat("embedder ", m.embed_model.empty() ? "none (BM25 only)" : m.embed_model,
                       m.embed_dim ? cat(" (", m.embed_dim, " dims)") : "", ", ", m.chunk_tokens,
                       "-token chunks, overlap ", m.chunk_overlap);
        };
        fail("the index was built with ", describe(have), "; this run asks for ", describe(want),
             ". Use the same settings, or another --db (or delete the index) to rebuild");
    }
}

}  // namespace

fs::path default_index_path(const fs::path& root) {
    return root / ".pocket-index.sqlite";
}

IndexReport index_folder(Store& store, const fs::path& root, const IndexOptions& options) {
    const auto start = std::chrono::steady_clock::now();
    if ((options.embedder == nullptr) != options.embed_model.empty())
        fail("index_folder: embed_model must name the embedder exactly when one is given");
    std::error_code ec;
    if (!fs::is_directory(root, ec)) fail(root.string(), ": not a folder");

    const StoreMeta want{
        .embed_model = options.embed_model,
        .embed_dim = options.embedder ? static_cast<int64_t>(options.embedder->dim()) : 0,
        .chunk_tokens = options.chunk.max_tokens,
        .chunk_overlap = options.chunk.overlap_tokens};
    // Validate chunk options before touching the store.
    chunk_document(ExtractedText{}, options.chunk);
    check_meta(store, want);

    TokenCounter count;
    if (options.embedder)
        count = [e = options.embedder](std::string_view s) { return e->count_tokens(s); };

    const auto files = walk(root);

    IndexReport report;
    report.files = files.size();
    IndexProgress progress;
    progress.files_total = files.size();
    std::set<std::string> seen;
    for (const auto& f : files) {
        seen.insert(f.rel);
        try {
            const std::string bytes = read_file(f.path);
            const std::string hash = sha256_hex(bytes);
            const auto old = store.find_document(f.rel);
            if (old && old->content_hash == hash) {
                ++report.unchanged;
            } else {
                const ExtractedText text = extract_bytes(bytes, f.format, f.rel);
                std::vector<ChunkInfo> chunks = chunk_document(text, options.chunk, count);
                std::vector<std::vector<float>> vectors;
                if (options.embedder && !chunks.empty()) {
                    std::vector<std::string> texts;
                    texts.reserve(chunks.size());
                    // The heading path goes in front: "Setup" chunks should match "setup".
                    for (const auto& c : chunks)
                        texts.push_back(c.heading.empty() ? c.text : c.heading + "\n" + c.text);
                    vectors = options.embedder->embed_batch(texts);
                }
                DocumentInfo doc{
                    .path = f.rel,
                    .content_hash = hash,
                    .size_bytes = static_cast<int64_t>(bytes.size()),
                    .mtime_ns = mtime_ns(f.path),
                    .format = f.format,
                    .title = text.title.empty() ? f.path.filename().string() : text.title};
                store.put_document(doc, chunks, vectors);
                report.chunks_written += chunks.size();
                ++(old ? report.updated : report.added);
            }
        } catch (const Error& e) {
            // One bad file never stops the run; its message already names the file.
            std::string reason = e.what();
            if (reason.starts_with(f.rel + ": ")) reason.erase(0, f.rel.size() + 2);
            report.skipped.push_back({f.rel, reason});
        }
        ++progress.files_done;
        progress.chunks_written = report.chunks_written;
        progress.current = f.rel;
        if (options.progress) options.progress(progress);
    }

    for (const auto& doc : store.documents()) {
        if (!seen.contains(doc.path) && store.remove_document(doc.path)) ++report.removed;
    }
    // Search reads the approximate vector graph from a file beside the database (derived data);
    // building it now, when anything changed, spares a large store's first query the minutes.
    if (options.embedder && report.added + report.updated + report.removed > 0) {
        const auto t = std::chrono::steady_clock::now();
        const VectorIndex built(store);
        report.vector_index_seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
    }
    // Likewise the lexical impact index (<db>.lex) of a large store.
    if (report.added + report.updated + report.removed > 0) store.prepare_lexical_index();
    report.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return report;
}

}  // namespace pocket::rag
