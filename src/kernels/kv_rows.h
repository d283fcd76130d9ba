// Reading a KV cache's stored rows (F16, Q8_0 or Q4_0, see pocket/model/kv_cache.h) as F16 for
// the attention kernels, which work on F16 keys and values.
//
// Quantized rows are dequantized (the values q * d, exact in F32) and rounded to F16 to nearest
// even: for Q8_0 and Q4_0 heads of whole blocks in one SIMD pass (AttentionOps::q8_0_rows_to_f16),
// otherwise with the type's to_float kernel into the scratch and then to F16; the same bits. That
// rounding is the only error added to the quantization itself, and it is far below it: F16 keeps 11
// significant bits, a Q8_0 value 8.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "kernels/kernels.h"
#include "pocket/core/dtype.h"
#include "pocket/core/fp16.h"

namespace pocket::kernels {

// Floats of scratch kv_rows_to_f16 needs for a slice of `width` values starting at `col`: the
// whole blocks that cover it (0 for F16, which needs none).
size_t kv_rows_scratch(DType type, int64_t col, int64_t width);

// Converts columns [col, col + width) of `n_rows` stored rows of `type` (row r at
// rows + r * row_bytes) to F16 (row r at out + r * out_stride), with the kernels of `isa`.
// Typically one KV head of a page's positions: col = head * head_dim, width = head_dim. Blocks
// span the whole row, so with a head narrower than a block the block is decoded whole and the
// head's part kept. `scratch` holds at least kv_rows_scratch(type, col, width) floats.
void kv_rows_to_f16(DType type, const std::byte* rows, size_t row_bytes, int64_t n_rows,
                    int64_t col, int64_t width, f16_t* out, int64_t out_stride,
                    std::span<float> scratch, Isa isa);
// The same with the active instruction set.
void kv_rows_to_f16(DType type, const std::byte* rows, size_t row_bytes, int64_t n_rows,
                    int64_t col, int64_t width, f16_t* out, int64_t out_stride,
                    std::span<float> scratch);

}  // namespace pocket::kernels
