// The C API's embedders, local document index and safety guard (include/pocket.h).
#include <algorithm>
#include <cstring>
#include <filesystem>

#include "capi/capi_internal.h"
#include "pocket/rag/indexer.h"

using namespace pocket;
using capi::guarded;
using capi::require;
using capi::StatusError;

extern "C" {

pocket_status pocket_embedder_load(const char* path, pocket_embedder** out_embedder) {
    return guarded(POCKET_ERR_FORMAT, [&] {
        require(out_embedder, "out_embedder");
        *out_embedder = nullptr;
        capi::require_readable(path, "embedding model");
        auto handle = std::make_unique<pocket_embedder>();
        handle->embedder = embed::open_embedder(path);
        handle->path = std::filesystem::absolute(path).lexically_normal().string();
        *out_embedder = handle.release();
        return POCKET_OK;
    });
}

void pocket_embedder_free(pocket_embedder* embedder) {
    delete embedder;
}

size_t pocket_embedder_dim(const pocket_embedder* embedder) {
    return embedder == nullptr ? 0 : embedder->embedder->dim();
}

pocket_status pocket_embed(const pocket_embedder* embedder, const char* text, float* out,
                           size_t capacity) {
    return guarded(POCKET_ERR_INTERNAL, [&] {
        require(embedder, "embedder");
        require(text, "text");
        require(out, "out");
        const size_t dim = embedder->embedder->dim();
        if (capacity < dim) {
            throw StatusError(
                POCKET_ERR_BUFFER_TOO_SMALL,
                cat("the embedding has ", dim, " values; the buffer holds ", capacity));
        }
        const auto vector = embedder->embedder->embed(text);
        std::copy(vector.begin(), vector.end(), out);
        return POCKET_OK;
    });
}

pocket_status pocket_index_open(const char* db_path, const pocket_embedder* embedder,
                                pocket_index** out_index) {
    return guarded(POCKET_ERR_FORMAT, [&] {
        require(out_index, "out_index");
        *out_index = nullptr;
        require(db_path, "db_path");
        auto handle = std::make_unique<pocket_index>();
        handle->store = rag::Store::open(db_path);
        handle->embedder = embedder;
        *out_index = handle.release();
        return POCKET_OK;
    });
}

void pocket_index_free(pocket_index* index) {
    delete index;
}

pocket_status pocket_index_add_folder(pocket_index* index, const char* folder, size_t* n_chunks) {
    return guarded(POCKET_ERR_INTERNAL, [&] {
        require(index, "index");
        capi::require_readable(folder, "folder");
        rag::IndexOptions options;
        if (index->embedder != nullptr) {
            options.embedder = index->embedder->embedder.get();
            options.embed_model = index->embedder->path;
        }
        index->retriever.reset();  // its vectors and statistics are about to change
        const auto report = rag::index_folder(*index->store, folder, options);
        if (n_chunks != nullptr) *n_chunks = report.chunks_written;
        return POCKET_OK;
    });
}

pocket_status pocket_index_search(pocket_index* index, const char* query, int k,
                                  pocket_search_mode mode, pocket_search_hit* hits, size_t capacity,
                                  size_t* n_hits) {
    return guarded(POCKET_ERR_INTERNAL, [&] {
        require(index, "index");
        require(query, "query");
        require(n_hits, "n_hits");
        *n_hits = 0;
        if (hits == nullptr && capacity > 0) require(hits, "hits");
        if (k <= 0) {
            throw StatusError(POCKET_ERR_INVALID_ARGUMENT, cat("k must be positive, got ", k));
        }
        rag::SearchOptions options;
        options.k = static_cast<int>(std::min<size_t>(static_cast<size_t>(k), capacity));
        switch (mode) {
            case POCKET_SEARCH_HYBRID:
                options.mode = rag::SearchMode::Hybrid;
                break;
            case POCKET_SEARCH_BM25:
                options.mode = rag::SearchMode::Bm25;
                break;
            case POCKET_SEARCH_VECTOR:
                options.mode = rag::SearchMode::Vector;
                break;
            default:
                throw StatusError(POCKET_ERR_INVALID_ARGUMENT,
                                  cat("unknown search mode ", static_cast<int>(mode)));
        }
        if (options.k == 0) return POCKET_OK;
        if (!index->retriever) {
            const embed::Embedder* embedder =
                index->embedder != nullptr ? index->embedder->embedder.get() : nullptr;
            index->retriever = std::make_unique<rag::Retriever>(*index->store, embedder);
        }
        index->hits = index->retriever->search(query, options);
        const size_t n = std::min(index->hits.size(), capacity);
        for (size_t i = 0; i < n; ++i) {
            const auto& h = index->hits[i];
            hits[i].path = h.document.path.c_str();
            hits[i].heading = h.chunk.heading.c_str();
            hits[i].text = h.chunk.text.c_str();
            hits[i].page = h.chunk.page;
            hits[i].score = h.score;
            hits[i].relevance = h.relevance;
        }
        *n_hits = n;
        return POCKET_OK;
    });
}

pocket_status pocket_guard_load(const char* path, pocket_guard** out_guard) {
    return guarded(POCKET_ERR_FORMAT, [&] {
        require(out_guard, "out_guard");
        *out_guard = nullptr;
        auto handle = std::make_unique<pocket_guard>();
        if (path == nullptr || *path == '\0') {
            handle->guard = safety::load_guard();
        } else {
            capi::require_readable(path, "guard model");
            handle->guard = safety::load_guard(path);
        }
        *out_guard = handle.release();
        return POCKET_OK;
    });
}

void pocket_guard_free(pocket_guard* guard) {
    delete guard;
}

pocket_status pocket_guard_check(const pocket_guard* guard, const char* prompt,
                                 const char* response, pocket_guard_verdict* verdict) {
    return guarded(POCKET_ERR_INTERNAL, [&] {
        require(guard, "guard");
        require(prompt, "prompt");
        require(verdict, "verdict");
        safety::GuardInput input{prompt, std::nullopt};
        if (response != nullptr) input.response = std::string_view(response);
        const auto v = guard->guard->check(input);
        verdict->safe = v.safe ? 1 : 0;
        verdict->score = v.score;
        verdict->categories = 0;
        for (int c : v.categories) {
            if (c >= 1 && c <= 32) verdict->categories |= uint32_t{1} << (c - 1);
        }
        return POCKET_OK;
    });
}

}  // extern "C"
