// Which type each tensor of a source gets (llama-quantize's tensor selection and mix rules).
#pragma once

#include "pocket/quant/quantize.h"
#include "source.h"

namespace pocket::quant::detail {

// Fills result.tensors (every tensor, source order), result.fallbacks and result.warnings.
QuantizeResult plan(const Source& source, const Scheme& scheme, const QuantizeOptions& options);

bool is_float_type(DType type);  // F32, F16, BF16

}  // namespace pocket::quant::detail
