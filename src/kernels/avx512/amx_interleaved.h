// AMX-INT8 prompt matmuls over the interleaved Q4_0 / Q5_0 / Q8_0 layouts (kernels/interleaved.h),
// for CPUs with AMX tiles (Intel Sapphire Rapids and later). Included by register_avx512.cpp only,
// which installs them over the VNNI kernels when kernels::amx_supported().
//
// Why: a VNNI vpdpbusd multiplies 64 byte pairs; one AMX tdpbssd multiplies a 16 x 32 tile of
// activations by a 32 x 16 tile of weights, 8192 pairs, on its own unit. What is left for the
// vector unit is the per-block float work that any 32-element format needs (its scales are per
// block): convert the 16 x 16 block sums, scale, accumulate, about 3 instructions per token row.
//
// How: the interleaved layout already is AMX's B layout. Row j of a B tile holds, for each of its
// 16 columns (weight rows), the 4 consecutive values 4j..4j+3, and that is what the 512-bit weight
// loaders of simd_interleaved.h give for two groups of 8 rows side by side. For each pair of groups
// the kernel unpacks every block once into signed bytes (value - the format's offset) in a scratch
// buffer, then runs over the tokens in tiles of 16: per block, one A tile (16 activation rows of 32
// bytes, read in place from the BlockQ8_0Act rows) times the block's B tile gives the exact int32
// block sums, which are stored to a small buffer and folded into 16 float accumulators of 16 rows:
// acc += float(sum) * (d_w * d_a), block by block in order, the scalar reference's formula with a
// fused multiply-add. Leftover tokens (fewer than 16) go to the VNNI kernel.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <vector>

#include "kernels/amx.h"
#include "kernels/avx2/simd_interleaved.h"

namespace pocket::kernels::avx512 {

inline constexpr int64_t kAmxTokens = 16;  // rows of an A tile
inline constexpr int64_t kAmxRows = 16;    // weight rows (columns) of a B tile: two groups of 8

// The palette-1 tile configuration (64 bytes, the layout ldtilecfg reads). Tiles 0-1 hold
// activations (16 tokens x 32 bytes), 2-3 weights (8 rows of 4 x 16 bytes), 4-5 block sums
// (16 tokens x 16 int32): two of each, so two blocks are in flight.
struct alignas(64) AmxTileConfig {
    uint8_t palette = 1;
    uint8_t start_row = 0;
    uint8_t reserved[14] = {};
    uint16_t colsb[16] = {};
    uint8_t rows[16] = {};
};

constexpr AmxTileConfig make_amx_tile_config() {
    AmxTileConfig config;
    for (int tile = 0; tile < 2; ++tile) {
        config.rows[tile] = kAmxTokens;
        config.colsb[tile] = kQK32;
        config.rows[2 + tile] = kQK32 / 4;
        config.colsb[2 + tile] = kAmxRows * 4;
        config.rows[4 + tile] = kAmxTokens;
        config.colsb[4 + tile] = kAmxRows * 4;
    }
    return config;
}

// A constant in memory, not a local: GCC's _tile_loadconfig tells the compiler it reads only the
// first 8 bytes, so the stores filling a local configuration could be dropped.
inline constexpr AmxTileConfig kAmxTileConfig = make_amx_tile_config();

// The tile loads are asm statements that do not tell the compiler they read memory: this keeps
// the scratch stores before them.
inline void amx_compiler_barrier() {
    __asm__ volatile("" ::: "memory");
}

// One pair of groups unpacked for the tiles: per block, 8 B-tile rows of 64 signed bytes and the
// 16 rows' scales. Grown once per thread, reused by every call.
struct AmxWeightScratch {
    struct alignas(64) TileRow {
        int8_t bytes[kAmxRows * 4];
    };
    struct alignas(64) RowScales {
        float d[kAmxRows];
    };
    std::vector<TileRow> tiles;
    std::vector<RowScales> scales;
};

inline AmxWeightScratch& amx_weight_scratch(int64_t nb) {
    thread_local AmxWeightScratch scratch;
    const auto blocks = static_cast<size_t>(nb);
    if (scratch.scales.size() < blocks) {
        scratch.tiles.resize(8 * blocks);
        scratch.scales.resize(blocks);
    }
    return scratch;
}

// W512: the format's 512-bit weight loader (Q4_0x8Weights512, ...), whose bytes are value +
// kOffset. Without a second group (g1 == nullptr) its columns repeat g0 at scale 0.
template <class W512, int kOffset>
void amx_unpack_pair(int64_t nb, const typename W512::Group* g0, const typename W512::Group* g1,
                     AmxWeightScratch& out) {
    const __m512i offset = _mm512_set1_epi8(static_cast<char>(kOffset));
    for (int64_t b = 0; b < nb; ++b) {
        __m512i w[8];
        W512::load(g0[b], g1 ? g1[b] : g0[b], w);
        for (int j = 0; j < 8; ++j)
            _mm512_store_si512(out.tiles[8 * b + j].bytes, _mm512_sub_epi8(w[j], offset));
        const __m256 d0 =
            _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(g0[b].d)));
        const __m256 d1 =
            g1 ? _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(g1[b].d)))
               : _mm256_setzero_ps();
        _mm256_store_ps(out.scales[b].d, d0);
        _mm256_store_ps(out.scales[b].d + 8, d1);
    }
}

// acc[m] += float(sums[m]) * (d_w * d_a[m]) for the 16 tokens of one block.
inline void amx_fold_block(const int32_t (*sums)[kAmxRows], const AmxWeightScratch::RowScales& d_w,
                           const std::byte* act, size_t act_row_bytes, int64_t b,
                           __m512 (&acc)[kAmxTokens]) {
    const __m512 w_scales = _mm512_load_ps(d_w.d);
    for (int m = 0; m < kAmxTokens; ++m) {
        const auto* a = reinterpret_cast<const BlockQ8_0Act*>(act + m * act_row_bytes) + b;
        const __m512 scale = _mm512_mul_ps(w_scales, _mm512_set1_ps(a->d));
        const __m512 sum = _mm512_cvtepi32_ps(_mm512_load_si512(sums[m]));
        acc[m] = _mm512_fmadd_ps(sum, scale, acc[m]);
    }
}

// 16 tokens (act rows from `act`) x the 16 rows of one unpacked pair of groups, all blocks.
inline void amx_token_tile(int64_t nb, const AmxWeightScratch& w, const std::byte* act,
                           size_t act_row_bytes, __m512 (&acc)[kAmxTokens]) {
    alignas(64) int32_t sums[2][kAmxTokens][kAmxRows];
    const auto stride = static_cast<long>(act_row_bytes);
    constexpr long kBStride = kAmxRows * 4;
    for (auto& v : acc) v = _mm512_setzero_ps();
    int64_t b = 0;
    for (; b + 2 <= nb; b += 2) {
        const auto* a0 = reinterpret_cast<const BlockQ8_0Act*>(act) + b;
        _tile_zero(4);
        _tile_zero(5);
        _tile_loadd(0, a0[0].qs, stride);
        _tile_loadd(2, &w.tiles[8 * b], kBStride);
        _tile_loadd(1, a0[1].qs, stride);
        _tile_loadd(3, &w.tiles[8 * (b + 1)], kBStride);
        _tile_dpbssd(4, 0, 2);
        _tile_dpbssd(5, 1, 3);
        _tile_stored(4, sums[0], kBStride);
        _tile_stored(5, sums[1], kBStride);
        amx_fold_block(sums[0], w.scales[b], act, act_row_bytes, b, acc);
        amx_fold_block(sums[1], w.scales[b + 1], act, act_row_bytes, b + 1, acc);
    }
    if (b < nb) {
        const auto* a0 = reinterpret_cast<const BlockQ8_0Act*>(act) + b;
        _tile_zero(4);
        _tile_loadd(0, a0->qs, stride);
        _tile_loadd(2, &w.tiles[8 * b], kBStride);
        _tile_dpbssd(4, 0, 2);
        _tile_stored(4, sums[0], kBStride);
        amx_fold_block(sums[0], w.scales[b], act, act_row_bytes, b, acc);
    }
}

// The MatmulFn over interleaved W512::Group matrices: whole tiles of 16 tokens through AMX when
// amx_enabled(), everything else through kRest (the VNNI kernel of the same format).
template <class W512, int kOffset, MatmulFn kRest>
void amx_matmul_interleaved(int64_t k, const void* w, size_t w_row_bytes, const void* act,
                            size_t act_row_bytes, int64_t n_tokens, float* y, size_t y_stride,
                            int64_t row_begin, int64_t row_end) {
    const int64_t n_amx = n_tokens >= kAmxTokens && row_begin < row_end && amx_enabled()
                              ? n_tokens / kAmxTokens * kAmxTokens
                              : 0;
    const auto* a = static_cast<const std::byte*>(act);
    if (n_amx < n_tokens) {
        kRest(k, w, w_row_bytes, a + n_amx * act_row_bytes, act_row_bytes, n_tokens - n_amx,
              y + n_amx * y_stride, y_stride, row_begin, row_end);
    }
    if (n_amx == 0) return;

    using Group = typename W512::Group;
    const int64_t nb = k / kQK32;
    const auto* groups = static_cast<const Group*>(w);
    const int64_t g_begin = row_begin / kInterleaveRows;
    const int64_t g_end = (row_end + kInterleaveRows - 1) / kInterleaveRows;
    AmxWeightScratch& scratch = amx_weight_scratch(nb);
    _tile_loadconfig(&kAmxTileConfig);
    // Tokens in chunks whose activations stay in L2 while every pair of groups passes; twice
    // the VNNI kernels' chunk, because each chunk unpacks the weights again.
    constexpr int64_t kChunk = 2 * kTokenChunk;
    for (int64_t t0 = 0; t0 < n_amx; t0 += kChunk) {
        const int64_t t1 = std::min(t0 + kChunk, n_amx);
        for (int64_t g = g_begin; g < g_end; g += 2) {
            const bool pair = g + 1 < g_end;
            amx_unpack_pair<W512, kOffset>(nb, groups + g * nb,
                                           pair ? groups + (g + 1) * nb : nullptr, scratch);
            amx_compiler_barrier();
            // The output rows of this pair that lie inside [row_begin, row_end).
            const int64_t first = g * kInterleaveRows;
            __mmask16 keep = 0;
            for (int i = 0; i < (pair ? 16 : 8); ++i) {
                if (first + i >= row_begin && first + i < row_end) keep |= __mmask16(1u << i);
            }
            for (int64_t t = t0; t < t1; t += kAmxTokens) {
                __m512 acc[kAmxTokens];
                amx_token_tile(nb, scratch, a + t * act_row_bytes, act_row_bytes, acc);
                for (int m = 0; m < kAmxTokens; ++m)
                    _mm512_mask_storeu_ps(y + (t + m) * y_stride + first, keep, acc[m]);
            }
        }
    }
    _tile_release();  // the OS need not save 8 KB of tile state at every context switch
}

}  // namespace pocket::kernels::avx512
