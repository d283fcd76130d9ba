// Numeric helpers of the Hugging Face -> GGUF converter: reading safetensors tensors as F32,
// re-ordering rotary rows, encoding rows into a GGUF tensor type.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "pocket/core/dtype.h"
#include "pocket/safetensors/safetensors.h"

namespace pocket::convert::detail {

// A tensor's elements as F32, whatever its stored float type (F32, F16, BF16).
std::vector<float> to_f32(const safetensors::Checkpoint::Tensor& t);

// Hugging Face keeps each head's rotary pairs as two halves (x[i], x[i + d/2]); GGUF llama expects
// them interleaved (x[2i], x[2i+1]). Returns the rows re-ordered accordingly.
std::vector<float> permute_rotary_rows(std::span<const float> w, int64_t rows, int64_t cols,
                                       int64_t n_head);

// Rows of `cols` values encoded as `type` into `out` (exactly rows * row_bytes(type, cols)).
void encode_rows(std::span<const float> values, DType type, int64_t cols, std::span<std::byte> out);

}  // namespace pocket::convert::detail
