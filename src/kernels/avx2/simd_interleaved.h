// Kernels over the interleaved Q4_0 / Q8_0 layout (kernels/interleaved.h): each 32-bit
// lane of a weight vector is one row, so a dot with four broadcast activation bytes advances 8
// rows at once, no lanes are ever reduced, and the float work (convert, scale, accumulate) is done
// once per 8 rows and block instead of once per row and block.
//
// A tile is R groups (8R rows) x T tokens. Per block it decodes each group's 8 weight vectors
// once and uses them for all T tokens; each (group, token) pair sums its block exactly in int32
// (two chains, to halve the dependency latency), starting from the activation block's offset
// correction, then adds d_w * d_a * sum into a float accumulator of 8 rows.
#pragma once

#include <cstring>

#include "kernels/avx2/simd_convert.h"
#include "kernels/avx2/simd_matmul.h"
#include "kernels/interleaved.h"

namespace pocket::kernels::POCKET_SIMD_NS {

// Same q and d as q8_0_from_float (bit for bit), d widened to float, plus the offset correction.
template <int kOffset>
inline void interleaved_act_from_float(const float* src, void* dst, int64_t n) {
    auto* out = static_cast<BlockQ8_0Act*>(dst);
    const int64_t nb = n / kQK32;
    int64_t b = 0;
    for (; b + 8 <= nb; b += 8) {
        const Q8Blocks8 q = quantize_q8_blocks8(src + b * kQK32, out[b].qs, sizeof(BlockQ8_0Act));
        alignas(32) float d[8];
        alignas(32) int32_t bias[8];
        _mm256_store_ps(d, _mm256_cvtph_ps(_mm256_cvtps_ph(q.d, _MM_FROUND_TO_NEAREST_INT)));
        _mm256_store_si256(reinterpret_cast<__m256i*>(bias),
                           _mm256_mullo_epi32(q.sum, _mm256_set1_epi32(-kOffset)));
        for (int k = 0; k < 8; ++k) {
            out[b + k].d = d[k];
            out[b + k].bias = bias[k];
        }
    }
    for (; b < nb; ++b) {
        float d = 0.f;
        const int sum = quantize_q8_block(src + b * kQK32, out[b].qs, d);
        out[b].d = half_to_float(float_to_half_bits(d));
        out[b].bias = -kOffset * sum;
    }
}

// Same d and q as q8_k_from_float (bit for bit), with the sums of each 32 q.
inline void interleaved_k_act_from_float(const float* src, void* dst, int64_t n) {
    auto* out = static_cast<BlockQ8_KAct*>(dst);
    for (int64_t b = 0; b < n / kQKK; ++b) {
        BlockQ8_K q;
        q8_k_from_float(src + b * kQKK, &q, kQKK);
        out[b].d = q.d;
        for (int j = 0; j < 8; ++j)
            out[b].sums[j] = static_cast<int16_t>(q.bsums[2 * j] + q.bsums[2 * j + 1]);
        std::memcpy(out[b].qs, q.qs, sizeof q.qs);
    }
}

// A tile's start: the activation rows of its T tokens (act + t * act_row_bytes) and its R x T
// accumulators at zero.
template <class Act, int R, int T>
inline void start_tile(const std::byte* act, size_t act_row_bytes, const Act* (&a)[T],
                       __m256 (&acc)[R][T]) {
    for (int t = 0; t < T; ++t) a[t] = reinterpret_cast<const Act*>(act + t * act_row_bytes);
    for (int r = 0; r < R; ++r)
        for (int t = 0; t < T; ++t) acc[r][t] = _mm256_setzero_ps();
}

// Weight vector c (c < 8) of a group block pairs with activation word c (elements 4c..4c+3).
// kSignTrick: load() gives signed values, multiplied as |q| * (y * sign(q)).
struct Q4_0x8Weights {
    using Group = BlockQ4_0x8;
    static constexpr bool kSignTrick = false;  // levels are unsigned: vpmaddubsw cannot overflow
    static void load(const Group& g, __m256i (&w)[8]) {
        const __m256i low = _mm256_set1_epi8(0x0F);
        for (int j = 0; j < 4; ++j) {
            const __m256i v = load256(g.qs + 32 * j);
            w[j] = _mm256_and_si256(v, low);
            w[4 + j] = _mm256_and_si256(_mm256_srli_epi16(v, 4), low);
        }
    }
};

// Q5_0: the nibbles as Q4_0, bit 4 from the rearranged fifth bits (BlockQ5_0x8): vector v takes
// bit v of every qh byte, moved to bit 4 by one 16-bit shift (bit 4 of each byte comes from the
// same byte for shifts of -3..4, so no bits cross between bytes).
struct Q5_0x8Weights {
    using Group = BlockQ5_0x8;
    static constexpr bool kSignTrick = false;  // levels are unsigned: vpmaddubsw cannot overflow
    template <int kV>
    static __m256i fifth_bits(__m256i qh) {
        const __m256i moved =
            kV <= 4 ? _mm256_slli_epi16(qh, 4 - kV) : _mm256_srli_epi16(qh, kV - 4);
        return _mm256_and_si256(moved, _mm256_set1_epi8(0x10));
    }
    static void load(const Group& g, __m256i (&w)[8]) {
        const __m256i low = _mm256_set1_epi8(0x0F);
        const __m256i qh = load256(g.qh);
        const __m256i v0 = load256(g.qs), v1 = load256(g.qs + 32), v2 = load256(g.qs + 64),
                      v3 = load256(g.qs + 96);
        w[0] = _mm256_or_si256(_mm256_and_si256(v0, low), fifth_bits<0>(qh));
        w[1] = _mm256_or_si256(_mm256_and_si256(v1, low), fifth_bits<1>(qh));
        w[2] = _mm256_or_si256(_mm256_and_si256(v2, low), fifth_bits<2>(qh));
        w[3] = _mm256_or_si256(_mm256_and_si256(v3, low), fifth_bits<3>(qh));
        w[4] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(v0, 4), low), fifth_bits<4>(qh));
        w[5] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(v1, 4), low), fifth_bits<5>(qh));
        w[6] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(v2, 4), low), fifth_bits<6>(qh));
        w[7] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(v3, 4), low), fifth_bits<7>(qh));
    }
};

// Stored as q + 128: unsigned bytes for vpdpbusd (offset 128). Without VNNI, vpmaddubsw would
// overflow its int16 pair sums on bytes up to 255, so there the bytes are flipped back to the
// signed q and multiplied with the sign trick, |q| * (y * sign(q)), which needs no offset
// correction (the activations' bias is ignored).
struct Q8_0x8Weights {
    using Group = BlockQ8_0x8;
    static constexpr bool kSignTrick = !POCKET_SIMD_VNNI;
    static __m256i load_one(const Group& g, int j) {
        const __m256i v = load256(g.qs + 32 * j);
        return kSignTrick ? _mm256_xor_si256(v, _mm256_set1_epi8(static_cast<char>(0x80))) : v;
    }
    static void load(const Group& g, __m256i (&w)[8]) {
        for (int j = 0; j < 8; ++j) w[j] = load_one(g, j);
    }
};

inline __m256i broadcast_word(const int8_t* p) {
    int32_t word;
    std::memcpy(&word, p, sizeof word);
    return _mm256_set1_epi32(word);
}

// Generation reads the R groups of a tile side by side, each group's blocks one stream, and then
// the next R groups. With much work per byte the out-of-order window holds too few of those
// loads to keep the memory busy, so the kernels ask for the blocks ahead of each stream: block
// b + ahead of group r, or past the group's end the same place in group r of the next tile (a
// prefetch past the matrix is harmless: it never faults).
template <auto kHint, class Group>
inline void prefetch_group_stream(const Group* tile, int64_t nb, int tile_groups, int r, int64_t b,
                                  int64_t ahead) {
    int64_t at = b + ahead;
    if (at >= nb) at += (tile_groups - 1) * nb;
    // Integer arithmetic: the address may lie past the matrix, where a pointer may not point.
    const auto* p = reinterpret_cast<const char*>(
        reinterpret_cast<uintptr_t>(tile) + static_cast<uintptr_t>(r * nb + at) * sizeof(Group));
    for (size_t o = 0; o < sizeof(Group); o += 64) _mm_prefetch(p + o, kHint);
}

// Generation's requests for the 32-element formats (Q4_0, Q5_0, Q8_0 groups): each group's blocks
// ~512 bytes ahead into L1 and ~4 KB ahead into L2. On a Sapphire Rapids VM, tg64 at depth 32
// against two lines 1 KB ahead into L1: qwen2.5-0.5b Q4_0 +40 %, Q8_0 +11 %, Q4_K_M +16 %,
// llama-3.2-1b Q4_0 +11 %, Q8_0 -1.4 % (docs/BENCHMARKS.md); 2 KB into L1 alone did as well on
// llama-3.2-1b and 5 % worse on qwen. Used by the 512-bit body only: the 256-bit ones, bound by
// their instructions on the same VM, measured level with it.
template <class Group>
inline void prefetch_generation_32(const Group* tile, int64_t nb, int tile_groups, int r,
                                   int64_t b) {
    constexpr int64_t kAheadL1 = (512 + sizeof(Group) - 1) / sizeof(Group);
    constexpr int64_t kAheadL2 = (4096 + sizeof(Group) - 1) / sizeof(Group);
    prefetch_group_stream<_MM_HINT_T0>(tile, nb, tile_groups, r, b, kAheadL1);
    prefetch_group_stream<_MM_HINT_T1>(tile, nb, tile_groups, r, b, kAheadL2);
}

// The 32-element formats (F: Q4_0x8Weights, Q8_0x8Weights) against BlockQ8_0Act.
template <class F>
struct Legacy32Body {
    using Group = typename F::Group;
    static constexpr int kBlock = kQK32;

    // Block b of the sign-trick formats (no VNNI): |q| * (y * sign(q)), which needs no offset
    // correction. Weight vector by weight vector, each used by all T tokens and then dropped, so
    // only it, its |q| and one int32 sum per token are live: holding all eight vectors and their
    // absolute values across the tokens takes all 16 registers and spilled the sums.
    template <int R, int T>
    static void sign_trick_block(const Group* w, int64_t nb, int64_t b,
                                 const BlockQ8_0Act* const (&a)[T], __m256 (&acc)[R][T]) {
#pragma GCC unroll 8
        for (int r = 0; r < R; ++r) {
            const Group& g = w[r * nb + b];
            __m256i sum[T];
            for (int t = 0; t < T; ++t) sum[t] = _mm256_setzero_si256();
#pragma GCC unroll 8
            for (int c = 0; c < 8; ++c) {
                const __m256i q = F::load_one(g, c);
                const __m256i abs_q = _mm256_sign_epi8(q, q);
#pragma GCC unroll 8
                for (int t = 0; t < T; ++t) {
                    sum[t] = dot_us_add(sum[t], abs_q,
                                        _mm256_sign_epi8(broadcast_word(a[t][b].qs + 4 * c), q));
                    keep_in_register(sum[t]);
                }
            }
            const __m256 dw =
                _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(g.d)));
#pragma GCC unroll 8
            for (int t = 0; t < T; ++t) {
                const __m256 scale = _mm256_mul_ps(dw, _mm256_set1_ps(a[t][b].d));
                acc[r][t] = _mm256_fmadd_ps(scale, _mm256_cvtepi32_ps(sum[t]), acc[r][t]);
            }
        }
    }

    // acc[r][t] = the 8 rows of group r (w + r * nb) against token t (act + t * act_row_bytes).
    template <int R, int T>
    static void tile(int64_t nb, const Group* w, const std::byte* act, size_t act_row_bytes,
                     __m256 (&acc)[R][T]) {
        const BlockQ8_0Act* a[T];
        start_tile(act, act_row_bytes, a, acc);
        for (int64_t b = 0; b < nb; ++b) {
            if constexpr (F::kSignTrick) {
                sign_trick_block<R, T>(w, nb, b, a, acc);
                continue;
            }
#pragma GCC unroll 8
            for (int r = 0; r < R; ++r) {
                const Group& g = w[r * nb + b];
                __m256i wv[8];
                F::load(g, wv);
                const __m256 dw =
                    _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(g.d)));
#pragma GCC unroll 8
                for (int t = 0; t < T; ++t) {
                    const BlockQ8_0Act& ab = a[t][b];
                    // The sign trick multiplies the signed values: no offset to correct.
                    __m256i s0 =
                        F::kSignTrick ? _mm256_setzero_si256() : _mm256_set1_epi32(ab.bias);
                    __m256i s1 = _mm256_setzero_si256();
                    if constexpr (F::kSignTrick) {
                        for (int c = 0; c < 8; c += 2) {
                            s0 = dot_us_add(s0, _mm256_sign_epi8(wv[c], wv[c]),
                                            _mm256_sign_epi8(broadcast_word(ab.qs + 4 * c), wv[c]));
                            s1 = dot_us_add(
                                s1, _mm256_sign_epi8(wv[c + 1], wv[c + 1]),
                                _mm256_sign_epi8(broadcast_word(ab.qs + 4 * c + 4), wv[c + 1]));
                        }
                    } else {
                        for (int c = 0; c < 8; c += 2) {
                            s0 = dot_us_add(s0, wv[c], broadcast_word(ab.qs + 4 * c));
                            s1 = dot_us_add(s1, wv[c + 1], broadcast_word(ab.qs + 4 * c + 4));
                        }
                    }
                    const __m256 scale = _mm256_mul_ps(dw, _mm256_set1_ps(ab.d));
                    acc[r][t] = _mm256_fmadd_ps(scale, _mm256_cvtepi32_ps(_mm256_add_epi32(s0, s1)),
                                                acc[r][t]);
                }
            }
        }
    }
};

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VNNI__)
// 512-bit vectors over two groups at once: rows 8g..8g+7 in the low half, the next group's in the
// high half, so one vpdpbusd advances 16 rows for a broadcast activation word. CPUs with full-width
// 512-bit units (Zen 5, Intel with two FMA ports) do twice the integer work per instruction; those
// that split a 512-bit operation in two (Zen 4) still issue half the instructions. Each lane's
// arithmetic is exactly Legacy32Body's (same int32 chains, same scale product, same fmadd), so the
// results are the same bits, and an odd group left over takes the 256-bit body.
inline __m512i load_pair512(const void* lo, const void* hi) {
    return _mm512_inserti64x4(_mm512_zextsi256_si512(load256(lo)), load256(hi), 1);
}

// The eight weight vectors of groups g0 (low halves) and g1 (high halves), as F::load gives them.
struct Q4_0x8Weights512 {
    using Group = BlockQ4_0x8;
    static void load(const Group& g0, const Group& g1, __m512i (&w)[8]) {
        const __m512i low = _mm512_set1_epi8(0x0F);
        for (int j = 0; j < 4; ++j) {
            const __m512i v = load_pair512(g0.qs + 32 * j, g1.qs + 32 * j);
            w[j] = _mm512_and_si512(v, low);
            w[4 + j] = _mm512_and_si512(_mm512_srli_epi16(v, 4), low);
        }
    }
};

struct Q5_0x8Weights512 {
    using Group = BlockQ5_0x8;
    template <int kV>
    static __m512i fifth_bits(__m512i qh) {
        const __m512i moved =
            kV <= 4 ? _mm512_slli_epi16(qh, 4 - kV) : _mm512_srli_epi16(qh, kV - 4);
        return _mm512_and_si512(moved, _mm512_set1_epi8(0x10));
    }
    static void load(const Group& g0, const Group& g1, __m512i (&w)[8]) {
        const __m512i low = _mm512_set1_epi8(0x0F);
        const __m512i qh = load_pair512(g0.qh, g1.qh);
        const __m512i v0 = load_pair512(g0.qs, g1.qs), v1 = load_pair512(g0.qs + 32, g1.qs + 32),
                      v2 = load_pair512(g0.qs + 64, g1.qs + 64),
                      v3 = load_pair512(g0.qs + 96, g1.qs + 96);
        w[0] = _mm512_or_si512(_mm512_and_si512(v0, low), fifth_bits<0>(qh));
        w[1] = _mm512_or_si512(_mm512_and_si512(v1, low), fifth_bits<1>(qh));
        w[2] = _mm512_or_si512(_mm512_and_si512(v2, low), fifth_bits<2>(qh));
        w[3] = _mm512_or_si512(_mm512_and_si512(v3, low), fifth_bits<3>(qh));
        w[4] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(v0, 4), low), fifth_bits<4>(qh));
        w[5] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(v1, 4), low), fifth_bits<5>(qh));
        w[6] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(v2, 4), low), fifth_bits<6>(qh));
        w[7] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(v3, 4), low), fifth_bits<7>(qh));
    }
};

struct Q8_0x8Weights512 {
    using Group = BlockQ8_0x8;
    static void load(const Group& g0, const Group& g1, __m512i (&w)[8]) {
        for (int j = 0; j < 8; ++j) w[j] = load_pair512(g0.qs + 32 * j, g1.qs + 32 * j);
    }
};

template <class F256, class F512>
struct Legacy32Body512 {
    using Group = typename F512::Group;
    static constexpr int kBlock = kQK32;
    static_assert(!F256::kSignTrick, "the 512-bit body is for the VNNI (offset) formats");

    template <int R, int T>
    static void tile(int64_t nb, const Group* w, const std::byte* act, size_t act_row_bytes,
                     __m256 (&acc)[R][T]) {
        if constexpr (R % 2 != 0) {
            Legacy32Body<F256>::template tile<R, T>(nb, w, act, act_row_bytes, acc);
        } else {
            constexpr int P = R / 2;
            const BlockQ8_0Act* a[T];
            for (int t = 0; t < T; ++t)
                a[t] = reinterpret_cast<const BlockQ8_0Act*>(act + t * act_row_bytes);
            __m512 acc2[P][T];
            for (int p = 0; p < P; ++p)
                for (int t = 0; t < T; ++t) acc2[p][t] = _mm512_setzero_ps();
            for (int64_t b = 0; b < nb; ++b) {
#pragma GCC unroll 4
                for (int p = 0; p < P; ++p) {
                    const Group& g0 = w[(2 * p) * nb + b];
                    const Group& g1 = w[(2 * p + 1) * nb + b];
                    if constexpr (T == 1) {
                        prefetch_generation_32(w, nb, R, 2 * p, b);
                        prefetch_generation_32(w, nb, R, 2 * p + 1, b);
                    }
                    __m512i wv[8];
                    F512::load(g0, g1, wv);
                    const __m512 dw = _mm512_cvtph_ps(_mm256_inserti128_si256(
                        _mm256_castsi128_si256(
                            _mm_loadu_si128(reinterpret_cast<const __m128i*>(g0.d))),
                        _mm_loadu_si128(reinterpret_cast<const __m128i*>(g1.d)), 1));
#pragma GCC unroll 8
                    for (int t = 0; t < T; ++t) {
                        const BlockQ8_0Act& ab = a[t][b];
                        __m512i s0 = _mm512_set1_epi32(ab.bias);
                        __m512i s1 = _mm512_setzero_si512();
                        for (int c = 0; c < 8; c += 2) {
                            int32_t w0, w1;
                            std::memcpy(&w0, ab.qs + 4 * c, sizeof w0);
                            std::memcpy(&w1, ab.qs + 4 * c + 4, sizeof w1);
                            s0 = _mm512_dpbusd_epi32(s0, wv[c], _mm512_set1_epi32(w0));
                            s1 = _mm512_dpbusd_epi32(s1, wv[c + 1], _mm512_set1_epi32(w1));
                        }
                        const __m512 scale = _mm512_mul_ps(dw, _mm512_set1_ps(ab.d));
                        acc2[p][t] = _mm512_fmadd_ps(
                            scale, _mm512_cvtepi32_ps(_mm512_add_epi32(s0, s1)), acc2[p][t]);
                    }
                }
            }
            for (int p = 0; p < P; ++p) {
                for (int t = 0; t < T; ++t) {
                    acc[2 * p][t] = _mm512_castps512_ps256(acc2[p][t]);
                    acc[2 * p + 1][t] = _mm512_extractf32x8_ps(acc2[p][t], 1);
                }
            }
        }
    }
};
#define POCKET_SIMD_INTERLEAVED_512 1
#else
#define POCKET_SIMD_INTERLEAVED_512 0
#endif

// Weight vectors j and 4 + j of a BlockQ4_0x8 / BlockQ5_0x8 group (elements 4j..4j+3 and
// 16+4j..16+4j+3 of each row) as unsigned levels, for Int16Body. Q5_0 adds each level's fifth bit
// as Q5_0x8Weights does.
struct Q4_0x8Pairs {
    using Group = BlockQ4_0x8;
    // Word pairs whose products add up in an int16 lane: 16 products of at most 15 * 128.
    static constexpr int kWordsPerSum = 4;
    // The low and high nibbles of the 32 bytes at qs + 32 * j.
    template <int j>
    static void nibbles(const uint8_t* qs, __m256i& lo, __m256i& hi) {
        const __m256i low = _mm256_set1_epi8(0x0F);
        const __m256i v = load256(qs + 32 * j);
        lo = _mm256_and_si256(v, low);
        hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low);
    }
    template <int j>
    static void pair(const Group& g, __m256i& lo, __m256i& hi) {
        nibbles<j>(g.qs, lo, hi);
    }
};

struct Q5_0x8Pairs {
    using Group = BlockQ5_0x8;
    // Levels reach 31: 8 products of at most 31 * 128 fit an int16 lane, 16 would not.
    static constexpr int kWordsPerSum = 2;
    template <int j>
    static void pair(const Group& g, __m256i& lo, __m256i& hi) {
        Q4_0x8Pairs::nibbles<j>(g.qs, lo, hi);
        const __m256i qh = load256(g.qh);
        lo = _mm256_or_si256(lo, Q5_0x8Weights::fifth_bits<j>(qh));
        hi = _mm256_or_si256(hi, Q5_0x8Weights::fifth_bits<4 + j>(qh));
    }
};

// The 32-element formats with unsigned levels (F: Q4_0x8Pairs, Q5_0x8Pairs) without VNNI. Each
// 32-byte load gives two weight vectors (word j and word 4 + j), used at once by every token of
// the tile, so only two are live per group. Their vpmaddubsw pair sums add up in int16 over
// F::kWordsPerSum word pairs (one vpaddw each instead of Legacy32Body's vpmaddwd and vpaddd) and
// only then widen to int32: Q4_0 once per block and token, Q5_0 twice. Integer sums are exact in
// any order, so the results are Legacy32Body's bits.
template <class F>
struct Int16Body {
    using Group = typename F::Group;
    static constexpr int kBlock = kQK32;

    template <int j, int R, int T>
    static void word(const Group* w, int64_t nb, int64_t b, const BlockQ8_0Act* const (&a)[T],
                     __m256i (&s16)[R][T], __m256i (&s32)[R][T]) {
        __m256i lo[R], hi[R];
#pragma GCC unroll 4
        for (int r = 0; r < R; ++r) F::template pair<j>(w[r * nb + b], lo[r], hi[r]);
#pragma GCC unroll 8
        for (int t = 0; t < T; ++t) {
            const int8_t* q = a[t][b].qs;
            const __m256i y_lo = broadcast_word(q + 4 * j);
            const __m256i y_hi = broadcast_word(q + 16 + 4 * j);
#pragma GCC unroll 4
            for (int r = 0; r < R; ++r) {
                const __m256i x = _mm256_add_epi16(_mm256_maddubs_epi16(lo[r], y_lo),
                                                   _mm256_maddubs_epi16(hi[r], y_hi));
                s16[r][t] = j % F::kWordsPerSum == 0 ? x : _mm256_add_epi16(s16[r][t], x);
                keep_in_register(s16[r][t]);
                if constexpr ((j + 1) % F::kWordsPerSum == 0) {  // widen the finished int16 sum
                    const __m256i wide = _mm256_madd_epi16(s16[r][t], _mm256_set1_epi16(1));
                    s32[r][t] = j + 1 == F::kWordsPerSum
                                    ? _mm256_add_epi32(wide, _mm256_set1_epi32(a[t][b].bias))
                                    : _mm256_add_epi32(s32[r][t], wide);
                }
            }
        }
    }

    template <int R, int T>
    static void tile(int64_t nb, const Group* w, const std::byte* act, size_t act_row_bytes,
                     __m256 (&acc)[R][T]) {
        const BlockQ8_0Act* a[T];
        start_tile(act, act_row_bytes, a, acc);
        for (int64_t b = 0; b < nb; ++b) {
            // Word by word for all R groups: each broadcast activation word serves every group.
            __m256i s16[R][T], s32[R][T];
            word<0>(w, nb, b, a, s16, s32);
            word<1>(w, nb, b, a, s16, s32);
            word<2>(w, nb, b, a, s16, s32);
            word<3>(w, nb, b, a, s16, s32);
            for (int r = 0; r < R; ++r) {
                const __m256 dw = _mm256_cvtph_ps(
                    _mm_loadu_si128(reinterpret_cast<const __m128i*>(w[r * nb + b].d)));
#pragma GCC unroll 8
                for (int t = 0; t < T; ++t) {
                    acc[r][t] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_set1_ps(a[t][b].d)),
                                                _mm256_cvtepi32_ps(s32[r][t]), acc[r][t]);
                }
            }
        }
    }
};

// Q4_K (BlockQ4_Kx8) against BlockQ8_KAct. Per group of 32 values and (8 rows, token): the exact
// dot of the levels with the activations, times the rows' 6-bit group scales, summed over the
// super-block in int32; then d * d_a * sum - dmin * d_a * (mins . group sums) in float.
struct Q4_KBody {
    using Group = BlockQ4_Kx8;
    static constexpr int kBlock = kQKK;
    // Generation asks for each group's blocks two ahead into L1 (prefetch_group_stream):
    // llama-3.2-1b Q4_K_M tg64 +3 % (AVX2 +4.6 %) on a Sapphire Rapids VM (docs/BENCHMARKS.md);
    // one or three ahead, or 4-6 more ahead into L2, measured the same.
    static constexpr int64_t kGenerationAhead = 2;

    // sum over the 8 words w of levels[w] . (activation word w at q), times the group scales.
    static __m256i scaled_group_dot(const __m256i (&levels)[8], const int8_t* q, __m256i scales32) {
#if POCKET_SIMD_VNNI
        __m256i d0 = _mm256_setzero_si256();
        __m256i d1 = _mm256_setzero_si256();
        for (int w = 0; w < 8; w += 2) {
            d0 = _mm256_dpbusd_epi32(d0, levels[w], broadcast_word(q + 4 * w));
            d1 = _mm256_dpbusd_epi32(d1, levels[w + 1], broadcast_word(q + 4 * w + 4));
        }
        return _mm256_mullo_epi32(_mm256_add_epi32(d0, d1), scales32);
#else
        // int16 pair sums are at most 2 * 15 * 127 each, 8 of them still fit int16; vpmaddwd then
        // applies the scale (the same in both halves of a lane) while widening.
        __m256i s16 = _mm256_setzero_si256();
        for (int w = 0; w < 8; ++w) {
            s16 = _mm256_add_epi16(s16, _mm256_maddubs_epi16(levels[w], broadcast_word(q + 4 * w)));
            keep_in_register(s16);
        }
        return _mm256_madd_epi16(s16, _mm256_or_si256(scales32, _mm256_slli_epi32(scales32, 16)));
#endif
    }

    // Without VNNI, a prompt tile's group 2c + h of block b of R row groups for every token:
    // level vector by level vector, each used by all T tokens and dropped, with one int16 sum per
    // group and token (as scaled_group_dot, so the same bits), then the group scales applied
    // while widening.
    template <int R, int T, int h>
    static void groups_by_vector(const Group* w, int64_t nb, int64_t b,
                                 const BlockQ8_KAct* const (&a)[T], int c, __m256i (&isum)[R][T]) {
        const __m256i low4 = _mm256_set1_epi8(0x0F);
        __m256i s16[R][T];
        for (int r = 0; r < R; ++r)
            for (int t = 0; t < T; ++t) s16[r][t] = _mm256_setzero_si256();
#pragma GCC unroll 8
        for (int v = 0; v < 8; ++v) {
            __m256i levels[R];
#pragma GCC unroll 4
            for (int r = 0; r < R; ++r) {
                const __m256i bytes = load256(w[r * nb + b].qs + 256 * c + 32 * v);
                levels[r] = _mm256_and_si256(h == 0 ? bytes : _mm256_srli_epi16(bytes, 4), low4);
            }
#pragma GCC unroll 8
            for (int t = 0; t < T; ++t) {
                const __m256i y = broadcast_word(a[t][b].qs + 64 * c + 32 * h + 4 * v);
#pragma GCC unroll 4
                for (int r = 0; r < R; ++r) {
                    s16[r][t] = _mm256_add_epi16(s16[r][t], _mm256_maddubs_epi16(levels[r], y));
                    keep_in_register(s16[r][t]);
                }
            }
        }
#pragma GCC unroll 4
        for (int r = 0; r < R; ++r) {
            const __m256i scales32 = _mm256_cvtepu8_epi32(_mm_loadl_epi64(
                reinterpret_cast<const __m128i*>(w[r * nb + b].scales + 8 * (2 * c + h))));
            const __m256i scales16 = _mm256_or_si256(scales32, _mm256_slli_epi32(scales32, 16));
#pragma GCC unroll 8
            for (int t = 0; t < T; ++t) {
                isum[r][t] = _mm256_add_epi32(isum[r][t], _mm256_madd_epi16(s16[r][t], scales16));
                keep_in_register(isum[r][t]);
            }
        }
    }

    // acc_r[t] += d * d_a * isum[t] - dmin * d_a * (mins . group sums of token t), block b.
    template <int T>
    static void finish_block(const Group& g, const BlockQ8_KAct* const (&a)[T], int64_t b,
                             const __m256i (&isum)[T], __m256 (&acc_r)[T]) {
        const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(g.d)));
        const __m256 dminw =
            _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(g.dmin)));
        __m256i mins[4];
        for (int p = 0; p < 4; ++p) {
            mins[p] = _mm256_cvtepu8_epi16(
                _mm_loadu_si128(reinterpret_cast<const __m128i*>(g.mins + 16 * p)));
        }
#pragma GCC unroll 8
        for (int t = 0; t < T; ++t) {
            const BlockQ8_KAct& ab = a[t][b];
            __m256i min_sum = _mm256_setzero_si256();
            for (int p = 0; p < 4; ++p) {
                int32_t pair;
                std::memcpy(&pair, ab.sums + 2 * p, sizeof pair);
                min_sum = madd_add(min_sum, mins[p], _mm256_set1_epi32(pair));
            }
            const __m256 da = _mm256_set1_ps(ab.d);
            acc_r[t] =
                _mm256_fmadd_ps(_mm256_mul_ps(dw, da), _mm256_cvtepi32_ps(isum[t]), acc_r[t]);
            acc_r[t] =
                _mm256_fnmadd_ps(_mm256_mul_ps(dminw, da), _mm256_cvtepi32_ps(min_sum), acc_r[t]);
        }
    }

    template <int R, int T>
    static void tile(int64_t nb, const Group* w, const std::byte* act, size_t act_row_bytes,
                     __m256 (&acc)[R][T]) {
        const BlockQ8_KAct* a[T];
        start_tile(act, act_row_bytes, a, acc);
        const __m256i low4 = _mm256_set1_epi8(0x0F);
        for (int64_t b = 0; b < nb; ++b) {
#if !POCKET_SIMD_VNNI
            // Prompt tiles without VNNI: level vector by level vector for all R groups, each
            // broadcast activation word used by every group.
            if constexpr (T > 1) {
                __m256i isum[R][T];
                for (int r = 0; r < R; ++r)
                    for (int t = 0; t < T; ++t) isum[r][t] = _mm256_setzero_si256();
                for (int c = 0; c < 4; ++c) {
                    groups_by_vector<R, T, 0>(w, nb, b, a, c, isum);
                    groups_by_vector<R, T, 1>(w, nb, b, a, c, isum);
                }
                for (int r = 0; r < R; ++r) finish_block<T>(w[r * nb + b], a, b, isum[r], acc[r]);
                continue;
            }
#endif
            for (int r = 0; r < R; ++r) {
                const Group& g = w[r * nb + b];
                if constexpr (T == 1)
                    prefetch_group_stream<_MM_HINT_T0>(w, nb, R, r, b, kGenerationAhead);
                __m256i isum[T];
                for (int t = 0; t < T; ++t) isum[t] = _mm256_setzero_si256();
                for (int c = 0; c < 4; ++c) {
                    // Low nibbles: group 2c; high nibbles: group 2c+1 (activations 32 further).
                    for (int h = 0; h < 2; ++h) {
                        __m256i levels[8];
                        for (int v = 0; v < 8; ++v) {
                            const __m256i bytes = load256(g.qs + 256 * c + 32 * v);
                            levels[v] = _mm256_and_si256(
                                h == 0 ? bytes : _mm256_srli_epi16(bytes, 4), low4);
                        }
                        const __m256i scales = _mm256_cvtepu8_epi32(_mm_loadl_epi64(
                            reinterpret_cast<const __m128i*>(g.scales + 8 * (2 * c + h))));
#pragma GCC unroll 8
                        for (int t = 0; t < T; ++t) {
                            isum[t] = _mm256_add_epi32(
                                isum[t],
                                scaled_group_dot(levels, a[t][b].qs + 64 * c + 32 * h, scales));
                            keep_in_register(isum[t]);
                        }
                    }
                }
                finish_block<T>(g, a, b, isum, acc[r]);
            }
        }
    }
};

// Q6_K (BlockQ6_Kx8) against BlockQ8_K. Per group of 16 values and (8 rows, token): the exact dot
// of the unsigned levels (value + 32) with the activations, times the rows' group scales, summed
// over the super-block in int32; the 32 comes off as 32 * (scales . the activations' group sums),
// and then d * d_a * sum in float (the row-major Q6_K kernels' integer sum, formed per lane).
struct Q6_KBody {
    using Group = BlockQ6_Kx8;
    static constexpr int kBlock = kQKK;
    // Generation asks for each group's blocks four super-blocks (6.7 KB) ahead, with the T1 hint.
    // On a Zen 4, one thread streaming a 32768 x 4096 matrix from DRAM, three alternating rounds
    // against two ahead with T0: 16.3/12.6/15.4 -> 22.9/26.7/21.7 GB/s (AVX-512 table),
    // 10.2/11.2/11.2 -> 20.8/22.5/22.1 (AVX2 table); four ahead with T0 13.6/13.0/18.7, eight with
    // T1 24.2/25.4/20.3. The same change to Q4_K measured level.
    static constexpr int64_t kGenerationAhead = 4;

    // Levels of group g's weight vector k: per row, elements 16g + 4k .. 16g + 4k + 3.
    static __m256i level(const Group& w, int g, int k, __m256i qh) {
        const __m256i bytes = load256(w.ql + 256 * (g / 4) + 32 * (4 * (g % 2) + k));
        const __m256i low4 = _mm256_set1_epi8(0x0F);
        const __m256i low =
            _mm256_and_si256((g / 2) % 2 == 0 ? bytes : _mm256_srli_epi16(bytes, 4), low4);
        // Bits 2k..2k+1 of each qh byte to bits 4..5 (a 16-bit shift: the mask drops what crossed
        // from the neighbouring byte).
        const __m256i high = k == 0   ? _mm256_slli_epi16(qh, 4)
                             : k == 1 ? _mm256_slli_epi16(qh, 2)
                             : k == 2 ? qh
                                      : _mm256_srli_epi16(qh, 2);
        return _mm256_or_si256(low, _mm256_and_si256(high, _mm256_set1_epi8(0x30)));
    }

    // Lane i: row i's scales of groups 2m and 2m + 1 as two int16.
    static __m256i scale_pairs(const Group& w, int m) {
        return _mm256_cvtepi8_epi16(
            _mm_loadu_si128(reinterpret_cast<const __m128i*>(w.scales + 16 * m)));
    }

    // Adds group g's scaled dots of R row groups with T tokens to isum.
    template <int R, int T>
    static void group(const Group* w, int64_t nb, int64_t b, const BlockQ8_K* const (&a)[T], int g,
                      __m256i (&isum)[R][T]) {
#pragma GCC unroll 4
        for (int r = 0; r < R; ++r) {
            const Group& x = w[r * nb + b];
            const __m256i qh = load256(x.qh + 32 * g);
            const __m256i pairs = scale_pairs(x, g / 2);
#if POCKET_SIMD_VNNI
            const __m256i scale = g % 2 == 0 ? _mm256_srai_epi32(_mm256_slli_epi32(pairs, 16), 16)
                                             : _mm256_srai_epi32(pairs, 16);
            __m256i levels[4];
            for (int k = 0; k < 4; ++k) levels[k] = level(x, g, k, qh);
#pragma GCC unroll 8
            for (int t = 0; t < T; ++t) {
                const int8_t* q = a[t][b].qs + 16 * g;
                __m256i d =
                    _mm256_dpbusd_epi32(_mm256_setzero_si256(), levels[0], broadcast_word(q));
                for (int k = 1; k < 4; ++k)
                    d = _mm256_dpbusd_epi32(d, levels[k], broadcast_word(q + 4 * k));
                isum[r][t] = _mm256_add_epi32(isum[r][t], _mm256_mullo_epi32(d, scale));
            }
#else
            // The scale in both int16 halves of the row's lane, for vpmaddwd.
            const __m256i scale = _mm256_shuffle_epi8(
                pairs,
                g % 2 == 0
                    ? _mm256_setr_epi8(0, 1, 0, 1, 4, 5, 4, 5, 8, 9, 8, 9, 12, 13, 12, 13, 0, 1, 0,
                                       1, 4, 5, 4, 5, 8, 9, 8, 9, 12, 13, 12, 13)
                    : _mm256_setr_epi8(2, 3, 2, 3, 6, 7, 6, 7, 10, 11, 10, 11, 14, 15, 14, 15, 2, 3,
                                       2, 3, 6, 7, 6, 7, 10, 11, 10, 11, 14, 15, 14, 15));
            // Two weight vectors at a time: vpmaddubsw's pair sums reach 2 * 63 * 127, so two of
            // them fit int16 and a third might not.
#pragma GCC unroll 2
            for (int p = 0; p < 2; ++p) {
                const __m256i l0 = level(x, g, 2 * p, qh);
                const __m256i l1 = level(x, g, 2 * p + 1, qh);
#pragma GCC unroll 8
                for (int t = 0; t < T; ++t) {
                    const int8_t* q = a[t][b].qs + 16 * g + 8 * p;
                    const __m256i s16 =
                        _mm256_add_epi16(_mm256_maddubs_epi16(l0, broadcast_word(q)),
                                         _mm256_maddubs_epi16(l1, broadcast_word(q + 4)));
                    isum[r][t] = madd_add(isum[r][t], s16, scale);
                    keep_in_register(isum[r][t]);
                }
            }
#endif
        }
    }

    // acc_r[t] += d * d_a * (isum[t] - 32 * (scales . group sums of token t)), block b.
    template <int T>
    static void finish_block(const Group& g, const BlockQ8_K* const (&a)[T], int64_t b,
                             __m256i (&isum)[T], __m256 (&acc_r)[T]) {
#pragma GCC unroll 8
        for (int m = 0; m < 8; ++m) {
            // 32 * scale fits int16 (|scale| <= 128), and the products' pair sums fit int32.
            const __m256i pairs32 = _mm256_slli_epi16(scale_pairs(g, m), 5);
#pragma GCC unroll 8
            for (int t = 0; t < T; ++t) {
                int32_t sums;
                std::memcpy(&sums, a[t][b].bsums + 2 * m, sizeof sums);
                isum[t] =
                    _mm256_sub_epi32(isum[t], _mm256_madd_epi16(pairs32, _mm256_set1_epi32(sums)));
            }
        }
        const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(g.d)));
#pragma GCC unroll 8
        for (int t = 0; t < T; ++t) {
            acc_r[t] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_set1_ps(a[t][b].d)),
                                       _mm256_cvtepi32_ps(isum[t]), acc_r[t]);
        }
    }

    template <int R, int T>
    static void tile(int64_t nb, const Group* w, const std::byte* act, size_t act_row_bytes,
                     __m256 (&acc)[R][T]) {
        const BlockQ8_K* a[T];
        start_tile(act, act_row_bytes, a, acc);
        for (int64_t b = 0; b < nb; ++b) {
            if constexpr (T == 1) {
                for (int r = 0; r < R; ++r)
                    prefetch_group_stream<_MM_HINT_T1>(w, nb, R, r, b, kGenerationAhead);
            }
            __m256i isum[R][T];
            for (int r = 0; r < R; ++r)
                for (int t = 0; t < T; ++t) isum[r][t] = _mm256_setzero_si256();
#pragma GCC unroll 16
            for (int g = 0; g < 16; ++g) group<R, T>(w, nb, b, a, g, isum);
            for (int r = 0; r < R; ++r) finish_block<T>(w[r * nb + b], a, b, isum[r], acc[r]);
        }
    }
};

#if POCKET_SIMD_INTERLEAVED_512
// Q4_KBody over two groups per 512-bit vector (see Legacy32Body512): the same int32 sums, scale
// products and float steps per lane, so the same bits; an odd group left over takes Q4_KBody.
struct Q4_KBody512 {
    using Group = BlockQ4_Kx8;
    static constexpr int kBlock = kQKK;

    static __m512i pair128(const void* lo, const void* hi) {
        return _mm512_inserti64x4(
            _mm512_zextsi256_si512(
                _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(lo)))),
            _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(hi))), 1);
    }
    static __m512 halves16(const f16_t* lo, const f16_t* hi) {
        return _mm512_cvtph_ps(_mm256_inserti128_si256(
            _mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(lo))),
            _mm_loadu_si128(reinterpret_cast<const __m128i*>(hi)), 1));
    }

    template <int R, int T>
    static void tile(int64_t nb, const Group* w, const std::byte* act, size_t act_row_bytes,
                     __m256 (&acc)[R][T]) {
        if constexpr (R % 2 != 0) {
            Q4_KBody::template tile<R, T>(nb, w, act, act_row_bytes, acc);
        } else {
            constexpr int P = R / 2;
            const BlockQ8_KAct* a[T];
            for (int t = 0; t < T; ++t)
                a[t] = reinterpret_cast<const BlockQ8_KAct*>(act + t * act_row_bytes);
            __m512 acc2[P][T];
            for (int p = 0; p < P; ++p)
                for (int t = 0; t < T; ++t) acc2[p][t] = _mm512_setzero_ps();
            const __m512i low4 = _mm512_set1_epi8(0x0F);
            for (int64_t b = 0; b < nb; ++b) {
                for (int p = 0; p < P; ++p) {
                    const Group& g0 = w[(2 * p) * nb + b];
                    const Group& g1 = w[(2 * p + 1) * nb + b];
                    if constexpr (T == 1) {
                        for (int r = 2 * p; r < 2 * p + 2; ++r)
                            prefetch_group_stream<_MM_HINT_T0>(w, nb, R, r, b,
                                                               Q4_KBody::kGenerationAhead);
                    }
                    __m512i isum[T];
                    for (int t = 0; t < T; ++t) isum[t] = _mm512_setzero_si512();
                    for (int c = 0; c < 4; ++c) {
                        for (int h = 0; h < 2; ++h) {
                            __m512i levels[8];
                            for (int v = 0; v < 8; ++v) {
                                const __m512i bytes = load_pair512(g0.qs + 256 * c + 32 * v,
                                                                   g1.qs + 256 * c + 32 * v);
                                levels[v] = _mm512_and_si512(
                                    h == 0 ? bytes : _mm512_srli_epi16(bytes, 4), low4);
                            }
                            const int j = 2 * c + h;
                            const __m512i scales = _mm512_cvtepu8_epi32(_mm_unpacklo_epi64(
                                _mm_loadl_epi64(
                                    reinterpret_cast<const __m128i*>(g0.scales + 8 * j)),
                                _mm_loadl_epi64(
                                    reinterpret_cast<const __m128i*>(g1.scales + 8 * j))));
#pragma GCC unroll 8
                            for (int t = 0; t < T; ++t) {
                                const int8_t* q = a[t][b].qs + 64 * c + 32 * h;
                                __m512i d0 = _mm512_setzero_si512();
                                __m512i d1 = _mm512_setzero_si512();
                                for (int v = 0; v < 8; v += 2) {
                                    int32_t w0, w1;
                                    std::memcpy(&w0, q + 4 * v, sizeof w0);
                                    std::memcpy(&w1, q + 4 * v + 4, sizeof w1);
                                    d0 = _mm512_dpbusd_epi32(d0, levels[v], _mm512_set1_epi32(w0));
                                    d1 = _mm512_dpbusd_epi32(d1, levels[v + 1],
                                                             _mm512_set1_epi32(w1));
                                }
                                isum[t] = _mm512_add_epi32(
                                    isum[t], _mm512_mullo_epi32(_mm512_add_epi32(d0, d1), scales));
                            }
                        }
                    }
                    const __m512 dw = halves16(g0.d, g1.d);
                    const __m512 dminw = halves16(g0.dmin, g1.dmin);
                    __m512i mins[4];
                    for (int m = 0; m < 4; ++m)
                        mins[m] = pair128(g0.mins + 16 * m, g1.mins + 16 * m);
#pragma GCC unroll 8
                    for (int t = 0; t < T; ++t) {
                        const BlockQ8_KAct& ab = a[t][b];
                        __m512i min_sum = _mm512_setzero_si512();
                        for (int m = 0; m < 4; ++m) {
                            int32_t pair;
                            std::memcpy(&pair, ab.sums + 2 * m, sizeof pair);
                            min_sum =
                                _mm512_dpwssd_epi32(min_sum, mins[m], _mm512_set1_epi32(pair));
                        }
                        const __m512 da = _mm512_set1_ps(ab.d);
                        acc2[p][t] = _mm512_fmadd_ps(_mm512_mul_ps(dw, da),
                                                     _mm512_cvtepi32_ps(isum[t]), acc2[p][t]);
                        acc2[p][t] = _mm512_fnmadd_ps(_mm512_mul_ps(dminw, da),
                                                      _mm512_cvtepi32_ps(min_sum), acc2[p][t]);
                    }
                }
            }
            for (int p = 0; p < P; ++p) {
                for (int t = 0; t < T; ++t) {
                    acc[2 * p][t] = _mm512_castps512_ps256(acc2[p][t]);
                    acc[2 * p + 1][t] = _mm512_extractf32x8_ps(acc2[p][t], 1);
                }
            }
        }
    }
};
#endif

// Walks a range of rows in tiles of R groups x T tokens of a Body (Legacy32Body, Q4_KBody).
template <class Body>
struct InterleavedDriver {
    using Group = typename Body::Group;

    // Stores the 8 rows of group g for token t, only those inside [row_begin, row_end).
    static void store(__m256 v, float* y_t, int64_t g, int64_t row_begin, int64_t row_end) {
        const int64_t first = g * kInterleaveRows;
        if (first >= row_begin && first + kInterleaveRows <= row_end) {
            _mm256_storeu_ps(y_t + first, v);
            return;
        }
        alignas(32) float rows[kInterleaveRows];
        _mm256_store_ps(rows, v);
        for (int64_t i = 0; i < kInterleaveRows; ++i) {
            if (first + i >= row_begin && first + i < row_end) y_t[first + i] = rows[i];
        }
    }

    template <int R, int T>
    static void run_tile(int64_t nb, const Group* groups, int64_t g, const std::byte* act,
                         size_t act_row_bytes, int64_t t, float* y, size_t y_stride,
                         int64_t row_begin, int64_t row_end) {
        __m256 acc[R][T];
        Body::template tile<R, T>(nb, groups + g * nb, act + t * act_row_bytes, act_row_bytes, acc);
        for (int r = 0; r < R; ++r)
            for (int i = 0; i < T; ++i)
                store(acc[r][i], y + (t + i) * y_stride, g + r, row_begin, row_end);
    }

    // Tokens [t, t_end) of group g in tiles of T, the leftovers in one smaller tile: a batch of
    // 8 with T = 3 runs as 3 + 3 + 2, so the weights are unpacked three times, not four (the
    // continuous-batching server decodes such batches every step).
    template <int R, int T>
    static void run_tokens(int64_t nb, const Group* groups, int64_t g, const std::byte* act,
                           size_t act_row_bytes, int64_t t, int64_t t_end, float* y,
                           size_t y_stride, int64_t row_begin, int64_t row_end) {
        for (; t + T <= t_end; t += T) {
            run_tile<R, T>(nb, groups, g, act, act_row_bytes, t, y, y_stride, row_begin, row_end);
        }
        if constexpr (T > 1) {
            if (t < t_end)
                run_tokens<R, T - 1>(nb, groups, g, act, act_row_bytes, t, t_end, y, y_stride,
                                     row_begin, row_end);
        }
    }

    // Groups in steps of R, tokens in steps of T (leftovers in one smaller tile).
    template <int R, int T>
    static void run_groups(int64_t nb, const Group* groups, int64_t g_begin, int64_t g_end,
                           const std::byte* act, size_t act_row_bytes, int64_t t_begin,
                           int64_t t_end, float* y, size_t y_stride, int64_t row_begin,
                           int64_t row_end) {
        int64_t g = g_begin;
        for (; g + R <= g_end; g += R) {
            run_tokens<R, T>(nb, groups, g, act, act_row_bytes, t_begin, t_end, y, y_stride,
                             row_begin, row_end);
        }
        if constexpr (R > 1) {
            run_groups<1, T>(nb, groups, g, g_end, act, act_row_bytes, t_begin, t_end, y, y_stride,
                             row_begin, row_end);
        }
    }
};

// kR x kT tiles for prompts; kVecR groups per tile for a single token.
template <class Body, int kR, int kT, int kVecR>
void matmul_interleaved(int64_t k, const void* w, size_t /*w_row_bytes*/, const void* act,
                        size_t act_row_bytes, int64_t n_tokens, float* y, size_t y_stride,
                        int64_t row_begin, int64_t row_end) {
    using Driver = InterleavedDriver<Body>;
    if (row_begin >= row_end || n_tokens <= 0) return;
    const int64_t nb = k / Body::kBlock;
    const auto* groups = static_cast<const typename Body::Group*>(w);
    const auto* a = static_cast<const std::byte*>(act);
    const int64_t g_begin = row_begin / kInterleaveRows;
    const int64_t g_end = (row_end + kInterleaveRows - 1) / kInterleaveRows;
    if (n_tokens == 1) {
        Driver::template run_groups<kVecR, 1>(nb, groups, g_begin, g_end, a, act_row_bytes, 0, 1, y,
                                              y_stride, row_begin, row_end);
        return;
    }
    for (int64_t t0 = 0; t0 < n_tokens; t0 += kTokenChunk) {
        const int64_t t1 = t0 + kTokenChunk < n_tokens ? t0 + kTokenChunk : n_tokens;
        Driver::template run_groups<kR, kT>(nb, groups, g_begin, g_end, a, act_row_bytes, t0, t1, y,
                                            y_stride, row_begin, row_end);
    }
}

}  // namespace pocket::kernels::POCKET_SIMD_NS
