// y = W·x for a batch of activation rows, with W in any computable dtype.
#pragma once

#include <cstdint>
#include <vector>

#include "pocket/core/tensor.h"

namespace pocket {
class ThreadPool;
}

namespace pocket::model {

// Converts activations to a weight type's dot-product format once and reuses the result for
// every matrix that reads the same input (q/k/v, gate/up), as llama.cpp effectively does.
class ActivationCache {
public:
    // Returns the rows of `x` (n rows of k floats) converted to `dot_type`, converting only when
    // (x, dot_type) differs from the previous call.
    const std::byte* get(const float* x, int64_t n, int64_t k, DType dot_type, size_t* row_bytes,
                         ThreadPool& pool);
    void invalidate() { source_ = nullptr; }

private:
    std::vector<std::byte> buffer_;
    const float* source_ = nullptr;
    DType type_ = DType::F32;
    int64_t n_ = 0;
    size_t row_bytes_ = 0;
};

// y[t * w.rows + r] = dot(w row r, x row t) for t < n, r < w.rows. x holds n rows of w.cols.
void linear(const TensorView& w, const float* x, int64_t n, float* y, ActivationCache& cache,
            ThreadPool& pool);

// Dequantizes row `index` of `table` into `out` (w.cols floats): embedding lookup.
void dequantize_row(const TensorView& table, int64_t index, float* out);

}  // namespace pocket::model
