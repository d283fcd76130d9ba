// The scalar reference of the training kernels and their per-instruction-set tables.
#include <array>

#include "kernels/train_kernels.h"

namespace pocket::kernels {
namespace {

float dot_scalar(const float* a, const float* b, int64_t n) {
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(a[i]) * b[i];
    return static_cast<float>(sum);
}

void dot4_scalar(const float* x, const float* w, int64_t w_stride, int64_t n, float* out) {
    for (int64_t j = 0; j < 4; ++j) out[j] = dot_scalar(x, w + j * w_stride, n);
}

void axpy_scalar(float a, const float* x, float* y, int64_t n) {
    for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

void axpy4_scalar(const float* a, const float* x, int64_t x_stride, float* y, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
        double sum = y[i];
        for (int64_t j = 0; j < 4; ++j) sum += static_cast<double>(a[j]) * x[j * x_stride + i];
        y[i] = static_cast<float>(sum);
    }
}

struct TrainTables {
    std::array<TrainOps, std::size(kAllIsas)> by_isa{};

    TrainTables() {
        TrainOps table{dot_scalar, dot4_scalar, axpy_scalar, axpy4_scalar};
        by_isa[static_cast<size_t>(Isa::Scalar)] = table;
        by_isa[static_cast<size_t>(Isa::Neon)] = table;  // no NEON variants yet
#if defined(__x86_64__) || defined(__i386__)
        if (isa_supported(Isa::Avx2)) register_avx2_train(table);
#endif
        by_isa[static_cast<size_t>(Isa::Avx2)] = table;
#if defined(__x86_64__) || defined(__i386__)
        if (isa_supported(Isa::Avx512)) register_avx512_train(table);
#endif
        by_isa[static_cast<size_t>(Isa::Avx512)] = table;
    }
};

const TrainTables& tables() {
    static const TrainTables instance;
    return instance;
}

}  // namespace

const TrainOps& train_ops(Isa isa) {
    return tables().by_isa[static_cast<size_t>(isa)];
}

const TrainOps& train_ops() {
    return train_ops(active_isa());
}

}  // namespace pocket::kernels
