#include "kernels/importance_quantize.h"

#include "kernels/scalar/scalar_registry.h"
#include "pocket/core/error.h"

namespace pocket::kernels {

bool has_importance_quantizer(DType type) {
    switch (type) {
        case DType::Q2_K:
        case DType::Q3_K:
        case DType::Q4_K:
        case DType::Q5_K:
        case DType::Q6_K:
        case DType::IQ4_NL:
        case DType::IQ4_XS:
        case DType::Q4_0:
        case DType::Q4_1:
        case DType::Q5_0:
        case DType::Q5_1:
            return true;
        default:
            return false;
    }
}

void quantize_row_with_importance(DType type, const float* x, const float* importance, void* dst,
                                  int64_t n) {
    if (type == DType::IQ4_NL) {
        scalar::quantize_iq4_nl_with_importance(x, dst, n, importance);
        return;
    }
    if (type == DType::IQ4_XS) {
        scalar::quantize_iq4_xs_with_importance(x, dst, n, importance);
        return;
    }
    if (!scalar::quantize_k_with_importance(type, x, dst, n, importance) &&
        !scalar::quantize_legacy_with_importance(type, x, dst, n, importance)) {
        throw Error(cat("no importance-weighted quantizer for ", traits(type).name));
    }
}

}  // namespace pocket::kernels
