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
#include "kernels/avx512/bf16_dot_avx512.h"

namespace pocket::kernels {

void register_avx512_kernels(KernelTable& table) {
    avx512::fill_simd_table<avx512::TileShape{4, 4}, avx512::TileShape{2, 4},
                            avx512::TileShape{4, 5}, 4, avx512::TileShape{2, 8},
                            avx512::TileShape{2, 4}, 1>(table);
    TypeOps& bf16 = table[static_cast<size_t>(DType::BF16)];
    bf16.vec_dot = avx512::bf16_vec_dot;
    bf16.matmul = avx512::matmul<avx512::Bf16DpTile, 4, 6>;
}

}  // namespace pocket::kernels
