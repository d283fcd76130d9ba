// The recent tokens the repetition penalties look at: a ring of the last N accepted tokens plus a
// per-token occurrence count, kept up to date on every push so a penalty pass is one lookup per
// candidate instead of a recount of the window.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "pocket/generate/sampling_candidates.h"

namespace pocket {

class RecentTokens {
  public:
    // window > 0: remember the last `window` tokens; 0: remember nothing (penalties off);
    // < 0: every token since the last clear() (llama.cpp's repeat_last_n = -1, "whole context").
    explicit RecentTokens(int32_t window);

    // Records a token (id >= 0, else pocket::Error), forgetting the oldest one if the window is
    // full.
    void push(TokenId token);
    void clear();

    // Makes counts() cover ids [0, n_vocab) so that pushes below that allocate nothing.
    void reserve_vocab(size_t n_vocab);

    int32_t count(TokenId token) const;
    // Occurrences in the window, indexed by token id; may be shorter than the vocabulary (ids past
    // the end have count 0).
    std::span<const int32_t> counts() const { return counts_; }
    // How many tokens the window holds now.
    size_t size() const { return size_; }
    int32_t window() const { return window_; }

  private:
    int32_t window_;
    std::vector<TokenId> ring_;  // the window's tokens, oldest at next_ once full (bounded only)
    size_t next_ = 0;
    size_t size_ = 0;
    std::vector<int32_t> counts_;
};

}  // namespace pocket
