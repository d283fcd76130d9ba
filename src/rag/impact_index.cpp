#include "impact_index.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <string>
#include <unordered_map>

#include "fts.h"
#include "pocket/core/error.h"
#include "pocket/core/thread_pool.h"
#include "pocket/rag/analyzer.h"
#include "sqlite.h"

namespace pocket::rag {
namespace {

constexpr uint64_t kMagic = 0x31305845'4c4b5450ULL;  // "PTKLEX01"
constexpr uint64_t kVersion = 1;
constexpr size_t kColumns = 3;  // text, heading, title: FTS5's column order
constexpr size_t kBatch = 8192;

// A term's counts in one chunk, packed: text (16 bits), heading (8), title (8). Larger counts
// make the build fail, and search stays on FTS5.
struct Posting {
    uint32_t chunk;  // dense index: chunks in id order
    uint32_t tf;
};
static_assert(sizeof(Posting) == 8);

constexpr std::array<uint32_t, kColumns> kTfLimit = {0xffff, 0xff, 0xff};
constexpr std::array<uint32_t, kColumns> kTfShift = {0, 16, 24};

uint32_t tf_of(uint32_t packed, size_t col) {
    return (packed >> kTfShift[col]) & kTfLimit[col];
}

struct Header {
    uint64_t magic = kMagic;
    uint64_t version = kVersion;
    uint64_t n_chunks = 0;
    uint64_t n_terms = 0;
    uint64_t n_postings = 0;
    uint64_t term_bytes = 0;
    std::array<uint64_t, kColumns> total_len{};
    // The b and column weights the stored bounds were computed with.
    double b = 0;
    std::array<double, kColumns> weight{};
};

size_t padded(size_t bytes) {
    return (bytes + 7) / 8 * 8;
}

// Byte offsets of the sections that follow the header.
struct Layout {
    size_t ids, lens, posting_begin, term_begin, bounds, postings, terms, end;
    explicit Layout(const Header& h) {
        ids = sizeof(Header);
        lens = ids + h.n_chunks * sizeof(int64_t);
        posting_begin = lens + padded(h.n_chunks * kColumns * sizeof(uint32_t));
        term_begin = posting_begin + (h.n_terms + 1) * sizeof(uint64_t);
        bounds = term_begin + (h.n_terms + 1) * sizeof(uint64_t);
        postings = bounds + h.n_terms * sizeof(double);
        terms = postings + h.n_postings * sizeof(Posting);
        end = terms + padded(h.term_bytes);
    }
};

// The serialised index: owned (just built) or a read-only mapping of the .lex file.
class Bytes {
  public:
    Bytes() = default;
    explicit Bytes(size_t n) : owned_((n + 7) / 8), data_(owned_.data()), size_(n) {}
    static Bytes map(const std::filesystem::path& path) {
        Bytes out;
        const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) fail("rag lexical index ", path.string(), ": cannot open");
        struct stat st {};
        if (::fstat(fd, &st) != 0 || st.st_size < static_cast<off_t>(sizeof(Header))) {
            ::close(fd);
            fail("rag lexical index ", path.string(), ": truncated");
        }
        void* p = ::mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
        ::close(fd);
        if (p == MAP_FAILED) fail("rag lexical index ", path.string(), ": mmap failed");
        out.mapped_ = p;
        out.data_ = p;
        out.size_ = static_cast<size_t>(st.st_size);
        return out;
    }
    Bytes(Bytes&& o) noexcept { *this = std::move(o); }
    Bytes& operator=(Bytes&& o) noexcept {
        if (this != &o) {
            release();
            owned_ = std::move(o.owned_);
            mapped_ = std::exchange(o.mapped_, nullptr);
            size_ = std::exchange(o.size_, 0);
            data_ = mapped_ ? mapped_ : owned_.data();
            o.data_ = nullptr;
        }
        return *this;
    }
    ~Bytes() { release(); }

    const std::byte* data() const { return static_cast<const std::byte*>(data_); }
    std::byte* mutable_data() { return reinterpret_cast<std::byte*>(owned_.data()); }
    size_t size() const { return size_; }

  private:
    void release() {
        if (mapped_ != nullptr) ::munmap(mapped_, size_);
        mapped_ = nullptr;
    }
    std::vector<uint64_t> owned_;
    void* mapped_ = nullptr;
    const void* data_ = nullptr;
    size_t size_ = 0;
};

// One chunk's per-column norm w_c / (1 - b + b * len_c / avglen_c), as fts.cpp computes it.
struct Norms {
    std::array<double, kColumns> n{};
};

// The BM25F pseudo frequency of one posting, summed one instance at a time in column order as
// pocket_bm25 does over xInst, so the double is bit-identical.
double pseudo_tf(uint32_t packed, const Norms& norms) {
    double tf = 0;
    for (size_t c = 0; c < kColumns; ++c) {
        for (uint32_t i = tf_of(packed, c); i > 0; --i) tf += norms.n[c];
    }
    return tf;
}

double saturate(double idf, double tf, double k1) {
    return idf * tf * (k1 + 1) / (tf + k1);
}

// A word-wise hash of the serialised index, kept in the sidecar: overwritten bytes (chunk ids,
// counts) would otherwise pass the structural checks and silently rank wrong chunks. A mapped
// gigabyte hashes in a fraction of a second.
uint64_t checksum(const Bytes& bytes) {
    const auto* w = reinterpret_cast<const uint64_t*>(bytes.data());
    uint64_t h = 0x9e3779b97f4a7c15ULL;
    for (size_t i = 0, n = bytes.size() / 8; i < n; ++i) {
        h = (h ^ w[i]) * 0x100000001b3ULL;
        h ^= h >> 29;
    }
    return h;
}

std::string sidecar_path(const std::filesystem::path& db) {
    return db.string() + ".lex.meta";
}

}  // namespace

struct ImpactIndex::Impl {
    Bytes bytes;
    Header h;
    const int64_t* ids = nullptr;
    const uint32_t* lens = nullptr;
    const uint64_t* posting_begin = nullptr;
    const uint64_t* term_begin = nullptr;
    const Posting* postings = nullptr;
    const char* terms = nullptr;
    std::array<double, kColumns> avg_len{};
    // Per-term maximum pseudo frequency under bound_params.
    std::vector<double> max_tf;
    double bound_b = 0;
    std::array<double, kColumns> bound_w{};

    // Points the views into bytes after checking that the sections fit and the offsets are
    // monotone; a damaged file fails here (and is rebuilt) instead of being read out of bounds.
    void attach(const std::string& what) {
        if (bytes.size() < sizeof(Header)) fail(what, ": truncated");
        std::memcpy(&h, bytes.data(), sizeof(Header));
        if (h.magic != kMagic || h.version != kVersion) fail(what, ": not a pocket lexical index");
        if (h.n_chunks > std::numeric_limits<uint32_t>::max() || h.n_terms > (1ULL << 40) ||
            h.n_postings > (1ULL << 40) || h.term_bytes > (1ULL << 40)) {
            fail(what, ": implausible sizes");
        }
        const Layout l(h);
        if (l.end != bytes.size()) fail(what, ": size ", bytes.size(), ", expected ", l.end);
        const std::byte* b = bytes.data();
        ids = reinterpret_cast<const int64_t*>(b + l.ids);
        lens = reinterpret_cast<const uint32_t*>(b + l.lens);
        posting_begin = reinterpret_cast<const uint64_t*>(b + l.posting_begin);
        term_begin = reinterpret_cast<const uint64_t*>(b + l.term_begin);
        postings = reinterpret_cast<const Posting*>(b + l.postings);
        terms = reinterpret_cast<const char*>(b + l.terms);
        if (posting_begin[0] != 0 || posting_begin[h.n_terms] != h.n_postings ||
            term_begin[0] != 0 || term_begin[h.n_terms] != h.term_bytes) {
            fail(what, ": damaged term table");
        }
        for (uint64_t t = 0; t < h.n_terms; ++t) {
            if (posting_begin[t] > posting_begin[t + 1] || term_begin[t] > term_begin[t + 1])
                fail(what, ": damaged term table");
        }
        for (size_t c = 0; c < kColumns; ++c) {
            const double rows = static_cast<double>(h.n_chunks);
            avg_len[c] = h.n_chunks > 0 ? std::max(1e-9, double(h.total_len[c]) / rows) : 1.0;
        }
        const auto* stored = reinterpret_cast<const double*>(b + l.bounds);
        max_tf.assign(stored, stored + h.n_terms);
        bound_b = h.b;
        bound_w = h.weight;
    }

    Norms norms(uint32_t chunk, double b, const std::array<double, kColumns>& w) const {
        Norms out;
        for (size_t c = 0; c < kColumns; ++c) {
            const double len = lens[size_t{chunk} * kColumns + c];
            out.n[c] = w[c] / (1.0 - b + b * len / avg_len[c]);
        }
        return out;
    }

    // The bounds for params' b and weights: one pass over all postings.
    void ensure_bounds(const Bm25Params& p) {
        const std::array<double, kColumns> w = {p.text_weight, p.heading_weight, p.title_weight};
        if (p.b == bound_b && w == bound_w) return;
        std::vector<Norms> all(h.n_chunks);
        for (uint32_t d = 0; d < h.n_chunks; ++d) all[d] = norms(d, p.b, w);
        for (uint64_t t = 0; t < h.n_terms; ++t) {
            double best = 0;
            for (uint64_t i = posting_begin[t]; i < posting_begin[t + 1]; ++i) {
                const Posting& e = postings[i];
                if (e.chunk >= h.n_chunks) fail("rag lexical index: damaged posting");
                best = std::max(best, pseudo_tf(e.tf, all[e.chunk]));
            }
            max_tf[t] = best;
        }
        bound_b = p.b;
        bound_w = w;
    }

    // The index of term in the sorted dictionary, or -1.
    int64_t find(std::string_view term) const {
        uint64_t lo = 0, hi = h.n_terms;
        while (lo < hi) {
            const uint64_t mid = lo + (hi - lo) / 2;
            const std::string_view s(terms + term_begin[mid],
                                     term_begin[mid + 1] - term_begin[mid]);
            if (s < term) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        if (lo < h.n_terms &&
            std::string_view(terms + term_begin[lo], term_begin[lo + 1] - term_begin[lo]) == term)
            return static_cast<int64_t>(lo);
        return -1;
    }

    std::vector<ScoredChunk> top_k(std::string_view query, size_t limit, const Bm25Params& p);
};

// --- building ----------------------------------------------------------------------------------

namespace {

// Terms of one chunk: per column, the analysed terms (FTS5's column size is their count).
struct AnalysedChunk {
    int64_t id = 0;
    std::array<std::vector<std::string>, kColumns> cols;
};

class Builder {
  public:
    void add_batch(std::vector<AnalysedChunk>& batch) {
        for (auto& chunk : batch) add(chunk);
    }

    Bytes finish(const Bm25Params& p) {
        Header h;
        h.n_chunks = ids_.size();
        h.n_terms = names_.size();
        h.total_len = total_len_;
        h.b = p.b;
        h.weight = {p.text_weight, p.heading_weight, p.title_weight};
        std::vector<uint32_t> order(names_.size());
        for (uint32_t t = 0; t < order.size(); ++t) order[t] = t;
        std::sort(order.begin(), order.end(),
                  [&](uint32_t a, uint32_t b) { return names_[a] < names_[b]; });
        for (const auto& l : lists_) h.n_postings += l.size();
        for (const auto& n : names_) h.term_bytes += n.size();
        const Layout l(h);
        Bytes out(l.end);
        std::byte* b = out.mutable_data();
        std::memcpy(b, &h, sizeof(h));
        std::memcpy(b + l.ids, ids_.data(), ids_.size() * sizeof(int64_t));
        std::memcpy(b + l.lens, lens_.data(), lens_.size() * sizeof(uint32_t));
        auto* posting_begin = reinterpret_cast<uint64_t*>(b + l.posting_begin);
        auto* term_begin = reinterpret_cast<uint64_t*>(b + l.term_begin);
        auto* postings = reinterpret_cast<Posting*>(b + l.postings);
        auto* terms = reinterpret_cast<char*>(b + l.terms);
        uint64_t np = 0, nb = 0;
        for (size_t i = 0; i < order.size(); ++i) {
            posting_begin[i] = np;
            term_begin[i] = nb;
            auto& list = lists_[order[i]];
            std::memcpy(postings + np, list.data(), list.size() * sizeof(Posting));
            np += list.size();
            std::vector<Posting>().swap(list);  // keeps the build's peak near one copy
            const auto& name = names_[order[i]];
            std::memcpy(terms + nb, name.data(), name.size());
            nb += name.size();
        }
        posting_begin[order.size()] = np;
        term_begin[order.size()] = nb;
        return out;
    }

  private:
    void add(AnalysedChunk& chunk) {
        if (ids_.size() >= std::numeric_limits<uint32_t>::max())
            fail("rag lexical index: more than 2^32 chunks");
        const auto dense = static_cast<uint32_t>(ids_.size());
        ids_.push_back(chunk.id);
        touched_.clear();
        for (size_t c = 0; c < kColumns; ++c) {
            lens_.push_back(static_cast<uint32_t>(chunk.cols[c].size()));
            total_len_[c] += chunk.cols[c].size();
            for (auto& term : chunk.cols[c]) touched_.push_back({term_id(term), c});
        }
        std::sort(touched_.begin(), touched_.end());
        for (size_t i = 0; i < touched_.size();) {
            const uint32_t t = touched_[i].first;
            std::array<uint32_t, kColumns> tf{};
            for (; i < touched_.size() && touched_[i].first == t; ++i) ++tf[touched_[i].second];
            uint32_t packed = 0;
            for (size_t c = 0; c < kColumns; ++c) {
                if (tf[c] > kTfLimit[c]) {
                    fail("rag lexical index: chunk ", chunk.id, " holds term '", names_[t], "' ",
                         tf[c], " times in one column (at most ", kTfLimit[c], " fit)");
                }
                packed |= tf[c] << kTfShift[c];
            }
            lists_[t].push_back({dense, packed});
        }
    }

    uint32_t term_id(std::string& term) {
        const auto [it, added] = ids_of_.try_emplace(term, static_cast<uint32_t>(names_.size()));
        if (added) {
            names_.push_back(std::move(term));
            lists_.emplace_back();
        }
        return it->second;
    }

    std::unordered_map<std::string, uint32_t> ids_of_;
    std::vector<std::string> names_;
    std::vector<std::vector<Posting>> lists_;
    std::vector<int64_t> ids_;
    std::vector<uint32_t> lens_;
    std::array<uint64_t, kColumns> total_len_{};
    std::vector<std::pair<uint32_t, size_t>> touched_;
};

void analyse_batch(std::vector<AnalysedChunk>& batch,
                   std::vector<std::array<std::string, kColumns>>& texts) {
    ThreadPool::global().parallel_for(
        static_cast<int64_t>(batch.size()), [&](int64_t begin, int64_t end) {
            for (auto i = static_cast<size_t>(begin); i < static_cast<size_t>(end); ++i) {
                for (size_t c = 0; c < kColumns; ++c) {
                    auto& out = batch[i].cols[c];
                    out.clear();
                    for (auto& t : analyze(texts[i][c])) out.push_back(std::move(t.term));
                }
            }
        });
}

}  // namespace

ImpactIndex::ImpactIndex(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ImpactIndex::~ImpactIndex() = default;

std::unique_ptr<ImpactIndex> ImpactIndex::build(sqlite3* db, const Bm25Params& params) {
    Builder builder;
    // What FTS5 indexed, in rowid (= chunk id) order: the dense indexes then sort as the ids.
    sql::Stmt st(db, "SELECT rowid, text, heading, title FROM chunks_fts ORDER BY rowid");
    std::vector<AnalysedChunk> batch;
    std::vector<std::array<std::string, kColumns>> texts;
    bool more = true;
    while (more) {
        batch.clear();
        texts.clear();
        while (batch.size() < kBatch && (more = st.step())) {
            batch.push_back({.id = st.int64(0), .cols = {}});
            texts.push_back({st.text(1), st.text(2), st.text(3)});
        }
        analyse_batch(batch, texts);
        builder.add_batch(batch);
    }
    auto impl = std::make_unique<Impl>();
    impl->bytes = builder.finish(params);
    impl->attach("rag lexical index (built)");
    // The stored bounds are zero: computed here for the build parameters.
    impl->bound_b = std::numeric_limits<double>::quiet_NaN();
    impl->ensure_bounds(params);
    auto* bounds = reinterpret_cast<double*>(impl->bytes.mutable_data() + Layout(impl->h).bounds);
    std::copy(impl->max_tf.begin(), impl->max_tf.end(), bounds);
    return std::unique_ptr<ImpactIndex>(new ImpactIndex(std::move(impl)));
}

std::unique_ptr<ImpactIndex> ImpactIndex::load_or_build(sqlite3* db,
                                                        const std::filesystem::path& db_path,
                                                        int64_t generation, int64_t chunk_count,
                                                        const Bm25Params& params) {
    const std::filesystem::path file = db_path.string() + ".lex";
    {
        std::ifstream meta(sidecar_path(db_path));
        int64_t gen = -1, count = -1;
        uint64_t sum = 0;
        if (meta >> gen >> count >> sum && gen == generation && count == chunk_count) {
            try {
                auto impl = std::make_unique<Impl>();
                impl->bytes = Bytes::map(file);
                if (checksum(impl->bytes) != sum)
                    fail("rag lexical index ", file.string(), ": damaged");
                impl->attach("rag lexical index " + file.string());
                if (static_cast<int64_t>(impl->h.n_chunks) == chunk_count)
                    return std::unique_ptr<ImpactIndex>(new ImpactIndex(std::move(impl)));
            } catch (const Error&) {
                // Damaged or truncated: rebuilt below.
            }
        }
    }
    auto built = build(db, params);
    // Saving is an optimisation: a read-only folder just means rebuilding next time.
    try {
        built->save(db_path, generation);
    } catch (const Error&) {
    }
    return built;
}

void ImpactIndex::save(const std::filesystem::path& db_path, int64_t generation) const {
    const std::string file = db_path.string() + ".lex";
    // A private temporary name: two processes saving at once must not write into one file.
    const std::string tmp = file + ".tmp" + std::to_string(::getpid());
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        out.write(reinterpret_cast<const char*>(impl_->bytes.data()),
                  static_cast<std::streamsize>(impl_->bytes.size()));
        if (!out) fail("rag lexical index ", tmp, ": write failed");
    }
    std::error_code ec;
    std::filesystem::rename(tmp, file, ec);
    if (ec) fail("rag lexical index ", file, ": ", ec.message());
    // The sidecar last: a crash in between leaves a stale sidecar, which only causes a rebuild.
    std::ofstream meta(sidecar_path(db_path), std::ios::trunc);
    meta.precision(17);
    meta << generation << ' ' << impl_->h.n_chunks << ' ' << checksum(impl_->bytes) << ' '
         << impl_->h.b;
    for (double w : impl_->h.weight) meta << ' ' << w;
    meta << '\n';
    if (!meta) fail("rag lexical index ", sidecar_path(db_path), ": write failed");
}

size_t ImpactIndex::chunk_count() const {
    return impl_->h.n_chunks;
}
size_t ImpactIndex::term_count() const {
    return impl_->h.n_terms;
}
size_t ImpactIndex::posting_count() const {
    return impl_->h.n_postings;
}
size_t ImpactIndex::byte_size() const {
    return impl_->bytes.size();
}

std::vector<ScoredChunk> ImpactIndex::top_k(std::string_view query, size_t limit,
                                            const Bm25Params& params) {
    return impl_->top_k(query, limit, params);
}

// --- MaxScore ----------------------------------------------------------------------------------

namespace {

struct Cursor {
    const Posting* at;
    const Posting* end;
    double idf;
    double upper;  // the most this term adds to any chunk's score
    size_t slot;   // position among the query's matched terms: the order scores are summed in
};

// The first posting at or after chunk, galloping from the current one.
const Posting* seek(const Posting* at, const Posting* end, uint32_t chunk) {
    if (at == end || at->chunk >= chunk) return at;
    size_t step = 1;
    const Posting* lo = at;  // lo->chunk < chunk throughout
    while (static_cast<size_t>(end - lo) > step && lo[step].chunk < chunk) {
        lo += step;
        step *= 2;
    }
    const Posting* hi = static_cast<size_t>(end - lo) > step ? lo + step : end;
    return std::lower_bound(lo + 1, hi, chunk,
                            [](const Posting& p, uint32_t c) { return p.chunk < c; });
}

struct Candidate {
    double score;
    uint32_t chunk;
};

// Better first: higher score, then smaller chunk (= smaller chunk id).
bool better(const Candidate& a, const Candidate& b) {
    return a.score != b.score ? a.score > b.score : a.chunk < b.chunk;
}

}  // namespace

std::vector<ScoredChunk> ImpactIndex::Impl::top_k(std::string_view query, size_t limit,
                                                  const Bm25Params& p) {
    if (limit == 0 || h.n_chunks == 0) return {};
    ensure_bounds(p);
    const std::array<double, kColumns> w = {p.text_weight, p.heading_weight, p.title_weight};
    const double n_rows = static_cast<double>(h.n_chunks);
    std::vector<Cursor> cur;
    for (const auto& q : query_terms(query)) {
        const int64_t t = find(q.term);
        if (t < 0) continue;  // as the FTS5 path: a term no chunk holds is left out
        const Posting* begin = postings + posting_begin[t];
        const Posting* end = postings + posting_begin[t + 1];
        const double idf = bm25_idf(n_rows, static_cast<double>(end - begin));
        cur.push_back({begin, end, idf, saturate(idf, max_tf[size_t(t)], p.k1), cur.size()});
    }
    if (cur.empty()) return {};
    const size_t n = cur.size();
    std::sort(cur.begin(), cur.end(),
              [](const Cursor& a, const Cursor& b) { return a.upper < b.upper; });
    std::vector<double> cum(n);  // cum[i]: the bounds of terms 0..i summed
    for (size_t i = 0; i < n; ++i) cum[i] = cur[i].upper + (i > 0 ? cum[i - 1] : 0.0);

    std::vector<Candidate> heap;  // the worst kept candidate on top
    heap.reserve(limit + 1);
    // A chunk enters only with a score above the k-th (chunks come in id order, so a tie loses).
    // Bounds and sums are rounded in another order than the exact score: cut a hair lower.
    double cut = -1;
    size_t essential = 0;  // terms [0, essential) cannot lift a chunk above the cut on their own
    std::vector<double> part(n, 0.0);
    for (;;) {
        uint32_t chunk = std::numeric_limits<uint32_t>::max();
        for (size_t i = essential; i < n; ++i)
            if (cur[i].at != cur[i].end) chunk = std::min(chunk, cur[i].at->chunk);
        if (chunk == std::numeric_limits<uint32_t>::max()) break;
        if (chunk >= h.n_chunks) fail("rag lexical index: damaged posting");
        const Norms nm = norms(chunk, p.b, w);
        std::fill(part.begin(), part.end(), 0.0);
        double sum = 0;
        for (size_t i = essential; i < n; ++i) {
            if (cur[i].at != cur[i].end && cur[i].at->chunk == chunk) {
                part[cur[i].slot] = saturate(cur[i].idf, pseudo_tf(cur[i].at->tf, nm), p.k1);
                sum += part[cur[i].slot];
                ++cur[i].at;
            }
        }
        bool pruned = false;
        for (size_t i = essential; i-- > 0;) {
            if (sum + cum[i] <= cut) {
                pruned = true;
                break;
            }
            cur[i].at = seek(cur[i].at, cur[i].end, chunk);
            if (cur[i].at != cur[i].end && cur[i].at->chunk == chunk) {
                part[cur[i].slot] = saturate(cur[i].idf, pseudo_tf(cur[i].at->tf, nm), p.k1);
                sum += part[cur[i].slot];
            }
        }
        if (pruned) continue;
        // The exact score: the terms summed in query order, as pocket_bm25 does.
        double score = 0;
        for (double s : part) score += s;
        const Candidate c{score, chunk};
        if (heap.size() < limit) {
            heap.push_back(c);
            std::push_heap(heap.begin(), heap.end(), better);
        } else if (better(c, heap.front())) {
            std::pop_heap(heap.begin(), heap.end(), better);
            heap.back() = c;
            std::push_heap(heap.begin(), heap.end(), better);
        } else {
            continue;
        }
        if (heap.size() == limit) {
            cut = heap.front().score * (1 - 1e-12);
            while (essential < n && cum[essential] <= cut) ++essential;
        }
    }
    std::sort(heap.begin(), heap.end(), better);
    std::vector<ScoredChunk> out;
    out.reserve(heap.size());
    for (const auto& c : heap) out.push_back({ids[c.chunk], c.score});
    return out;
}

}  // namespace pocket::rag
