// Per-type row kernels with run-time dispatch.
//
// Every computable tensor type has: dequantize a row to F32, quantize a row of F32 into the type,
// and a dot product between a weight row of the type and an activation row already converted to
// the type's `dot_type` (what llama.cpp calls vec_dot_type: F32->F32, F16->F16, BF16->BF16,
// Q4_0/Q5_0/Q8_0/IQ4_NL->Q8_0, Q4_1/Q5_1->Q8_1, Q2_K..Q6_K->Q8_K). The activation formats Q8_1
// and Q8_K have to_float/from_float but no vec_dot (they are never weights).
//
// Each instruction set has its own complete table: it starts as a copy of the table below it
// (Scalar <- Avx2 <- Avx512 on x86-64, Scalar <- Neon on AArch64) and its registration function
// overrides what it implements, so a SIMD table never has holes. The scalar implementations are the
// reference; tests compare every other table against them. The active instruction set is the best
// the CPU has (best_isa()) unless force_isa() chose another. The library reads no environment
// variable: the `pocket` command applies POCKET_ISA=scalar|avx2|avx512|neon through force_isa().
//
// Numerics (scalar reference):
// - Activation quantizers (from_float of Q8_0, Q8_1, Q8_K) are bit-exact with llama.cpp's x86
//   path: Q8_0/Q8_1 q = round-half-even(x * (127/amax)), d = F16(amax/127), Q8_1 s = F16(d*sum q);
//   Q8_K as ggml's reference (q = min(127, round-half-even(x * (-127/m))), d = 1/(-127/m)).
// - Quantized dot products sum integers within a block, then multiply by the block scales in
//   float and accumulate in float, in block order.
// - F32/F16/BF16 dot products form each product in float (exact for F16/BF16) and accumulate in
//   double, like ggml's scalar path; SIMD variants accumulate in float (several partial sums).
//   The AVX-512 BF16 dot uses vdpbf16ps, which treats subnormal inputs and results as zero.
// - SIMD activation converters (from_float of Q8_0, Q8_1, Q8_K, F16, BF16) are bit-identical to the
//   scalar ones; SIMD quantized dot products form the same exact integer block sums and differ from
//   scalar only in the order of the float accumulation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "pocket/core/dtype.h"

namespace pocket::kernels {

// Every Isa exists in every build; the ones of another architecture are simply never supported.
enum class Isa { Scalar, Avx2, Avx512, Neon };
inline constexpr Isa kAllIsas[] = {Isa::Scalar, Isa::Avx2, Isa::Avx512, Isa::Neon};
std::string_view isa_name(Isa isa);  // "scalar", "avx2", "avx512", "neon"

// All functions take `n` = number of elements, a multiple of the type's block size.
using ToFloatFn = void (*)(const void* src, float* dst, int64_t n);
using FromFloatFn = void (*)(const float* src, void* dst, int64_t n);
// Returns sum_i w[i] * a[i] where `w` is in the weight type and `a` in its dot_type.
using VecDotFn = float (*)(int64_t n, const void* w, const void* a);
// The tiled prompt-processing path of matmul_rows (same arguments, see there); n_tokens > 1.
using MatmulFn = void (*)(int64_t k, const void* w, size_t w_row_bytes, const void* act,
                          size_t act_row_bytes, int64_t n_tokens, float* y, size_t y_stride,
                          int64_t row_begin, int64_t row_end);

struct TypeOps {
    DType type = DType::F32;
    DType dot_type = DType::F32;
    ToFloatFn to_float = nullptr;
    // Quantizes a row into `type` at run time. For the activation formats (Q8_0, Q8_1, Q8_K) this
    // rounds half to even like llama.cpp's x86 SIMD path, so activations match it bit for bit; for
    // the other types it is the same as from_float_ref.
    FromFloatFn from_float = nullptr;
    // The reference quantizer that writes model files: byte-identical to what `llama-quantize`
    // (no importance matrix) produces. Differs from from_float only for Q8_0/Q8_1 (ggml's file
    // quantizer rounds half away from zero and scales by 1/d).
    FromFloatFn from_float_ref = nullptr;
    VecDotFn vec_dot = nullptr;  // nullptr for the activation-only formats Q8_1 and Q8_K
    // from_float of `dot_type` in the same instruction-set table: converts F32 activations into
    // what vec_dot expects.
    FromFloatFn to_dot_type = nullptr;
    // Optional: computes a block of rows x tokens at once, so each weight block loaded from memory
    // is reused across several tokens while the accumulators stay in registers. matmul_rows uses
    // it for n_tokens > 1 (nullptr: a vec_dot loop). Agrees with vec_dot to float rounding only:
    // SIMD vec_dot splits its sum into more partial sums than a tile can keep in registers.
    MatmulFn matmul = nullptr;
    // Optional: the generation path of matmul_rows (n_tokens == 1): several rows per call share
    // each activation load (nullptr: a vec_dot loop). Same arguments and accuracy as matmul.
    MatmulFn matvec = nullptr;
    // Optional, for the types that can_interleave() (see interleaved.h): converts F32 activations
    // into BlockQ8_0Act rows (interleaved_act_row_bytes) for matmul_interleaved.
    FromFloatFn to_interleaved_act = nullptr;
    // Optional: matmul_rows over an interleaved matrix, for any n_tokens. `w` points at the start
    // of the interleaved matrix, `w_row_bytes` is the bytes of one row-major row and `act` holds
    // to_interleaved_act rows. Rows outside [row_begin, row_end) are never written; ranges that
    // start and end on group boundaries (multiples of 8 rows) are the fast case. Agrees with
    // vec_dot to float rounding (the scalar one exactly: same block sums, same order).
    MatmulFn matmul_interleaved = nullptr;
};

// Kernels of `type` for the active instruction set; throws pocket::Error if the type has none.
const TypeOps& ops(DType type);
// Kernels of `type` for a specific instruction set (tests compare these against Isa::Scalar).
// Throws if the type has no kernels; works for any Isa, supported by the CPU or not (calling a
// SIMD function on a CPU without it is the caller's mistake).
const TypeOps& ops(DType type, Isa isa);
// Whether `type` has kernels (to_float + from_float; vec_dot too unless it is Q8_1/Q8_K).
bool has_ops(DType type);

Isa active_isa();
Isa best_isa();               // the fastest set the CPU (and this build) can run
bool isa_supported(Isa isa);  // the CPU (and this build) can run it
// Makes `isa` the active set; throws if unsupported. Models lay out their weights for the set
// active when they are loaded, so choose it before loading any.
void force_isa(Isa isa);
// "scalar", "avx2", "avx512", "neon" -> the Isa; throws pocket::Error for any other name.
Isa parse_isa(std::string_view name);

// Bytes of one row of `k` activations in `weight_ops.dot_type` (throws if k does not fit blocks).
size_t activation_row_bytes(const TypeOps& weight_ops, int64_t k);

// Converts `n_rows` rows of `k` F32 activations (row r at x + r*x_stride floats) into
// weight_ops.dot_type rows (row r at out + r*out_row_bytes bytes).
void convert_activations(const TypeOps& weight_ops, int64_t k, const float* x, size_t x_stride,
                         int64_t n_rows, void* out, size_t out_row_bytes);

// y[t*y_stride + r] = dot(row r of W, activation t) for r in [row_begin, row_end) and t in
// [0, n_tokens). Row r of W starts at w + r*w_row_bytes; `act` holds n_tokens rows already
// converted to ops.dot_type (row t at act + t*act_row_bytes). Rows are independent, so callers
// split [0, rows) between threads.
void matmul_rows(const TypeOps& ops, int64_t k, const void* w, size_t w_row_bytes, const void* act,
                 size_t act_row_bytes, int64_t n_tokens, float* y, size_t y_stride,
                 int64_t row_begin, int64_t row_end);

}  // namespace pocket::kernels
