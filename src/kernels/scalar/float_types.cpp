// F32, F16 and BF16 rows: conversions and dot products. Each product is formed in float (exact for
// F16 and BF16 operands, whose mantissas are short enough) and the sum is accumulated in double,
// as ggml's scalar path does; the result is then rounded once to float.
#include <cstring>

#include "kernels/scalar/scalar_registry.h"
#include "pocket/core/fp16.h"

namespace pocket::kernels::scalar {
namespace {

void f32_copy_to_float(const void* src, float* dst, int64_t n) {
    std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
}
void f32_copy_from_float(const float* src, void* dst, int64_t n) {
    std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
}
float f32_dot(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const float*>(w);
    const auto* y = static_cast<const float*>(a);
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i] * y[i]);
    return static_cast<float>(sum);
}

void f16_to_float(const void* src, float* dst, int64_t n) {
    const auto* h = static_cast<const f16_t*>(src);
    for (int64_t i = 0; i < n; ++i) dst[i] = f16_to_f32(h[i]);
}
void f16_from_float(const float* src, void* dst, int64_t n) {
    auto* h = static_cast<f16_t*>(dst);
    for (int64_t i = 0; i < n; ++i) h[i] = f32_to_f16(src[i]);
}
float f16_dot(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const f16_t*>(w);
    const auto* y = static_cast<const f16_t*>(a);
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(f16_to_f32(x[i]) * f16_to_f32(y[i]));
    return static_cast<float>(sum);
}

void bf16_to_float(const void* src, float* dst, int64_t n) {
    const auto* h = static_cast<const bf16_t*>(src);
    for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(h[i]);
}
// Round to nearest even, as ggml's reference conversion (llama-quantize). ggml's AVX512-BF16
// activation path additionally flushes subnormal inputs to zero; such activations do not occur in
// practice, so one conversion serves both.
void bf16_from_float(const float* src, void* dst, int64_t n) {
    auto* h = static_cast<bf16_t*>(dst);
    for (int64_t i = 0; i < n; ++i) h[i] = f32_to_bf16(src[i]);
}
float bf16_dot(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const bf16_t*>(w);
    const auto* y = static_cast<const bf16_t*>(a);
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i)
        sum += static_cast<double>(bf16_to_f32(x[i]) * bf16_to_f32(y[i]));
    return static_cast<float>(sum);
}

}  // namespace

void register_float_types(KernelTable& table) {
    entry(table, DType::F32) = {DType::F32,          DType::F32,          f32_copy_to_float,
                                f32_copy_from_float, f32_copy_from_float, f32_dot};
    entry(table, DType::F16) = {DType::F16,     DType::F16,     f16_to_float,
                                f16_from_float, f16_from_float, f16_dot};
    entry(table, DType::BF16) = {DType::BF16,     DType::BF16,     bf16_to_float,
                                 bf16_from_float, bf16_from_float, bf16_dot};
}

}  // namespace pocket::kernels::scalar
