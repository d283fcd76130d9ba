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

void layer_norm(const float* x, const float* w, const float* b, float* y, int64_t n, float eps) {
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i]);
    const float mean = static_cast<float>(sum / static_cast<double>(n));
    double sum2 = 0.0;
    for (int64_t i = 0; i < n; ++i) {
        const float v = x[i] - mean;
        y[i] = v;
        sum2 += static_cast<double>(v * v);
    }
    const float variance = static_cast<float>(sum2 / static_cast<double>(n));
    const float scale = 1.0f / std::sqrt(variance + eps);
    for (int64_t i = 0; i < n; ++i) {
        y[i] = (y[i] * scale) * w[i];
        if (b) y[i] += b[i];
    }
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

float exp_approx(float x) {
    // n = round(x / ln 2) via the 1.5 * 2^23 trick, b = x - n ln 2 in two parts (hi + lo).
    constexpr float kShift = 0x1.8p23f;
    const float z = std::fma(x, 0x1.715476p+0f, kShift);
    const float n = z - kShift;
    const float b = std::fma(-n, 0x1.7f7d1cp-20f, std::fma(-n, 0x1.62e4p-1f, x));
    if (std::fabs(n) > 192.0f) return n <= 0.0f ? 0.0f : std::numeric_limits<float>::infinity();
    const float u = b * b;
    const float j = std::fma(std::fma(std::fma(0x1.0e4020p-7f, b, 0x1.573e2ep-5f), u,
                                      std::fma(0x1.555e66p-3f, b, 0x1.fffdb6p-2f)),
                             u, std::fma(0x1.ffffecp-1f, b, 1.0f));
    return std::ldexp(j, static_cast<int>(n));
}

namespace {
constexpr int64_t kGroup = 16;
}  // namespace

float tree_sum16(const float* v) {
    float a8[8], a4[4];
    for (int i = 0; i < 8; ++i) a8[i] = v[i + 8] + v[i];
    for (int i = 0; i < 4; ++i) a4[i] = a8[i + 4] + a8[i];
    return (a4[0] + a4[2]) + (a4[1] + a4[3]);
}

float dot_f16(const f16_t* a, const f16_t* b, int64_t n) {
    float lanes[kGroup] = {};
    if (n % kGroup == 0) {
        for (int64_t i = 0; i < n; i += kGroup) {
            for (int64_t l = 0; l < kGroup; ++l) {
                lanes[l] = std::fma(f16_to_f32(a[i + l]), f16_to_f32(b[i + l]), lanes[l]);
            }
        }
        return tree_sum16(lanes);
    }
    // Four 16-lane accumulators per 64 values, folded pairwise, then the tail in double.
    constexpr int64_t kStep = 4 * kGroup;
    const int64_t whole = n - n % kStep;
    double sum = 0.0;
    if (whole > 0) {
        float acc[4][kGroup] = {};
        for (int64_t i = 0; i < whole; i += kStep) {
            for (int64_t j = 0; j < 4; ++j) {
                for (int64_t l = 0; l < kGroup; ++l) {
                    const int64_t k = i + j * kGroup + l;
                    acc[j][l] = std::fma(f16_to_f32(a[k]), f16_to_f32(b[k]), acc[j][l]);
                }
            }
        }
        for (int64_t l = 0; l < kGroup; ++l) {
            acc[0][l] += acc[2][l];
            acc[1][l] += acc[3][l];
            acc[0][l] += acc[1][l];
        }
        sum = tree_sum16(acc[0]);
    }
    for (int64_t i = whole; i < n; ++i) sum += static_cast<double>(f16_to_f32(a[i]) * f16_to_f32(b[i]));
    return static_cast<float>(sum);
}

void scaled_softmax(float* scores, int64_t n, float scale) {
    float max = -std::numeric_limits<float>::infinity();
    for (int64_t i = 0; i < n; ++i) {
        scores[i] *= scale;
        max = std::max(max, scores[i]);
    }
    double sum = 0.0;
    for (int64_t g = 0; g < n; g += kGroup) {
        float group[kGroup] = {};  // entries past the row are masked: weight 0
        const int64_t count = std::min(kGroup, n - g);
        for (int64_t i = 0; i < count; ++i) {
            group[i] = exp_approx(scores[g + i] - max);
            scores[g + i] = group[i];
        }
        sum += static_cast<double>(tree_sum16(group));
    }
    const float inv = static_cast<float>(1.0 / sum);
    for (int64_t i = 0; i < n; ++i) scores[i] *= inv;
}

float silu(float x) { return x / (1.0f + std::exp(-x)); }

void silu_mul_row(float* gate, const float* up, int64_t n) {
    const int64_t whole_groups = n - n % kGroup;
    int64_t i = 0;
    for (; i < whole_groups; ++i) gate[i] = gate[i] / (1.0f + exp_approx(-gate[i])) * up[i];
    for (; i < n; ++i) gate[i] = silu(gate[i]) * up[i];
}

namespace {
float gelu_exact_f32(float x) {
    constexpr float kSqrt2OverPi = 0.79788456080286535587989211986876f;
    constexpr float kCoefA = 0.044715f;
    return 0.5f * x * (1.0f + std::tanh(kSqrt2OverPi * x * (1.0f + kCoefA * x * x)));
}
}  // namespace

float gelu(float x) {
    if (x <= -10.0f) return 0.0f;
    if (x >= 10.0f) return x;
    return round_to_f16(gelu_exact_f32(round_to_f16(x)));
}

float softcap(float x, float c) { return std::tanh(x * (1.0f / c)) * c; }

}  // namespace pocket::model::ops
