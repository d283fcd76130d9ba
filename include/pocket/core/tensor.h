// A non-owning view of a 2-D (or 1-D) tensor stored in some dtype, typically pointing into a
// memory-mapped GGUF file. Rows are contiguous; shape[0] is the row length (ggml order).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "pocket/core/dtype.h"

namespace pocket {

struct TensorView {
    std::string name;
    DType type = DType::F32;
    int64_t cols = 0;  // elements per row (ggml ne[0])
    int64_t rows = 0;  // number of rows (product of ne[1..])
    size_t row_bytes = 0;
    const std::byte* data = nullptr;

    bool empty() const { return data == nullptr; }
    const std::byte* row(int64_t r) const { return data + static_cast<size_t>(r) * row_bytes; }
    // For 1-D F32 tensors (norm weights, biases).
    const float* f32() const { return reinterpret_cast<const float*>(data); }
    size_t n_bytes() const { return static_cast<size_t>(rows) * row_bytes; }
};

}  // namespace pocket
