// Nearest-neighbour search over a store's embeddings (cosine similarity). Holds every vector in
// memory, L2-normalised; small stores are searched exactly, big ones through an HNSW graph
// (hnswlib) persisted beside the database as `<db>.hnsw`. The graph is derived data: a sidecar
// `<db>.hnsw.meta` records the store generation, vector count and dimension it was built from,
// and any mismatch (or a missing or unreadable file) rebuilds it from the database.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "pocket/rag/store.h"

namespace pocket::rag {

struct VectorHit {
    int64_t chunk_id = 0;
    double cosine = 0;
};

class VectorIndex {
  public:
    // Reads every vector of the store. Above hnsw_threshold vectors, k-NN goes through HNSW.
    VectorIndex(const Store& store, size_t hnsw_threshold = 20000);
    ~VectorIndex();
    VectorIndex(const VectorIndex&) = delete;
    VectorIndex& operator=(const VectorIndex&) = delete;

    size_t size() const;
    size_t dim() const;
    bool uses_hnsw() const;
    // The k most similar chunks to query (any norm), best first.
    std::vector<VectorHit> search(std::span<const float> query, size_t k) const;
    // The exact cosine of one stored chunk with query; nullopt when the chunk has no vector.
    std::optional<double> cosine(int64_t chunk_id, std::span<const float> query) const;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// v scaled to unit length (unchanged when all zero).
std::vector<float> normalized(std::span<const float> v);

}  // namespace pocket::rag
