// AVX2 + FMA training kernels (kernels/train_kernels.h): 8-wide fused multiply-adds, several
// partial sums per dot product. No inline library code here (see attention_avx2.cpp for why).
#include <immintrin.h>

#include "kernels/train_kernels.h"

namespace pocket::kernels {
namespace {

inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

float dot_avx2(const float* a, const float* b, int64_t n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
    }
    for (; i + 8 <= n; i += 8)
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    float sum = hsum(_mm256_add_ps(s0, s1));
    for (; i < n; ++i) sum += a[i] * b[i];
    return sum;
}

void dot4_avx2(const float* x, const float* w, int64_t ws, int64_t n, float* out) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(),
           s3 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 xv = _mm256_loadu_ps(x + i);
        s0 = _mm256_fmadd_ps(xv, _mm256_loadu_ps(w + i), s0);
        s1 = _mm256_fmadd_ps(xv, _mm256_loadu_ps(w + ws + i), s1);
        s2 = _mm256_fmadd_ps(xv, _mm256_loadu_ps(w + 2 * ws + i), s2);
        s3 = _mm256_fmadd_ps(xv, _mm256_loadu_ps(w + 3 * ws + i), s3);
    }
    float r0 = hsum(s0), r1 = hsum(s1), r2 = hsum(s2), r3 = hsum(s3);
    for (; i < n; ++i) {
        r0 += x[i] * w[i];
        r1 += x[i] * w[ws + i];
        r2 += x[i] * w[2 * ws + i];
        r3 += x[i] * w[3 * ws + i];
    }
    out[0] = r0;
    out[1] = r1;
    out[2] = r2;
    out[3] = r3;
}

void axpy_avx2(float a, const float* x, float* y, int64_t n) {
    const __m256 av = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i,
                         _mm256_fmadd_ps(av, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; ++i) y[i] += a * x[i];
}

void axpy4_avx2(const float* a, const float* x, int64_t xs, float* y, int64_t n) {
    const __m256 a0 = _mm256_set1_ps(a[0]), a1 = _mm256_set1_ps(a[1]), a2 = _mm256_set1_ps(a[2]),
                 a3 = _mm256_set1_ps(a[3]);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 acc = _mm256_loadu_ps(y + i);
        acc = _mm256_fmadd_ps(a0, _mm256_loadu_ps(x + i), acc);
        acc = _mm256_fmadd_ps(a1, _mm256_loadu_ps(x + xs + i), acc);
        acc = _mm256_fmadd_ps(a2, _mm256_loadu_ps(x + 2 * xs + i), acc);
        acc = _mm256_fmadd_ps(a3, _mm256_loadu_ps(x + 3 * xs + i), acc);
        _mm256_storeu_ps(y + i, acc);
    }
    for (; i < n; ++i)
        y[i] += a[0] * x[i] + a[1] * x[xs + i] + a[2] * x[2 * xs + i] + a[3] * x[3 * xs + i];
}

}  // namespace

void register_avx2_train(TrainOps& table) {
    table.dot = dot_avx2;
    table.dot4 = dot4_avx2;
    table.axpy = axpy_avx2;
    table.axpy4 = axpy4_avx2;
}

}  // namespace pocket::kernels
