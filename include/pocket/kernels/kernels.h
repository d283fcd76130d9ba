// Per-type row kernels with run-time dispatch.
//
// Every computable tensor type has: dequantize a row to F32, quantize a row of F32 into the type,
// and a dot product between a weight row of the type and an activation row already converted to
// the type's `dot_type` (what llama.cpp calls vec_dot_type: F32->F32, F16->F16, BF16->BF16,
// Q4_0/Q5_0/Q8_0/IQ4_NL->Q8_0, Q4_1/Q5_1->Q8_1, Q2_K..Q6_K->Q8_K).
//
// The scalar implementations are the reference; SIMD variants (avx2/, avx512/, neon/) register
// the same signatures and are tested against them. The active instruction set is chosen once at
// start-up from the CPU, and can be forced with POCKET_ISA=scalar|avx2|avx512 (or force_isa()).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "pocket/core/dtype.h"

namespace pocket::kernels {

enum class Isa { Scalar, Avx2, Avx512 };
std::string_view isa_name(Isa isa);

// All functions take `n` = number of elements, a multiple of the type's block size.
using ToFloatFn = void (*)(const void* src, float* dst, int64_t n);
using FromFloatFn = void (*)(const float* src, void* dst, int64_t n);
// Returns sum_i w[i] * a[i] where `w` is in the weight type and `a` in its dot_type.
using VecDotFn = float (*)(int64_t n, const void* w, const void* a);

struct TypeOps {
    DType type = DType::F32;
    DType dot_type = DType::F32;
    ToFloatFn to_float = nullptr;
    // Quantizes a row into `type`. For the activation formats (Q8_0, Q8_1, Q8_K) this rounds half
    // to even like llama.cpp's x86 SIMD path, so activations match it bit for bit; for weight
    // formats it is the reference quantizer used to write files.
    FromFloatFn from_float = nullptr;
    VecDotFn vec_dot = nullptr;
};

// Kernels of `type` for the active instruction set; throws pocket::Error if the type has none.
const TypeOps& ops(DType type);
// Kernels of `type` for a specific instruction set (tests compare these against Isa::Scalar).
const TypeOps& ops(DType type, Isa isa);

Isa active_isa();
bool isa_supported(Isa isa);  // the CPU (and this build) can run it
void force_isa(Isa isa);      // throws if unsupported; for tests and benchmarks

}  // namespace pocket::kernels
