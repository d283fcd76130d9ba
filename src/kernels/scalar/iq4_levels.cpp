#include "kernels/scalar/iq4_levels.h"

#include "kernels/blocks.h"
#include "kernels/scalar/quant_math.h"

// Bit-exactness with ggml (baseline x86-64, no FMA) needs every a*b+c rounded twice.
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

namespace pocket::kernels::scalar {
namespace {

constexpr int kGroup = 32;

// Weighted least-squares terms sum(w q x) and sum(w q^2) of the levels chosen at inverse scale id.
struct LevelFit {
    float sum_qx = 0.f;
    float sum_q2 = 0.f;
};
LevelFit fit_levels(const float* x, float id, const float* weights) {
    LevelFit fit;
    for (int j = 0; j < kGroup; ++j) {
        const float q = kIq4nlValues[nearest_iq4_level(id * x[j])];
        const float w = weights != nullptr ? weights[j] : x[j] * x[j];
        fit.sum_qx += w * q * x[j];
        fit.sum_q2 += w * q * q;
    }
    return fit;
}

}  // namespace

int nearest_iq4_level(float v) {
    constexpr int kLast = static_cast<int>(kIq4nlValues.size()) - 1;
    if (v <= kIq4nlValues[0]) return 0;
    if (v >= kIq4nlValues[kLast]) return kLast;
    int lo = 0;
    int hi = kLast;
    while (hi - lo > 1) {
        const int mid = (lo + hi) / 2;
        (v < kIq4nlValues[mid] ? hi : lo) = mid;
    }
    return v - kIq4nlValues[hi - 1] < kIq4nlValues[hi] - v ? hi - 1 : hi;
}

float fit_iq4_group_scale(const float* x, const float* weights) {
    constexpr int kTries = 7;
    const SignedMax m = signed_max(x, kGroup);
    if (m.abs_max < kGroupMaxEps) return 0.f;
    float d = -m.value / kIq4nlValues[0];
    LevelFit fit = fit_levels(x, 1 / d, weights);
    d = fit.sum_qx / fit.sum_q2;
    float best = d * fit.sum_qx;
    for (int t = -kTries; t <= kTries; ++t) {
        const float id = static_cast<float>(t + kIq4nlValues[0]) / m.value;
        fit = fit_levels(x, id, weights);
        if (fit.sum_q2 > 0 && fit.sum_qx * fit.sum_qx > best * fit.sum_q2) {
            d = fit.sum_qx / fit.sum_q2;
            best = d * fit.sum_qx;
        }
    }
    return d;
}

}  // namespace pocket::kernels::scalar
