// AVX2 (+FMA, F16C) kernels: activation converters, every dot product, and tiled matmuls.
#define POCKET_SIMD_NS avx2
#include "kernels/avx2/simd_register.h"

namespace pocket::kernels {

void register_avx2_kernels(KernelTable& table) {
    // 16 vector registers: small tiles whose accumulators fit next to the operands. The
    // interleaved 32-element tile takes 4 tokens (8 weight vectors, 4 accumulators): a 32-token
    // prompt is then 8 passes over each group's weights instead of 10 and a 2-token remainder
    // (Q8_0: 5 % less time to first token; Q4_0 and pp512 level; 5 or 6 level on a Zen 3). Q4_K
    // takes 2 groups x 4 tokens: its tile walks level vector by level vector, each broadcast
    // activation word used by both groups (Zen 3, bench_kernels matmul32/512 against the former
    // 1 x 2: -25 to -30 %; 1 x 3, 2 x 2 and 2 x 3 slower, 2 x 5, 2 x 6 and 3 x 3 level).
    // The row-major K formats take 1 row x 5 tokens (2 x 3 before their integer sums stayed in
    // registers; on a Zen 3, bench_kernels matmul32/512 against 2 x 3: Q3_K -43 %, Q5_K -30 %,
    // Q6_K -17 %, IQ4_XS -14 %, Q4_K -12 %, Q2_K -3 %; 1 x 3, 1 x 4, 1 x 6 and 2 x 4 slower).
    // Generation: Q8_0 reads two groups per tile, the others one. On a Zen 3 (AVX2 only), tg64 at
    // depth 32 against one group for all: llama-3.2-1b Q8_0 +12 %, qwen2.5-0.5b Q4_0 -20 % with
    // two (its int16 body), Q4_K_M lower (docs/BENCHMARKS.md). A Sapphire Rapids VM running this
    // table gained with two on every format: the choice follows the AVX2-only CPUs.
    avx2::fill_simd_table<avx2::TileShape{3, 4}, avx2::TileShape{1, 5}, avx2::TileShape{3, 3}, 4,
                          avx2::TileShape{1, 4}, avx2::TileShape{2, 4}, avx2::TileShape{1, 4},
                          avx2::GenerationGroups{
                              .q4_0 = 1, .q5_0 = 1, .q8_0 = 2, .q4_k = 1, .q6_k = 1}>(table);
}

}  // namespace pocket::kernels
