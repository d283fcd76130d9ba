#include "pocket/rag/vector_index.h"

#include <hnswlib/hnswlib.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <unordered_map>

#include "pocket/core/error.h"
#include "pocket/core/thread_pool.h"

namespace pocket::rag {
namespace {

constexpr size_t kHnswM = 16;
constexpr size_t kHnswEfConstruction = 200;
// Search breadth, set once when the graph is ready: hnswlib's setEf() is not thread-safe, and
// searchKnn() widens to k by itself when k is larger.
constexpr size_t kHnswEfSearch = 128;

struct Sidecar {
    int64_t generation = -1;
    int64_t count = -1;
    int64_t dim = -1;
    bool operator==(const Sidecar&) const = default;
};

std::optional<Sidecar> read_sidecar(const std::filesystem::path& p) {
    std::ifstream in(p);
    Sidecar s;
    if (!(in >> s.generation >> s.count >> s.dim)) return std::nullopt;
    return s;
}

}  // namespace

std::vector<float> normalized(std::span<const float> v) {
    double ss = 0;
    for (float x : v) ss += double(x) * x;
    std::vector<float> out(v.begin(), v.end());
    if (ss > 0) {
        const float inv = static_cast<float>(1.0 / std::sqrt(ss));
        for (float& x : out) x *= inv;
    }
    return out;
}

struct VectorIndex::Impl {
    size_t dim = 0;
    std::vector<int64_t> ids;
    std::vector<float> rows;  // ids.size() x dim, unit length
    std::unordered_map<int64_t, size_t> row_of;
    std::unique_ptr<hnswlib::InnerProductSpace> space;
    std::unique_ptr<hnswlib::HierarchicalNSW<float>> hnsw;

    double dot(size_t row, std::span<const float> q) const {
        const float* r = rows.data() + row * dim;
        float s = 0;
        for (size_t i = 0; i < dim; ++i) s += r[i] * q[i];
        return s;
    }

    void load_or_build_hnsw(const Store& store) {
        const auto path = std::filesystem::path(store.path().string() + ".hnsw");
        const auto meta_path = std::filesystem::path(store.path().string() + ".hnsw.meta");
        const Sidecar want{store.generation(), static_cast<int64_t>(ids.size()),
                           static_cast<int64_t>(dim)};
        space = std::make_unique<hnswlib::InnerProductSpace>(dim);
        if (read_sidecar(meta_path) == want && std::filesystem::exists(path)) {
            try {
                hnsw =
                    std::make_unique<hnswlib::HierarchicalNSW<float>>(space.get(), path.string());
                if (hnsw->cur_element_count == ids.size()) {
                    hnsw->setEf(kHnswEfSearch);
                    return;
                }
            } catch (const std::exception&) {
                // Unreadable or truncated: rebuilt below.
            }
        }
        hnsw = std::make_unique<hnswlib::HierarchicalNSW<float>>(space.get(), ids.size(), kHnswM,
                                                                 kHnswEfConstruction);
        // hnswlib's addPoint may run concurrently (it locks per node); the first point goes in
        // alone so that the others find an entry point. A million 128-d vectors take minutes.
        auto add = [this](size_t r) {
            hnsw->addPoint(rows.data() + r * dim, static_cast<hnswlib::labeltype>(ids[r]));
        };
        if (!ids.empty()) add(0);
        ThreadPool::global().parallel_for(static_cast<int64_t>(ids.size()) - 1,
                                          [&](int64_t begin, int64_t end) {
                                              for (int64_t r = begin; r < end; ++r)
                                                  add(static_cast<size_t>(r) + 1);
                                          });
        hnsw->setEf(kHnswEfSearch);
        // Saving is an optimisation: a read-only folder just means rebuilding next time.
        try {
            hnsw->saveIndex(path.string());
            std::ofstream out(meta_path);
            out << want.generation << ' ' << want.count << ' ' << want.dim << '\n';
        } catch (const std::exception&) {
        }
    }
};

VectorIndex::VectorIndex(const Store& store, size_t hnsw_threshold)
    : impl_(std::make_unique<Impl>()) {
    auto& m = *impl_;
    store.for_each_vector([&](int64_t id, std::span<const float> v) {
        if (m.dim == 0) m.dim = v.size();
        if (v.size() != m.dim) {
            fail("rag store ", store.path().string(), ": chunk ", id, " has a vector of ", v.size(),
                 " floats, others ", m.dim);
        }
        const auto n = normalized(v);
        m.row_of[id] = m.ids.size();
        m.ids.push_back(id);
        m.rows.insert(m.rows.end(), n.begin(), n.end());
    });
    if (m.ids.size() > hnsw_threshold) m.load_or_build_hnsw(store);
}

VectorIndex::~VectorIndex() = default;

size_t VectorIndex::size() const {
    return impl_->ids.size();
}
size_t VectorIndex::dim() const {
    return impl_->dim;
}
bool VectorIndex::uses_hnsw() const {
    return impl_->hnsw != nullptr;
}

std::vector<VectorHit> VectorIndex::search(std::span<const float> query, size_t k) const {
    const auto& m = *impl_;
    if (m.ids.empty() || k == 0) return {};
    if (query.size() != m.dim) {
        fail("rag: a query vector of ", query.size(), " floats against a store of ", m.dim);
    }
    const auto q = normalized(query);
    std::vector<VectorHit> hits;
    if (m.hnsw) {
        auto pq = m.hnsw->searchKnn(q.data(), std::min(k, m.ids.size()));
        while (!pq.empty()) {
            hits.push_back({static_cast<int64_t>(pq.top().second), 1.0 - pq.top().first});
            pq.pop();
        }
    } else {
        hits.reserve(m.ids.size());
        for (size_t r = 0; r < m.ids.size(); ++r) hits.push_back({m.ids[r], m.dot(r, q)});
    }
    const auto better = [](const VectorHit& a, const VectorHit& b) {
        return a.cosine != b.cosine ? a.cosine > b.cosine : a.chunk_id < b.chunk_id;
    };
    const size_t n = std::min(k, hits.size());
    std::partial_sort(hits.begin(), hits.begin() + static_cast<std::ptrdiff_t>(n), hits.end(),
                      better);
    hits.resize(n);
    return hits;
}

std::optional<double> VectorIndex::cosine(int64_t chunk_id, std::span<const float> query) const {
    const auto it = impl_->row_of.find(chunk_id);
    if (it == impl_->row_of.end()) return std::nullopt;
    return impl_->dot(it->second, normalized(query));
}

}  // namespace pocket::rag
