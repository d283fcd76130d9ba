#include "generate/draft_lookup.h"

#include <algorithm>

namespace pocket {

std::vector<TokenId> lookup_draft(std::span<const TokenId> sequence, int32_t ngram_min,
                                  int32_t ngram_max, size_t max_draft) {
    const size_t len = sequence.size();
    if (max_draft == 0 || ngram_min < 1) return {};
    for (int32_t n32 = ngram_max; n32 >= ngram_min; --n32) {
        const auto n = static_cast<size_t>(n32);
        if (n >= len) continue;  // an earlier occurrence needs at least one token after it
        const auto tail = sequence.subspan(len - n);
        // Most recent first: the nearest context is the most likely to be copied again.
        for (size_t start = len - n; start-- > 0;) {
            if (!std::equal(tail.begin(), tail.end(), sequence.begin() + start)) continue;
            const size_t from = start + n;  // < len: the occurrence ends before the tail does
            const size_t count = std::min(max_draft, len - from);
            return {sequence.begin() + from, sequence.begin() + from + count};
        }
    }
    return {};
}

}  // namespace pocket
