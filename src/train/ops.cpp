#include "train/ops.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/train_kernels.h"
#include "model/linear.h"
#include "model/ops.h"
#include "pocket/core/error.h"
#include "pocket/core/thread_pool.h"

namespace pocket::train::ops {
namespace {

// Rows of a frozen matrix dequantized at once: enough to reuse each activation row across them,
// few enough (tile x cols floats per thread) that the tile stays in L2 even for wide matrices.
constexpr int64_t kTile = 16;

// Rows [r0, r1) of `w` as dense F32: in place for F32 storage, else dequantized into `buffer`.
// Why not an F32 copy of each frozen matrix: a 1B model's matrices would take 4 GB; dequantizing
// a tile costs ~cols operations per row against the n_tokens x cols multiply-adds that use it.
const float* tile_rows(const Matrix& w, int64_t r0, int64_t r1, std::vector<float>& buffer) {
    if (w.f32 != nullptr) return w.f32 + r0 * w.cols;
    const TensorView& v = *w.view;
    if (v.type == DType::F32 && v.layout == Layout::Rows)
        return reinterpret_cast<const float*>(v.row(r0));
    buffer.resize(static_cast<size_t>((r1 - r0) * w.cols));
    for (int64_t r = r0; r < r1; ++r) model::dequantize_row(v, r, &buffer[(r - r0) * w.cols]);
    return buffer.data();
}

std::vector<float>& thread_buffer() {
    thread_local std::vector<float> buffer;
    return buffer;
}

}  // namespace

Matrix dense(const float* values, int64_t rows, int64_t cols) {
    return Matrix{values, nullptr, rows, cols};
}

Matrix frozen(const TensorView& view) {
    return Matrix{nullptr, &view, view.rows, view.cols};
}

void matmul(const Matrix& w, const float* x, int64_t n, float* y, int64_t y_stride,
            bool accumulate) {
    const kernels::TrainOps& k = kernels::train_ops();
    const int64_t cols = w.cols;
    const int64_t n_tiles = (w.rows + kTile - 1) / kTile;
    ThreadPool::global().parallel_for(n_tiles, [&](int64_t begin, int64_t end) {
        std::vector<float>& buffer = thread_buffer();
        for (int64_t tile = begin; tile < end; ++tile) {
            const int64_t r0 = tile * kTile, r1 = std::min(w.rows, r0 + kTile);
            const float* wt = tile_rows(w, r0, r1, buffer);
            for (int64_t t = 0; t < n; ++t) {
                const float* xr = x + t * cols;
                float* yr = y + t * y_stride;
                int64_t r = r0;
                float out[4];
                for (; r + 4 <= r1; r += 4) {
                    k.dot4(xr, wt + (r - r0) * cols, cols, cols, out);
                    for (int64_t j = 0; j < 4; ++j)
                        yr[r + j] = (accumulate ? yr[r + j] : 0.0f) + out[j];
                }
                for (; r < r1; ++r) {
                    const float d = k.dot(xr, wt + (r - r0) * cols, cols);
                    yr[r] = (accumulate ? yr[r] : 0.0f) + d;
                }
            }
        }
    });
}

void matmul_dx(const Matrix& w, const float* dy, int64_t dy_stride, int64_t n, float* dx) {
    const kernels::TrainOps& k = kernels::train_ops();
    const int64_t cols = w.cols;
    // Threads own tokens (rows of dx), so no two write the same values; each walks every row of
    // W (a frozen matrix is dequantized once per thread, small next to the multiply-adds).
    ThreadPool::global().parallel_for(n, [&](int64_t begin, int64_t end) {
        std::vector<float>& buffer = thread_buffer();
        for (int64_t r0 = 0; r0 < w.rows; r0 += kTile) {
            const int64_t r1 = std::min(w.rows, r0 + kTile);
            const float* wt = tile_rows(w, r0, r1, buffer);
            for (int64_t t = begin; t < end; ++t) {
                const float* g = dy + t * dy_stride;
                float* out = dx + t * cols;
                int64_t r = r0;
                for (; r + 4 <= r1; r += 4) k.axpy4(g + r, wt + (r - r0) * cols, cols, out, cols);
                for (; r < r1; ++r) k.axpy(g[r], wt + (r - r0) * cols, out, cols);
            }
        }
    });
}

void matmul_dw(const float* dy, int64_t dy_stride, const float* x, int64_t n, int64_t rows,
               int64_t cols, float* dw) {
    const kernels::TrainOps& k = kernels::train_ops();
    const int64_t n_tiles = (rows + kTile - 1) / kTile;
    // Threads own rows of dW; four tokens at a time are folded into each row of a tile, so those
    // four activation rows are reused from L1 across the tile.
    ThreadPool::global().parallel_for(n_tiles, [&](int64_t begin, int64_t end) {
        for (int64_t tile = begin; tile < end; ++tile) {
            const int64_t r0 = tile * kTile, r1 = std::min(rows, r0 + kTile);
            int64_t t = 0;
            for (; t + 4 <= n; t += 4) {
                for (int64_t r = r0; r < r1; ++r) {
                    const float a[4] = {dy[t * dy_stride + r], dy[(t + 1) * dy_stride + r],
                                        dy[(t + 2) * dy_stride + r], dy[(t + 3) * dy_stride + r]};
                    k.axpy4(a, x + t * cols, cols, dw + r * cols, cols);
                }
            }
            for (; t < n; ++t) {
                for (int64_t r = r0; r < r1; ++r)
                    k.axpy(dy[t * dy_stride + r], x + t * cols, dw + r * cols, cols);
            }
        }
    });
}

void rms_norm(const float* x, const float* w, float* y, int64_t n, float eps, float* rstd) {
    const float r = model::ops::rms_scale(x, n, eps);  // the inference forward's scale
    *rstd = r;
    for (int64_t i = 0; i < n; ++i) y[i] = (x[i] * r) * w[i];
}

void rms_norm_backward(const float* x, const float* w, float rstd, const float* dy, float* dx,
                       float* dw, int64_t n) {
    // y_i = x_i r w_i, r = (mean(x^2) + eps)^-1/2, dr/dx_j = -r^3 x_j / n:
    // dx_j = r (dy_j w_j) - x_j r^3 / n * sum_i dy_i w_i x_i.
    double dot = 0.0;
    for (int64_t i = 0; i < n; ++i) dot += static_cast<double>(dy[i]) * w[i] * x[i];
    const float c = static_cast<float>(dot * rstd * rstd * rstd / static_cast<double>(n));
    if (dw != nullptr) {
        for (int64_t i = 0; i < n; ++i) dw[i] += dy[i] * x[i] * rstd;
    }
    for (int64_t i = 0; i < n; ++i) dx[i] = rstd * dy[i] * w[i] - x[i] * c;
}

void layer_norm(const float* x, const float* w, const float* b, float* y, int64_t n, float eps,
                float* mean, float* rstd) {
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i]);
    const float mu = static_cast<float>(sum / static_cast<double>(n));
    double sum2 = 0.0;
    for (int64_t i = 0; i < n; ++i) {
        const float v = x[i] - mu;
        sum2 += static_cast<double>(v * v);
    }
    const float r = 1.0f / std::sqrt(static_cast<float>(sum2 / static_cast<double>(n)) + eps);
    *mean = mu;
    *rstd = r;
    for (int64_t i = 0; i < n; ++i) y[i] = ((x[i] - mu) * r) * w[i] + (b ? b[i] : 0.0f);
}

void layer_norm_backward(const float* x, const float* w, float mean, float rstd, const float* dy,
                         float* dx, float* dw, float* db, int64_t n) {
    // xhat = (x - mean) r; dxhat = dy w; dx = r (dxhat - mean(dxhat) - xhat mean(dxhat xhat)).
    double s1 = 0.0, s2 = 0.0;
    for (int64_t i = 0; i < n; ++i) {
        const double g = static_cast<double>(dy[i]) * w[i];
        const double xhat = static_cast<double>(x[i] - mean) * rstd;
        s1 += g;
        s2 += g * xhat;
    }
    const auto m1 = static_cast<float>(s1 / static_cast<double>(n));
    const auto m2 = static_cast<float>(s2 / static_cast<double>(n));
    for (int64_t i = 0; i < n; ++i) {
        const float xhat = (x[i] - mean) * rstd;
        if (dw != nullptr) dw[i] += dy[i] * xhat;
        if (db != nullptr) db[i] += dy[i];
        dx[i] = rstd * (dy[i] * w[i] - m1 - xhat * m2);
    }
}

void rope_backward(float* dx, int64_t n_rot, const float* cs, bool neox) {
    const int64_t half = n_rot / 2;
    for (int64_t i = 0; i < half; ++i) {
        const float c = cs[2 * i], s = cs[2 * i + 1];
        const int64_t a = neox ? i : 2 * i;
        const int64_t b = neox ? i + half : 2 * i + 1;
        const float g0 = dx[a], g1 = dx[b];
        // The transpose of [[c, -s], [s, c]].
        dx[a] = g0 * c + g1 * s;
        dx[b] = -g0 * s + g1 * c;
    }
}

namespace {
constexpr float kSqrt2OverPi = 0.79788456080286535587989211986876f;
constexpr float kCoefA = 0.044715f;
}  // namespace

float gelu(float x) {
    return 0.5f * x * (1.0f + std::tanh(kSqrt2OverPi * x * (1.0f + kCoefA * x * x)));
}

float gelu_grad(float x) {
    const float t = std::tanh(kSqrt2OverPi * x * (1.0f + kCoefA * x * x));
    return 0.5f * (1.0f + t) +
           0.5f * x * (1.0f - t * t) * kSqrt2OverPi * (1.0f + 3.0f * kCoefA * x * x);
}

float silu(float x) {
    return x / (1.0f + std::exp(-x));
}

float silu_grad(float x) {
    const float s = 1.0f / (1.0f + std::exp(-x));
    return s * (1.0f + x * (1.0f - s));
}

float softcap(float x, float c) {
    return model::ops::softcap(x, c);
}

namespace {

int64_t first_visible(const AttentionShape& s, int64_t i) {
    return s.window > 0 ? std::max<int64_t>(0, i - s.window + 1) : 0;
}

// Scores of query i of head h over its visible keys [lo, i], written to row[lo..i].
void head_scores(const AttentionShape& s, const kernels::TrainOps& k, const float* q,
                 const float* kk, int64_t h, int64_t g, int64_t i, int64_t lo, float* row) {
    const int64_t hd = s.head_dim, n_q = s.n_head * hd, n_kv = s.n_head_kv * hd;
    const float* qi = q + i * n_q + h * hd;
    for (int64_t j = lo; j <= i; ++j) {
        float z = k.dot(qi, kk + j * n_kv + g * hd, hd);
        if (s.softcap > 0.0f) z = softcap(z, s.softcap);
        row[j] = z * s.scale;
    }
}

}  // namespace

void attention(const AttentionShape& s, const float* q, const float* k, const float* v, float* out,
               float* probs) {
    if (s.n_head % s.n_head_kv != 0)
        fail("attention: ", s.n_head, " heads do not split over ", s.n_head_kv, " KV heads");
    const kernels::TrainOps& ko = kernels::train_ops();
    const int64_t n = s.n, hd = s.head_dim, n_q = s.n_head * hd, n_kv = s.n_head_kv * hd;
    const int64_t group = s.n_head / s.n_head_kv;
    ThreadPool::global().parallel_for(s.n_head, [&](int64_t begin, int64_t end) {
        for (int64_t h = begin; h < end; ++h) {
            const int64_t g = h / group;
            for (int64_t i = 0; i < n; ++i) {
                float* row = probs + (h * n + i) * n;
                const int64_t lo = first_visible(s, i);
                std::fill(row, row + n, 0.0f);
                head_scores(s, ko, q, k, h, g, i, lo, row);
                const float zmax = *std::max_element(row + lo, row + i + 1);
                double sum = 0.0;
                for (int64_t j = lo; j <= i; ++j) {
                    row[j] = std::exp(row[j] - zmax);
                    sum += row[j];
                }
                const auto inv = static_cast<float>(1.0 / sum);
                float* o = out + i * n_q + h * hd;
                std::fill(o, o + hd, 0.0f);
                for (int64_t j = lo; j <= i; ++j) {
                    row[j] *= inv;
                    ko.axpy(row[j], v + j * n_kv + g * hd, o, hd);
                }
            }
        }
    });
}

void attention_backward(const AttentionShape& s, const float* q, const float* k, const float* v,
                        const float* probs, const float* dout, float* dq, float* dk, float* dv) {
    const kernels::TrainOps& ko = kernels::train_ops();
    const int64_t n = s.n, hd = s.head_dim, n_q = s.n_head * hd, n_kv = s.n_head_kv * hd;
    const int64_t group = s.n_head / s.n_head_kv;
    // Heads of one GQA group write the same K/V rows: each head gets its own dk/dv rows here,
    // summed per KV head afterwards, so threads never share written values.
    std::vector<float> dk_h(static_cast<size_t>(s.n_head * n * hd), 0.0f);
    std::vector<float> dv_h(dk_h.size(), 0.0f);
    ThreadPool::global().parallel_for(s.n_head, [&](int64_t begin, int64_t end) {
        std::vector<float> dp(static_cast<size_t>(n)), z(static_cast<size_t>(n));
        for (int64_t h = begin; h < end; ++h) {
            const int64_t g = h / group;
            float* dkh = &dk_h[static_cast<size_t>(h * n * hd)];
            float* dvh = &dv_h[static_cast<size_t>(h * n * hd)];
            for (int64_t i = 0; i < n; ++i) {
                const float* p = probs + (h * n + i) * n;
                const float* go = dout + i * n_q + h * hd;
                const int64_t lo = first_visible(s, i);
                // dP_ij = dout_i · v_j; dv_j += p_ij dout_i.
                double pdp = 0.0;
                for (int64_t j = lo; j <= i; ++j) {
                    dp[j] = ko.dot(go, v + j * n_kv + g * hd, hd);
                    pdp += static_cast<double>(p[j]) * dp[j];
                    ko.axpy(p[j], go, dvh + j * hd, hd);
                }
                if (s.softcap > 0.0f) head_scores(s, ko, q, k, h, g, i, lo, z.data());
                float* gq = dq + i * n_q + h * hd;
                std::fill(gq, gq + hd, 0.0f);
                const float* qi = q + i * n_q + h * hd;
                for (int64_t j = lo; j <= i; ++j) {
                    // Softmax backward, then the scale and the soft-cap (whose derivative comes
                    // from its output, the score before the scale).
                    float dz = p[j] * (dp[j] - static_cast<float>(pdp)) * s.scale;
                    if (s.softcap > 0.0f) dz *= softcap_grad_from_output(z[j] / s.scale, s.softcap);
                    ko.axpy(dz, k + j * n_kv + g * hd, gq, hd);
                    ko.axpy(dz, qi, dkh + j * hd, hd);
                }
            }
        }
    });
    std::fill(dk, dk + n * n_kv, 0.0f);
    std::fill(dv, dv + n * n_kv, 0.0f);
    for (int64_t h = 0; h < s.n_head; ++h) {
        const int64_t g = h / group;
        for (int64_t j = 0; j < n; ++j) {
            ko.axpy(1.0f, &dk_h[static_cast<size_t>((h * n + j) * hd)], dk + j * n_kv + g * hd, hd);
            ko.axpy(1.0f, &dv_h[static_cast<size_t>((h * n + j) * hd)], dv + j * n_kv + g * hd, hd);
        }
    }
}

}  // namespace pocket::train::ops
