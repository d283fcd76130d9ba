// The scalar reference of the attention kernels (see kernels/attention.h for the order of
// operations each one keeps; the SIMD tables must reproduce it bit for bit).
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/attention_table.h"
#include "kernels/blocks.h"

namespace pocket::kernels {
namespace {
constexpr int64_t kLanes = 16;
}  // namespace

namespace reference {

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
float gelu_tanh(float x) {
    constexpr float kSqrt2OverPi = 0.79788456080286535587989211986876f;
    constexpr float kCoefA = 0.044715f;
    return 0.5f * x * (1.0f + std::tanh(kSqrt2OverPi * x * (1.0f + kCoefA * x * x)));
}

struct GeluTable {
    std::vector<float> values = std::vector<float>(size_t{1} << 16);
    GeluTable() {
        for (size_t h = 0; h < values.size(); ++h)
            values[h] = round_to_f16(gelu_tanh(f16_to_f32(static_cast<f16_t>(h))));
    }
};
}  // namespace

float gelu_formula(float x) {
    if (x <= -10.0f) return 0.0f;
    if (x >= 10.0f) return x;
    return round_to_f16(gelu_tanh(round_to_f16(x)));
}

const float* gelu_table() {
    static const GeluTable table;  // thread-safe initialisation on first use
    return table.values.data();
}

float gelu(float x) {
    if (x <= -10.0f) return 0.0f;
    if (x >= 10.0f) return x;
    return gelu_table()[f32_to_f16(x)];
}

float tree_sum16(const float* v) {
    float a8[8], a4[4];
    for (int i = 0; i < 8; ++i) a8[i] = v[i + 8] + v[i];
    for (int i = 0; i < 4; ++i) a4[i] = a8[i + 4] + a8[i];
    return (a4[0] + a4[2]) + (a4[1] + a4[3]);
}

float dot_f16(const f16_t* a, const f16_t* b, int64_t n) {
    float lanes[kLanes] = {};
    if (n % kLanes == 0) {
        for (int64_t i = 0; i < n; i += kLanes) {
            for (int64_t l = 0; l < kLanes; ++l) {
                lanes[l] = std::fma(f16_to_f32(a[i + l]), f16_to_f32(b[i + l]), lanes[l]);
            }
        }
        return tree_sum16(lanes);
    }
    // ggml's F16 dot: four 16-lane accumulators per 64 values, folded pairwise, then the tail
    // in double.
    constexpr int64_t kStep = 4 * kLanes;
    const int64_t whole = n - n % kStep;
    double sum = 0.0;
    if (whole > 0) {
        float acc[4][kLanes] = {};
        for (int64_t i = 0; i < whole; i += kStep) {
            for (int64_t j = 0; j < 4; ++j) {
                for (int64_t l = 0; l < kLanes; ++l) {
                    const int64_t k = i + j * kLanes + l;
                    acc[j][l] = std::fma(f16_to_f32(a[k]), f16_to_f32(b[k]), acc[j][l]);
                }
            }
        }
        for (int64_t l = 0; l < kLanes; ++l) {
            acc[0][l] += acc[2][l];
            acc[1][l] += acc[3][l];
            acc[0][l] += acc[1][l];
        }
        sum = tree_sum16(acc[0]);
    }
    for (int64_t i = whole; i < n; ++i)
        sum += static_cast<double>(f16_to_f32(a[i]) * f16_to_f32(b[i]));
    return static_cast<float>(sum);
}

}  // namespace reference

namespace scalar_attention {

void to_f16(const float* x, f16_t* out, int64_t n) {
    for (int64_t i = 0; i < n; ++i) out[i] = f32_to_f16(x[i]);
}

void q8_0_rows_to_f16(const std::byte* rows, size_t row_bytes, int64_t n_rows, int64_t first_block,
                      int64_t n_blocks, f16_t* out, int64_t out_stride) {
    for_each_kv_block<BlockQ8_0>(rows, row_bytes, n_rows, first_block, n_blocks, out, out_stride,
                                 [](const BlockQ8_0& block, f16_t* o) {
                                     const float d = f16_to_f32(block.d);
                                     for (int j = 0; j < kQK32; ++j)
                                         o[j] = f32_to_f16(static_cast<float>(block.qs[j]) * d);
                                 });
}

void q4_0_rows_to_f16(const std::byte* rows, size_t row_bytes, int64_t n_rows, int64_t first_block,
                      int64_t n_blocks, f16_t* out, int64_t out_stride) {
    constexpr int kHalf = kQK32 / 2;
    for_each_kv_block<BlockQ4_0>(
        rows, row_bytes, n_rows, first_block, n_blocks, out, out_stride,
        [](const BlockQ4_0& block, f16_t* o) {
            const float d = f16_to_f32(block.d);
            for (int j = 0; j < kHalf; ++j) {
                o[j] = f32_to_f16(static_cast<float>((block.qs[j] & 0x0F) - 8) * d);
                o[j + kHalf] = f32_to_f16(static_cast<float>((block.qs[j] >> 4) - 8) * d);
            }
        });
}

void qk(const f16_t* q, int64_t n_q, const f16_t* keys, int64_t key_stride, int64_t n_keys,
        int64_t head_dim, float* scores, int64_t score_stride) {
    for (int64_t i = 0; i < n_q; ++i) {
        for (int64_t j = 0; j < n_keys; ++j) {
            scores[i * score_stride + j] =
                reference::dot_f16(q + i * head_dim, keys + j * key_stride, head_dim);
        }
    }
}

void pv(const float* probs, int64_t prob_stride, int64_t n_q, const f16_t* values,
        int64_t value_stride, int64_t n_values, int64_t first_pos, int64_t head_dim, float* acc) {
    for (int64_t j = 0; j < n_values; ++j) {
        const f16_t* value = values + j * value_stride;
        const int64_t lane = (first_pos + j) % kLanes;
        for (int64_t i = 0; i < n_q; ++i) {
            const float p = round_to_f16(probs[i * prob_stride + j]);
            float* a = acc + (i * kLanes + lane) * head_dim;
            for (int64_t d = 0; d < head_dim; ++d) a[d] = std::fma(p, f16_to_f32(value[d]), a[d]);
        }
    }
}

void pv_reduce(const float* acc, int64_t head_dim, float* out) {
    for (int64_t d = 0; d < head_dim; ++d) {
        float lanes[kLanes];
        for (int64_t l = 0; l < kLanes; ++l) lanes[l] = acc[l * head_dim + d];
        out[d] = reference::tree_sum16(lanes);
    }
}

void softmax(float* scores, int64_t n, float scale) {
    float max = -std::numeric_limits<float>::infinity();
    for (int64_t i = 0; i < n; ++i) {
        scores[i] *= scale;
        max = std::max(max, scores[i]);
    }
    double sum = 0.0;
    for (int64_t g = 0; g < n; g += kLanes) {
        float group[kLanes] = {};  // entries past the row are masked: weight 0
        const int64_t count = std::min(kLanes, n - g);
        for (int64_t i = 0; i < count; ++i) {
            group[i] = reference::exp_approx(scores[g + i] - max);
            scores[g + i] = group[i];
        }
        sum += static_cast<double>(reference::tree_sum16(group));
    }
    const float inv = static_cast<float>(1.0 / sum);
    for (int64_t i = 0; i < n; ++i) scores[i] *= inv;
}

void gelu_mul(float* gate, const float* up, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
        const float g = reference::gelu(gate[i]);
        gate[i] = up == nullptr ? g : g * up[i];
    }
}

void silu_mul(float* gate, const float* up, int64_t n) {
    const int64_t whole_groups = n - n % kLanes;
    int64_t i = 0;
    for (; i < whole_groups; ++i)
        gate[i] = gate[i] / (1.0f + reference::exp_approx(-gate[i])) * up[i];
    for (; i < n; ++i) gate[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

void softmax_tile(float* scores, int64_t score_stride, int64_t n_q, int64_t n, float scale,
                  float* row_max, float* row_sum, float* rescale) {
    for (int64_t i = 0; i < n_q; ++i) {
        float* row = scores + i * score_stride;
        float max = row_max[i];
        for (int64_t j = 0; j < n; ++j) {
            row[j] *= scale;
            max = std::max(max, row[j]);
        }
        if (max == -std::numeric_limits<float>::infinity()) {
            std::fill_n(row, n, 0.0f);
            rescale[i] = 1.0f;
            continue;
        }
        float lanes[kLanes] = {};
        for (int64_t j = 0; j < n; ++j) {
            row[j] = reference::exp_approx(row[j] - max);
            lanes[j % kLanes] += row[j];
        }
        rescale[i] = reference::exp_approx(row_max[i] - max);
        row_sum[i] = std::fma(row_sum[i], rescale[i], reference::tree_sum16(lanes));
        row_max[i] = max;
    }
}

void pv_tile(const float* probs, int64_t prob_stride, int64_t n_q, const f16_t* values,
             int64_t value_stride, int64_t n_values, int64_t head_dim, const float* rescale,
             float* acc) {
    for (int64_t i = 0; i < n_q; ++i) {
        float* a = acc + i * head_dim;
        for (int64_t d = 0; d < head_dim; ++d) a[d] *= rescale[i];
        for (int64_t j = 0; j < n_values; ++j) {
            const float p = probs[i * prob_stride + j];
            if (p == 0.0f) continue;
            const f16_t* v = values + j * value_stride;
            for (int64_t d = 0; d < head_dim; ++d) a[d] = std::fma(p, f16_to_f32(v[d]), a[d]);
        }
    }
}

void fold_acc(float* acc, const float* part, float ca, float cb, int64_t n) {
    for (int64_t d = 0; d < n; ++d) acc[d] = std::fma(acc[d], ca, part[d] * cb);
}

}  // namespace scalar_attention
}  // namespace pocket::kernels
