// AVX2 (+FMA, F16C) attention kernels, bit-identical to the scalar reference (see
// kernels/attention.h): the reference's 16 summation lanes live in two 256-bit registers,
// lanes 0-7 and 8-15, and every step is the same fused multiply-add or addition as there.
//
// Compiled with -mavx2: like the other SIMD kernels this file calls no inline library code (std::
// templates, fp16.h's constexpr conversions) whose single linked copy could end up compiled with
// these flags and be picked for the generic build; conversions use F16C instructions instead.
#include <immintrin.h>

#include "kernels/attention_table.h"
#include "kernels/blocks.h"

namespace pocket::kernels {
namespace {

constexpr int64_t kLanes = 16;
constexpr int64_t kMaxHeadDim = 512;  // stack buffers; larger heads take the scalar path

inline int64_t min64(int64_t a, int64_t b) {
    return a < b ? a : b;
}

inline __m256 load_f16x8(const f16_t* p) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

inline float round_f16(float x) {
    return _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtps_ph(_mm_set_ss(x), _MM_FROUND_TO_NEAREST_INT)));
}

// tree_sum16 of one row given as a8 = lanes 0-7 + lanes 8-15 (its first pairing step).
inline float tree_fold1(__m256 a8) {
    const __m128 a4 = _mm_add_ps(_mm256_castps256_ps128(a8), _mm256_extractf128_ps(a8, 1));
    const __m128 t =
        _mm_add_ps(a4, _mm_movehl_ps(a4, a4));  // t0 = a4[0] + a4[2], t1 = a4[1] + a4[3]
    return _mm_cvtss_f32(_mm_add_ss(t, _mm_movehdup_ps(t)));
}

// tree_sum16 of four rows, each given as its a8 as above: returns [a, b, c, d].
inline __m128 tree_fold4(__m256 a8, __m256 b8, __m256 c8, __m256 d8) {
    const __m256 ab =
        _mm256_add_ps(_mm256_permute2f128_ps(a8, b8, 0x20), _mm256_permute2f128_ps(a8, b8, 0x31));
    const __m256 cd =
        _mm256_add_ps(_mm256_permute2f128_ps(c8, d8, 0x20), _mm256_permute2f128_ps(c8, d8, 0x31));
    // Per 128-bit half (one row's a4): t0 = a4[0] + a4[2], t1 = a4[1] + a4[3]; hadd forms t0 + t1.
    const __m256 tab = _mm256_add_ps(ab, _mm256_permute_ps(ab, _MM_SHUFFLE(1, 0, 3, 2)));
    const __m256 tcd = _mm256_add_ps(cd, _mm256_permute_ps(cd, _MM_SHUFFLE(1, 0, 3, 2)));
    const __m256 r = _mm256_hadd_ps(tab, tcd);  // [a, a, c, c | b, b, d, d]
    return _mm256_castps256_ps128(
        _mm256_permutevar8x32_ps(r, _mm256_setr_epi32(0, 4, 2, 6, 0, 0, 0, 0)));
}

// exp_approx of eight values. ldexp(j, n) for |n| <= 192 is done as two power-of-two products
// (2^floor(n/2), then 2^(n - floor(n/2))): the first is exact, the second rounds once, so the
// result is ldexp's correctly rounded one, subnormals and overflow included.
inline __m256 exp_approx8(__m256 x) {
    const __m256 shift = _mm256_set1_ps(0x1.8p23f);
    const __m256 z = _mm256_fmadd_ps(x, _mm256_set1_ps(0x1.715476p+0f), shift);
    const __m256 n = _mm256_sub_ps(z, shift);
    const __m256 b = _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.7f7d1cp-20f),
                                      _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.62e4p-1f), x));
    const __m256 u = _mm256_mul_ps(b, b);
    const __m256 j = _mm256_fmadd_ps(
        _mm256_fmadd_ps(
            _mm256_fmadd_ps(_mm256_set1_ps(0x1.0e4020p-7f), b, _mm256_set1_ps(0x1.573e2ep-5f)), u,
            _mm256_fmadd_ps(_mm256_set1_ps(0x1.555e66p-3f), b, _mm256_set1_ps(0x1.fffdb6p-2f))),
        u, _mm256_fmadd_ps(_mm256_set1_ps(0x1.ffffecp-1f), b, _mm256_set1_ps(1.0f)));
    const __m256i ni = _mm256_cvtps_epi32(n);
    const __m256i n1 = _mm256_srai_epi32(ni, 1);
    const __m256i n2 = _mm256_sub_epi32(ni, n1);
    const __m256i bias = _mm256_set1_epi32(127);
    const __m256 p1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, bias), 23));
    const __m256 p2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, bias), 23));
    const __m256 result = _mm256_mul_ps(_mm256_mul_ps(j, p1), p2);
    const __m256 abs_n = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), n);
    const __m256 out_of_range = _mm256_cmp_ps(abs_n, _mm256_set1_ps(192.0f), _CMP_GT_OQ);
    if (_mm256_movemask_ps(out_of_range) == 0) return result;
    const __m256 zero = _mm256_setzero_ps();
    const __m256 saturated = _mm256_blendv_ps(_mm256_set1_ps(__builtin_inff()), zero,
                                              _mm256_cmp_ps(n, zero, _CMP_LE_OQ));
    return _mm256_blendv_ps(result, saturated, out_of_range);
}

void to_f16(const float* x, f16_t* out, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    }
    for (; i < n; ++i) out[i] = _cvtss_sh(x[i], _MM_FROUND_TO_NEAREST_INT);
}

// Eight values of a KV block (int8, already centred) times d, rounded to F16 and stored.
inline void store_scaled_f16(__m128i q8, __m256 d, f16_t* out) {
    const __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q8)), d);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out),
                     _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
}

void q8_0_rows_to_f16(const std::byte* rows, size_t row_bytes, int64_t n_rows, int64_t first_block,
                      int64_t n_blocks, f16_t* out, int64_t out_stride) {
    for_each_kv_block<BlockQ8_0>(
        rows, row_bytes, n_rows, first_block, n_blocks, out, out_stride,
        [](const BlockQ8_0& block, f16_t* o) {
            const __m256 d = _mm256_set1_ps(_cvtsh_ss(block.d));
            const __m128i lo = _mm_loadu_si128(reinterpret_cast<const __m128i*>(block.qs));
            const __m128i hi = _mm_loadu_si128(reinterpret_cast<const __m128i*>(block.qs + 16));
            store_scaled_f16(lo, d, o);
            store_scaled_f16(_mm_unpackhi_epi64(lo, lo), d, o + 8);
            store_scaled_f16(hi, d, o + 16);
            store_scaled_f16(_mm_unpackhi_epi64(hi, hi), d, o + 24);
        });
}

void q4_0_rows_to_f16(const std::byte* rows, size_t row_bytes, int64_t n_rows, int64_t first_block,
                      int64_t n_blocks, f16_t* out, int64_t out_stride) {
    for_each_kv_block<BlockQ4_0>(
        rows, row_bytes, n_rows, first_block, n_blocks, out, out_stride,
        [](const BlockQ4_0& block, f16_t* o) {
            const __m128i low = _mm_set1_epi8(0x0F), eight = _mm_set1_epi8(8);
            const __m256 d = _mm256_set1_ps(_cvtsh_ss(block.d));
            const __m128i qs = _mm_loadu_si128(reinterpret_cast<const __m128i*>(block.qs));
            // Values 0-15 are the low nibbles, 16-31 the high ones, each q - 8.
            const __m128i lo = _mm_sub_epi8(_mm_and_si128(qs, low), eight);
            const __m128i hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(qs, 4), low), eight);
            store_scaled_f16(lo, d, o);
            store_scaled_f16(_mm_unpackhi_epi64(lo, lo), d, o + 8);
            store_scaled_f16(hi, d, o + 16);
            store_scaled_f16(_mm_unpackhi_epi64(hi, hi), d, o + 24);
        });
}

inline __m256 load8(const float* p) {
    return _mm256_loadu_ps(p);
}
inline __m256 load8(const f16_t* p) {
    return load_f16x8(p);
}

// Scores of one query (F32 in qf) against n_keys F16 keys read in place from the cache, row
// stride key_stride (a single query: nothing to share a conversion with; see qk_slice).
void qk_query(const float* qf, const f16_t* keys, int64_t key_stride, int64_t n_keys,
              int64_t head_dim, float* out) {
    int64_t j = 0;
    // Four keys per step: each key's lanes 0-7 in lo, 8-15 in hi.
    for (; j + 4 <= n_keys; j += 4) {
        const f16_t* k0 = keys + j * key_stride;
        const f16_t* k1 = k0 + key_stride;
        const f16_t* k2 = k1 + key_stride;
        const f16_t* k3 = k2 + key_stride;
        __m256 lo0 = _mm256_setzero_ps(), hi0 = _mm256_setzero_ps();
        __m256 lo1 = _mm256_setzero_ps(), hi1 = _mm256_setzero_ps();
        __m256 lo2 = _mm256_setzero_ps(), hi2 = _mm256_setzero_ps();
        __m256 lo3 = _mm256_setzero_ps(), hi3 = _mm256_setzero_ps();
        for (int64_t d = 0; d < head_dim; d += kLanes) {
            const __m256 ql = _mm256_load_ps(qf + d);
            const __m256 qh = _mm256_load_ps(qf + d + 8);
            lo0 = _mm256_fmadd_ps(ql, load8(k0 + d), lo0);
            hi0 = _mm256_fmadd_ps(qh, load8(k0 + d + 8), hi0);
            lo1 = _mm256_fmadd_ps(ql, load8(k1 + d), lo1);
            hi1 = _mm256_fmadd_ps(qh, load8(k1 + d + 8), hi1);
            lo2 = _mm256_fmadd_ps(ql, load8(k2 + d), lo2);
            hi2 = _mm256_fmadd_ps(qh, load8(k2 + d + 8), hi2);
            lo3 = _mm256_fmadd_ps(ql, load8(k3 + d), lo3);
            hi3 = _mm256_fmadd_ps(qh, load8(k3 + d + 8), hi3);
        }
        _mm_storeu_ps(out + j, tree_fold4(_mm256_add_ps(lo0, hi0), _mm256_add_ps(lo1, hi1),
                                          _mm256_add_ps(lo2, hi2), _mm256_add_ps(lo3, hi3)));
    }
    for (; j < n_keys; ++j) {
        const f16_t* k = keys + j * key_stride;
        __m256 lo = _mm256_setzero_ps(), hi = _mm256_setzero_ps();
        for (int64_t d = 0; d < head_dim; d += kLanes) {
            lo = _mm256_fmadd_ps(_mm256_load_ps(qf + d), load8(k + d), lo);
            hi = _mm256_fmadd_ps(_mm256_load_ps(qf + d + 8), load8(k + d + 8), hi);
        }
        out[j] = tree_fold1(_mm256_add_ps(lo, hi));
    }
}

constexpr int64_t kScratch = 8192;  // floats of converted key or value rows (32 KiB)

// n F16 rows of head_dim values (a multiple of 8), stride apart, to dense F32 rows at out.
inline void rows_to_f32(const f16_t* rows, int64_t stride, int64_t n, int64_t head_dim,
                        float* out) {
    for (int64_t j = 0; j < n; ++j) {
        for (int64_t d = 0; d < head_dim; d += 8)
            _mm256_store_ps(out + j * head_dim + d, load_f16x8(rows + j * stride + d));
    }
}

// Head size 8 (tiny models such as stories260K): a dot this short is summed by ggml (and by the
// scalar reference) in double, one float product at a time. The eight products are formed in one
// multiply (no FMA, so each is the same rounded float) and then added in that same order, so the
// result is bit-identical to the reference at a fraction of its per-element F16 conversions.
void qk_head8(const f16_t* q, int64_t n_q, const f16_t* keys, int64_t key_stride, int64_t n_keys,
              float* scores, int64_t score_stride) {
    alignas(32) float p[8];
    for (int64_t i = 0; i < n_q; ++i) {
        const __m256 qv = load_f16x8(q + i * 8);
        for (int64_t j = 0; j < n_keys; ++j) {
            _mm256_store_ps(p, _mm256_mul_ps(qv, load_f16x8(keys + j * key_stride)));
            double sum = 0.0;
            for (int l = 0; l < 8; ++l) sum += static_cast<double>(p[l]);
            scores[i * score_stride + j] = static_cast<float>(sum);
        }
    }
}

constexpr int64_t kShareKeys = 2;  // queries from which keys are converted once

// Q.K of one query against nk converted keys (dense F32 rows of head_dim) over the dimensions
// [d0, d0 + 16 * M): that slice of the query stays in registers and each key's eight multiply-
// adds take their key operand straight from memory (one load per product, against 1.25 when the
// query is reloaded for every four keys). A key's 16 lanes start from zero in the first slice or
// from `part` (16 floats per key), and go back to `part`, or after the last slice are folded into
// out[j]. Each lane's products are added in dimension order, as in qk_query: the same bits.
template <int M>
inline void qk_slice(const f16_t* q16, const float* kf, int64_t head_dim, int64_t nk, int64_t d0,
                     bool first, bool last, float* part, float* out) {
    __m256 q[2 * M];
    for (int m = 0; m < M; ++m) {
        q[2 * m] = load_f16x8(q16 + d0 + 16 * m);
        q[2 * m + 1] = load_f16x8(q16 + d0 + 16 * m + 8);
    }
    // Lanes 0-7 and 8-15 of key j, as qk_query's lo and hi.
    auto lanes = [&](int64_t j, __m256& lo, __m256& hi) {
        const float* k = kf + j * head_dim + d0;
        if (first) {
            lo = _mm256_setzero_ps();
            hi = _mm256_setzero_ps();
        } else {
            lo = _mm256_load_ps(part + j * kLanes);
            hi = _mm256_load_ps(part + j * kLanes + 8);
        }
        for (int m = 0; m < M; ++m) {
            lo = _mm256_fmadd_ps(q[2 * m], _mm256_load_ps(k + 16 * m), lo);
            hi = _mm256_fmadd_ps(q[2 * m + 1], _mm256_load_ps(k + 16 * m + 8), hi);
        }
    };
    int64_t j = 0;
    __m256 lo, hi;
    if (!last) {
        for (; j < nk; ++j) {
            lanes(j, lo, hi);
            _mm256_store_ps(part + j * kLanes, lo);
            _mm256_store_ps(part + j * kLanes + 8, hi);
        }
        return;
    }
    for (; j + 4 <= nk; j += 4) {
        lanes(j, lo, hi);
        const __m256 a0 = _mm256_add_ps(lo, hi);
        lanes(j + 1, lo, hi);
        const __m256 a1 = _mm256_add_ps(lo, hi);
        lanes(j + 2, lo, hi);
        const __m256 a2 = _mm256_add_ps(lo, hi);
        lanes(j + 3, lo, hi);
        _mm_storeu_ps(out + j, tree_fold4(a0, a1, a2, _mm256_add_ps(lo, hi)));
    }
    for (; j < nk; ++j) {
        lanes(j, lo, hi);
        out[j] = tree_fold1(_mm256_add_ps(lo, hi));
    }
}

// qk_query over converted keys, in slices of at most 64 dimensions (qk_slice).
inline void qk_query_sliced(const f16_t* q16, const float* kf, int64_t nk, int64_t head_dim,
                            float* part, float* out) {
    for (int64_t d0 = 0; d0 < head_dim; d0 += 64) {
        const bool first = d0 == 0, last = d0 + 64 >= head_dim;
        switch (min64(head_dim - d0, 64) / kLanes) {
            case 1:
                qk_slice<1>(q16, kf, head_dim, nk, d0, first, last, part, out);
                break;
            case 2:
                qk_slice<2>(q16, kf, head_dim, nk, d0, first, last, part, out);
                break;
            case 3:
                qk_slice<3>(q16, kf, head_dim, nk, d0, first, last, part, out);
                break;
            default:
                qk_slice<4>(q16, kf, head_dim, nk, d0, first, last, part, out);
                break;
        }
    }
}

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
    alignas(32) float qf[kMaxHeadDim];
    auto query = [&](int64_t i) {
        for (int64_t d = 0; d < head_dim; d += 8)
            _mm256_store_ps(qf + d, load_f16x8(q + i * head_dim + d));
        return qf;
    };
    if (n_q < kShareKeys) {
        for (int64_t i = 0; i < n_q; ++i)
            qk_query(query(i), keys, key_stride, n_keys, head_dim, scores + i * score_stride);
        return;
    }
    // Several queries (a GQA group, a prompt block): each block of keys converted to F32 once for
    // all of them. vcvtph2ps costs as much as the multiply-adds it feeds on Zen 3, so converting
    // per query made Q.K conversion-bound. The same products and sums: the same bits.
    alignas(32) float kf[kScratch];
    alignas(32) float part[kScratch / 64 * kLanes];  // a key's lanes between slices of the query
    const int64_t block = kScratch / head_dim;       // >= 16 keys
    for (int64_t j0 = 0; j0 < n_keys; j0 += block) {
        const int64_t nk = min64(block, n_keys - j0);
        rows_to_f32(keys + j0 * key_stride, key_stride, nk, head_dim, kf);
        for (int64_t i = 0; i < n_q; ++i)
            qk_query_sliced(q + i * head_dim, kf, nk, head_dim, part,
                            scores + i * score_stride + j0);
    }
}

// Rounds n probabilities to F16 and back (vcvtps2ph, nearest even) into out.
inline void round_probs_f16(const float* p, int64_t n, float* out) {
    int64_t j = 0;
    for (; j + 8 <= n; j += 8) {
        _mm256_storeu_ps(out + j, _mm256_cvtph_ps(_mm256_cvtps_ph(_mm256_loadu_ps(p + j),
                                                                  _MM_FROUND_TO_NEAREST_INT)));
    }
    for (; j < n; ++j) out[j] = round_f16(p[j]);
}

// P.V in chunks of positions. The accumulators of one lane (one query, positions of that lane mod
// 16) are a dependent chain of fused multiply-adds in position order; a chunk holds several
// positions of every lane, so each lane's row of head_dim sums stays in registers (kDRegs vectors
// at a time) across them, loaded and stored once a chunk instead of once a position. The value
// rows of a chunk are converted to F32 once for all queries (read in place for one), the
// probabilities rounded once.
// Same operations, same order as the reference: bit-identical.
constexpr int64_t kDRegs = 8;  // accumulator vectors of one lane in flight

// Value rows V: float (converted once for several queries) or f16_t (the cache itself, for one).
template <int kRegs, class V>
inline void pv_lane(const float* p, int64_t j_first, int64_t j_end, const V* v, int64_t v_stride,
                    float* a) {
    __m256 acc[kRegs];
    for (int r = 0; r < kRegs; ++r) acc[r] = _mm256_loadu_ps(a + 8 * r);
    for (int64_t j = j_first; j < j_end; j += kLanes) {
        const __m256 pj = _mm256_broadcast_ss(p + j);
        const V* vj = v + j * v_stride;
        for (int r = 0; r < kRegs; ++r) acc[r] = _mm256_fmadd_ps(pj, load8(vj + 8 * r), acc[r]);
    }
    for (int r = 0; r < kRegs; ++r) _mm256_storeu_ps(a + 8 * r, acc[r]);
}

// The lanes of one query over the chunk's positions [0, n) (lane of j: (first_pos + j) mod 16),
// values at v (row stride v_stride), F16-rounded probabilities at p.
template <class V>
inline void pv_query_chunk(const float* p, int64_t n, int64_t first_pos, const V* v,
                           int64_t v_stride, int64_t head_dim, float* acc) {
    for (int64_t j0 = 0; j0 < kLanes && j0 < n; ++j0) {
        float* a = acc + ((first_pos + j0) % kLanes) * head_dim;
        int64_t d = 0;
        for (; d + 8 * kDRegs <= head_dim; d += 8 * kDRegs)
            pv_lane<kDRegs>(p, j0, n, v + d, v_stride, a + d);
        // The rest (head_dim is a multiple of 8) one vector at a time: each d is independent.
        for (; d < head_dim; d += 8) pv_lane<1>(p, j0, n, v + d, v_stride, a + d);
    }
}

void pv(const float* probs, int64_t prob_stride, int64_t n_q, const f16_t* values,
        int64_t value_stride, int64_t n_values, int64_t first_pos, int64_t head_dim, float* acc) {
    if (head_dim % 8 != 0 || head_dim > kMaxHeadDim) {
        scalar_attention::pv(probs, prob_stride, n_q, values, value_stride, n_values, first_pos,
                             head_dim, acc);
        return;
    }
    alignas(32) float vf[kScratch];
    alignas(32) float pr[kScratch / 8];
    // At least 16 positions a chunk (head_dim <= 512); 128 for 64-wide heads.
    const int64_t chunk = min64(kScratch / head_dim, kScratch / 8);
    for (int64_t c0 = 0; c0 < n_values; c0 += chunk) {
        const int64_t n = min64(chunk, n_values - c0);
        if (n_q == 1) {  // nothing to share: read the F16 rows in place
            round_probs_f16(probs + c0, n, pr);
            pv_query_chunk(pr, n, first_pos + c0, values + c0 * value_stride, value_stride,
                           head_dim, acc);
            continue;
        }
        rows_to_f32(values + c0 * value_stride, value_stride, n, head_dim, vf);
        for (int64_t i = 0; i < n_q; ++i) {
            round_probs_f16(probs + i * prob_stride + c0, n, pr);
            pv_query_chunk(pr, n, first_pos + c0, vf, head_dim, head_dim,
                           acc + i * kLanes * head_dim);
        }
    }
}

void pv_reduce(const float* acc, int64_t head_dim, float* out) {
    if (head_dim % 8 != 0) {
        scalar_attention::pv_reduce(acc, head_dim, out);
        return;
    }
    for (int64_t d = 0; d < head_dim; d += 8) {
        __m256 a8[8];
        for (int64_t l = 0; l < 8; ++l) {
            a8[l] = _mm256_add_ps(_mm256_loadu_ps(acc + (l + 8) * head_dim + d),
                                  _mm256_loadu_ps(acc + l * head_dim + d));
        }
        __m256 a4[4];
        for (int64_t l = 0; l < 4; ++l) a4[l] = _mm256_add_ps(a8[l + 4], a8[l]);
        _mm256_storeu_ps(out + d,
                         _mm256_add_ps(_mm256_add_ps(a4[0], a4[2]), _mm256_add_ps(a4[1], a4[3])));
    }
}

void softmax(float* scores, int64_t n, float scale) {
    const __m256 vscale = _mm256_set1_ps(scale);
    __m256 vmax = _mm256_set1_ps(-__builtin_inff());
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 x = _mm256_mul_ps(_mm256_loadu_ps(scores + i), vscale);
        _mm256_storeu_ps(scores + i, x);
        vmax = _mm256_max_ps(vmax, x);
    }
    alignas(32) float lanes[8];
    _mm256_store_ps(lanes, vmax);
    float max = lanes[0];
    for (int l = 1; l < 8; ++l) max = max < lanes[l] ? lanes[l] : max;
    for (; i < n; ++i) {
        scores[i] *= scale;
        max = max < scores[i] ? scores[i] : max;
    }
    const __m256 vmax_all = _mm256_set1_ps(max);
    double sum = 0.0;
    int64_t g = 0;
    for (; g + kLanes <= n; g += kLanes) {
        const __m256 e0 = exp_approx8(_mm256_sub_ps(_mm256_loadu_ps(scores + g), vmax_all));
        const __m256 e1 = exp_approx8(_mm256_sub_ps(_mm256_loadu_ps(scores + g + 8), vmax_all));
        _mm256_storeu_ps(scores + g, e0);
        _mm256_storeu_ps(scores + g + 8, e1);
        sum += static_cast<double>(tree_fold1(_mm256_add_ps(e0, e1)));
    }
    if (g < n) {  // the last, partial group: entries past the row weigh 0
        const int64_t count = n - g;
        alignas(32) float group[kLanes];
        for (int64_t l = 0; l < kLanes; ++l) group[l] = l < count ? scores[g + l] - max : 0.0f;
        _mm256_store_ps(group, exp_approx8(_mm256_load_ps(group)));
        _mm256_store_ps(group + 8, exp_approx8(_mm256_load_ps(group + 8)));
        for (int64_t l = 0; l < kLanes; ++l) {
            if (l < count) {
                scores[g + l] = group[l];
            } else {
                group[l] = 0.0f;
            }
        }
        sum += static_cast<double>(
            tree_fold1(_mm256_add_ps(_mm256_load_ps(group), _mm256_load_ps(group + 8))));
    }
    const float inv = static_cast<float>(1.0 / sum);
    const __m256 vinv = _mm256_set1_ps(inv);
    i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(scores + i, _mm256_mul_ps(_mm256_loadu_ps(scores + i), vinv));
    for (; i < n; ++i) scores[i] *= inv;
}

void silu_mul(float* gate, const float* up, int64_t n) {
    const int64_t whole = n - n % kLanes;
    const __m256 one = _mm256_set1_ps(1.0f);
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int64_t i = 0; i < whole; i += 8) {
        const __m256 g = _mm256_loadu_ps(gate + i);
        const __m256 e = exp_approx8(_mm256_xor_ps(g, sign));
        _mm256_storeu_ps(gate + i, _mm256_mul_ps(_mm256_div_ps(g, _mm256_add_ps(one, e)),
                                                 _mm256_loadu_ps(up + i)));
    }
    // Fewer than 16 left: the reference evaluates those with expf.
    scalar_attention::silu_mul(gate + whole, up + whole, n - whole);
}

// reference::gelu through its table: F16C rounds eight inputs to F16 (vcvtps2ph, nearest even:
// the bits f32_to_f16 gives), and a gather reads their entries.
void gelu_mul(float* gate, const float* up, int64_t n) {
    const float* table = reference::gelu_table();
    const __m256 lo = _mm256_set1_ps(-10.0f), hi = _mm256_set1_ps(10.0f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 x = _mm256_loadu_ps(gate + i);
        const __m256i index = _mm256_cvtepu16_epi32(_mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT));
        __m256 g = _mm256_i32gather_ps(table, index, 4);
        g = _mm256_blendv_ps(g, _mm256_setzero_ps(), _mm256_cmp_ps(x, lo, _CMP_LE_OQ));
        g = _mm256_blendv_ps(g, x, _mm256_cmp_ps(x, hi, _CMP_GE_OQ));
        if (up != nullptr) g = _mm256_mul_ps(g, _mm256_loadu_ps(up + i));
        _mm256_storeu_ps(gate + i, g);
    }
    scalar_attention::gelu_mul(gate + i, up == nullptr ? nullptr : up + i, n - i);
}

// The online-softmax step (attention.h): the reference's 16 lanes in two registers (lanes 0-7,
// 8-15), the same single operations per entry and per row.
void softmax_tile(float* scores, int64_t score_stride, int64_t n_q, int64_t n, float scale,
                  float* row_max, float* row_sum, float* rescale) {
    const __m256 vscale = _mm256_set1_ps(scale);
    alignas(32) float tail[kLanes];
    for (int64_t i = 0; i < n_q; ++i) {
        float* row = scores + i * score_stride;
        __m256 vmax = _mm256_set1_ps(row_max[i]);
        int64_t j = 0;
        for (; j + 8 <= n; j += 8) {
            const __m256 x = _mm256_mul_ps(_mm256_loadu_ps(row + j), vscale);
            _mm256_storeu_ps(row + j, x);
            vmax = _mm256_max_ps(vmax, x);
        }
        alignas(32) float lanes8[8];
        _mm256_store_ps(lanes8, vmax);
        float max = lanes8[0];
        for (int l = 1; l < 8; ++l) max = max < lanes8[l] ? lanes8[l] : max;
        for (; j < n; ++j) {
            row[j] *= scale;
            max = max < row[j] ? row[j] : max;
        }
        if (max == -__builtin_inff()) {
            for (j = 0; j < n; ++j) row[j] = 0.0f;
            rescale[i] = 1.0f;
            continue;
        }
        const __m256 vm = _mm256_set1_ps(max);
        __m256 lo = _mm256_setzero_ps(), hi = _mm256_setzero_ps();
        j = 0;
        for (; j + kLanes <= n; j += kLanes) {
            const __m256 e0 = exp_approx8(_mm256_sub_ps(_mm256_loadu_ps(row + j), vm));
            const __m256 e1 = exp_approx8(_mm256_sub_ps(_mm256_loadu_ps(row + j + 8), vm));
            _mm256_storeu_ps(row + j, e0);
            _mm256_storeu_ps(row + j + 8, e1);
            lo = _mm256_add_ps(lo, e0);
            hi = _mm256_add_ps(hi, e1);
        }
        if (j < n) {  // the partial last group: the entries past the row add 0 (-inf -> 0)
            const int64_t count = n - j;
            for (int64_t l = 0; l < kLanes; ++l)
                tail[l] = l < count ? row[j + l] : -__builtin_inff();
            const __m256 e0 = exp_approx8(_mm256_sub_ps(_mm256_load_ps(tail), vm));
            const __m256 e1 = exp_approx8(_mm256_sub_ps(_mm256_load_ps(tail + 8), vm));
            _mm256_store_ps(tail, e0);
            _mm256_store_ps(tail + 8, e1);
            for (int64_t l = 0; l < count; ++l) row[j + l] = tail[l];
            lo = _mm256_add_ps(lo, e0);
            hi = _mm256_add_ps(hi, e1);
        }
        const float r = _mm256_cvtss_f32(exp_approx8(_mm256_set1_ps(row_max[i] - max)));
        rescale[i] = r;
        row_sum[i] = _mm_cvtss_f32(_mm_fmadd_ss(_mm_set_ss(row_sum[i]), _mm_set_ss(r),
                                                _mm_set_ss(tree_fold1(_mm256_add_ps(lo, hi)))));
        row_max[i] = max;
    }
}

constexpr int64_t kAccRegs = 8;

// Whether any of p[0, n) is 0: such weights are skipped (pv_tile's definition), so only rows
// that hold one need the test per position.
inline bool has_zero(const float* p, int64_t n) {
    const __m256 zero = _mm256_setzero_ps();
    __m256 any = zero;
    int64_t j = 0;
    for (; j + 8 <= n; j += 8)
        any = _mm256_or_ps(any, _mm256_cmp_ps(_mm256_loadu_ps(p + j), zero, _CMP_EQ_OQ));
    bool found = _mm256_movemask_ps(any) != 0;
    for (; j < n; ++j) found |= p[j] == 0.0f;
    return found;
}

template <int kRegs, bool kSkipZeros, class V>
inline void pv_row(const float* p, int64_t n_values, const V* v, int64_t v_stride, float r,
                   float* a) {
    __m256 acc[kRegs];
    const __m256 vr = _mm256_set1_ps(r);
    for (int k = 0; k < kRegs; ++k) acc[k] = _mm256_mul_ps(_mm256_loadu_ps(a + 8 * k), vr);
    for (int64_t j = 0; j < n_values; ++j) {
        if (kSkipZeros && p[j] == 0.0f) continue;
        const __m256 pj = _mm256_broadcast_ss(p + j);
        const V* vj = v + j * v_stride;
        for (int k = 0; k < kRegs; ++k) acc[k] = _mm256_fmadd_ps(pj, load8(vj + 8 * k), acc[k]);
    }
    for (int k = 0; k < kRegs; ++k) _mm256_storeu_ps(a + 8 * k, acc[k]);
}

template <bool kSkipZeros, class V>
inline void pv_rows(const float* p, int64_t n_values, const V* v, int64_t v_stride,
                    int64_t head_dim, float r, float* a) {
    int64_t d = 0;
    for (; d + 8 * kAccRegs <= head_dim; d += 8 * kAccRegs)
        pv_row<kAccRegs, kSkipZeros>(p, n_values, v + d, v_stride, r, a + d);
    for (; d < head_dim; d += 8) pv_row<1, kSkipZeros>(p, n_values, v + d, v_stride, r, a + d);
}

// kRows rows without zero weights at once, kRegs vectors (8 * kRegs dimensions) of each: each
// value vector is loaded once into a register for all the rows' multiply-adds, and the
// kRows * kRegs accumulator chains are enough to hide the multiply-add latency. Row by row the
// step needs 9-10 loads per 8 multiply-adds and its 8 chains wait for the latency (5 cycles on
// Zen 3, which does about 1.6 loads of 32 bytes a cycle); 6 rows of 2 vectors need 8 loads per
// 12. Each sum is the same chain of multiply-adds in position order as pv_row's: the same bits.
template <int kRows, int kRegs>
inline void pv_group(const float* const* p, int64_t n_values, const float* v, int64_t v_stride,
                     const float* r, float* const* a) {
    __m256 acc[kRows][kRegs];
    for (int i = 0; i < kRows; ++i) {
        const __m256 vr = _mm256_set1_ps(r[i]);
        for (int k = 0; k < kRegs; ++k)
            acc[i][k] = _mm256_mul_ps(_mm256_loadu_ps(a[i] + 8 * k), vr);
    }
    for (int64_t j = 0; j < n_values; ++j) {
        __m256 x[kRegs];
        for (int k = 0; k < kRegs; ++k) {
            x[k] = _mm256_load_ps(v + j * v_stride + 8 * k);
            // In a register: GCC would otherwise fold the load into every row's multiply-add.
            asm("" : "+x"(x[k]));
        }
        for (int i = 0; i < kRows; ++i) {
            const __m256 w = _mm256_broadcast_ss(p[i] + j);
            for (int k = 0; k < kRegs; ++k) acc[i][k] = _mm256_fmadd_ps(w, x[k], acc[i][k]);
        }
    }
    for (int i = 0; i < kRows; ++i) {
        for (int k = 0; k < kRegs; ++k) _mm256_storeu_ps(a[i] + 8 * k, acc[i][k]);
    }
}

constexpr int kGroupRows = 6;

// Rows p[0, kGroupRows) (weights of n_values positions, none 0) into a[...] over the converted
// values, 16 dimensions at a time (8 for a head size's odd rest).
inline void pv_groups(const float* const* p, int64_t n_values, const float* v, int64_t head_dim,
                      const float* r, float* const* a) {
    for (int64_t d = 0; d < head_dim;) {
        float* ad[kGroupRows];
        for (int i = 0; i < kGroupRows; ++i) ad[i] = a[i] + d;
        if (d + 16 <= head_dim) {
            pv_group<kGroupRows, 2>(p, n_values, v + d, head_dim, r, ad);
            d += 16;
        } else {
            pv_group<kGroupRows, 1>(p, n_values, v + d, head_dim, r, ad);
            d += 8;
        }
    }
}

void pv_tile(const float* probs, int64_t prob_stride, int64_t n_q, const f16_t* values,
             int64_t value_stride, int64_t n_values, int64_t head_dim, const float* rescale,
             float* acc) {
    if (head_dim % 8 != 0 || head_dim > kMaxHeadDim) {
        scalar_attention::pv_tile(probs, prob_stride, n_q, values, value_stride, n_values, head_dim,
                                  rescale, acc);
        return;
    }
    if (n_q == 1) {  // nothing to share: read the F16 rows in place
        pv_rows<true>(probs, n_values, values, value_stride, head_dim, rescale[0], acc);
        return;
    }
    alignas(32) float vf[kScratch];
    const int64_t chunk = kScratch / head_dim;  // >= 16 positions
    for (int64_t c0 = 0; c0 < n_values; c0 += chunk) {
        const int64_t n = min64(chunk, n_values - c0);
        rows_to_f32(values + c0 * value_stride, value_stride, n, head_dim, vf);
        const float* v = vf;
        // The rescale applies once, before the first chunk (times 1 after: unchanged).
        auto scale = [&](int64_t i) { return c0 == 0 ? rescale[i] : 1.0f; };
        // Rows without zero weights go kGroupRows at a time, the others (a causal diagonal, a
        // window's edge, exponentials that underflowed) one at a time with the test per position.
        int64_t ready = 0;  // rows gathered for the next group
        const float* pg[kGroupRows];
        float* ag[kGroupRows];
        float rg[kGroupRows];
        for (int64_t i = 0; i < n_q; ++i) {
            const float* p = probs + i * prob_stride + c0;
            if (n_q < kGroupRows || has_zero(p, n)) {  // no group to fill (a generation step)
                pv_rows<true>(p, n, v, head_dim, head_dim, scale(i), acc + i * head_dim);
                continue;
            }
            pg[ready] = p;
            ag[ready] = acc + i * head_dim;
            rg[ready] = scale(i);
            if (++ready == kGroupRows) {
                pv_groups(pg, n, v, head_dim, rg, ag);
                ready = 0;
            }
        }
        for (int64_t k = 0; k < ready; ++k)
            pv_rows<false>(pg[k], n, v, head_dim, head_dim, rg[k], ag[k]);
    }
}

void fold_acc(float* acc, const float* part, float ca, float cb, int64_t n) {
    const __m256 va = _mm256_set1_ps(ca), vb = _mm256_set1_ps(cb);
    int64_t d = 0;
    for (; d + 8 <= n; d += 8) {
        _mm256_storeu_ps(acc + d, _mm256_fmadd_ps(_mm256_loadu_ps(acc + d), va,
                                                  _mm256_mul_ps(_mm256_loadu_ps(part + d), vb)));
    }
    // The tail with the same single-rounding operations, one lane at a time.
    for (; d < n; ++d) {
        acc[d] = _mm_cvtss_f32(_mm_fmadd_ss(_mm_set_ss(acc[d]), _mm_set_ss(ca),
                                            _mm_mul_ss(_mm_set_ss(part[d]), _mm_set_ss(cb))));
    }
}

}  // namespace

void register_avx2_attention(AttentionOps& ops) {
    ops.fold_acc = fold_acc;
    ops.exp_approx = [](float x) { return _mm256_cvtss_f32(exp_approx8(_mm256_set1_ps(x))); };
    ops.softmax_tile = softmax_tile;
    ops.pv_tile = pv_tile;
    ops.to_f16 = to_f16;
    ops.q8_0_rows_to_f16 = q8_0_rows_to_f16;
    ops.q4_0_rows_to_f16 = q4_0_rows_to_f16;
    ops.qk = qk;
    ops.pv = pv;
    ops.pv_reduce = pv_reduce;
    ops.pv_rows = pv_rows_by_lanes<pv, pv_reduce>;
    ops.softmax = softmax;
    ops.silu_mul = silu_mul;
    ops.gelu_mul = gelu_mul;
}

}  // namespace pocket::kernels
