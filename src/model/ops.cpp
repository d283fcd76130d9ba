#include "model/ops.h"

#include <cmath>
#include <limits>

namespace pocket::model::ops {

void rms_norm(const float* x, const float* w, float* y, int64_t n, float eps) {
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i] * x[i]);
    const float mean = static_cast<float>(sum / static_cast<double>(n));
    const float scale = 1.0f / std::sqrt(mean + eps);
    for (int64_t i = 0; i < n; ++i) y[i] = (x[i] * scale) * w[i];
}

void rope(float* x, int64_t n_rot, int64_t pos, float freq_base, float freq_scale,
          const float* freq_factors, bool neox) {
    // theta_i = pos * base^(-2i/n_rot), built by repeated multiplication like ggml's rope cache so
    // the rounding of the angles matches.
    const float theta_scale = std::pow(freq_base, -2.0f / static_cast<float>(n_rot));
    float theta = static_cast<float>(pos);
    const int64_t half = n_rot / 2;
    for (int64_t i = 0; i < half; ++i) {
        const float factor = freq_factors ? freq_factors[i] : 1.0f;
        const float angle = freq_scale * (theta / factor);
        const float c = std::cos(angle);
        const float s = std::sin(angle);
        const int64_t a = neox ? i : 2 * i;
        const int64_t b = neox ? i + half : 2 * i + 1;
        const float x0 = x[a];
        const float x1 = x[b];
        x[a] = x0 * c - x1 * s;
        x[b] = x0 * s + x1 * c;
        theta *= theta_scale;
    }
}

void scaled_softmax(float* scores, int64_t n, float scale) {
    float max = -std::numeric_limits<float>::infinity();
    for (int64_t i = 0; i < n; ++i) {
        scores[i] *= scale;
        max = std::max(max, scores[i]);
    }
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i) {
        const float e = std::exp(scores[i] - max);
        scores[i] = e;
        sum += e;
    }
    const float inv = static_cast<float>(1.0 / sum);
    for (int64_t i = 0; i < n; ++i) scores[i] *= inv;
}

float silu(float x) { return x / (1.0f + std::exp(-x)); }

}  // namespace pocket::model::ops
