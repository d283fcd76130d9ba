#include "pocket/generate/sampling_history.h"

#include <algorithm>

#include "pocket/core/error.h"

namespace pocket {

RecentTokens::RecentTokens(int32_t window) : window_(window) {
    if (window_ > 0) ring_.resize(static_cast<size_t>(window_));
}

void RecentTokens::push(TokenId token) {
    if (token < 0) fail("sampling: cannot record token id ", token);
    if (window_ == 0) return;
    const auto id = static_cast<size_t>(token);
    if (id >= counts_.size()) counts_.resize(id + 1, 0);

    if (window_ > 0) {
        if (size_ == ring_.size()) {
            --counts_[static_cast<size_t>(ring_[next_])];  // forget the oldest
        } else {
            ++size_;
        }
        ring_[next_] = token;
        next_ = (next_ + 1) % ring_.size();
    } else {
        ++size_;  // unbounded: nothing is ever forgotten, so only the counts are needed
    }
    ++counts_[id];
}

void RecentTokens::clear() {
    std::fill(counts_.begin(), counts_.end(), 0);
    next_ = 0;
    size_ = 0;
}

void RecentTokens::reserve_vocab(size_t n_vocab) {
    if (n_vocab > counts_.size()) counts_.resize(n_vocab, 0);
}

int32_t RecentTokens::count(TokenId token) const {
    const auto id = static_cast<size_t>(token);
    return token >= 0 && id < counts_.size() ? counts_[id] : 0;
}

}  // namespace pocket
