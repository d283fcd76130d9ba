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

#include <vector>

#include "kernels/amx.h"
#include "kernels/avx2/simd_interleaved.h"

namespace pocket::kernels::avx512 {

inline constexpr int64_t kAmxTokens = 16;  // rows of an A tile
inline constexpr int64_t kAmxRows = 16;    // weight rows (columns) of a B tile: two groups of 8

// The palette-1 tile configuration (64 bytes, the layout ldtilecfg reads). Tiles 0-1 hold
// activations (16 tokens x 32 bytes), 2-3 weights (8 rows of 4 x 16 bytes), 4-7 block sums
// (16 tokens x 16 int32): blocks are loaded two at a time, and up to four are in flight.
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
    }
    for (int tile = 4; tile < 8; ++tile) {
        config.rows[tile] = kAmxTokens;
        config.colsb[tile] = kAmxRows * 4;
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

// Per-thread scratch of one pair of groups unpacked for the tiles, grown once and reused.
template <class Block>
std::vector<Block>& amx_scratch(int64_t nb) {
    thread_local std::vector<Block> blocks;
    if (blocks.size() < static_cast<size_t>(nb)) blocks.resize(static_cast<size_t>(nb));
    return blocks;
}

inline __m512 amx_row_scales(const f16_t* d0, const f16_t* d1) {
    const __m256 lo = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(d0)));
    const __m256 hi = d1 ? _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(d1)))
                         : _mm256_setzero_ps();
    return _mm512_insertf32x8(_mm512_castps256_ps512(lo), hi, 1);
}

// The weights of the next pair of groups, asked for while the tiles work on this pair's unpacked
// copy: without it the weight stream stops whenever the kernel computes from scratch, and the
// unpack of the next pair then waits on memory (the prompt's time is memory + compute instead of
// the larger of the two). `per_block` bytes are asked for at each block, so the requests spread
// over the whole pass.
struct NextWeights {
    const char* at = nullptr;  // nullptr: no next pair
    size_t per_block = 0;      // a multiple of 64
    size_t size = 0;           // bytes from `at` that are to be asked for
    void request(int64_t b) const {
        if (at == nullptr) return;
        const size_t begin = static_cast<size_t>(b) * per_block;
        const size_t end = std::min(begin + per_block, size);
        for (size_t o = begin; o < end; o += 64) _mm_prefetch(at + o, _MM_HINT_T1);
    }
};

// Q4_0 / Q5_0 / Q8_0. W512 is the format's 512-bit weight loader (Q4_0x8Weights512, ...), whose
// bytes are value + kOffset.
template <class W512, int kOffset>
struct AmxLegacy32 {
    using Group = typename W512::Group;
    static constexpr int64_t kBlock = kQK32;

    struct alignas(64) Unpacked {
        int8_t tile[8][kAmxRows * 4];  // B-tile rows: signed values 4v..4v+3 of each of 16 rows
        float d[kAmxRows];
    };

    // Without a second group (g1 == nullptr) the columns repeat g0 at scale 0.
    static void unpack(int64_t nb, const Group* g0, const Group* g1, Unpacked* out) {
        const __m512i offset = _mm512_set1_epi8(static_cast<char>(kOffset));
        for (int64_t b = 0; b < nb; ++b) {
            __m512i w[8];
            W512::load(g0[b], g1 ? g1[b] : g0[b], w);
            for (int v = 0; v < 8; ++v)
                _mm512_store_si512(out[b].tile[v], _mm512_sub_epi8(w[v], offset));
            _mm512_store_ps(out[b].d, amx_row_scales(g0[b].d, g1 ? g1[b].d : nullptr));
        }
    }

    // acc[m] += float(sums[m]) * (d_w * d_a[m]) for the 16 tokens of one block.
    static void fold(const int32_t (*sums)[kAmxRows], const Unpacked& w, const std::byte* act,
                     size_t act_row_bytes, int64_t b, __m512 (&acc)[kAmxTokens]) {
        const __m512 d_w = _mm512_load_ps(w.d);
        for (int m = 0; m < kAmxTokens; ++m) {
            const auto* a = reinterpret_cast<const BlockQ8_0Act*>(act + m * act_row_bytes) + b;
            const __m512 scale = _mm512_mul_ps(d_w, _mm512_set1_ps(a->d));
            const __m512 sum = _mm512_cvtepi32_ps(_mm512_load_si512(sums[m]));
            acc[m] = _mm512_fmadd_ps(sum, scale, acc[m]);
        }
    }

    // 16 tokens (rows from `act`) x the 16 unpacked rows, all blocks in order. Pairs of blocks
    // alternate between the sum tiles 4-5 and 6-7: the tile unit multiplies the next pair while
    // this pair's sums are stored and folded on the vector unit (one pair at a time made the two
    // wait for each other: 9-13 % slower with 32 tokens).
    //
    // GCC's tile intrinsics paste the tile number into the instruction text, so it cannot be a
    // template or function parameter: the two steps are macros.
    // ISSUE: blocks b and b + 1 (if any) into sum tiles C0 and C1.
#define POCKET_AMX_ISSUE(C0, C1, b)                   \
    do {                                              \
        next.request(b);                              \
        _tile_zero(C0);                               \
        _tile_loadd(0, a[b].qs, stride);              \
        _tile_loadd(2, w[b].tile, kStride);           \
        _tile_dpbssd(C0, 0, 2);                       \
        if ((b) + 1 < nb) {                           \
            next.request((b) + 1);                    \
            _tile_zero(C1);                           \
            _tile_loadd(1, a[(b) + 1].qs, stride);    \
            _tile_loadd(3, w[(b) + 1].tile, kStride); \
            _tile_dpbssd(C1, 1, 3);                   \
        }                                             \
    } while (0)
    // RETIRE: store the sums of blocks b (and b + 1) from C0 (and C1) and fold them into acc.
#define POCKET_AMX_RETIRE(C0, C1, b)                                                   \
    do {                                                                               \
        _tile_stored(C0, sums[0], kStride);                                            \
        if ((b) + 1 < nb) _tile_stored(C1, sums[1], kStride);                          \
        fold(sums[0], w[b], act, act_row_bytes, b, acc);                               \
        if ((b) + 1 < nb) fold(sums[1], w[(b) + 1], act, act_row_bytes, (b) + 1, acc); \
    } while (0)
    static void tokens(int64_t nb, const Unpacked* w, const std::byte* act, size_t act_row_bytes,
                       __m512 (&acc)[kAmxTokens], const NextWeights& next) {
        alignas(64) int32_t sums[2][kAmxTokens][kAmxRows];
        const auto stride = static_cast<long>(act_row_bytes);
        constexpr long kStride = kAmxRows * 4;
        const auto* a = reinterpret_cast<const BlockQ8_0Act*>(act);
        POCKET_AMX_ISSUE(4, 5, int64_t{0});
        for (int64_t b = 0; b < nb; b += 4) {
            if (b + 2 < nb) POCKET_AMX_ISSUE(6, 7, b + 2);
            POCKET_AMX_RETIRE(4, 5, b);
            if (b + 2 >= nb) break;
            if (b + 4 < nb) POCKET_AMX_ISSUE(4, 5, b + 4);
            POCKET_AMX_RETIRE(6, 7, b + 2);
        }
    }
#undef POCKET_AMX_ISSUE
#undef POCKET_AMX_RETIRE
};

// Q4_K: per super-block of 256, eight 32-value groups j, each with its own 6-bit scale and min per
// row. The tiles give each group's exact sums; as in the VNNI kernel (Q4_KBody512) they are
// scaled in int32, the mins are applied through the activation's group sums, and the float work
// is once per super-block: acc += d_w d_a * sum_j sc_j dot_j - dmin_w d_a * sum_j m_j s_j.
struct AmxQ4K {
    using Group = BlockQ4_Kx8;
    static constexpr int64_t kBlock = kQKK;

    struct alignas(64) Unpacked {
        int8_t tile[8][8][kAmxRows * 4];  // group j, B-tile row v: levels 0..15
        int32_t scales[8][kAmxRows];      // group j's scale per row
        int16_t mins[4][2 * kAmxRows];    // per row: the mins of groups 2p and 2p+1 side by side
        float d[kAmxRows];
        float dmin[kAmxRows];
    };

    static void unpack(int64_t nb, const Group* g0, const Group* g1, Unpacked* out) {
        const __m512i low4 = _mm512_set1_epi8(0x0F);
        for (int64_t b = 0; b < nb; ++b) {
            const Group& a = g0[b];
            const Group& c = g1 ? g1[b] : g0[b];
            Unpacked& u = out[b];
            for (int q = 0; q < 4; ++q) {
                for (int v = 0; v < 8; ++v) {
                    const __m512i bytes =
                        load_pair512(a.qs + 256 * q + 32 * v, c.qs + 256 * q + 32 * v);
                    _mm512_store_si512(u.tile[2 * q][v], _mm512_and_si512(bytes, low4));
                    _mm512_store_si512(u.tile[2 * q + 1][v],
                                       _mm512_and_si512(_mm512_srli_epi16(bytes, 4), low4));
                }
            }
            for (int j = 0; j < 8; ++j) {
                _mm512_store_si512(
                    u.scales[j],
                    _mm512_cvtepu8_epi32(_mm_unpacklo_epi64(
                        _mm_loadl_epi64(reinterpret_cast<const __m128i*>(a.scales + 8 * j)),
                        _mm_loadl_epi64(reinterpret_cast<const __m128i*>(c.scales + 8 * j)))));
            }
            for (int p = 0; p < 4; ++p)
                _mm512_store_si512(u.mins[p],
                                   Q4_KBody512::pair128(a.mins + 16 * p, c.mins + 16 * p));
            _mm512_store_ps(u.d, amx_row_scales(a.d, g1 ? c.d : nullptr));
            _mm512_store_ps(u.dmin, amx_row_scales(a.dmin, g1 ? c.dmin : nullptr));
        }
    }

    // isum[m] += sums[m] * sc (the group's scales, one per row).
    static void scale_group(const int32_t (*sums)[kAmxRows], const int32_t* scales,
                            __m512i (&isum)[kAmxTokens]) {
        const __m512i sc = _mm512_load_si512(scales);
        for (int m = 0; m < kAmxTokens; ++m)
            isum[m] = _mm512_add_epi32(isum[m], _mm512_mullo_epi32(_mm512_load_si512(sums[m]), sc));
    }

    static void tokens(int64_t nb, const Unpacked* w, const std::byte* act, size_t act_row_bytes,
                       __m512 (&acc)[kAmxTokens], const NextWeights& next) {
        alignas(64) int32_t sums[2][kAmxTokens][kAmxRows];
        const auto stride = static_cast<long>(act_row_bytes);
        constexpr long kStride = kAmxRows * 4;
        for (int64_t b = 0; b < nb; ++b) {
            next.request(b);
            const Unpacked& u = w[b];
            const auto* a0 = reinterpret_cast<const BlockQ8_KAct*>(act) + b;
            __m512i isum[kAmxTokens];
            for (auto& v : isum) v = _mm512_setzero_si512();
            for (int j = 0; j < 8; j += 2) {
                _tile_zero(4);
                _tile_zero(5);
                _tile_loadd(0, a0->qs + 32 * j, stride);
                _tile_loadd(2, u.tile[j], kStride);
                _tile_loadd(1, a0->qs + 32 * (j + 1), stride);
                _tile_loadd(3, u.tile[j + 1], kStride);
                _tile_dpbssd(4, 0, 2);
                _tile_dpbssd(5, 1, 3);
                _tile_stored(4, sums[0], kStride);
                _tile_stored(5, sums[1], kStride);
                scale_group(sums[0], u.scales[j], isum);
                scale_group(sums[1], u.scales[j + 1], isum);
            }
            const __m512 d_w = _mm512_load_ps(u.d), dmin_w = _mm512_load_ps(u.dmin);
            __m512i mins[4];
            for (int p = 0; p < 4; ++p) mins[p] = _mm512_load_si512(u.mins[p]);
            for (int m = 0; m < kAmxTokens; ++m) {
                const auto& ab =
                    *(reinterpret_cast<const BlockQ8_KAct*>(act + m * act_row_bytes) + b);
                __m512i min_sum = _mm512_setzero_si512();
                for (int p = 0; p < 4; ++p) {
                    int32_t pair;
                    std::memcpy(&pair, ab.sums + 2 * p, sizeof pair);
                    min_sum = _mm512_dpwssd_epi32(min_sum, mins[p], _mm512_set1_epi32(pair));
                }
                const __m512 d_a = _mm512_set1_ps(ab.d);
                acc[m] =
                    _mm512_fmadd_ps(_mm512_mul_ps(d_w, d_a), _mm512_cvtepi32_ps(isum[m]), acc[m]);
                acc[m] = _mm512_fnmadd_ps(_mm512_mul_ps(dmin_w, d_a), _mm512_cvtepi32_ps(min_sum),
                                          acc[m]);
            }
        }
    }
};

// The MatmulFn over an interleaved matrix of Format (AmxLegacy32<...> or AmxQ4K): whole tiles of
// 16 tokens through AMX when amx_enabled(), everything else through kRest (the VNNI kernel of the
// same format).
template <class Format, MatmulFn kRest>
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

    using Group = typename Format::Group;
    const int64_t nb = k / Format::kBlock;
    const auto* groups = static_cast<const Group*>(w);
    const int64_t g_begin = row_begin / kInterleaveRows;
    const int64_t g_end = (row_end + kInterleaveRows - 1) / kInterleaveRows;
    auto& unpacked = amx_scratch<typename Format::Unpacked>(nb);
    _tile_loadconfig(&kAmxTileConfig);
    // Tokens in chunks whose activations stay in L2 while every pair of groups passes; twice
    // the VNNI kernels' chunk, because each chunk unpacks the weights again.
    constexpr int64_t kChunk = 2 * kTokenChunk;
    for (int64_t t0 = 0; t0 < n_amx; t0 += kChunk) {
        const int64_t t1 = t0 + kChunk < n_amx ? t0 + kChunk : n_amx;
        for (int64_t g = g_begin; g < g_end; g += 2) {
            const bool pair = g + 1 < g_end;
            Format::unpack(nb, groups + g * nb, pair ? groups + (g + 1) * nb : nullptr,
                           unpacked.data());
            amx_compiler_barrier();
            // The output rows of this pair that lie inside [row_begin, row_end).
            const int64_t first = g * kInterleaveRows;
            __mmask16 keep = 0;
            for (int i = 0; i < (pair ? 16 : 8); ++i) {
                if (first + i >= row_begin && first + i < row_end) keep |= __mmask16(1u << i);
            }
            // The next pair (groups g + 2 and g + 3, contiguous) is asked for while the tiles of
            // tokens pass, an equal share during each, so the requests keep an even pace.
            const size_t next_bytes = g + 2 < g_end
                                          ? static_cast<size_t>(std::min(g + 4, g_end) - (g + 2)) *
                                                static_cast<size_t>(nb) * sizeof(Group)
                                          : 0;
            const auto n_tiles = static_cast<size_t>((t1 - t0) / kAmxTokens);
            const size_t share = (next_bytes + n_tiles - 1) / n_tiles;
            const size_t per_block = (share / static_cast<size_t>(nb) + 64) / 64 * 64;
            for (int64_t t = t0; t < t1; t += kAmxTokens) {
                __m512 acc[kAmxTokens];
                for (auto& v : acc) v = _mm512_setzero_ps();
                NextWeights next;  // none after the last pair
                if (next_bytes > 0) {
                    const size_t tile = static_cast<size_t>((t - t0) / kAmxTokens);
                    const size_t from = std::min(tile * share, next_bytes);
                    next = {.at = reinterpret_cast<const char*>(groups + (g + 2) * nb) + from,
                            .per_block = per_block,
                            .size = std::min(share, next_bytes - from)};
                }
                Format::tokens(nb, unpacked.data(), a + t * act_row_bytes, act_row_bytes, acc,
                               next);
                for (int m = 0; m < kAmxTokens; ++m)
                    _mm512_mask_storeu_ps(y + (t + m) * y_stride + first, keep, acc[m]);
            }
        }
    }
    _tile_release();  // the OS need not save 8 KB of tile state at every context switch
}

}  // namespace pocket::kernels::avx512
