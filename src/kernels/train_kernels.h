// F32 kernels of the training pass (src/train/): the inner loops of y = W·x, dx = dy·W and
// dW += dy^T·x over F32 rows, with run-time instruction-set dispatch like kernels.h. The scalar
// table is the reference (sums in double); SIMD tables sum in float in several partial sums, so
// they agree with it to float rounding (tests/train/ops_kernels_test.cpp holds them to it).
#pragma once

#include <cstdint>

#include "kernels/kernels.h"

namespace pocket::kernels {

struct TrainOps {
    // sum_i a[i] * b[i]
    float (*dot)(const float* a, const float* b, int64_t n) = nullptr;
    // out[j] = sum_i x[i] * w[j * w_stride + i] for j < 4: one activation row against four
    // weight rows, sharing the loads of x.
    void (*dot4)(const float* x, const float* w, int64_t w_stride, int64_t n, float* out) = nullptr;
    // y[i] += a * x[i]
    void (*axpy)(float a, const float* x, float* y, int64_t n) = nullptr;
    // y[i] += sum_j a[j] * x[j * x_stride + i] for j < 4: four rows folded into y with one load
    // and store of y.
    void (*axpy4)(const float* a, const float* x, int64_t x_stride, float* y, int64_t n) = nullptr;
};

const TrainOps& train_ops();         // the active instruction set's table
const TrainOps& train_ops(Isa isa);  // a given set's (calling an unsupported one is a mistake)

// Registration functions of the SIMD folders (x86-64 only); each overrides what it implements.
void register_avx2_train(TrainOps& table);
void register_avx512_train(TrainOps& table);

}  // namespace pocket::kernels
