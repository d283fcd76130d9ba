#include "generate/logprobs.h"

#include <algorithm>
#include <cmath>

#include "pocket/core/error.h"

namespace pocket {

TokenLogprob token_logprob(std::span<const float> logits, TokenId token, int32_t n_top) {
    if (token < 0 || static_cast<size_t>(token) >= logits.size())
        fail("logprobs: token ", token, " outside a vocabulary of ", logits.size());
    float max = -INFINITY;
    for (const float l : logits) max = std::max(max, l);
    double sum = 0.0;
    for (const float l : logits) sum += std::exp(static_cast<double>(l - max));
    const float log_z = max + static_cast<float>(std::log(sum));

    TokenLogprob out;
    out.token = token;
    out.logprob = logits[static_cast<size_t>(token)] - log_z;
    if (n_top <= 0) return out;

    // A bounded min-heap of the best n_top (logit, id): one comparison per token for most.
    const auto k = std::min(static_cast<size_t>(n_top), logits.size());
    auto better = [](const TokenAlternative& a, const TokenAlternative& b) {
        return a.logprob != b.logprob ? a.logprob > b.logprob : a.token < b.token;
    };
    std::vector<TokenAlternative>& heap = out.top;
    heap.reserve(k + 1);
    for (size_t i = 0; i < logits.size(); ++i) {
        const TokenAlternative c{static_cast<TokenId>(i), logits[i]};
        if (heap.size() == k && !better(c, heap.front())) continue;
        heap.push_back(c);
        std::push_heap(heap.begin(), heap.end(), better);
        if (heap.size() > k) {
            std::pop_heap(heap.begin(), heap.end(), better);
            heap.pop_back();
        }
    }
    std::sort(heap.begin(), heap.end(), better);
    for (TokenAlternative& a : heap) a.logprob -= log_z;
    return out;
}

}  // namespace pocket
