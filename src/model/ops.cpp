#include "model/ops.h"

#include <cmath>
#include <limits>

#include "pocket/core/fp16.h"

namespace pocket::model::ops {

namespace {

// sum of term(i) for i < n (each term a float, as ggml computes it) in double, in eight
// interleaved sums added pairwise at the end. ggml keeps one chain; at 4 cycles per dependent add
// a row of 576 took ~2300 cycles, and the norms were ~7 % of a short prompt. The order is fixed
// here (not left to a vectorizer), so every build gets the same value; against the single chain
// it differs at most in the last bits of the double, far below the float it is rounded to.
template <class Term>
double lane_sum(int64_t n, Term term) {
    constexpr int kLanes = 8;
    double lane[kLanes] = {};
    int64_t i = 0;
    for (; i + kLanes <= n; i += kLanes) {
        for (int j = 0; j < kLanes; ++j) lane[j] += static_cast<double>(term(i + j));
    }
    for (int j = 0; i < n; ++i, ++j) lane[j] += static_cast<double>(term(i));
    return ((lane[0] + lane[4]) + (lane[2] + lane[6])) +
           ((lane[1] + lane[5]) + (lane[3] + lane[7]));
}

}  // namespace

float rms_scale(const float* x, int64_t n, float eps) {
    const double sum = lane_sum(n, [x](int64_t i) { return x[i] * x[i]; });
    const float mean = static_cast<float>(sum / static_cast<double>(n));
    return 1.0f / std::sqrt(mean + eps);
}

void rms_norm(const float* x, const float* w, float* y, int64_t n, float eps) {
    const float scale = rms_scale(x, n, eps);
    for (int64_t i = 0; i < n; ++i) y[i] = (x[i] * scale) * w[i];
}

void layer_norm(const float* x, const float* w, const float* b, float* y, int64_t n, float eps) {
    const double sum = lane_sum(n, [x](int64_t i) { return x[i]; });
    const float mean = static_cast<float>(sum / static_cast<double>(n));
    for (int64_t i = 0; i < n; ++i) y[i] = x[i] - mean;
    const double sum2 = lane_sum(n, [y](int64_t i) { return y[i] * y[i]; });
    const float variance = static_cast<float>(sum2 / static_cast<double>(n));
    const float scale = 1.0f / std::sqrt(variance + eps);
    for (int64_t i = 0; i < n; ++i) {
        y[i] = (y[i] * scale) * w[i];
        if (b) y[i] += b[i];
    }
}

void rope_angles(int64_t n_rot, int64_t pos, float freq_base, float freq_scale,
                 const float* freq_factors, float* cs) {
    // theta_i = pos * base^(-2i/n_rot), built by repeated multiplication like ggml's rope cache so
    // the rounding of the angles matches.
    const float theta_scale = std::pow(freq_base, -2.0f / static_cast<float>(n_rot));
    float theta = static_cast<float>(pos);
    for (int64_t i = 0; i < n_rot / 2; ++i) {
        const float factor = freq_factors ? freq_factors[i] : 1.0f;
        const float angle = freq_scale * (theta / factor);
        cs[2 * i] = std::cos(angle);
        cs[2 * i + 1] = std::sin(angle);
        theta *= theta_scale;
    }
}

void rope_rotate(float* x, int64_t n_rot, const float* cs, bool neox) {
    const int64_t half = n_rot / 2;
    for (int64_t i = 0; i < half; ++i) {
        const float c = cs[2 * i];
        const float s = cs[2 * i + 1];
        const int64_t a = neox ? i : 2 * i;
        const int64_t b = neox ? i + half : 2 * i + 1;
        const float x0 = x[a];
        const float x1 = x[b];
        x[a] = x0 * c - x1 * s;
        x[b] = x0 * s + x1 * c;
    }
}

float softcap(float x, float c) {
    return std::tanh(x * (1.0f / c)) * c;
}

}  // namespace pocket::model::ops
