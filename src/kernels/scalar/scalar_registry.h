// Each scalar source file fills the table entries of the types it implements.
#pragma once

#include "kernels/blocks.h"
#include "kernels/kernel_table.h"

namespace pocket::kernels::scalar {

void register_float_types(KernelTable& table);    // F32, F16, BF16
void register_legacy_quants(KernelTable& table);  // Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1, IQ4_NL
void register_k_quants(KernelTable& table);       // Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_K
void register_iq4_xs(KernelTable& table);         // IQ4_XS
void register_interleaved(KernelTable& table);    // interleaved Q4_0 / Q8_0 (after the above)

// The Q8_0 activation quantizer (the Q8_0 entry's from_float), for the interleaved converter.
void quantize_q8_0_activations(const float* src, BlockQ8_0* dst, int64_t n);
// The Q8_K activation quantizer (the Q8_K entry's from_float), and group g's 6-bit scale and min
// of a Q4_K/Q5_K block's packed `scales`, for the interleaved Q4_K layout.
void quantize_q8_k_activations(const float* src, BlockQ8_K* dst, int64_t n);
void unpack_q4_k_scale(const uint8_t* scales, int group, int& scale, int& min);

// The weight quantizers with per-column importances (kernels/importance_quantize.h): false when
// `type` is not one of Q2_K..Q6_K.
bool quantize_k_with_importance(DType type, const float* src, void* dst, int64_t n,
                                const float* importance);
// Q4_0, Q4_1, Q5_0, Q5_1 (false for other types).
bool quantize_legacy_with_importance(DType type, const float* src, void* dst, int64_t n,
                                     const float* importance);
void quantize_iq4_nl_with_importance(const float* src, void* dst, int64_t n,
                                     const float* importance);
void quantize_iq4_xs_with_importance(const float* src, void* dst, int64_t n,
                                     const float* importance);

}  // namespace pocket::kernels::scalar
