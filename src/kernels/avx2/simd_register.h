// Fills a kernel table with the SIMD kernels of the headers above, for the instruction set the
// including .cpp is compiled for. The tile shapes (rows x tokens per matmul tile) are chosen per
// instruction set by how many vector registers it has (16 for AVX2, 32 for AVX-512).
#pragma once

#include "kernels/avx2/simd_convert.h"
#include "kernels/avx2/simd_float_dot.h"
#include "kernels/avx2/simd_interleaved.h"
#include "kernels/avx2/simd_matmul.h"
#include "kernels/avx2/simd_quant_k.h"
#include "kernels/avx2/simd_quant_legacy.h"
#include "kernels/kernel_table.h"

namespace pocket::kernels::POCKET_SIMD_NS {

struct TileShape {
    int rows;
    int tokens;
};

// Groups of 8 interleaved rows that one generation tile (one token) reads side by side, per
// format: more share each activation load and give more independent chains, but each is a
// separate memory stream, and which wins depends on the body and the CPU (register_*.cpp).
struct GenerationGroups {
    int q4_0;
    int q5_0;
    int q8_0;
    int q4_k;
    int q6_k;
};

// Shapes for the three kernel families: 32-element formats, K formats, float formats; and the
// rows per call of the one-token (generation) path, which needs a single accumulator per row.
// The one-token path is registered only where it measured faster than the vec_dot loop (legacy
// formats, Q4_K, Q5_K); float formats and Q6_K stream better one row at a time. IQ4_NL keeps its
// two-accumulator vec_dot: that summation order is llama.cpp's, and the logit tests measured the
// single-chain tile further from it.
// kInter / kInterK are the interleaved 32-element / Q4_K kernels' tiles in groups of 8 rows x
// tokens, kVec their groups per tile for one token, per format.
template <TileShape kLegacy, TileShape kK, TileShape kFloat, int kVecRows, TileShape kInter,
          TileShape kInterK, TileShape kInterQ6K, GenerationGroups kVec>
void fill_simd_table(KernelTable& table) {
    auto at = [&table](DType type) -> TypeOps& { return table[static_cast<size_t>(type)]; };

    // Activation converters (bit-identical to the scalar ones, so the reference quantizers of
    // F16/BF16/Q8_K, which are the same functions, can use them too).
    at(DType::Q8_0).from_float = q8_0_from_float;
    at(DType::Q8_1).from_float = q8_1_from_float;
    at(DType::Q8_K).from_float = q8_k_from_float;
    at(DType::Q8_K).from_float_ref = q8_k_from_float;
    at(DType::F16).from_float = f16_from_float;
    at(DType::F16).from_float_ref = f16_from_float;
    at(DType::F16).to_float = f16_to_float;
    at(DType::BF16).from_float = bf16_from_float;
    at(DType::BF16).from_float_ref = bf16_from_float;
    at(DType::BF16).to_float = bf16_to_float;

    // Float formats.
    at(DType::F32).vec_dot = float_vec_dot<F32Elems>;
    at(DType::F32).matmul = matmul<FloatTile<F32Elems>, kFloat.rows, kFloat.tokens>;
    at(DType::F16).vec_dot = float_vec_dot<F16Elems>;
    at(DType::F16).matmul = matmul<FloatTile<F16Elems>, kFloat.rows, kFloat.tokens>;
    at(DType::BF16).vec_dot = float_vec_dot<BF16Elems>;
    at(DType::BF16).matmul = matmul<FloatTile<BF16Elems>, kFloat.rows, kFloat.tokens>;

    // 32-element formats.
    at(DType::Q8_0).vec_dot = LegacyKernel<Q8_0Format>::vec_dot;
    at(DType::Q8_0).matmul = matmul<LegacyKernel<Q8_0Format>, kLegacy.rows, kLegacy.tokens>;
    at(DType::Q8_0).matvec = matvec<LegacyKernel<Q8_0Format>, kVecRows>;
    at(DType::Q4_0).vec_dot = LegacyKernel<Q4_0Format>::vec_dot;
    at(DType::Q4_0).matmul = matmul<LegacyKernel<Q4_0Format>, kLegacy.rows, kLegacy.tokens>;
    at(DType::Q4_0).matvec = matvec<LegacyKernel<Q4_0Format>, kVecRows>;
    at(DType::Q5_0).vec_dot = LegacyKernel<Q5_0Format>::vec_dot;
    at(DType::Q5_0).matmul = matmul<LegacyKernel<Q5_0Format>, kLegacy.rows, kLegacy.tokens>;
    at(DType::Q5_0).matvec = matvec<LegacyKernel<Q5_0Format>, kVecRows>;
    at(DType::IQ4_NL).vec_dot = LegacyKernel<IQ4_NLFormat>::vec_dot;
    at(DType::IQ4_NL).matmul = matmul<LegacyKernel<IQ4_NLFormat>, kLegacy.rows, kLegacy.tokens>;
    at(DType::Q4_1).vec_dot = LegacyKernel<Q4_1Format>::vec_dot;
    at(DType::Q4_1).matmul = matmul<LegacyKernel<Q4_1Format>, kLegacy.rows, kLegacy.tokens>;
    at(DType::Q4_1).matvec = matvec<LegacyKernel<Q4_1Format>, kVecRows>;
    at(DType::Q5_1).vec_dot = LegacyKernel<Q5_1Format>::vec_dot;
    at(DType::Q5_1).matmul = matmul<LegacyKernel<Q5_1Format>, kLegacy.rows, kLegacy.tokens>;
    at(DType::Q5_1).matvec = matvec<LegacyKernel<Q5_1Format>, kVecRows>;

    // Interleaved layouts.
    at(DType::Q4_0).to_interleaved_act = interleaved_act_from_float<8>;
    at(DType::Q4_0).matmul_interleaved =
#if POCKET_SIMD_INTERLEAVED_512
        matmul_interleaved<Legacy32Body512<Q4_0x8Weights, Q4_0x8Weights512>, kInter.rows,
                           kInter.tokens, kVec.q4_0>;
#elif POCKET_SIMD_VNNI
        matmul_interleaved<Legacy32Body<Q4_0x8Weights>, kInter.rows, kInter.tokens, kVec.q4_0>;
#else
        // 2 groups x 5 tokens share each broadcast activation word between the groups: on a Zen 3
        // (bench_kernels matmul32/512) -11 to -13 % against 1 x 4; 2 x 6 and 3 x 4 level.
        matmul_interleaved<Int16Body<Q4_0x8Pairs>, 2, 5, kVec.q4_0>;
#endif
    at(DType::Q5_0).to_interleaved_act = interleaved_act_from_float<16>;
    at(DType::Q5_0).matmul_interleaved =
#if POCKET_SIMD_INTERLEAVED_512
        matmul_interleaved<Legacy32Body512<Q5_0x8Weights, Q5_0x8Weights512>, kInter.rows,
                           kInter.tokens, kVec.q5_0>;
#elif POCKET_SIMD_VNNI
        matmul_interleaved<Legacy32Body<Q5_0x8Weights>, kInter.rows, kInter.tokens, kVec.q5_0>;
#else
        // Zen 3, bench_kernels, against Legacy32Body: matmul512 0.74, matmul32 0.77, matvec in
        // cache 0.93 (2 x 3 slower, 1 x 5 level).
        matmul_interleaved<Int16Body<Q5_0x8Pairs>, kInter.rows, kInter.tokens, kVec.q5_0>;
#endif
    at(DType::Q4_K).to_interleaved_act = interleaved_k_act_from_float;
    at(DType::Q4_K).matmul_interleaved =
#if POCKET_SIMD_INTERLEAVED_512
        matmul_interleaved<Q4_KBody512, kInterK.rows, kInterK.tokens, kVec.q4_k>;
#else
        matmul_interleaved<Q4_KBody, kInterK.rows, kInterK.tokens, kVec.q4_k>;
#endif
    at(DType::Q6_K).to_interleaved_act = q8_k_from_float;
    at(DType::Q6_K).matmul_interleaved =
        matmul_interleaved<Q6_KBody, kInterQ6K.rows, kInterQ6K.tokens, kVec.q6_k>;
    at(DType::Q8_0).to_interleaved_act = interleaved_act_from_float<128>;
    at(DType::Q8_0).matmul_interleaved =
#if POCKET_SIMD_INTERLEAVED_512
        matmul_interleaved<Legacy32Body512<Q8_0x8Weights, Q8_0x8Weights512>, kInter.rows,
                           kInter.tokens, kVec.q8_0>;
#else
        matmul_interleaved<Legacy32Body<Q8_0x8Weights>, kInter.rows, kInter.tokens, kVec.q8_0>;
#endif

    // K formats.
    at(DType::Q2_K).vec_dot = KKernel<Q2KBody>::vec_dot;
    at(DType::Q2_K).matmul = matmul<KKernel<Q2KBody>, kK.rows, kK.tokens>;
    at(DType::Q3_K).vec_dot = KKernel<Q3KBody>::vec_dot;
    at(DType::Q3_K).matmul = matmul<KKernel<Q3KBody>, kK.rows, kK.tokens>;
    at(DType::Q4_K).vec_dot = KKernel<K4Body<false>>::vec_dot;
    at(DType::Q4_K).matmul = matmul<KKernel<K4Body<false>>, kK.rows, kK.tokens>;
    at(DType::Q4_K).matvec = matvec<KKernel<K4Body<false>>, kVecRows>;
    at(DType::Q5_K).vec_dot = KKernel<K4Body<true>>::vec_dot;
    at(DType::Q5_K).matmul = matmul<KKernel<K4Body<true>>, kK.rows, kK.tokens>;
    at(DType::Q5_K).matvec = matvec<KKernel<K4Body<true>>, kVecRows>;
    at(DType::Q6_K).vec_dot = KKernel<Q6KBody>::vec_dot;
    at(DType::Q6_K).matmul = matmul<KKernel<Q6KBody>, kK.rows, kK.tokens>;
    at(DType::Q6_K).matvec = k_matvec_streams<Q6KBody, 2>;
    at(DType::IQ4_XS).vec_dot = KKernel<IQ4XSBody>::vec_dot;
    at(DType::IQ4_XS).matmul = matmul<KKernel<IQ4XSBody>, kK.rows, kK.tokens>;
}

}  // namespace pocket::kernels::POCKET_SIMD_NS
