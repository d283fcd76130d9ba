// Weight quantization guided by an importance matrix (pocket/quant/imatrix.h): each block's scales
// are chosen to minimise the squared rounding error weighted per column j by
//   importance[j] * sqrt(sigma2 + x[j]^2)
// (llama.cpp's weighting; sigma2 is twice the block's mean square), so the input columns that
// calibration text drives hardest are kept most exactly. Without importances the reference
// quantizers (TypeOps::from_float_ref) apply; these give different, not byte-identical, files.
#pragma once

#include <cstdint>

#include "pocket/core/dtype.h"

namespace pocket::kernels {

// Whether `type` has a quantizer that takes importances: Q2_K..Q6_K, IQ4_NL, IQ4_XS, Q4_0, Q4_1,
// Q5_0, Q5_1 (every type llama-quantize uses an importance matrix for; not Q8_0).
bool has_importance_quantizer(DType type);

// Quantizes one row of n values (a whole number of `type`'s blocks) into dst; importance holds n
// non-negative values, one per column. Throws pocket::Error for a type without such a quantizer.
void quantize_row_with_importance(DType type, const float* x, const float* importance, void* dst,
                                  int64_t n);

}  // namespace pocket::kernels
