#include "pocket/model/kv_cache.h"

#include <algorithm>

#include "pocket/core/error.h"

namespace pocket::model {

KvCache::KvCache(const KvCacheParams& params) : params_(params) {
    if (params_.n_layer <= 0 || params_.n_embd_kv <= 0 || params_.capacity <= 0 ||
        params_.page_tokens <= 0) {
        fail("invalid KV cache parameters");
    }
    const int64_t n_pages = (params_.capacity + params_.page_tokens - 1) / params_.page_tokens;
    n_values_ = static_cast<size_t>(n_pages * params_.page_tokens * params_.n_layer * 2 *
                                    params_.n_embd_kv);
    storage_ = std::make_unique_for_overwrite<f16_t[]>(n_values_);
    // Hand out low pages first so a short session touches only the start of the buffer.
    for (int64_t p = n_pages - 1; p >= 0; --p) free_pages_.push_back(p);
}

int64_t KvCache::length(SeqId seq) const {
    auto it = sequences_.find(seq);
    return it == sequences_.end() ? 0 : it->second.length;
}

void KvCache::grow(SeqId seq, int64_t n_positions) {
    Sequence& s = sequences_[seq];
    const auto pages_needed =
        static_cast<size_t>((n_positions + params_.page_tokens - 1) / params_.page_tokens);
    if (pages_needed > s.pages.size()) {
        const size_t extra = pages_needed - s.pages.size();
        if (extra > free_pages_.size()) {
            fail("context is full: sequence ", seq, " needs ", n_positions, " positions, ",
                 length(seq) + free_positions(), " are available (raise --ctx-size)");
        }
        for (size_t i = 0; i < extra; ++i) {
            s.pages.push_back(free_pages_.back());
            free_pages_.pop_back();
        }
    }
    s.length = std::max(s.length, n_positions);
}

void KvCache::truncate(SeqId seq, int64_t n_positions) {
    auto it = sequences_.find(seq);
    if (it == sequences_.end()) return;
    Sequence& s = it->second;
    s.length = std::min(s.length, std::max<int64_t>(n_positions, 0));
    const auto pages_kept =
        static_cast<size_t>((s.length + params_.page_tokens - 1) / params_.page_tokens);
    while (s.pages.size() > pages_kept) {
        free_pages_.push_back(s.pages.back());
        s.pages.pop_back();
    }
}

void KvCache::clear(SeqId seq) {
    truncate(seq, 0);
    sequences_.erase(seq);
}

void KvCache::clear_all() {
    while (!sequences_.empty()) clear(sequences_.begin()->first);
}

const KvCache::Sequence& KvCache::sequence(SeqId seq) const {
    auto it = sequences_.find(seq);
    if (it == sequences_.end()) fail("KV cache has no sequence ", seq);
    return it->second;
}

f16_t* KvCache::page_base(int64_t page, int64_t layer, int kv) const {
    const int64_t page_values = params_.page_tokens * params_.n_embd_kv;
    const int64_t offset = ((page * params_.n_layer + layer) * 2 + kv) * page_values;
    return storage_.get() + offset;
}

f16_t* KvCache::entry(int64_t layer, SeqId seq, int64_t pos, int kv) const {
    const Sequence& s = sequence(seq);
    if (pos < 0 || pos >= s.length) fail("KV cache position ", pos, " outside sequence ", seq);
    const int64_t page = s.pages[static_cast<size_t>(pos / params_.page_tokens)];
    return page_base(page, layer, kv) + (pos % params_.page_tokens) * params_.n_embd_kv;
}

f16_t* KvCache::key(int64_t layer, SeqId seq, int64_t pos) {
    return entry(layer, seq, pos, 0);
}
f16_t* KvCache::value(int64_t layer, SeqId seq, int64_t pos) {
    return entry(layer, seq, pos, 1);
}
const f16_t* KvCache::key(int64_t layer, SeqId seq, int64_t pos) const {
    return entry(layer, seq, pos, 0);
}
const f16_t* KvCache::value(int64_t layer, SeqId seq, int64_t pos) const {
    return entry(layer, seq, pos, 1);
}

}  // namespace pocket::model
