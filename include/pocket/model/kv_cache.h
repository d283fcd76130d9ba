// Key/value cache for several independent sequences.
//
// Memory is split into pages of `page_tokens` positions; each page holds the keys and values of
// every layer for those positions. A sequence owns a list of pages, so sequences can grow, be
// cleared or truncated independently (the server's continuous batching needs exactly that)
// without moving other sequences' data. Entries are stored as F16, like llama.cpp's default.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <unordered_map>
#include <vector>

#include "pocket/core/fp16.h"

namespace pocket::model {

using SeqId = int32_t;

struct KvCacheParams {
    int64_t n_layer = 0;
    int64_t n_embd_kv = 0;  // n_head_kv * head_dim
    int64_t capacity = 0;   // total positions over all sequences
    int64_t page_tokens = 64;
};

class KvCache {
  public:
    explicit KvCache(const KvCacheParams& params);

    const KvCacheParams& params() const { return params_; }
    int64_t length(SeqId seq) const;  // positions stored for `seq` (0 if unknown)
    int64_t free_positions() const {
        return static_cast<int64_t>(free_pages_.size()) * params_.page_tokens;
    }
    size_t bytes_allocated() const { return n_values_ * sizeof(f16_t); }

    // Makes room for `seq` to hold `n_positions` positions in total and records the new length.
    // Throws pocket::Error if the cache is full; nothing changes then.
    void grow(SeqId seq, int64_t n_positions);
    void truncate(SeqId seq, int64_t n_positions);  // keeps positions [0, n_positions)
    void clear(SeqId seq);
    void clear_all();

    // Row of n_embd_kv values for (layer, seq, pos); pos < length(seq).
    f16_t* key(int64_t layer, SeqId seq, int64_t pos);
    f16_t* value(int64_t layer, SeqId seq, int64_t pos);
    const f16_t* key(int64_t layer, SeqId seq, int64_t pos) const;
    const f16_t* value(int64_t layer, SeqId seq, int64_t pos) const;

    // Contiguous runs of positions: [first_pos, first_pos + count) live in one page, so attention
    // can walk a sequence page by page.
    struct Run {
        int64_t first_pos;
        int64_t count;
        const f16_t* keys;    // count rows of n_embd_kv
        const f16_t* values;  // count rows of n_embd_kv
    };
    // Calls fn(run) for the positions [0, n_positions) of `seq` in `layer`, in order.
    template <typename Fn>
    void for_each_run(int64_t layer, SeqId seq, int64_t n_positions, Fn&& fn) const {
        const auto& pages = sequence(seq).pages;
        for (int64_t first = 0; first < n_positions; first += params_.page_tokens) {
            const int64_t count = std::min(params_.page_tokens, n_positions - first);
            const int64_t page = pages[static_cast<size_t>(first / params_.page_tokens)];
            fn(Run{first, count, page_base(page, layer, 0), page_base(page, layer, 1)});
        }
    }

  private:
    struct Sequence {
        std::vector<int64_t> pages;
        int64_t length = 0;
    };
    const Sequence& sequence(SeqId seq) const;
    f16_t* page_base(int64_t page, int64_t layer, int kv) const;
    f16_t* entry(int64_t layer, SeqId seq, int64_t pos, int kv) const;

    KvCacheParams params_;
    size_t n_values_ = 0;
    std::unique_ptr<f16_t[]> storage_;  // left uninitialised: untouched pages cost no memory
    std::vector<int64_t> free_pages_;
    std::unordered_map<SeqId, Sequence> sequences_;
};

}  // namespace pocket::model
