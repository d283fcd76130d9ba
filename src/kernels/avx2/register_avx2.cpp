// AVX2 (+FMA, F16C) kernels: activation converters, every dot product, and tiled matmuls.
#define POCKET_SIMD_NS avx2
#include "kernels/avx2/simd_register.h"

namespace pocket::kernels {

void register_avx2_kernels(KernelTable& table) {
    // 16 vector registers: small tiles whose accumulators fit next to the operands. The
    // interleaved 32-element tile takes 4 tokens (8 weight vectors, 4 accumulators): a 32-token
    // prompt is then 8 passes over each group's weights instead of 10 and a 2-token remainder
    // (Q8_0: 5 % less time to first token; Q4_0 and pp512 level). Q4_K keeps 2 (3 measured level).
    // Generation takes two groups per tile (one before): two independent chains per block and one
    // activation load for both; tg64 at depth 32 on a Sapphire Rapids VM with this table:
    // qwen2.5-0.5b Q4_0 +43 %, llama-3.2-1b Q8_0 +11 %, Q4_K_M +1.5 % (docs/BENCHMARKS.md).
    avx2::fill_simd_table<avx2::TileShape{3, 4}, avx2::TileShape{2, 3}, avx2::TileShape{3, 3}, 4,
                          avx2::TileShape{1, 4}, avx2::TileShape{1, 2}, 2>(table);
}

}  // namespace pocket::kernels
