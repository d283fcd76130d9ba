// The BPE merge loop shared by the GGUF and tokenizer.json tokenizers: adjacent symbols are merged
// lowest rank first (leftmost first on equal ranks) until no listed pair is left.
#pragma once

#include <cstdint>
#include <vector>

#include "pocket/tokenizer/vocab.h"

namespace pocket::tokenizer {

class BpeMerges {
  public:
    // Registers "left + right -> result" with the given priority (lower merges first). A pair that
    // is already registered keeps its first (better) rank.
    void add(TokenId left, TokenId right, TokenId result, int rank);
    size_t size() const { return size_; }
    void reserve(size_t n);

    // Merges `ids` in place. kNoToken entries (characters without a token) never merge.
    void apply(std::vector<TokenId>& ids) const;

  private:
    struct Merge {
        int rank;
        TokenId result;
    };
    static uint64_t key(TokenId left, TokenId right) {
        return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) |
               static_cast<uint32_t>(right);
    }
    const Merge* find(TokenId left, TokenId right) const;
    void rehash(size_t capacity);

    // Open addressing with linear probing, at most half full: one flat array instead of a node
    // per merge, which made loading a 500k-merge vocabulary allocation-bound.
    struct Slot {
        uint64_t key = kEmpty;
        Merge merge{};
    };
    static constexpr uint64_t kEmpty = ~uint64_t{0};  // key(kNoToken, kNoToken), never added
    std::vector<Slot> slots_;
    size_t size_ = 0;
};

}  // namespace pocket::tokenizer
