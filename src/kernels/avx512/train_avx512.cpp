// AVX-512 training kernels (kernels/train_kernels.h): 16-wide fused multiply-adds, the tails
// under a mask instead of a scalar loop. No inline library code here (see
// attention_avx2.cpp for why).
#include <immintrin.h>

// GCC 12 reports the _mm512_undefined_* placeholders inside its own intrinsics (the horizontal
// sums' _mm512_extractf64x4_pd) as uninitialized; they are meant to be. Clang does not.
#if !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "kernels/train_kernels.h"

namespace pocket::kernels {
namespace {

inline __mmask16 tail_mask(int64_t left) {
    return static_cast<__mmask16>((1u << left) - 1u);
}

float dot_avx512(const float* a, const float* b, int64_t n) {
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
    }
    for (; i + 16 <= n; i += 16)
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
    if (i < n) {
        const __mmask16 m = tail_mask(n - i);
        s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), s1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

void dot4_avx512(const float* x, const float* w, int64_t ws, int64_t n, float* out) {
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps(), s2 = _mm512_setzero_ps(),
           s3 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512 xv = _mm512_loadu_ps(x + i);
        s0 = _mm512_fmadd_ps(xv, _mm512_loadu_ps(w + i), s0);
        s1 = _mm512_fmadd_ps(xv, _mm512_loadu_ps(w + ws + i), s1);
        s2 = _mm512_fmadd_ps(xv, _mm512_loadu_ps(w + 2 * ws + i), s2);
        s3 = _mm512_fmadd_ps(xv, _mm512_loadu_ps(w + 3 * ws + i), s3);
    }
    if (i < n) {
        const __mmask16 m = tail_mask(n - i);
        const __m512 xv = _mm512_maskz_loadu_ps(m, x + i);
        s0 = _mm512_fmadd_ps(xv, _mm512_maskz_loadu_ps(m, w + i), s0);
        s1 = _mm512_fmadd_ps(xv, _mm512_maskz_loadu_ps(m, w + ws + i), s1);
        s2 = _mm512_fmadd_ps(xv, _mm512_maskz_loadu_ps(m, w + 2 * ws + i), s2);
        s3 = _mm512_fmadd_ps(xv, _mm512_maskz_loadu_ps(m, w + 3 * ws + i), s3);
    }
    out[0] = _mm512_reduce_add_ps(s0);
    out[1] = _mm512_reduce_add_ps(s1);
    out[2] = _mm512_reduce_add_ps(s2);
    out[3] = _mm512_reduce_add_ps(s3);
}

void axpy_avx512(float a, const float* x, float* y, int64_t n) {
    const __m512 av = _mm512_set1_ps(a);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(y + i,
                         _mm512_fmadd_ps(av, _mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i)));
    if (i < n) {
        const __mmask16 m = tail_mask(n - i);
        _mm512_mask_storeu_ps(
            y + i, m,
            _mm512_fmadd_ps(av, _mm512_maskz_loadu_ps(m, x + i), _mm512_maskz_loadu_ps(m, y + i)));
    }
}

void axpy4_avx512(const float* a, const float* x, int64_t xs, float* y, int64_t n) {
    const __m512 a0 = _mm512_set1_ps(a[0]), a1 = _mm512_set1_ps(a[1]), a2 = _mm512_set1_ps(a[2]),
                 a3 = _mm512_set1_ps(a[3]);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 acc = _mm512_loadu_ps(y + i);
        acc = _mm512_fmadd_ps(a0, _mm512_loadu_ps(x + i), acc);
        acc = _mm512_fmadd_ps(a1, _mm512_loadu_ps(x + xs + i), acc);
        acc = _mm512_fmadd_ps(a2, _mm512_loadu_ps(x + 2 * xs + i), acc);
        acc = _mm512_fmadd_ps(a3, _mm512_loadu_ps(x + 3 * xs + i), acc);
        _mm512_storeu_ps(y + i, acc);
    }
    if (i < n) {
        const __mmask16 m = tail_mask(n - i);
        __m512 acc = _mm512_maskz_loadu_ps(m, y + i);
        acc = _mm512_fmadd_ps(a0, _mm512_maskz_loadu_ps(m, x + i), acc);
        acc = _mm512_fmadd_ps(a1, _mm512_maskz_loadu_ps(m, x + xs + i), acc);
        acc = _mm512_fmadd_ps(a2, _mm512_maskz_loadu_ps(m, x + 2 * xs + i), acc);
        acc = _mm512_fmadd_ps(a3, _mm512_maskz_loadu_ps(m, x + 3 * xs + i), acc);
        _mm512_mask_storeu_ps(y + i, m, acc);
    }
}

}  // namespace

void register_avx512_train(TrainOps& table) {
    table.dot = dot_avx512;
    table.dot4 = dot4_avx512;
    table.axpy = axpy_avx512;
    table.axpy4 = axpy4_avx512;
}

}  // namespace pocket::kernels
