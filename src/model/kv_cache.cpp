#include "pocket/model/kv_cache.h"

#include <algorithm>
#include <cctype>
#include <numeric>
#include <string>

#include "kernels/attention.h"
#include "kernels/kernels.h"
#include "pocket/core/error.h"

namespace pocket::model {

bool kv_cache_type_supported(DType type) {
    return type == DType::F16 || type == DType::Q8_0 || type == DType::Q4_0;
}

DType kv_cache_type_from_name(std::string_view name) {
    std::string lower(name);
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower == "f16") return DType::F16;
    if (lower == "q8_0") return DType::Q8_0;
    if (lower == "q4_0") return DType::Q4_0;
    fail("unknown KV cache type '", name, "': use f16, q8_0 or q4_0");
}

namespace {

size_t kv_row_bytes(DType type, int64_t n_embd_kv, const char* what) {
    if (!kv_cache_type_supported(type)) {
        fail("the KV cache cannot store ", what, " as ", dtype_name(type),
             ": use f16, q8_0 or q4_0");
    }
    // Blocks run along the whole row (all KV heads), as in llama.cpp's cache; a row that does
    // not fill whole blocks has no quantized form, and padding it would change what attention
    // reads, so it is an error rather than a silent change of type.
    const auto bytes = row_bytes(type, static_cast<uint64_t>(n_embd_kv));
    if (!bytes) {
        fail("the KV cache cannot store ", what, " as ", dtype_name(type), ": rows of ", n_embd_kv,
             " values (n_head_kv * head_dim) are not a multiple of its block of ",
             traits(type).block_size, " (use f16)");
    }
    return static_cast<size_t>(*bytes);
}

}  // namespace

KvCache::KvCache(const KvCacheParams& params) : params_(params) {
    if (params_.n_layer <= 0 || params_.n_embd_kv <= 0 || params_.capacity <= 0 ||
        params_.page_tokens <= 0) {
        fail("invalid KV cache parameters");
    }
    key_row_bytes_ = kv_row_bytes(params_.type_k, params_.n_embd_kv, "keys");
    value_row_bytes_ = kv_row_bytes(params_.type_v, params_.n_embd_kv, "values");
    const int64_t n_pages = (params_.capacity + params_.page_tokens - 1) / params_.page_tokens;
    n_bytes_ = static_cast<size_t>(n_pages * params_.page_tokens) * bytes_per_position();
    storage_ = std::make_unique_for_overwrite<std::byte[]>(n_bytes_);
    refs_.assign(static_cast<size_t>(n_pages), 0);
    page_fill_.assign(static_cast<size_t>(n_pages), 0);
    // Hand out low pages first so a short session touches only the start of the buffer.
    for (int64_t p = n_pages - 1; p >= 0; --p) free_pages_.push_back(p);
}

int64_t KvCache::length(SeqId seq) const {
    auto it = sequences_.find(seq);
    return it == sequences_.end() ? 0 : it->second.length;
}

int64_t KvCache::free_positions() const {
    return std::min(params_.capacity - used_, free_pages() * params_.page_tokens);
}

int64_t KvCache::page_fill(const Sequence& s, size_t index) const {
    const int64_t first = static_cast<int64_t>(index) * params_.page_tokens;
    return std::clamp<int64_t>(s.length - first, 0, params_.page_tokens);
}

void KvCache::check_length(SeqId seq, int64_t n_positions) const {
    // The cheap, clear error first: whatever else holds the cache, this can never fit.
    if (n_positions > params_.capacity) {
        fail("sequence ", seq, " would hold ", n_positions, " positions but the context holds ",
             params_.capacity);
    }
}

KvCache::Growth KvCache::growth(SeqId seq, int64_t n_positions) const {
    auto it = sequences_.find(seq);
    if (it == sequences_.end()) {
        if (n_positions <= 0) return {};
        return {(n_positions + params_.page_tokens - 1) / params_.page_tokens, n_positions, false};
    }
    const Sequence& s = it->second;
    if (n_positions <= s.length) return {};
    Growth g;
    const auto pages_needed = (n_positions + params_.page_tokens - 1) / params_.page_tokens;
    g.new_pages = pages_needed - static_cast<int64_t>(s.pages.size());
    g.positions = n_positions - s.length;
    // A sequence holds exactly the pages its length needs, so only its last page can be partly
    // filled, and new positions land there first.
    const int64_t in_last = s.length % params_.page_tokens;
    if (in_last != 0 && refs_[static_cast<size_t>(s.pages.back())] > 1) {
        g.copy_last = true;
        g.new_pages += 1;
        // The copy's rows are new positions; the shared original may hold fewer afterwards, so
        // this can overestimate (grow() recounts exactly).
        g.positions += in_last;
    }
    return g;
}

void KvCache::check_grow(std::span<const std::pair<SeqId, int64_t>> targets) const {
    int64_t pages = 0, positions = 0;
    for (size_t i = 0; i < targets.size(); ++i) {
        const auto [seq, n] = targets[i];
        check_length(seq, n);
        const Growth g = growth(seq, n);
        pages += g.new_pages;
        positions += g.positions;
        if (!g.copy_last) continue;
        // When every sharer of a page writes into it, the last one to do so finds it no longer
        // shared and copies nothing: count that saving once per page.
        const int64_t page = sequences_.at(seq).pages.back();
        int64_t writers = 0;
        bool first = true;
        for (size_t j = 0; j < targets.size(); ++j) {
            const auto [other, m] = targets[j];
            auto it = sequences_.find(other);
            if (it == sequences_.end() || it->second.pages.empty() ||
                it->second.pages.back() != page || m <= it->second.length ||
                it->second.length % params_.page_tokens == 0) {
                continue;
            }
            ++writers;
            if (j < i) first = false;
        }
        if (first && writers == refs_[static_cast<size_t>(page)]) {
            pages -= 1;
            positions -= sequences_.at(seq).length % params_.page_tokens;
        }
    }
    if (used_ + positions > params_.capacity || pages > free_pages()) {
        fail("context is full: the batch needs ", positions, " more positions, ", free_positions(),
             " are free (raise the context size)");
    }
}

void KvCache::grow(SeqId seq, int64_t n_positions) {
    check_length(seq, n_positions);
    const Growth g = growth(seq, n_positions);
    if (used_ + g.positions > params_.capacity || g.new_pages > free_pages()) {
        fail("context is full: sequence ", seq, " needs ", n_positions, " positions, ",
             length(seq) + free_positions(), " are available (raise the context size)");
    }
    Sequence& s = sequences_[seq];
    if (n_positions <= s.length) return;
    const auto first_written = static_cast<size_t>(s.length / params_.page_tokens);
    if (g.copy_last) {
        const int64_t shared = s.pages.back();
        const int64_t own = take_page();
        copy_page(shared, own, s.length % params_.page_tokens);
        s.pages.back() = own;
        --refs_[static_cast<size_t>(shared)];
    }
    const auto pages_needed =
        static_cast<size_t>((n_positions + params_.page_tokens - 1) / params_.page_tokens);
    while (s.pages.size() < pages_needed) s.pages.push_back(take_page());
    s.length = n_positions;
    if (g.copy_last) {
        recount();  // the shared page's fill may have dropped with this sequence gone from it
        return;
    }
    // The pages written are this sequence's alone, so their fill is its fill.
    for (size_t i = first_written; i < s.pages.size(); ++i) {
        int64_t& fill = page_fill_[static_cast<size_t>(s.pages[i])];
        const int64_t now = page_fill(s, i);
        used_ += now - fill;
        fill = now;
    }
}

void KvCache::truncate(SeqId seq, int64_t n_positions) {
    auto it = sequences_.find(seq);
    if (it == sequences_.end()) return;
    Sequence& s = it->second;
    s.length = std::min(s.length, std::max<int64_t>(n_positions, 0));
    const auto pages_kept =
        static_cast<size_t>((s.length + params_.page_tokens - 1) / params_.page_tokens);
    while (s.pages.size() > pages_kept) {
        release_page(s.pages.back());
        s.pages.pop_back();
    }
    recount();
}

void KvCache::clear(SeqId seq) {
    truncate(seq, 0);
    sequences_.erase(seq);
}

void KvCache::clear_all() {
    while (!sequences_.empty()) clear(sequences_.begin()->first);
}

void KvCache::fork(SeqId src, SeqId dst) {
    if (src == dst) return;
    clear(dst);
    auto it = sequences_.find(src);
    if (it == sequences_.end()) return;
    Sequence copy = it->second;  // before the insertion below may rehash
    for (int64_t page : copy.pages) ++refs_[static_cast<size_t>(page)];
    sequences_[dst] = std::move(copy);
    // No recount: dst holds exactly the positions src holds, which are counted already.
}

int64_t KvCache::take_page() {
    const int64_t page = free_pages_.back();
    free_pages_.pop_back();
    refs_[static_cast<size_t>(page)] = 1;
    return page;
}

void KvCache::release_page(int64_t page) {
    if (--refs_[static_cast<size_t>(page)] == 0) free_pages_.push_back(page);
}

void KvCache::copy_page(int64_t from, int64_t to, int64_t rows) {
    for (int64_t layer = 0; layer < params_.n_layer; ++layer) {
        for (int kv = 0; kv < 2; ++kv) {
            const size_t row = kv == 0 ? key_row_bytes_ : value_row_bytes_;
            std::copy_n(page_base(from, layer, kv), static_cast<size_t>(rows) * row,
                        page_base(to, layer, kv));
        }
    }
}

void KvCache::recount() {
    std::fill(page_fill_.begin(), page_fill_.end(), 0);
    for (const auto& [seq, s] : sequences_) {
        for (size_t i = 0; i < s.pages.size(); ++i) {
            int64_t& fill = page_fill_[static_cast<size_t>(s.pages[i])];
            fill = std::max(fill, page_fill(s, i));
        }
    }
    used_ = std::accumulate(page_fill_.begin(), page_fill_.end(), int64_t{0});
}

void KvCache::check_run_length(SeqId seq, const Sequence& s, int64_t n_positions) {
    if (n_positions > s.length) {
        fail("KV cache: ", n_positions, " positions of sequence ", seq, " requested, it holds ",
             s.length);
    }
}

const KvCache::Sequence& KvCache::sequence(SeqId seq) const {
    auto it = sequences_.find(seq);
    if (it == sequences_.end()) fail("KV cache has no sequence ", seq);
    return it->second;
}

std::byte* KvCache::page_base(int64_t page, int64_t layer, int kv) const {
    const auto tokens = static_cast<size_t>(params_.page_tokens);
    const size_t layer_bytes = tokens * (key_row_bytes_ + value_row_bytes_);
    const size_t offset = (static_cast<size_t>(page) * static_cast<size_t>(params_.n_layer) +
                           static_cast<size_t>(layer)) *
                              layer_bytes +
                          (kv == 0 ? 0 : tokens * key_row_bytes_);
    return storage_.get() + offset;
}

std::byte* KvCache::entry(int64_t layer, SeqId seq, int64_t pos, int kv) const {
    const Sequence& s = sequence(seq);
    if (pos < 0 || pos >= s.length) fail("KV cache position ", pos, " outside sequence ", seq);
    if (layer < 0 || layer >= params_.n_layer) fail("KV cache has no layer ", layer);
    const int64_t page = s.pages[static_cast<size_t>(pos / params_.page_tokens)];
    const size_t row = kv == 0 ? key_row_bytes_ : value_row_bytes_;
    return page_base(page, layer, kv) + static_cast<size_t>(pos % params_.page_tokens) * row;
}

f16_t* KvCache::f16_entry(std::byte* row, int kv) const {
    const DType type = kv == 0 ? params_.type_k : params_.type_v;
    if (type != DType::F16) {
        fail("the KV cache stores ", kv == 0 ? "keys" : "values", " as ", dtype_name(type),
             ": read them through key_row()/value_row() and write them with store_key()/"
             "store_value()");
    }
    return reinterpret_cast<f16_t*>(row);
}

std::byte* KvCache::writable_entry(int64_t layer, SeqId seq, int64_t pos, int kv) {
    std::byte* row = entry(layer, seq, pos, kv);
    // A row another sequence can see must not change under it: grow() copies such a page first.
    const int64_t page = sequence(seq).pages[static_cast<size_t>(pos / params_.page_tokens)];
    if (refs_[static_cast<size_t>(page)] > 1) {
        fail("KV cache position ", pos, " of sequence ", seq,
             " is shared with another sequence and cannot be written");
    }
    return row;
}

f16_t* KvCache::key(int64_t layer, SeqId seq, int64_t pos) {
    return f16_entry(writable_entry(layer, seq, pos, 0), 0);
}
f16_t* KvCache::value(int64_t layer, SeqId seq, int64_t pos) {
    return f16_entry(writable_entry(layer, seq, pos, 1), 1);
}
const f16_t* KvCache::key(int64_t layer, SeqId seq, int64_t pos) const {
    return f16_entry(entry(layer, seq, pos, 0), 0);
}
const f16_t* KvCache::value(int64_t layer, SeqId seq, int64_t pos) const {
    return f16_entry(entry(layer, seq, pos, 1), 1);
}

const std::byte* KvCache::key_row(int64_t layer, SeqId seq, int64_t pos) const {
    return entry(layer, seq, pos, 0);
}
const std::byte* KvCache::value_row(int64_t layer, SeqId seq, int64_t pos) const {
    return entry(layer, seq, pos, 1);
}

namespace {

void store_row(DType type, std::span<const float> row, int64_t n_embd_kv, std::byte* out) {
    if (static_cast<int64_t>(row.size()) != n_embd_kv) {
        fail("KV cache rows hold ", n_embd_kv, " values, ", row.size(), " given");
    }
    const auto n = static_cast<int64_t>(row.size());
    if (type == DType::F16) {
        // The attention kernels' rounding (nearest even), as the cache has always been written.
        kernels::attention_ops().to_f16(row.data(), reinterpret_cast<f16_t*>(out), n);
    } else {
        // from_float, not from_float_ref: for Q8_0 that is llama.cpp's run-time quantizer
        // (round half to even), the one its set_rows uses to write a quantized cache.
        kernels::ops(type).from_float(row.data(), out, n);
    }
}

}  // namespace

void KvCache::store_key(int64_t layer, SeqId seq, int64_t pos, std::span<const float> row) {
    store_row(params_.type_k, row, params_.n_embd_kv, writable_entry(layer, seq, pos, 0));
}
void KvCache::store_value(int64_t layer, SeqId seq, int64_t pos, std::span<const float> row) {
    store_row(params_.type_v, row, params_.n_embd_kv, writable_entry(layer, seq, pos, 1));
}

}  // namespace pocket::model
