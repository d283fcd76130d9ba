// A read-only index from token text to id over a table of texts that outlives it (a Vocab's
// tokens): open addressing over 8-byte slots, so building it copies no text and a lookup touches
// one slot and one token. Used where a load does hundreds of thousands of lookups (BPE merges,
// lookup_merges below).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <future>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "pocket/tokenizer/vocab.h"

namespace pocket::tokenizer {

// A fast hash for short texts (token texts are a few bytes): 8 bytes per multiply-xorshift step.
inline uint64_t hash_text(std::string_view s) {
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (s.size() * 0xD6E8FEB86659FD93ull);
    size_t i = 0;
    for (; i + 8 <= s.size(); i += 8) {
        uint64_t w;
        std::memcpy(&w, s.data() + i, 8);
        h = (h ^ w) * 0xFF51AFD7ED558CCDull;
        h ^= h >> 32;
    }
    uint64_t w = 0;
    if (i < s.size()) std::memcpy(&w, s.data() + i, s.size() - i);
    h = (h ^ w) * 0xC4CEB9FE1A85EC53ull;
    h ^= h >> 29;
    h *= 0x94D049BB133111EBull;
    return h ^ (h >> 32);
}

class TextIndex {
  public:
    // Indexes tokens[0..n); a text given twice keeps its lowest id. `tokens` must stay alive and
    // unchanged while the index is used.
    explicit TextIndex(const std::vector<TokenData>& tokens) : tokens_(tokens) {
        size_t capacity = 16;
        while (capacity < 2 * tokens.size()) capacity *= 2;
        slots_.assign(capacity, 0);
        mask_ = capacity - 1;
        for (size_t id = 0; id < tokens.size(); ++id) {
            const std::string_view text = tokens[id].text;
            const uint64_t h = hash_text(text);
            size_t i = h & mask_;
            for (; slots_[i] != 0; i = (i + 1) & mask_) {
                if (tag(slots_[i]) == tag_of(h) && tokens[id_of(slots_[i])].text == text) break;
            }
            if (slots_[i] == 0) slots_[i] = (uint64_t{tag_of(h)} << 32) | (id + 1);
        }
    }

    TokenId find(std::string_view text) const { return find(text, hash_text(text)); }

    // find() split in steps for batches of lookups, so that the cache misses of many lookups
    // overlap: hash each text, prefetch() its slot, touch() it (which prefetches the token the
    // slot names), then find(text, hash).
    void prefetch(uint64_t h) const { __builtin_prefetch(&slots_[h & mask_]); }
    void touch(uint64_t h) const {
        const uint64_t s = slots_[h & mask_];
        if (s != 0 && tag(s) == tag_of(h)) __builtin_prefetch(&tokens_[id_of(s)]);
    }

    TokenId find(std::string_view text, uint64_t h) const {
        for (size_t i = h & mask_; slots_[i] != 0; i = (i + 1) & mask_) {
            const uint64_t s = slots_[i];
            if (tag(s) == tag_of(h) && tokens_[id_of(s)].text == text) {
                return static_cast<TokenId>(id_of(s));
            }
        }
        return kNoToken;
    }

  private:
    // A slot holds the hash's upper half (checked before the text) and id + 1 (0 = empty).
    static uint32_t tag_of(uint64_t h) { return static_cast<uint32_t>(h >> 32); }
    static uint32_t tag(uint64_t slot) { return static_cast<uint32_t>(slot >> 32); }
    static size_t id_of(uint64_t slot) { return static_cast<size_t>(slot & 0xFFFFFFFFu) - 1; }

    const std::vector<TokenData>& tokens_;
    std::vector<uint64_t> slots_;
    size_t mask_ = 0;
};

struct MergeIds {
    TokenId left, right, result;  // kNoToken where the text is not a token
};

// The ids of left, right and left+right for every merge (pairs of strings or string views), in
// order. Three lookups per merge (over a million for Gemma 3) made this the largest step of a
// load. They go in blocks whose memory accesses are all issued before any is waited for (a
// lookup is two dependent cache misses: slot, then token); and being independent, with two or
// more cores the second half runs on another thread.
template <typename Pairs>
std::vector<MergeIds> lookup_merges(const TextIndex& index, const Pairs& merges) {
    std::vector<MergeIds> ids(merges.size());
    const auto resolve = [&](size_t begin, size_t end) {
        constexpr size_t kBlock = 32;
        std::string joined;
        size_t joined_end[kBlock];
        std::string_view texts[3 * kBlock];
        uint64_t hashes[3 * kBlock];
        for (size_t b = begin; b < end; b += kBlock) {
            const size_t count = std::min(kBlock, end - b);
            joined.clear();
            for (size_t k = 0; k < count; ++k) {
                joined.append(merges[b + k].first);
                joined.append(merges[b + k].second);
                joined_end[k] = joined.size();
            }
            for (size_t k = 0; k < count; ++k) {
                const size_t start = k == 0 ? 0 : joined_end[k - 1];
                texts[3 * k] = merges[b + k].first;
                texts[3 * k + 1] = merges[b + k].second;
                texts[3 * k + 2] = std::string_view(joined).substr(start, joined_end[k] - start);
            }
            for (size_t k = 0; k < 3 * count; ++k) {
                hashes[k] = hash_text(texts[k]);
                index.prefetch(hashes[k]);
            }
            for (size_t k = 0; k < 3 * count; ++k) index.touch(hashes[k]);
            for (size_t k = 0; k < count; ++k) {
                ids[b + k] = {index.find(texts[3 * k], hashes[3 * k]),
                              index.find(texts[3 * k + 1], hashes[3 * k + 1]),
                              index.find(texts[3 * k + 2], hashes[3 * k + 2])};
            }
        }
    };
    const size_t n = merges.size();
    if (n >= 65536 && std::thread::hardware_concurrency() >= 2) {
        auto second_half = std::async(std::launch::async, resolve, n / 2, n);
        resolve(0, n / 2);
        second_half.get();
    } else {
        resolve(0, n);
    }
    return ids;
}

}  // namespace pocket::tokenizer
