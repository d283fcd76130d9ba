#include "bpe_merges.h"

#include <queue>

namespace pocket::tokenizer {

namespace {

size_t slot_of(uint64_t key, size_t mask) {
    // Fibonacci hashing: the ids are small and dense, so spread them over all bits.
    return static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> 20) & mask;
}

}  // namespace

void BpeMerges::reserve(size_t n) {
    size_t capacity = 16;
    while (capacity < 2 * n) capacity *= 2;
    if (capacity > slots_.size()) rehash(capacity);
}

void BpeMerges::rehash(size_t capacity) {
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(capacity, Slot{});
    const size_t mask = capacity - 1;
    for (const Slot& s : old) {
        if (s.key == kEmpty) continue;
        size_t i = slot_of(s.key, mask);
        while (slots_[i].key != kEmpty) i = (i + 1) & mask;
        slots_[i] = s;
    }
}

void BpeMerges::add(TokenId left, TokenId right, TokenId result, int rank) {
    if (left < 0 || right < 0) return;  // kNoToken never merges
    if (2 * (size_ + 1) > slots_.size()) rehash(slots_.empty() ? 16 : 2 * slots_.size());
    const uint64_t k = key(left, right);
    const size_t mask = slots_.size() - 1;
    size_t i = slot_of(k, mask);
    for (; slots_[i].key != kEmpty; i = (i + 1) & mask) {
        if (slots_[i].key == k) return;  // the first (better) rank stays
    }
    slots_[i] = Slot{k, Merge{rank, result}};
    ++size_;
}

const BpeMerges::Merge* BpeMerges::find(TokenId left, TokenId right) const {
    if (left < 0 || right < 0 || slots_.empty()) return nullptr;
    const uint64_t k = key(left, right);
    const size_t mask = slots_.size() - 1;
    for (size_t i = slot_of(k, mask); slots_[i].key != kEmpty; i = (i + 1) & mask) {
        if (slots_[i].key == k) return &slots_[i].merge;
    }
    return nullptr;
}

namespace {

struct Candidate {
    int rank;
    int left;  // index of the left symbol; the right one is its current successor
    TokenId left_id;
    TokenId right_id;
};

struct LaterFirst {
    bool operator()(const Candidate& a, const Candidate& b) const {
        return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
    }
};

}  // namespace

void BpeMerges::apply(std::vector<TokenId>& ids) const {
    const int n = static_cast<int>(ids.size());
    if (n < 2) return;
    std::vector<int> next(static_cast<size_t>(n));
    std::vector<int> prev(static_cast<size_t>(n));
    std::vector<bool> alive(static_cast<size_t>(n), true);
    for (int i = 0; i < n; ++i) {
        next[static_cast<size_t>(i)] = i + 1 < n ? i + 1 : -1;
        prev[static_cast<size_t>(i)] = i - 1;
    }

    std::priority_queue<Candidate, std::vector<Candidate>, LaterFirst> queue;
    const auto consider = [&](int left) {
        if (left < 0) return;
        const int right = next[static_cast<size_t>(left)];
        if (right < 0) return;
        const TokenId l = ids[static_cast<size_t>(left)];
        const TokenId r = ids[static_cast<size_t>(right)];
        if (const Merge* m = find(l, r)) queue.push({m->rank, left, l, r});
    };
    for (int i = 0; i + 1 < n; ++i) consider(i);

    while (!queue.empty()) {
        const Candidate c = queue.top();
        queue.pop();
        const auto left = static_cast<size_t>(c.left);
        // Skip candidates whose symbols changed since they were queued.
        if (!alive[left] || ids[left] != c.left_id) continue;
        const int right_index = next[left];
        if (right_index < 0) continue;
        const auto right = static_cast<size_t>(right_index);
        if (ids[right] != c.right_id) continue;

        ids[left] = find(c.left_id, c.right_id)->result;
        alive[right] = false;
        next[left] = next[right];
        if (next[right] >= 0) prev[static_cast<size_t>(next[right])] = c.left;
        consider(prev[left]);
        consider(c.left);
    }

    size_t out = 0;
    for (int i = 0; i != -1; i = next[static_cast<size_t>(i)])
        ids[out++] = ids[static_cast<size_t>(i)];
    ids.resize(out);
}

}  // namespace pocket::tokenizer
