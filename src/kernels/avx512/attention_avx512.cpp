// AVX-512 attention kernels, bit-identical to the scalar reference (see
// kernels/attention.h): the reference's 16 summation lanes are exactly one 512-bit
// register, and every step is the same fused multiply-add or addition as there. exp_approx scales
// by 2^n with vscalefps, which rounds once like ldexp (this is what llama.cpp's build does too).
//
// Compiled with AVX-512 flags: no inline library code here (see attention_avx2.cpp for why).
#include <immintrin.h>

// GCC 12 reports its own _mm512_undefined_* placeholders inside the intrinsics as maybe
// uninitialized; they are meant to be.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "kernels/attention_table.h"

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

// A key row's next 16 values as F32: from the F16 cache, or from keys converted beforehand.
inline __m512 load_key16(const f16_t* p) {
    return load_f16x16(p);
}
inline __m512 load_key16(const float* p) {
    return _mm512_load_ps(p);
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

// Few queries (generation: one token's GQA group): each converts the keys as it reads them.
void qk_inline(const f16_t* q, int64_t n_q, const f16_t* keys, int64_t key_stride, int64_t n_keys,
               int64_t head_dim, float* scores, int64_t score_stride) {
    alignas(64) float qf[kMaxHeadDim];
    for (int64_t i = 0; i < n_q; ++i) {
        for (int64_t d = 0; d < head_dim; d += kLanes)
            _mm512_store_ps(qf + d, load_f16x16(q + i * head_dim + d));
        score_keys(qf, keys, key_stride, n_keys, head_dim, scores + i * score_stride);
    }
}

// Many queries (a prompt block: tokens x GQA group): keys are converted to F32 once per block
// of kKeyBlock and read by every query from there (converting them per query cost more than the
// products there; with a generation's few queries it measured slower). Each score's sum is the
// same as qk_inline's.
void qk_converted(const f16_t* q, int64_t n_q, const f16_t* keys, int64_t key_stride,
                  int64_t n_keys, int64_t head_dim, float* scores, int64_t score_stride) {
    constexpr int64_t kKeyBlock = 16;
    alignas(64) float kf[kKeyBlock * kMaxHeadDim];
    alignas(64) float qf[kMaxHeadDim];
    for (int64_t j0 = 0; j0 < n_keys; j0 += kKeyBlock) {
        const int64_t nk = n_keys - j0 < kKeyBlock ? n_keys - j0 : kKeyBlock;
        for (int64_t j = 0; j < nk; ++j) {
            const f16_t* k = keys + (j0 + j) * key_stride;
            for (int64_t d = 0; d < head_dim; d += kLanes)
                _mm512_store_ps(kf + j * head_dim + d, load_f16x16(k + d));
        }
        for (int64_t i = 0; i < n_q; ++i) {
            for (int64_t d = 0; d < head_dim; d += kLanes)
                _mm512_store_ps(qf + d, load_f16x16(q + i * head_dim + d));
            score_keys(static_cast<const float*>(qf), static_cast<const float*>(kf), head_dim, nk,
                       head_dim, scores + i * score_stride + j0);
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

// The online-softmax step (attention.h): scale, max, exponentials and their 16 lane sums in one
// register per row, the reference's per-row bookkeeping with the same single operations.
void softmax_tile(float* scores, int64_t score_stride, int64_t n_q, int64_t n, float scale,
                  float* row_max, float* row_sum, float* rescale) {
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

// Accumulates head_dim in up to kAccRegs registers per row across the tile's values; the value
// rows are converted to F32 once for all rows of the group.
constexpr int64_t kAccRegs = 8;
constexpr int64_t kTileScratch = 8192;  // floats of converted value rows (32 KiB)

template <int kRegs, class V>
inline void pv_row(const float* p, int64_t n_values, const V* v, int64_t v_stride, float r,
                   float* a) {
    __m512 acc[kRegs];
    const __m512 vr = _mm512_set1_ps(r);
    for (int k = 0; k < kRegs; ++k) acc[k] = _mm512_mul_ps(_mm512_loadu_ps(a + 16 * k), vr);
    for (int64_t j = 0; j < n_values; ++j) {
        if (p[j] == 0.0f) continue;
        const __m512 pj = _mm512_set1_ps(p[j]);
        const V* vj = v + j * v_stride;
        for (int k = 0; k < kRegs; ++k) {
            if constexpr (sizeof(V) == 2) {
                acc[k] = _mm512_fmadd_ps(pj, load_f16x16(vj + 16 * k), acc[k]);
            } else {
                acc[k] = _mm512_fmadd_ps(pj, _mm512_load_ps(vj + 16 * k), acc[k]);
            }
        }
    }
    for (int k = 0; k < kRegs; ++k) _mm512_storeu_ps(a + 16 * k, acc[k]);
}

template <class V>
inline void pv_rows(const float* p, int64_t n_values, const V* v, int64_t v_stride,
                    int64_t head_dim, float r, float* a) {
    int64_t d = 0;
    for (; d + 16 * kAccRegs <= head_dim; d += 16 * kAccRegs)
        pv_row<kAccRegs>(p, n_values, v + d, v_stride, r, a + d);
    for (; d + 64 <= head_dim; d += 64) pv_row<4>(p, n_values, v + d, v_stride, r, a + d);
    for (; d < head_dim; d += 16) pv_row<1>(p, n_values, v + d, v_stride, r, a + d);
}

void pv_tile(const float* probs, int64_t prob_stride, int64_t n_q, const f16_t* values,
             int64_t value_stride, int64_t n_values, int64_t head_dim, const float* rescale,
             float* acc) {
    if (head_dim % kLanes != 0 || head_dim > kMaxHeadDim) {
        scalar_attention::pv_tile(probs, prob_stride, n_q, values, value_stride, n_values, head_dim,
                                  rescale, acc);
        return;
    }
    if (n_q == 1) {  // nothing to share: read the F16 rows in place
        pv_rows(probs, n_values, values, value_stride, head_dim, rescale[0], acc);
        return;
    }
    alignas(64) float vf[kTileScratch];
    const int64_t chunk = kTileScratch / head_dim;  // >= 16 positions
    for (int64_t c0 = 0; c0 < n_values; c0 += chunk) {
        const int64_t n = n_values - c0 < chunk ? n_values - c0 : chunk;
        for (int64_t j = 0; j < n; ++j) {
            const f16_t* value = values + (c0 + j) * value_stride;
            for (int64_t d = 0; d < head_dim; d += kLanes)
                _mm512_store_ps(vf + j * head_dim + d, load_f16x16(value + d));
        }
        // The rescale applies once, before the first chunk (times 1 after: unchanged).
        for (int64_t i = 0; i < n_q; ++i) {
            pv_rows(probs + i * prob_stride + c0, n, static_cast<const float*>(vf), head_dim,
                    head_dim, c0 == 0 ? rescale[i] : 1.0f, acc + i * head_dim);
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
    ops.softmax_tile = softmax_tile;
    ops.pv_tile = pv_tile;
    ops.to_f16 = to_f16;
    ops.qk = qk;
    ops.pv = pv;
    ops.pv_reduce = pv_reduce;
    ops.softmax = softmax;
    ops.silu_mul = silu_mul;
}

}  // namespace pocket::kernels
