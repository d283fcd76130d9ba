// A hook into the forward pass: sees the F32 input of every product with a weight matrix, for
// tools that study activations (the importance-matrix collector of quantization). Nothing is
// observed unless a Context is given an observer, so inference pays one null check per matrix.
#pragma once

#include <cstdint>

#include "pocket/core/tensor.h"

namespace pocket::model {

class MatmulObserver {
  public:
    virtual ~MatmulObserver() = default;
    // `x` holds `n_rows` activation rows of weight.cols floats, about to be multiplied by
    // `weight` (weight.name is its GGUF tensor name). Called on the thread that runs decode(),
    // once per matrix and batch, before the product.
    virtual void observe(const TensorView& weight, const float* x, int64_t n_rows) = 0;
};

}  // namespace pocket::model
