// A non-owning view of a 2-D (or 1-D) tensor stored in some dtype, typically pointing into a
// memory-mapped GGUF file. Rows are contiguous; shape[0] is the row length (ggml order).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "pocket/core/dtype.h"

namespace pocket {

// How a matrix's rows are stored.
enum class Layout : uint8_t {
    Rows,          // row r at data + r * row_bytes (GGUF's layout)
    Interleaved8,  // groups of 8 rows, block by block (kernels/interleaved.h); made at load
                   // time for the kernels, so row() is meaningless and rows are read through
                   // kernels::interleaved_row_to_float
};

struct TensorView {
    std::string name;
    DType type = DType::F32;
    int64_t cols = 0;  // elements per row (ggml ne[0])
    int64_t rows = 0;  // number of rows (product of ne[1..])
    size_t row_bytes = 0;
    const std::byte* data = nullptr;
    Layout layout = Layout::Rows;

    bool empty() const { return data == nullptr; }
    const std::byte* row(int64_t r) const { return data + static_cast<size_t>(r) * row_bytes; }
    // For 1-D F32 tensors (norm weights, biases).
    const float* f32() const { return reinterpret_cast<const float*>(data); }
    size_t n_bytes() const { return static_cast<size_t>(rows) * row_bytes; }
};

}  // namespace pocket
