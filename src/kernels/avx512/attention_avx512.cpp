// AVX-512 attention kernels, bit-identical to the scalar reference (see
// kernels/attention.h): the reference's 16 summation lanes are exactly one 512-bit
// register, and every step is the same fused multiply-add or addition as there. exp_approx scales
// by 2^n with vscalefps, which rounds once like ldexp (this is what llama.cpp's build does too).
//
// Compiled with AVX-512 flags: no inline library code here (see attention_avx2.cpp for why).
#include <immintrin.h>

// GCC 12 reports its own _mm512_undefined_* placeholders inside the intrinsics as maybe
// uninitialized; they are meant to be. (Clang has no such warning.)
#if !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "kernels/attention_table.h"
#include "kernels/blocks.h"

namespace pocket::kernels {
namespace {

constexpr int64_t kLanes = 16;
constexpr int64_t kMaxHeadDim = 512;  // stack buffers; larger heads take the scalar path

inline __m512 load_f16x16(const f16_t* p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}

inline float round_f16(float x) {
    return _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtps_ph(_mm_set_ss(x), _MM_FROUND_TO_NEAREST_INT)));
}

// tree_sum16 of one register: halves, quarters, then (q[0] + q[2]) + (q[1] + q[3]).
inline float tree_sum16(__m512 v) {
    const __m256 a8 = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
    const __m128 a4 = _mm_add_ps(_mm256_castps256_ps128(a8), _mm256_extractf128_ps(a8, 1));
    const __m128 t = _mm_add_ps(a4, _mm_movehl_ps(a4, a4));
    return _mm_cvtss_f32(_mm_add_ss(t, _mm_movehdup_ps(t)));
}

// tree_sum16 of four registers at once: returns [a, b, c, d].
inline __m128 tree_sum16_x4(__m512 a, __m512 b, __m512 c, __m512 d) {
    // [a8, b8] and [c8, d8], where a8[i] = a[i] + a[i + 8].
    const __m512 ab = _mm512_add_ps(_mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(1, 0, 1, 0)),
                                    _mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(3, 2, 3, 2)));
    const __m512 cd = _mm512_add_ps(_mm512_shuffle_f32x4(c, d, _MM_SHUFFLE(1, 0, 1, 0)),
                                    _mm512_shuffle_f32x4(c, d, _MM_SHUFFLE(3, 2, 3, 2)));
    // [a4, b4, c4, d4], where a4[i] = a8[i] + a8[i + 4].
    const __m512 s = _mm512_add_ps(_mm512_shuffle_f32x4(ab, cd, _MM_SHUFFLE(2, 0, 2, 0)),
                                   _mm512_shuffle_f32x4(ab, cd, _MM_SHUFFLE(3, 1, 3, 1)));
    // Per 128-bit quarter: t0 = a4[0] + a4[2], t1 = a4[1] + a4[3], then t0 + t1.
    const __m512 t = _mm512_add_ps(s, _mm512_permute_ps(s, _MM_SHUFFLE(1, 0, 3, 2)));
    const __m512 r = _mm512_add_ps(t, _mm512_permute_ps(t, _MM_SHUFFLE(2, 3, 0, 1)));
    const __m512i pick = _mm512_setr_epi32(0, 4, 8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
    return _mm512_castps512_ps128(_mm512_permutexvar_ps(pick, r));
}

inline __m512 exp_approx16(__m512 x) {
    const __m512 shift = _mm512_set1_ps(0x1.8p23f);
    const __m512 z = _mm512_fmadd_ps(x, _mm512_set1_ps(0x1.715476p+0f), shift);
    const __m512 n = _mm512_sub_ps(z, shift);
    const __m512 b = _mm512_fnmadd_ps(n, _mm512_set1_ps(0x1.7f7d1cp-20f),
                                      _mm512_fnmadd_ps(n, _mm512_set1_ps(0x1.62e4p-1f), x));
    const __m512 u = _mm512_mul_ps(b, b);
    const __m512 j = _mm512_fmadd_ps(
        _mm512_fmadd_ps(
            _mm512_fmadd_ps(_mm512_set1_ps(0x1.0e4020p-7f), b, _mm512_set1_ps(0x1.573e2ep-5f)), u,
            _mm512_fmadd_ps(_mm512_set1_ps(0x1.555e66p-3f), b, _mm512_set1_ps(0x1.fffdb6p-2f))),
        u, _mm512_fmadd_ps(_mm512_set1_ps(0x1.ffffecp-1f), b, _mm512_set1_ps(1.0f)));
    const __m512 result = _mm512_scalef_ps(j, n);
    const __mmask16 out_of_range =
        _mm512_cmp_ps_mask(_mm512_abs_ps(n), _mm512_set1_ps(192.0f), _CMP_GT_OQ);
    if (out_of_range == 0) return result;
    const __m512 zero = _mm512_setzero_ps();
    const __m512 saturated = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(n, zero, _CMP_LE_OQ),
                                                  _mm512_set1_ps(__builtin_inff()), zero);
    return _mm512_mask_blend_ps(out_of_range, result, saturated);
}

inline __mmask16 first_lanes(int64_t count) {
    return static_cast<__mmask16>(count >= kLanes ? 0xffffu : (1u << count) - 1u);
}

void to_f16(const float* x, f16_t* out, int64_t n) {
    for (int64_t i = 0; i < n; i += kLanes) {
        const __mmask16 m = first_lanes(n - i);
        const __m256i h =
            _mm512_cvtps_ph(_mm512_maskz_loadu_ps(m, x + i), _MM_FROUND_TO_NEAREST_INT);
        _mm256_mask_storeu_epi16(out + i, m, h);
    }
}

// Sixteen values of a KV block (int8, already centred) times d, rounded to F16 and stored.
inline void store_scaled_f16(__m128i q8, __m512 d, f16_t* out) {
    const __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q8)), d);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out),
                        _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
}

void q8_0_rows_to_f16(const std::byte* rows, size_t row_bytes, int64_t n_rows, int64_t first_block,
                      int64_t n_blocks, f16_t* out, int64_t out_stride) {
    for_each_kv_block<BlockQ8_0>(
        rows, row_bytes, n_rows, first_block, n_blocks, out, out_stride,
        [](const BlockQ8_0& block, f16_t* o) {
            const __m512 d = _mm512_set1_ps(_cvtsh_ss(block.d));
            store_scaled_f16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(block.qs)), d, o);
            store_scaled_f16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(block.qs + 16)), d,
                             o + 16);
        });
}

void q4_0_rows_to_f16(const std::byte* rows, size_t row_bytes, int64_t n_rows, int64_t first_block,
                      int64_t n_blocks, f16_t* out, int64_t out_stride) {
    for_each_kv_block<BlockQ4_0>(
        rows, row_bytes, n_rows, first_block, n_blocks, out, out_stride,
        [](const BlockQ4_0& block, f16_t* o) {
            const __m128i low = _mm_set1_epi8(0x0F), eight = _mm_set1_epi8(8);
            const __m512 d = _mm512_set1_ps(_cvtsh_ss(block.d));
            const __m128i qs = _mm_loadu_si128(reinterpret_cast<const __m128i*>(block.qs));
            // Values 0-15 are the low nibbles, 16-31 the high ones, each q - 8.
            store_scaled_f16(_mm_sub_epi8(_mm_and_si128(qs, low), eight), d, o);
            store_scaled_f16(_mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(qs, 4), low), eight), d,
                             o + 16);
        });
}

// Head size 8: as in attention_avx2.cpp, the products of one multiply added in double in order,
// bit-identical to the scalar reference.
void qk_head8(const f16_t* q, int64_t n_q, const f16_t* keys, int64_t key_stride, int64_t n_keys,
              float* scores, int64_t score_stride) {
    alignas(32) float p[8];
    for (int64_t i = 0; i < n_q; ++i) {
        const __m256 qv =
            _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q + i * 8)));
        for (int64_t j = 0; j < n_keys; ++j) {
            const __m256 kv = _mm256_cvtph_ps(
                _mm_loadu_si128(reinterpret_cast<const __m128i*>(keys + j * key_stride)));
            _mm256_store_ps(p, _mm256_mul_ps(qv, kv));
            double sum = 0.0;
            for (int l = 0; l < 8; ++l) sum += static_cast<double>(p[l]);
            scores[i * score_stride + j] = static_cast<float>(sum);
        }
    }
}

// A key row's next 16 values as F32, from the F16 cache.
inline __m512 load_key16(const f16_t* p) {
    return load_f16x16(p);
}

// out[j] = the query (F32, qf) against key j (keys + j * stride), 4 keys at a time, each a
// 16-lane fused sum folded by tree_sum16: the one order every qk path keeps.
template <class K>
void score_keys(const float* qf, const K* keys, int64_t stride, int64_t n_keys, int64_t head_dim,
                float* out) {
    int64_t j = 0;
    for (; j + 4 <= n_keys; j += 4) {
        const K* k0 = keys + j * stride;
        const K* k1 = k0 + stride;
        const K* k2 = k1 + stride;
        const K* k3 = k2 + stride;
        __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
        __m512 a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();
        for (int64_t d = 0; d < head_dim; d += kLanes) {
            const __m512 qv = _mm512_load_ps(qf + d);
            a0 = _mm512_fmadd_ps(qv, load_key16(k0 + d), a0);
            a1 = _mm512_fmadd_ps(qv, load_key16(k1 + d), a1);
            a2 = _mm512_fmadd_ps(qv, load_key16(k2 + d), a2);
            a3 = _mm512_fmadd_ps(qv, load_key16(k3 + d), a3);
        }
        _mm_storeu_ps(out + j, tree_sum16_x4(a0, a1, a2, a3));
    }
    for (; j < n_keys; ++j) {
        const K* k = keys + j * stride;
        __m512 a = _mm512_setzero_ps();
        for (int64_t d = 0; d < head_dim; d += kLanes)
            a = _mm512_fmadd_ps(_mm512_load_ps(qf + d), load_key16(k + d), a);
        out[j] = tree_sum16(a);
    }
}

// score_keys for kQ queries at once: each key is loaded (and converted) once for all of them. Every
// score is formed exactly as score_keys forms it (same fused multiply-adds, same tree).
template <int kQ>
void score_keys_group(const float* const* qf, const f16_t* keys, int64_t stride, int64_t n_keys,
                      int64_t head_dim, float* const* out) {
    int64_t j = 0;
    for (; j + 4 <= n_keys; j += 4) {
        const f16_t* k0 = keys + j * stride;
        __m512 a[kQ][4];
        for (auto& row : a)
            for (auto& v : row) v = _mm512_setzero_ps();
        for (int64_t d = 0; d < head_dim; d += kLanes) {
            __m512 kv[4];
            for (int c = 0; c < 4; ++c) kv[c] = load_key16(k0 + c * stride + d);
            for (int r = 0; r < kQ; ++r) {
                const __m512 qv = _mm512_load_ps(qf[r] + d);
                for (int c = 0; c < 4; ++c) a[r][c] = _mm512_fmadd_ps(qv, kv[c], a[r][c]);
            }
        }
        for (int r = 0; r < kQ; ++r)
            _mm_storeu_ps(out[r] + j, tree_sum16_x4(a[r][0], a[r][1], a[r][2], a[r][3]));
    }
    for (; j < n_keys; ++j) {
        const f16_t* k = keys + j * stride;
        __m512 a[kQ];
        for (auto& v : a) v = _mm512_setzero_ps();
        for (int64_t d = 0; d < head_dim; d += kLanes) {
            const __m512 kv = load_key16(k + d);
            for (int r = 0; r < kQ; ++r)
                a[r] = _mm512_fmadd_ps(_mm512_load_ps(qf[r] + d), kv, a[r]);
        }
        for (int r = 0; r < kQ; ++r) out[r][j] = tree_sum16(a[r]);
    }
}

// Few queries (generation: one token's GQA group): the keys are converted as they are read, once
// per group of up to 4 queries (converting them once per query cost as much as the products).
void qk_inline(const f16_t* q, int64_t n_q, const f16_t* keys, int64_t key_stride, int64_t n_keys,
               int64_t head_dim, float* scores, int64_t score_stride) {
    constexpr int kGroup = 4;
    for (int64_t i0 = 0; i0 < n_q; i0 += kGroup) {
        const int n = static_cast<int>(n_q - i0 < kGroup ? n_q - i0 : kGroup);
        alignas(64) float qbuf[kGroup][kMaxHeadDim];
        const float* qf[kGroup];
        float* out[kGroup];
        for (int r = 0; r < n; ++r) {
            for (int64_t d = 0; d < head_dim; d += kLanes)
                _mm512_store_ps(qbuf[r] + d, load_f16x16(q + (i0 + r) * head_dim + d));
            qf[r] = qbuf[r];
            out[r] = scores + (i0 + r) * score_stride;
        }
        switch (n) {
            case 4:
                score_keys_group<4>(qf, keys, key_stride, n_keys, head_dim, out);
                break;
            case 3:
                score_keys_group<3>(qf, keys, key_stride, n_keys, head_dim, out);
                break;
            case 2:
                score_keys_group<2>(qf, keys, key_stride, n_keys, head_dim, out);
                break;
            default:
                score_keys(qf[0], keys, key_stride, n_keys, head_dim, out[0]);
                break;
        }
    }
}

// 16 keys' rows (F16, `stride` apart; fewer than 16 are padded with zeros) as head_dim
// registers of 16 keys each: kt[d * 16 + j] = key j's value d, in F32.
void transpose_keys16(const f16_t* keys, int64_t stride, int64_t nk, int64_t head_dim, float* kt) {
    for (int64_t d0 = 0; d0 < head_dim; d0 += kLanes) {
        __m512 r[16], t[16];
        for (int64_t j = 0; j < 16; ++j)
            r[j] = j < nk ? load_f16x16(keys + j * stride + d0) : _mm512_setzero_ps();
        for (int i = 0; i < 8; ++i) {
            t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
            t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
        }
        // r[4i + c], 128-bit quarter k: keys 4i..4i+3 at value 4k + c.
        for (int i = 0; i < 4; ++i) {
            r[4 * i] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], _MM_SHUFFLE(1, 0, 1, 0));
            r[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], _MM_SHUFFLE(3, 2, 3, 2));
            r[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(1, 0, 1, 0));
            r[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(3, 2, 3, 2));
        }
        float* out = kt + d0 * 16;
        for (int c = 0; c < 4; ++c) {
            const __m512 a = _mm512_shuffle_f32x4(r[c], r[4 + c], _MM_SHUFFLE(2, 0, 2, 0));
            const __m512 b = _mm512_shuffle_f32x4(r[c], r[4 + c], _MM_SHUFFLE(3, 1, 3, 1));
            const __m512 e = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], _MM_SHUFFLE(2, 0, 2, 0));
            const __m512 f = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], _MM_SHUFFLE(3, 1, 3, 1));
            _mm512_store_ps(out + c * 16, _mm512_shuffle_f32x4(a, e, _MM_SHUFFLE(2, 0, 2, 0)));
            _mm512_store_ps(out + (8 + c) * 16,
                            _mm512_shuffle_f32x4(a, e, _MM_SHUFFLE(3, 1, 3, 1)));
            _mm512_store_ps(out + (4 + c) * 16,
                            _mm512_shuffle_f32x4(b, f, _MM_SHUFFLE(2, 0, 2, 0)));
            _mm512_store_ps(out + (12 + c) * 16,
                            _mm512_shuffle_f32x4(b, f, _MM_SHUFFLE(3, 1, 3, 1)));
        }
    }
}

// Summation lane l (values d = l, l + 16, ...) of kRows queries against 16 transposed keys:
// acc[r] lane j = the reference's lane l of query r's dot with key j, the same fused
// multiply-adds in the same order from +0.
template <int kRows, int l>
inline void lane_sums(const float* const* qf, const float* kt, int64_t head_dim, __m512* acc) {
    for (int r = 0; r < kRows; ++r) acc[r] = _mm512_setzero_ps();
    for (int64_t d = l; d < head_dim; d += kLanes) {
        const __m512 k = _mm512_load_ps(kt + d * 16);
        for (int r = 0; r < kRows; ++r)
            acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(qf[r][d]), k, acc[r]);
    }
}

// tree_sum16's partial sums as whole registers (16 keys each): a8[i] = v[i + 8] + v[i],
// a4[i] = a8[i + 4] + a8[i], each built from its lanes as it is needed, so few are live at once.
template <int kRows, int i>
inline void a8_sums(const float* const* qf, const float* kt, int64_t head_dim, __m512* out) {
    __m512 lo[kRows], hi[kRows];
    lane_sums<kRows, i>(qf, kt, head_dim, lo);
    lane_sums<kRows, i + 8>(qf, kt, head_dim, hi);
    for (int r = 0; r < kRows; ++r) out[r] = _mm512_add_ps(hi[r], lo[r]);
}
template <int kRows, int i>
inline void a4_sums(const float* const* qf, const float* kt, int64_t head_dim, __m512* out) {
    __m512 lo[kRows], hi[kRows];
    a8_sums<kRows, i>(qf, kt, head_dim, lo);
    a8_sums<kRows, i + 4>(qf, kt, head_dim, hi);
    for (int r = 0; r < kRows; ++r) out[r] = _mm512_add_ps(hi[r], lo[r]);
}

// Scores of kRows queries (F32 rows qf[r]) against 16 transposed keys: lane j of out[r] is
// key j's score, tree_sum16 as (a4[0] + a4[2]) + (a4[1] + a4[3]), with no horizontal step.
template <int kRows>
inline void score_block16(const float* const* qf, const float* kt, int64_t head_dim,
                          float* const* out, __mmask16 keys) {
    __m512 s02[kRows], x[kRows], y[kRows];
    a4_sums<kRows, 0>(qf, kt, head_dim, x);
    a4_sums<kRows, 2>(qf, kt, head_dim, y);
    for (int r = 0; r < kRows; ++r) s02[r] = _mm512_add_ps(x[r], y[r]);
    a4_sums<kRows, 1>(qf, kt, head_dim, x);
    a4_sums<kRows, 3>(qf, kt, head_dim, y);
    for (int r = 0; r < kRows; ++r)
        _mm512_mask_storeu_ps(out[r], keys, _mm512_add_ps(s02[r], _mm512_add_ps(x[r], y[r])));
}

// Many queries (a prompt block: tokens x GQA group): the keys are transposed once per block of
// 16 (value d of 16 keys in one register), so each query's 16 scores come from fused
// multiply-adds with its values broadcast, and the tree of every score's 16 lanes is
// register-wide additions: no shuffles per score, and each key register serves kQueryRows
// queries. Each score's sum is the same as qk_inline's.
constexpr int kQueryRows = 4;
constexpr int64_t kKeyScratch = 8192;  // floats of transposed keys (32 KiB)

template <int kRows>
void score_rows(const f16_t* q, int64_t head_dim, const float* kt, int64_t n_keys, float* scores,
                int64_t score_stride, float* qbuf) {
    const float* qf[kRows];
    for (int r = 0; r < kRows; ++r) {
        float* row = qbuf + r * head_dim;
        for (int64_t d = 0; d < head_dim; d += kLanes)
            _mm512_store_ps(row + d, load_f16x16(q + r * head_dim + d));
        qf[r] = row;
    }
    for (int64_t j = 0; j < n_keys; j += 16) {
        float* out[kRows];
        for (int r = 0; r < kRows; ++r) out[r] = scores + r * score_stride + j;
        score_block16<kRows>(qf, kt + j * head_dim, head_dim, out, first_lanes(n_keys - j));
    }
}

void qk_converted(const f16_t* q, int64_t n_q, const f16_t* keys, int64_t key_stride,
                  int64_t n_keys, int64_t head_dim, float* scores, int64_t score_stride) {
    alignas(64) float kt[kKeyScratch];
    alignas(64) float qbuf[kQueryRows * kMaxHeadDim];
    const int64_t block = kKeyScratch / head_dim / 16 * 16;  // >= 16 keys
    for (int64_t j0 = 0; j0 < n_keys; j0 += block) {
        const int64_t nk = n_keys - j0 < block ? n_keys - j0 : block;
        for (int64_t j = 0; j < nk; j += 16) {
            transpose_keys16(keys + (j0 + j) * key_stride, key_stride, nk - j < 16 ? nk - j : 16,
                             head_dim, kt + j * head_dim);
        }
        float* s = scores + j0;
        int64_t i = 0;
        for (; i + kQueryRows <= n_q; i += kQueryRows) {
            score_rows<kQueryRows>(q + i * head_dim, head_dim, kt, nk, s + i * score_stride,
                                   score_stride, qbuf);
        }
        switch (n_q - i) {
            case 3:
                score_rows<3>(q + i * head_dim, head_dim, kt, nk, s + i * score_stride,
                              score_stride, qbuf);
                break;
            case 2:
                score_rows<2>(q + i * head_dim, head_dim, kt, nk, s + i * score_stride,
                              score_stride, qbuf);
                break;
            case 1:
                score_rows<1>(q + i * head_dim, head_dim, kt, nk, s + i * score_stride,
                              score_stride, qbuf);
                break;
            default:
                break;
        }
    }
}

constexpr int64_t kShareQueries = 16;

void qk(const f16_t* q, int64_t n_q, const f16_t* keys, int64_t key_stride, int64_t n_keys,
        int64_t head_dim, float* scores, int64_t score_stride) {
    if (head_dim == 8) {
        qk_head8(q, n_q, keys, key_stride, n_keys, scores, score_stride);
        return;
    }
    if (head_dim % kLanes != 0 || head_dim > kMaxHeadDim) {
        scalar_attention::qk(q, n_q, keys, key_stride, n_keys, head_dim, scores, score_stride);
        return;
    }
    if (n_q >= kShareQueries) {
        qk_converted(q, n_q, keys, key_stride, n_keys, head_dim, scores, score_stride);
    } else {
        qk_inline(q, n_q, keys, key_stride, n_keys, head_dim, scores, score_stride);
    }
}

void pv(const float* probs, int64_t prob_stride, int64_t n_q, const f16_t* values,
        int64_t value_stride, int64_t n_values, int64_t first_pos, int64_t head_dim, float* acc) {
    if (head_dim % kLanes != 0 || head_dim > kMaxHeadDim) {
        scalar_attention::pv(probs, prob_stride, n_q, values, value_stride, n_values, first_pos,
                             head_dim, acc);
        return;
    }
    alignas(64) float vf[kMaxHeadDim];
    for (int64_t j = 0; j < n_values; ++j) {
        const f16_t* value = values + j * value_stride;
        const int64_t lane = (first_pos + j) % kLanes;
        if (n_q == 1) {
            const __m512 p = _mm512_set1_ps(round_f16(probs[j]));
            float* a = acc + lane * head_dim;
            for (int64_t d = 0; d < head_dim; d += kLanes) {
                _mm512_storeu_ps(
                    a + d, _mm512_fmadd_ps(p, load_f16x16(value + d), _mm512_loadu_ps(a + d)));
            }
            continue;
        }
        for (int64_t d = 0; d < head_dim; d += kLanes)
            _mm512_store_ps(vf + d, load_f16x16(value + d));
        for (int64_t i = 0; i < n_q; ++i) {
            const __m512 p = _mm512_set1_ps(round_f16(probs[i * prob_stride + j]));
            float* a = acc + (i * kLanes + lane) * head_dim;
            for (int64_t d = 0; d < head_dim; d += kLanes) {
                _mm512_storeu_ps(
                    a + d, _mm512_fmadd_ps(p, _mm512_load_ps(vf + d), _mm512_loadu_ps(a + d)));
            }
        }
    }
}

void pv_reduce(const float* acc, int64_t head_dim, float* out) {
    if (head_dim % kLanes != 0) {
        scalar_attention::pv_reduce(acc, head_dim, out);
        return;
    }
    for (int64_t d = 0; d < head_dim; d += kLanes) {
        __m512 a8[8];
        for (int64_t l = 0; l < 8; ++l) {
            a8[l] = _mm512_add_ps(_mm512_loadu_ps(acc + (l + 8) * head_dim + d),
                                  _mm512_loadu_ps(acc + l * head_dim + d));
        }
        __m512 a4[4];
        for (int64_t l = 0; l < 4; ++l) a4[l] = _mm512_add_ps(a8[l + 4], a8[l]);
        _mm512_storeu_ps(out + d,
                         _mm512_add_ps(_mm512_add_ps(a4[0], a4[2]), _mm512_add_ps(a4[1], a4[3])));
    }
}

// pv_rows with the 16 position lanes of 16 values of d in registers: no lanes in memory to zero,
// add to and read back, which took most of a short prompt's exact attention. Per query the
// F16-rounded probabilities are made once; per 16 values of d the runs pass in order, position
// by position into lane position mod 16 (blocks of 16 positions aligned to the lanes, so each
// lane is a fixed register), then the lanes fold as pv_reduce folds them.
void pv_rows(const float* probs, int64_t prob_stride, int64_t n_q, std::span<const PvRun> runs,
             int64_t value_stride, int64_t head_dim, float* out, int64_t out_stride) {
    constexpr int64_t kMaxSpan = 512;  // positions whose rounded probabilities fit on the stack
    const int64_t base = runs.empty() ? 0 : runs.front().first_pos;
    const int64_t span = runs.empty() ? 0 : runs.back().first_pos + runs.back().n_values - base;
    if (head_dim % kLanes != 0 || span > kMaxSpan) {
        pv_rows_by_lanes<pv, pv_reduce>(probs, prob_stride, n_q, runs, value_stride, head_dim, out,
                                        out_stride);
        return;
    }
    alignas(64) float rounded[kMaxSpan];
    for (int64_t i = 0; i < n_q; ++i) {
        const float* row = probs + i * prob_stride;
        for (const PvRun& run : runs) {
            for (int64_t j = 0; j < run.n_values; ++j)
                rounded[run.first_pos - base + j] = round_f16(row[run.first_pos + j]);
        }
        for (int64_t d = 0; d < head_dim; d += kLanes) {
            __m512 lane[kLanes];
            for (auto& l : lane) l = _mm512_setzero_ps();
            for (const PvRun& run : runs) {
                const int64_t end = run.first_pos + run.n_values;
                // Blocks of 16 positions starting at a multiple of 16: position block + l is
                // lane l. Only the first and last block can be partial.
                for (int64_t block = run.first_pos - run.first_pos % kLanes; block < end;
                     block += kLanes) {
#pragma GCC unroll 16
                    for (int64_t l = 0; l < kLanes; ++l) {
                        const int64_t pos = block + l;
                        if (pos < run.first_pos || pos >= end) continue;
                        const f16_t* value = run.values + (pos - run.first_pos) * value_stride;
                        lane[l] = _mm512_fmadd_ps(_mm512_set1_ps(rounded[pos - base]),
                                                  load_f16x16(value + d), lane[l]);
                    }
                }
            }
            __m512 a8[8];
            for (int l = 0; l < 8; ++l) a8[l] = _mm512_add_ps(lane[l + 8], lane[l]);
            __m512 a4[4];
            for (int l = 0; l < 4; ++l) a4[l] = _mm512_add_ps(a8[l + 4], a8[l]);
            _mm512_storeu_ps(out + i * out_stride + d, _mm512_add_ps(_mm512_add_ps(a4[0], a4[2]),
                                                                     _mm512_add_ps(a4[1], a4[3])));
        }
    }
}

void softmax(float* scores, int64_t n, float scale) {
    const __m512 vscale = _mm512_set1_ps(scale);
    const __m512 minus_inf = _mm512_set1_ps(-__builtin_inff());
    __m512 vmax = minus_inf;
    for (int64_t i = 0; i < n; i += kLanes) {
        const __mmask16 m = first_lanes(n - i);
        const __m512 x = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, scores + i), vscale);
        _mm512_mask_storeu_ps(scores + i, m, x);
        vmax = _mm512_mask_max_ps(vmax, m, vmax, x);
    }
    const float max = _mm512_reduce_max_ps(vmax);
    const __m512 vmax_all = _mm512_set1_ps(max);
    double sum = 0.0;
    for (int64_t g = 0; g < n; g += kLanes) {
        // Entries past the row are masked: weight 0.
        const __mmask16 m = first_lanes(n - g);
        const __m512 e = _mm512_maskz_mov_ps(
            m, exp_approx16(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, scores + g), vmax_all)));
        _mm512_mask_storeu_ps(scores + g, m, e);
        sum += static_cast<double>(tree_sum16(e));
    }
    const __m512 vinv = _mm512_set1_ps(static_cast<float>(1.0 / sum));
    for (int64_t i = 0; i < n; i += kLanes) {
        const __mmask16 m = first_lanes(n - i);
        _mm512_mask_storeu_ps(scores + i, m,
                              _mm512_mul_ps(_mm512_maskz_loadu_ps(m, scores + i), vinv));
    }
}

void silu_mul(float* gate, const float* up, int64_t n) {
    const int64_t whole = n - n % kLanes;
    const __m512 one = _mm512_set1_ps(1.0f);
    for (int64_t i = 0; i < whole; i += kLanes) {
        const __m512 g = _mm512_loadu_ps(gate + i);
        const __m512 e = exp_approx16(_mm512_xor_ps(g, _mm512_set1_ps(-0.0f)));
        _mm512_storeu_ps(gate + i, _mm512_mul_ps(_mm512_div_ps(g, _mm512_add_ps(one, e)),
                                                 _mm512_loadu_ps(up + i)));
    }
    // Fewer than 16 left: the reference evaluates those with expf.
    scalar_attention::silu_mul(gate + whole, up + whole, n - whole);
}

// Tiles of at most 16 * kVecs entries (the model's): each row's scaled scores stay in registers
// between the max and the exponentials, and the per-row bookkeeping (rescale exponential, sum,
// max) is done for 16 rows at once, the same single operations lane by lane.
template <int kVecs>
void softmax_tile_short(float* scores, int64_t score_stride, int64_t n_q, int64_t n, float scale,
                        float* row_max, float* row_sum, float* rescale) {
    const __m512 vscale = _mm512_set1_ps(scale);
    __mmask16 m[kVecs];
    for (int v = 0; v < kVecs; ++v) m[v] = first_lanes(n - 16 * v);
    for (int64_t i0 = 0; i0 < n_q; i0 += kLanes) {
        const __mmask16 rows = first_lanes(n_q - i0);
        alignas(64) float maxes[kLanes] = {}, sums[kLanes] = {};
        unsigned live = 0;  // rows that see something: their bookkeeping changes
        for (int64_t r = 0; r < kLanes && i0 + r < n_q; ++r) {
            float* row = scores + (i0 + r) * score_stride;
            __m512 x[kVecs];
            __m512 vmax = _mm512_set1_ps(row_max[i0 + r]);
            for (int v = 0; v < kVecs; ++v) {
                x[v] = _mm512_mul_ps(_mm512_maskz_loadu_ps(m[v], row + 16 * v), vscale);
                vmax = _mm512_mask_max_ps(vmax, m[v], vmax, x[v]);
            }
            const float max = _mm512_reduce_max_ps(vmax);
            if (max == -__builtin_inff()) {
                for (int v = 0; v < kVecs; ++v)
                    _mm512_mask_storeu_ps(row + 16 * v, m[v], _mm512_setzero_ps());
                continue;
            }
            live |= 1u << r;
            maxes[r] = max;
            const __m512 vm = _mm512_set1_ps(max);
            __m512 lanes = _mm512_setzero_ps();
            for (int v = 0; v < kVecs; ++v) {
                const __m512 e = _mm512_maskz_mov_ps(m[v], exp_approx16(_mm512_sub_ps(x[v], vm)));
                _mm512_mask_storeu_ps(row + 16 * v, m[v], e);
                lanes = _mm512_add_ps(lanes, e);  // masked lanes add +0: unchanged
            }
            sums[r] = tree_sum16(lanes);
        }
        const auto seen = static_cast<__mmask16>(live & rows);
        const __m512 old_max = _mm512_maskz_loadu_ps(seen, row_max + i0);
        const __m512 new_max = _mm512_load_ps(maxes);
        const __m512 r = _mm512_mask_blend_ps(seen, _mm512_set1_ps(1.0f),
                                              exp_approx16(_mm512_sub_ps(old_max, new_max)));
        _mm512_mask_storeu_ps(rescale + i0, rows, r);
        _mm512_mask_storeu_ps(
            row_sum + i0, seen,
            _mm512_fmadd_ps(_mm512_maskz_loadu_ps(seen, row_sum + i0), r, _mm512_load_ps(sums)));
        _mm512_mask_storeu_ps(row_max + i0, seen, new_max);
    }
}

// The online-softmax step (attention.h): scale, max, exponentials and their 16 lane sums in one
// register per row, the reference's per-row bookkeeping with the same single operations.
void softmax_tile(float* scores, int64_t score_stride, int64_t n_q, int64_t n, float scale,
                  float* row_max, float* row_sum, float* rescale) {
    switch ((n + kLanes - 1) / kLanes) {
        case 1:
            softmax_tile_short<1>(scores, score_stride, n_q, n, scale, row_max, row_sum, rescale);
            return;
        case 2:
            softmax_tile_short<2>(scores, score_stride, n_q, n, scale, row_max, row_sum, rescale);
            return;
        case 3:
            softmax_tile_short<3>(scores, score_stride, n_q, n, scale, row_max, row_sum, rescale);
            return;
        case 4:
            softmax_tile_short<4>(scores, score_stride, n_q, n, scale, row_max, row_sum, rescale);
            return;
        default:
            break;
    }
    const __m512 vscale = _mm512_set1_ps(scale);
    for (int64_t i = 0; i < n_q; ++i) {
        float* row = scores + i * score_stride;
        __m512 vmax = _mm512_set1_ps(row_max[i]);
        for (int64_t j = 0; j < n; j += kLanes) {
            const __mmask16 m = first_lanes(n - j);
            const __m512 x = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, row + j), vscale);
            _mm512_mask_storeu_ps(row + j, m, x);
            vmax = _mm512_mask_max_ps(vmax, m, vmax, x);
        }
        const float max = _mm512_reduce_max_ps(vmax);
        if (max == -__builtin_inff()) {
            for (int64_t j = 0; j < n; j += kLanes)
                _mm512_mask_storeu_ps(row + j, first_lanes(n - j), _mm512_setzero_ps());
            rescale[i] = 1.0f;
            continue;
        }
        const __m512 vm = _mm512_set1_ps(max);
        __m512 lanes = _mm512_setzero_ps();
        for (int64_t j = 0; j < n; j += kLanes) {
            const __mmask16 m = first_lanes(n - j);
            const __m512 e = _mm512_maskz_mov_ps(
                m, exp_approx16(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, row + j), vm)));
            _mm512_mask_storeu_ps(row + j, m, e);
            lanes = _mm512_add_ps(lanes, e);  // masked lanes add +0: unchanged
        }
        const float r = _mm512_cvtss_f32(exp_approx16(_mm512_set1_ps(row_max[i] - max)));
        rescale[i] = r;
        row_sum[i] = _mm_cvtss_f32(
            _mm_fmadd_ss(_mm_set_ss(row_sum[i]), _mm_set_ss(r), _mm_set_ss(tree_sum16(lanes))));
        row_max[i] = max;
    }
}

// Accumulates head_dim in kRegs registers for each of kRows rows across the tile's values: every
// value register loaded serves all the rows (a row's sums are its own, in value order). With
// kMasked, a row whose weight is 0 leaves its accumulators as they are (masked fused
// multiply-add: exactly the reference's skip, signed zeros included) and a value no row weighs
// is not read; without it, no weight may be 0 (the common tile, wholly visible to the rows).
template <int kRegs, int kRows, bool kMasked, class V>
inline void pv_block(const float* p, int64_t p_stride, int64_t n_values, const V* v,
                     int64_t v_stride, const float* r, float* a, int64_t a_stride) {
    __m512 acc[kRows][kRegs];
    for (int i = 0; i < kRows; ++i) {
        const __m512 vr = _mm512_set1_ps(r[i]);
        for (int k = 0; k < kRegs; ++k)
            acc[i][k] = _mm512_mul_ps(_mm512_loadu_ps(a + i * a_stride + 16 * k), vr);
    }
    for (int64_t j = 0; j < n_values; ++j) {
        __mmask16 use[kRows];
        if constexpr (kMasked) {
            unsigned any = 0;
            for (int i = 0; i < kRows; ++i) {
                use[i] = p[i * p_stride + j] != 0.0f ? 0xffff : 0;
                any |= use[i];
            }
            if (any == 0) continue;
        }
        const V* vj = v + j * v_stride;
        for (int k = 0; k < kRegs; ++k) {
            __m512 vk;
            if constexpr (sizeof(V) == 2) {
                vk = load_f16x16(vj + 16 * k);
            } else {
                vk = _mm512_load_ps(vj + 16 * k);
            }
            for (int i = 0; i < kRows; ++i) {
                const __m512 pj = _mm512_set1_ps(p[i * p_stride + j]);
                if constexpr (kMasked) {
                    acc[i][k] = _mm512_mask3_fmadd_ps(pj, vk, acc[i][k], use[i]);
                } else {
                    acc[i][k] = _mm512_fmadd_ps(pj, vk, acc[i][k]);
                }
            }
        }
    }
    for (int i = 0; i < kRows; ++i)
        for (int k = 0; k < kRegs; ++k) _mm512_storeu_ps(a + i * a_stride + 16 * k, acc[i][k]);
}

// kRows rows (probabilities p_stride apart, accumulators a_stride apart) over head_dim from d,
// in column slices of kWide registers per row, then narrower ones for what is left.
template <int kRows, int kWide, bool kMasked, class V>
inline void pv_rows_from(int64_t d, const float* p, int64_t p_stride, int64_t n_values, const V* v,
                         int64_t v_stride, int64_t head_dim, const float* r, float* a,
                         int64_t a_stride) {
    for (; d + 16 * kWide <= head_dim; d += 16 * kWide)
        pv_block<kWide, kRows, kMasked>(p, p_stride, n_values, v + d, v_stride, r, a + d, a_stride);
    if constexpr (kWide > 1) {
        pv_rows_from<kRows, kWide / 2, kMasked>(d, p, p_stride, n_values, v, v_stride, head_dim, r,
                                                a, a_stride);
    }
}

// At most 16 accumulators in registers (8 for one row, as many as hide the latency). The
// unmasked loop serves rows that weigh every value (a vector test per 16 weights decides).
template <int kRows, class V>
inline void pv_rows(const float* p, int64_t p_stride, int64_t n_values, const V* v,
                    int64_t v_stride, int64_t head_dim, const float* r, float* a,
                    int64_t a_stride) {
    constexpr int kWide = kRows <= 2 ? 8 : 4;
    bool zeros = false;
    for (int i = 0; i < kRows && !zeros; ++i) {
        for (int64_t j = 0; j < n_values; j += kLanes) {
            const __mmask16 m = first_lanes(n_values - j);
            const __m512 x = _mm512_maskz_loadu_ps(m, p + i * p_stride + j);
            if (_mm512_mask_cmp_ps_mask(m, x, _mm512_setzero_ps(), _CMP_EQ_OQ) != 0) {
                zeros = true;
                break;
            }
        }
    }
    if (zeros) {
        pv_rows_from<kRows, kWide, true>(0, p, p_stride, n_values, v, v_stride, head_dim, r, a,
                                         a_stride);
    } else {
        pv_rows_from<kRows, kWide, false>(0, p, p_stride, n_values, v, v_stride, head_dim, r, a,
                                          a_stride);
    }
}

constexpr int64_t kTileScratch = 8192;  // floats of converted value rows (32 KiB)
constexpr int kValueRows = 4;           // rows sharing each value register

void pv_tile(const float* probs, int64_t prob_stride, int64_t n_q, const f16_t* values,
             int64_t value_stride, int64_t n_values, int64_t head_dim, const float* rescale,
             float* acc) {
    if (head_dim % kLanes != 0 || head_dim > kMaxHeadDim) {
        scalar_attention::pv_tile(probs, prob_stride, n_q, values, value_stride, n_values, head_dim,
                                  rescale, acc);
        return;
    }
    if (n_q == 1) {  // nothing to share: read the F16 rows in place
        pv_rows<1>(probs, prob_stride, n_values, values, value_stride, head_dim, rescale, acc,
                   head_dim);
        return;
    }
    alignas(64) float vf[kTileScratch];
    const float ones[kValueRows] = {1.0f, 1.0f, 1.0f, 1.0f};
    const int64_t chunk = kTileScratch / head_dim;  // >= 16 positions
    for (int64_t c0 = 0; c0 < n_values; c0 += chunk) {
        const int64_t n = n_values - c0 < chunk ? n_values - c0 : chunk;
        for (int64_t j = 0; j < n; ++j) {
            const f16_t* value = values + (c0 + j) * value_stride;
            for (int64_t d = 0; d < head_dim; d += kLanes)
                _mm512_store_ps(vf + j * head_dim + d, load_f16x16(value + d));
        }
        const float* vfc = vf;
        // The rescale applies once, before the first chunk (times 1 after: unchanged).
        auto rows = [&]<int kRows>(int64_t i) {
            pv_rows<kRows>(probs + i * prob_stride + c0, prob_stride, n, vfc, head_dim, head_dim,
                           c0 == 0 ? rescale + i : ones, acc + i * head_dim, head_dim);
        };
        int64_t i = 0;
        if (head_dim % 128 == 0) {  // 2 rows x 8 registers: a little faster there than 4 x 4
            for (; i + 2 <= n_q; i += 2) rows.template operator()<2>(i);
        }
        for (; i + kValueRows <= n_q; i += kValueRows) rows.template operator()<kValueRows>(i);
        switch (n_q - i) {
            case 3:
                rows.template operator()<3>(i);
                break;
            case 2:
                rows.template operator()<2>(i);
                break;
            case 1:
                rows.template operator()<1>(i);
                break;
            default:
                break;
        }
    }
}

void fold_acc(float* acc, const float* part, float ca, float cb, int64_t n) {
    const __m512 va = _mm512_set1_ps(ca), vb = _mm512_set1_ps(cb);
    for (int64_t d = 0; d < n; d += kLanes) {
        const __mmask16 m = first_lanes(n - d);
        _mm512_mask_storeu_ps(
            acc + d, m,
            _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, acc + d), va,
                            _mm512_mul_ps(_mm512_maskz_loadu_ps(m, part + d), vb)));
    }
}

}  // namespace

void register_avx512_attention(AttentionOps& ops) {
    ops.fold_acc = fold_acc;
    ops.exp_approx = [](float x) { return _mm512_cvtss_f32(exp_approx16(_mm512_set1_ps(x))); };
    ops.softmax_tile = softmax_tile;
    ops.pv_tile = pv_tile;
    ops.to_f16 = to_f16;
    ops.q8_0_rows_to_f16 = q8_0_rows_to_f16;
    ops.q4_0_rows_to_f16 = q4_0_rows_to_f16;
    ops.qk = qk;
    ops.pv = pv;
    ops.pv_reduce = pv_reduce;
    ops.pv_rows = pv_rows;
    ops.softmax = softmax;
    ops.silu_mul = silu_mul;
}

}  // namespace pocket::kernels
