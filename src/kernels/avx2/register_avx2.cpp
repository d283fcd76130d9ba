// AVX2 (+FMA, F16C) kernels: activation converters, every dot product, and tiled matmuls.
#define POCKET_SIMD_NS avx2
#include "kernels/avx2/simd_register.h"

namespace pocket::kernels {

void register_avx2_kernels(KernelTable& table) {
    // 16 vector registers: small tiles whose accumulators fit next to the operands.
    avx2::fill_simd_table<avx2::TileShape{3, 4}, avx2::TileShape{2, 3}, avx2::TileShape{3, 3}, 4,
                          avx2::TileShape{1, 3}, avx2::TileShape{1, 2}, 1>(table);
}

}  // namespace pocket::kernels
