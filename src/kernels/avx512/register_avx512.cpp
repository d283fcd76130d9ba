// AVX-512 (F, BW, VL, DQ, VNNI, BF16) kernels: the AVX2 kernels recompiled with VNNI integer dot
// products (vpdpbusd, vpdpwssd) and 32 vector registers, so the matmul tiles are larger; BF16 dot
// products use vdpbf16ps (see bf16_dot_avx512.h for how its numerics differ).
#define POCKET_SIMD_NS avx512
// GCC 12 warns inside its own avx512fintrin.h that the "undefined" pass-through operand of the
// unmasked 512-bit intrinsics (_mm512_cvtph_ps, _mm512_inserti64x4, ...) may be used
// uninitialized once they are inlined into the kernels: a false positive (the mask is all ones).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#include "kernels/avx2/simd_register.h"
#include "kernels/avx512/amx_interleaved.h"
#include "kernels/avx512/bf16_dot_avx512.h"

namespace pocket::kernels {

namespace {

using avx512::GenerationGroups;
using avx512::TileShape;
constexpr TileShape kInter{2, 8};     // the interleaved 32-element kernels' tile
constexpr TileShape kInterK{2, 4};    // the interleaved Q4_K kernel's tile
constexpr TileShape kInterQ6K{2, 4};  // the interleaved Q6_K kernel's tile (256-bit, VNNI)
// Generation takes two groups per call, one 512-bit vector: measured 1.0-1.11x the single 256-bit
// group on a Sapphire Rapids VM (qwen2.5-0.5b Q4_0 +10 %, llama-3.2-1b Q4_0 level). AMD CPUs take
// one group (install_amd_generation_kernels).
constexpr int kInterVec = 2;
constexpr GenerationGroups kGenerationGroups{
    .q4_0 = kInterVec, .q5_0 = kInterVec, .q8_0 = kInterVec, .q4_k = kInterVec, .q6_k = 1};

// The VNNI interleaved kernel of a 32-element format, as fill_simd_table installs it (kVec groups
// per generation call).
template <class W256, class W512, int kVec = kInterVec>
constexpr MatmulFn kVnniInterleaved =
    avx512::matmul_interleaved<avx512::Legacy32Body512<W256, W512>, kInter.rows, kInter.tokens,
                               kVec>;

// AMX for prompts, the VNNI kernel for the rest (see amx_interleaved.h).
void install_amx_kernels(KernelTable& table) {
    using namespace avx512;
    entry(table, DType::Q4_0).matmul_interleaved =
        amx_matmul_interleaved<AmxLegacy32<Q4_0x8Weights512, 8>,
                               kVnniInterleaved<Q4_0x8Weights, Q4_0x8Weights512>>;
    entry(table, DType::Q5_0).matmul_interleaved =
        amx_matmul_interleaved<AmxLegacy32<Q5_0x8Weights512, 16>,
                               kVnniInterleaved<Q5_0x8Weights, Q5_0x8Weights512>>;
    entry(table, DType::Q8_0).matmul_interleaved =
        amx_matmul_interleaved<AmxLegacy32<Q8_0x8Weights512, 128>,
                               kVnniInterleaved<Q8_0x8Weights, Q8_0x8Weights512>>;
    entry(table, DType::Q4_K).matmul_interleaved = amx_matmul_interleaved<
        AmxQ4K, matmul_interleaved<Q4_KBody512, kInterK.rows, kInterK.tokens, kInterVec>>;
}

// One interleaved group per generation call, through the 256-bit VNNI bodies (the prompt tiles stay
// as they are). On a Zen 4 (2 threads, tg64 at depth 32, alternating with the two-group table,
// docs/BENCHMARKS.md) every file gained in each of three rounds: qwen2.5-0.5b Q4_0 +39-95 %,
// Q4_K_M +25-127 %, Q8_0 +13-34 %; llama-3.2-1b Q4_0 +14-67 %, Q4_K_M +6-17 %, Q8_0 +4-7 %.
// One thread streaming a 32768 x 4096 matrix from DRAM: Q4_0 17.6 -> 24.2 GB/s, Q4_K 12.1 ->
// 20.0, Q8_0 21 -> 26.
void install_amd_generation_kernels(KernelTable& table) {
    using namespace avx512;
    entry(table, DType::Q4_0).matmul_interleaved =
        kVnniInterleaved<Q4_0x8Weights, Q4_0x8Weights512, 1>;
    entry(table, DType::Q5_0).matmul_interleaved =
        kVnniInterleaved<Q5_0x8Weights, Q5_0x8Weights512, 1>;
    entry(table, DType::Q8_0).matmul_interleaved =
        kVnniInterleaved<Q8_0x8Weights, Q8_0x8Weights512, 1>;
    entry(table, DType::Q4_K).matmul_interleaved =
        matmul_interleaved<Q4_KBody512, kInterK.rows, kInterK.tokens, 1>;
}

}  // namespace

void register_avx512_kernels(KernelTable& table) {
    avx512::fill_simd_table<TileShape{4, 4}, TileShape{2, 4}, TileShape{4, 5}, 4, kInter, kInterK,
                            kInterQ6K, kGenerationGroups>(table);
    if (cpu_is_amd()) install_amd_generation_kernels(table);
    if (amx_supported()) install_amx_kernels(table);
    TypeOps& bf16 = table[static_cast<size_t>(DType::BF16)];
    bf16.vec_dot = avx512::bf16_vec_dot;
    bf16.matmul = avx512::matmul<avx512::Bf16DpTile, 4, 6>;
}

}  // namespace pocket::kernels
