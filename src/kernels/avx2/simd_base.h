// Building blocks shared by the AVX2 and AVX-512 kernel tables. Most kernels use 256-bit vectors
// in both: AVX-512 contributes VNNI (vpdpbusd/vpdpwssd), BF16 dot products and 32 vector registers
// (bigger matmul tiles). The exception is the interleaved Q4_0/Q8_0 prompt kernel, which takes
// 512-bit vectors over two row groups (Legacy32Body512 in simd_interleaved.h): CPUs with
// full-width 512-bit units (Zen 5) ran prompts 1.5x faster with it.
//
// These headers are compiled once per instruction set: the including .cpp defines POCKET_SIMD_NS
// (avx2 / avx512) and everything lands in pocket::kernels::POCKET_SIMD_NS, so the two copies never
// meet at link time (an inline function compiled with AVX-512 must not be picked for the AVX2
// table). For the same reason the kernels call no out-of-line library helpers (fp16.h functions,
// std:: algorithms) whose single linked copy could end up compiled with these flags.
#pragma once

#ifndef POCKET_SIMD_NS
#error "define POCKET_SIMD_NS before including the SIMD kernel headers"
#endif

#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "kernels/blocks.h"

#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
#define POCKET_SIMD_VNNI 1
#else
#define POCKET_SIMD_VNNI 0
#endif

namespace pocket::kernels::POCKET_SIMD_NS {

// Row-by-row dot products (vec_dot: the K formats without an interleaved or tiled generation
// kernel, Q6_K above all; F16/BF16 rows) read one sequential stream, yet the hardware prefetcher
// alone left the core waiting: on a Sapphire Rapids VM a Q6_K row loop over 110 MB ran at
// 8.8 GB/s, and at 21.4 GB/s (its in-cache speed is 31) when each block asked for the bytes 16 KB
// further on into L1 (2 KB: 14-18, 8 KB: 16-18 GB/s). With two threads streaming from DRAM, two
// distances do better still: the bytes kStreamAheadL2 on into L2 (so each request has time to
// come from memory) and kStreamAheadL1 on from there into L1 (so the L1, 48 KB, holds no more than
// the next 8 KB of each stream). llama-3.2-1b Q4_K_M tg64 +2.4 % (Q6_K holds its output head),
// qwen2.5-0.5b F16 +12 %, BF16 +23 % against 16 KB into L1 alone (docs/BENCHMARKS.md). Rows lie
// one after another, so the bytes ahead are the next rows'; past the matrix a prefetch is
// harmless (it never faults).
inline constexpr size_t kStreamAheadL1 = 8192;
inline constexpr size_t kStreamAheadL2 = 32768;
// Asks for the `bytes` that lie kStreamAheadL1 and kStreamAheadL2 past `at`.
inline void prefetch_stream_ahead(const void* at, size_t bytes) {
    const char* p = static_cast<const char*>(at);
    for (size_t o = 0; o < bytes; o += 64) {
        _mm_prefetch(p + kStreamAheadL1 + o, _MM_HINT_T0);
        _mm_prefetch(p + kStreamAheadL2 + o, _MM_HINT_T1);
    }
}
template <class Block>
inline void prefetch_stream_ahead(const Block* block) {
    prefetch_stream_ahead(static_cast<const void*>(block), sizeof(Block));
}

// F16 bits to float (exact; F16C).
inline float half_to_float(uint16_t h) {
    return _cvtsh_ss(h);
}

inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

inline float hmax(__m256 v) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

inline int hsum_i32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(s);
}

inline __m256 abs_ps(__m256 v) {
    return _mm256_andnot_ps(_mm256_set1_ps(-0.f), v);
}

inline __m256i load256(const void* p) {
    return _mm256_loadu_si256(static_cast<const __m256i*>(p));
}

// An integer sum that a tile adds to step by step stays one chain in one register. Without this
// GCC reassociates the additions of a fully unrolled tile into trees, keeps all the products alive
// at once and spills them: the AVX2 Q8_0 prompt tile ran 15 % slower (docs/BENCHMARKS.md).
inline void keep_in_register(__m256i& v) {
    asm("" : "+x"(v));
}

// c + (sum of 4 adjacent u8*s8 products) per int32 lane: lane j covers bytes 4j..4j+3. Exact as
// long as each pair of products fits int16 (AVX2 path), which holds for every caller: the unsigned
// side is at most 128 when the signed side can reach +-127, else at most 63.
inline __m256i dot_us_add(__m256i c, __m256i u, __m256i s) {
#if POCKET_SIMD_VNNI
    return _mm256_dpbusd_epi32(c, u, s);
#else
    return _mm256_add_epi32(c, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)));
#endif
}
inline __m256i dot_us(__m256i u, __m256i s) {
    return dot_us_add(_mm256_setzero_si256(), u, s);
}

// acc + pairwise int16 products summed to int32 (for applying 16-bit sub-block scales).
inline __m256i madd_add(__m256i acc, __m256i a16, __m256i b16) {
#if POCKET_SIMD_VNNI
    return _mm256_dpwssd_epi32(acc, a16, b16);
#else
    return _mm256_add_epi32(acc, _mm256_madd_epi16(a16, b16));
#endif
}

// The 32 nibbles of a 16-byte array as bytes: low nibbles first (elements 0-15), then high ones.
inline __m256i unpack_nibbles_split(const uint8_t* qs) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
    const __m256i both = _mm256_set_m128i(_mm_srli_epi16(v, 4), v);
    return _mm256_and_si256(both, _mm256_set1_epi8(0x0F));
}

// The 32 signed IQ4_NL levels (kIq4nlValues) of 16 packed bytes, in element order (low nibbles
// first), by a byte table lookup in both lanes. Shared by IQ4_NL and IQ4_XS.
inline __m256i iq4_levels(const uint8_t* qs) {
    alignas(16) static constexpr int8_t kLevels[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                                       1,    13,   25,  38,  53,  69,  89,  113};
    const __m256i table =
        _mm256_broadcastsi128_si256(_mm_load_si128(reinterpret_cast<const __m128i*>(kLevels)));
    return _mm256_shuffle_epi8(table, unpack_nibbles_split(qs));
}

// Byte j = 0xFF where bit j of the 32-bit word is set.
inline __m256i expand_bits(uint32_t bits) {
    const __m256i spread = _mm256_shuffle_epi8(
        _mm256_set1_epi32(static_cast<int>(bits)),
        _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0));
    const __m256i mask = _mm256_set1_epi64x(static_cast<int64_t>(0x8040201008040201ULL));
    return _mm256_cmpeq_epi8(_mm256_and_si256(spread, mask), mask);
}

}  // namespace pocket::kernels::POCKET_SIMD_NS
