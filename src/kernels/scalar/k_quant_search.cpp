#include "kernels/scalar/k_quant_search.h"

#include <algorithm>
#include <cmath>

#include "kernels/scalar/quant_math.h"

// Bit-exactness with llama.cpp's quantizers (compiled for baseline x86-64, without FMA) needs
// every a*b+c rounded twice, never fused.
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

namespace pocket::kernels::scalar {
namespace {

int clamp_level(int l, int lo, int hi) {
    return std::max(lo, std::min(hi, l));
}

// x^2-weighted sums of x*l and l^2 for the levels of inverse scale `iscale`.
struct SymmetricFit {
    float sum_lx = 0.f;
    float sum_l2 = 0.f;
};
SymmetricFit symmetric_fit(int n, int nmax, const float* x, float iscale, const float* weights) {
    SymmetricFit fit;
    for (int i = 0; i < n; ++i) {
        const int l = clamp_level(nearest_int(iscale * x[i]), -nmax, nmax - 1);
        const float w = weights != nullptr ? weights[i] : x[i] * x[i];
        fit.sum_lx += w * x[i] * l;
        fit.sum_l2 += w * l * l;
    }
    return fit;
}

void store_symmetric_levels(int n, int nmax, const float* x, float iscale, int8_t* L) {
    for (int i = 0; i < n; ++i) {
        L[i] = static_cast<int8_t>(nmax + clamp_level(nearest_int(iscale * x[i]), -nmax, nmax - 1));
    }
}

}  // namespace

float fit_symmetric_scale(int n, int nmax, const float* x, int8_t* L, const float* weights) {
    const SignedMax m = signed_max(x, n);
    if (m.abs_max < kGroupMaxEps) {
        std::fill(L, L + n, int8_t{0});
        return 0.f;
    }
    float iscale = -nmax / m.value;
    store_symmetric_levels(n, nmax, x, iscale, L);
    SymmetricFit fit = symmetric_fit(n, nmax, x, iscale, weights);
    float scale = fit.sum_l2 != 0.f ? fit.sum_lx / fit.sum_l2 : 0.0f;
    float best = scale * fit.sum_lx;
    for (int step = -9; step <= 9; ++step) {
        if (step == 0) continue;
        iscale = -(nmax + 0.1f * step) / m.value;
        fit = symmetric_fit(n, nmax, x, iscale, weights);
        if (fit.sum_l2 > 0 && fit.sum_lx * fit.sum_lx > best * fit.sum_l2) {
            store_symmetric_levels(n, nmax, x, iscale, L);
            scale = fit.sum_lx / fit.sum_l2;
            best = scale * fit.sum_lx;
        }
    }
    return scale;
}

float fit_q3_scale(int n, int nmax, const float* x, int8_t* L) {
    const SignedMax m = signed_max(x, n);
    if (m.abs_max < kGroupMaxEps) {
        std::fill(L, L + n, int8_t{0});
        return 0.f;
    }
    const float iscale = -nmax / m.value;
    float sum_lx = 0.f;
    float sum_l2 = 0.f;
    for (int i = 0; i < n; ++i) {
        const int l = clamp_level(nearest_int(iscale * x[i]), -nmax, nmax - 1);
        L[i] = static_cast<int8_t>(l);
        const float w = x[i] * x[i];
        sum_lx += w * x[i] * l;
        sum_l2 += w * l * l;
    }
    for (int pass = 0; pass < 5; ++pass) {
        int changed = 0;
        for (int i = 0; i < n; ++i) {
            const float w = x[i] * x[i];
            float slx = sum_lx - w * x[i] * L[i];
            if (slx > 0) {
                float sl2 = sum_l2 - w * L[i] * L[i];
                const int new_l = clamp_level(nearest_int(x[i] * sl2 / slx), -nmax, nmax - 1);
                if (new_l != L[i]) {
                    slx += w * x[i] * new_l;
                    sl2 += w * new_l * new_l;
                    if (sl2 > 0 && slx * slx * sum_l2 > sum_lx * sum_lx * sl2) {
                        L[i] = static_cast<int8_t>(new_l);
                        sum_lx = slx;
                        sum_l2 = sl2;
                        ++changed;
                    }
                }
            }
        }
        if (changed == 0) break;
    }
    for (int i = 0; i < n; ++i) L[i] = static_cast<int8_t>(L[i] + nmax);
    return sum_lx / sum_l2;
}

float fit_scale_and_min(int n, int nmax, const float* x, const float* weights, uint8_t* L,
                        float* neg_min, float rmin, float rdelta, int nstep, bool use_mad) {
    float min = x[0];
    float max = x[0];
    float sum_w = weights[0];
    float sum_x = sum_w * x[0];
    for (int i = 1; i < n; ++i) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        const float w = weights[i];
        sum_w += w;
        sum_x += w * x[i];
    }
    if (min > 0) min = 0;
    if (max == min) {
        std::fill(L, L + n, uint8_t{0});
        *neg_min = -min;
        return 0.f;
    }
    const auto error_of = [use_mad](float diff) { return use_mad ? std::fabs(diff) : diff * diff; };

    float iscale = nmax / (max - min);
    float scale = 1 / iscale;
    float best_error = 0;
    for (int i = 0; i < n; ++i) {
        L[i] = static_cast<uint8_t>(clamp_level(nearest_int(iscale * (x[i] - min)), 0, nmax));
        best_error += weights[i] * error_of(scale * L[i] + min - x[i]);
    }
    if (nstep < 1) {
        *neg_min = -min;
        return scale;
    }
    uint8_t candidate[256];
    for (int step = 0; step <= nstep; ++step) {
        iscale = (rmin + rdelta * step + nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; ++i) {
            const int l = clamp_level(nearest_int(iscale * (x[i] - min)), 0, nmax);
            candidate[i] = static_cast<uint8_t>(l);
            const float w = weights[i];
            sum_l += w * l;
            sum_l2 += w * l * l;
            sum_xl += w * l * x[i];
        }
        const float det = sum_w * sum_l2 - sum_l * sum_l;
        if (det > 0) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / det;
            float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / det;
            if (this_min > 0) {
                this_min = 0;
                this_scale = sum_xl / sum_l2;
            }
            float error = 0;
            for (int i = 0; i < n; ++i)
                error += weights[i] * error_of(this_scale * candidate[i] + this_min - x[i]);
            if (error < best_error) {
                std::copy(candidate, candidate + n, L);
                best_error = error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    *neg_min = -min;
    return scale;
}

}  // namespace pocket::kernels::scalar
