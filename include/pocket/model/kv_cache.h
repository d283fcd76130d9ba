// Key/value cache for several independent sequences.
//
// Memory is split into pages of `page_tokens` positions; each page holds the keys and values of
// every layer for those positions. A sequence owns a list of pages, so sequences can grow, be
// cleared or truncated independently (the server's continuous batching needs exactly that)
// without moving other sequences' data. Entries are stored as F16 (llama.cpp's default) or, to
// save memory, quantized as Q8_0 or Q4_0 (GGUF blocks of 32 values along the whole row of
// n_embd_kv values, as llama.cpp's --cache-type-k/--cache-type-v), the keys and the values each
// with their own type. Quantized rows are written through store_key()/store_value(), which
// quantize once, when the position is computed.
//
// Pages are reference-counted: fork() lets a sequence share another's pages (n completions of
// one prompt, a server's prompt cache) and a shared page is copied before anything is written
// into it (copy-on-write). `capacity` is a budget of positions honoured exactly, not rounded up
// to pages: the positions held by all sequences together (a shared position counts once) never
// exceed it, so no sequence is ever longer than the buffers its owner sized for `capacity`.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "pocket/core/dtype.h"
#include "pocket/core/fp16.h"

namespace pocket::model {

using SeqId = int32_t;

struct KvCacheParams {
    int64_t n_layer = 0;
    int64_t n_embd_kv = 0;  // n_head_kv * head_dim
    int64_t capacity = 0;   // total positions over all sequences
    int64_t page_tokens = 64;
    // Storage of the keys and of the values: F16, Q8_0 or Q4_0. The quantized types need
    // n_embd_kv to be a multiple of 32 (their block); the constructor says so otherwise.
    DType type_k = DType::F16;
    DType type_v = DType::F16;
};

// "f16", "q8_0", "q4_0" (llama.cpp's --cache-type names, any case) -> the type; throws
// pocket::Error naming the accepted names for anything else.
DType kv_cache_type_from_name(std::string_view name);
// Whether the cache can store `type`.
bool kv_cache_type_supported(DType type);

class KvCache {
  public:
    explicit KvCache(const KvCacheParams& params);

    const KvCacheParams& params() const { return params_; }
    int64_t capacity() const { return params_.capacity; }
    int64_t length(SeqId seq) const;  // positions stored for `seq` (0 if unknown)
    // Positions held by all sequences, each stored position counted once however many
    // sequences share it.
    int64_t used_positions() const { return used_; }
    // Positions a new sequence could take: bounded by the capacity and by the free pages.
    int64_t free_positions() const;
    int64_t free_pages() const { return static_cast<int64_t>(free_pages_.size()); }
    DType type_k() const { return params_.type_k; }
    DType type_v() const { return params_.type_v; }
    // Bytes of one stored row (n_embd_kv values) of keys / of values.
    size_t key_row_bytes() const { return key_row_bytes_; }
    size_t value_row_bytes() const { return value_row_bytes_; }
    // Bytes of keys and values one position takes over all layers.
    size_t bytes_per_position() const {
        return static_cast<size_t>(params_.n_layer) * (key_row_bytes_ + value_row_bytes_);
    }
    // The whole buffer (every page, used or not: the capacity rounded up to pages).
    size_t bytes_allocated() const { return n_bytes_; }

    // Makes room for `seq` to hold `n_positions` positions in total and records the new length.
    // Throws pocket::Error if the sequence would be longer than the capacity or the cache is
    // full; nothing changes then.
    void grow(SeqId seq, int64_t n_positions);
    // Throws as grow() would if every (sequence, new length) pair grew together (one batch);
    // changes nothing.
    void check_grow(std::span<const std::pair<SeqId, int64_t>> targets) const;
    void truncate(SeqId seq, int64_t n_positions);  // keeps positions [0, n_positions)
    void clear(SeqId seq);
    void clear_all();
    // Makes `dst` a copy of `src` (whatever `dst` held is dropped first) that shares src's pages
    // until one of them writes: cheap, and it uses no positions until the two diverge.
    void fork(SeqId src, SeqId dst);

    // Stores the n_embd_kv values of `row` as the key / value of (layer, seq, pos), converted to
    // the cache's type (F16 rounds to nearest even; Q8_0/Q4_0 quantize with the active
    // instruction set's quantizer, bit-identical to the scalar one). Same rules as key().
    void store_key(int64_t layer, SeqId seq, int64_t pos, std::span<const float> row);
    void store_value(int64_t layer, SeqId seq, int64_t pos, std::span<const float> row);
    // The stored row of (layer, seq, pos), key_row_bytes() / value_row_bytes() long, any type.
    const std::byte* key_row(int64_t layer, SeqId seq, int64_t pos) const;
    const std::byte* value_row(int64_t layer, SeqId seq, int64_t pos) const;

    // F16 caches only (throws for a quantized type): row of n_embd_kv values for
    // (layer, seq, pos); pos < length(seq). The writable rows must belong to a page that `seq`
    // does not share (grow() makes the page it appends into so).
    f16_t* key(int64_t layer, SeqId seq, int64_t pos);
    f16_t* value(int64_t layer, SeqId seq, int64_t pos);
    const f16_t* key(int64_t layer, SeqId seq, int64_t pos) const;
    const f16_t* value(int64_t layer, SeqId seq, int64_t pos) const;

    // Contiguous runs of positions: [first_pos, first_pos + count) live in one page, so attention
    // can walk a sequence page by page.
    struct Run {
        int64_t first_pos;
        int64_t count;
        const f16_t* keys;    // count rows of n_embd_kv; nullptr unless type_k() is F16
        const f16_t* values;  // count rows of n_embd_kv; nullptr unless type_v() is F16
        // The same rows in any type: count rows of key_row_bytes() / value_row_bytes().
        const std::byte* key_data;
        const std::byte* value_data;
    };
    // Calls fn(run) for the positions [0, n_positions) of `seq` in `layer`, in order;
    // n_positions <= length(seq).
    template <typename Fn>
    void for_each_run(int64_t layer, SeqId seq, int64_t n_positions, Fn&& fn) const {
        const Sequence& s = sequence(seq);
        check_run_length(seq, s, n_positions);
        for (int64_t first = 0; first < n_positions; first += params_.page_tokens) {
            const int64_t count = std::min(params_.page_tokens, n_positions - first);
            const int64_t page = s.pages[static_cast<size_t>(first / params_.page_tokens)];
            const std::byte* k = page_base(page, layer, 0);
            const std::byte* v = page_base(page, layer, 1);
            fn(Run{first, count, params_.type_k == DType::F16 ? as_f16(k) : nullptr,
                   params_.type_v == DType::F16 ? as_f16(v) : nullptr, k, v});
        }
    }

  private:
    struct Sequence {
        std::vector<int64_t> pages;
        int64_t length = 0;
    };
    // What growing one sequence to a new length costs.
    struct Growth {
        int64_t new_pages = 0;   // pages taken from the free list (copies included)
        int64_t positions = 0;   // positions added to used_ (a copied page's rows included)
        bool copy_last = false;  // the partly filled last page is shared and must be copied
    };
    Growth growth(SeqId seq, int64_t n_positions) const;
    void check_length(SeqId seq, int64_t n_positions) const;
    static void check_run_length(SeqId seq, const Sequence& s, int64_t n_positions);
    const Sequence& sequence(SeqId seq) const;
    int64_t page_fill(const Sequence& s, size_t index) const;
    std::byte* page_base(int64_t page, int64_t layer, int kv) const;
    std::byte* entry(int64_t layer, SeqId seq, int64_t pos, int kv) const;
    std::byte* writable_entry(int64_t layer, SeqId seq, int64_t pos, int kv);
    f16_t* f16_entry(std::byte* row, int kv) const;  // throws unless that half is F16
    static const f16_t* as_f16(const std::byte* p) { return reinterpret_cast<const f16_t*>(p); }
    int64_t take_page();
    void release_page(int64_t page);
    void copy_page(int64_t from, int64_t to, int64_t rows);
    void recount();  // page_fill_ and used_ from the sequences, after a truncate or fork

    KvCacheParams params_;
    size_t key_row_bytes_ = 0, value_row_bytes_ = 0;
    size_t n_bytes_ = 0;
    // Page p, layer l: page_tokens key rows, then page_tokens value rows. Every row size is even
    // (F16 values, 34-byte Q8_0 and 18-byte Q4_0 blocks), so F16 rows stay 2-byte aligned.
    std::unique_ptr<std::byte[]> storage_;  // left uninitialised: untouched pages cost no memory
    std::vector<int64_t> free_pages_;
    std::vector<int32_t> refs_;       // sequences holding each page
    std::vector<int64_t> page_fill_;  // positions of each page some sequence holds
    int64_t used_ = 0;                // sum of page_fill_
    std::unordered_map<SeqId, Sequence> sequences_;
};

}  // namespace pocket::model
