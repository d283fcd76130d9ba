#include "pocket/train/loss.h"

#include <algorithm>
#include <cmath>

#include "pocket/core/error.h"
#include "pocket/core/thread_pool.h"

namespace pocket::train {

LossValue cross_entropy(std::span<const float> logits, int64_t n_rows, int64_t n_vocab,
                        std::span<const TokenId> targets, std::span<const float> weights,
                        std::span<float> dlogits) {
    const auto rows = static_cast<size_t>(n_rows);
    const size_t cells = rows * static_cast<size_t>(n_vocab);
    if (n_rows < 0 || n_vocab <= 0 || logits.size() < cells || dlogits.size() < cells)
        fail("cross_entropy: ", n_rows, " rows of ", n_vocab, " logits need ", cells,
             " values (logits ", logits.size(), ", dlogits ", dlogits.size(), ")");
    if (targets.size() < rows || (!weights.empty() && weights.size() < rows))
        fail("cross_entropy: ", n_rows, " rows but ", targets.size(), " targets and ",
             weights.size(), " weights");
    for (size_t t = 0; t < rows; ++t) {
        if (targets[t] < 0 || targets[t] >= n_vocab)
            fail("cross_entropy: target ", targets[t], " of row ", t, " is outside the ", n_vocab,
                 "-token vocabulary");
    }
    // Per-row sums, added in row order afterwards so the result does not depend on threads.
    std::vector<double> row_loss(rows, 0.0);
    ThreadPool::global().parallel_for(n_rows, [&](int64_t begin, int64_t end) {
        for (int64_t t = begin; t < end; ++t) {
            const float* z = logits.data() + t * n_vocab;
            float* dz = dlogits.data() + t * n_vocab;
            const float w = weights.empty() ? 1.0f : weights[static_cast<size_t>(t)];
            if (w == 0.0f) {
                std::fill_n(dz, n_vocab, 0.0f);
                continue;
            }
            // log-sum-exp around the row's maximum: no exponential overflows.
            const float zmax = *std::max_element(z, z + n_vocab);
            double sum = 0.0;
            for (int64_t i = 0; i < n_vocab; ++i) sum += std::exp(static_cast<double>(z[i] - zmax));
            const double lse = static_cast<double>(zmax) + std::log(sum);
            const TokenId target = targets[static_cast<size_t>(t)];
            row_loss[static_cast<size_t>(t)] = w * (lse - static_cast<double>(z[target]));
            // d/dz_i of w·(lse − z_target) = w·(softmax_i − [i = target]).
            const double inv = 1.0 / sum;
            for (int64_t i = 0; i < n_vocab; ++i) {
                dz[i] = static_cast<float>(w * std::exp(static_cast<double>(z[i] - zmax)) * inv);
            }
            dz[target] -= w;
        }
    });
    LossValue value;
    for (size_t t = 0; t < rows; ++t) {
        value.sum += row_loss[t];
        value.weight += weights.empty() ? 1.0 : weights[t];
    }
    return value;
}

}  // namespace pocket::train
