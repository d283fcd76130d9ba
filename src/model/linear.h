// y = W·x for a batch of activation rows, with W in any computable dtype.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "kernels/kernels.h"
#include "pocket/core/tensor.h"

namespace pocket {
class ThreadPool;
}

namespace pocket::model {

// Converts activations to a weight matrix's dot-product format once and reuses the result for
// every matrix that reads the same input (q/k/v, gate/up), as llama.cpp effectively does.
class ActivationCache {
  public:
    // Returns the rows of `x` (n rows of k floats) converted by `convert` into rows of
    // `row_bytes`, converting only when (x, convert, n) differs from the previous call. A null
    // `convert` means the kernels read F32 activations as they are: x itself is returned.
    const std::byte* get(const float* x, int64_t n, int64_t k, kernels::FromFloatFn convert,
                         size_t row_bytes, ThreadPool& pool);
    void invalidate() { source_ = nullptr; }

    // For a region that writes the n rows of x anyway (a norm): after begin_fill, fill_row(t)
    // converts row t into the format that linear() and its kin use for matrix w (callable from
    // any thread, for distinct rows), and once every row is filled, get() returns them without
    // a region of its own.
    void begin_fill(const TensorView& w, const float* x, int64_t n);
    void fill_row(int64_t t);

  private:
    // Records (x, n, convert) as the rows held and sizes the buffer for them.
    void start(const float* x, int64_t n, int64_t k, kernels::FromFloatFn convert,
               size_t row_bytes);

    std::vector<std::byte> buffer_;
    const float* source_ = nullptr;
    kernels::FromFloatFn convert_ = nullptr;
    int64_t n_ = 0;
    int64_t k_ = 0;
    size_t row_bytes_ = 0;
};

// y[t * w.rows + r] = dot(w row r, x row t) for t < n, r < w.rows. x holds n rows of w.cols.
void linear(const TensorView& w, const float* x, int64_t n, float* y, ActivationCache& cache,
            ThreadPool& pool);

// One matrix of a fused projection: y[t * w.rows + r] = dot(w row r, x row t) (+ bias[r]).
struct LinearPart {
    const TensorView* w = nullptr;
    float* y = nullptr;
    const TensorView* bias = nullptr;  // optional 1-D F32, w.rows values
};

// Several matrices reading the same input (q/k/v): when they share the activation format and
// width, the activations are converted once and all their rows are computed in ONE parallel
// region (one pool synchronisation instead of one per matrix), biases added by the thread that
// computed each row. Otherwise falls back to one linear() per part.
void linear_fused(std::span<const LinearPart> parts, const float* x, int64_t n,
                  ActivationCache& cache, ThreadPool& pool);

// gate = silu(gate_w x) * (up_w x), in one parallel region: each thread computes the same rows
// of both matrices and applies silu_mul to them, so no synchronisation separates the two
// projections from the activation. Both outputs are n x gate_w.rows; `up` is left holding the
// up projection.
void linear_swiglu(const TensorView& gate_w, const TensorView& up_w, const float* x, int64_t n,
                   float* gate, float* up, ActivationCache& cache, ThreadPool& pool);

// Dequantizes row `index` of `table` into `out` (w.cols floats): embedding lookup.
void dequantize_row(const TensorView& table, int64_t index, float* out);

}  // namespace pocket::model
