// The per-instruction-set kernel tables and the functions that fill them (internal to kernels/).
#pragma once

#include <array>
#include <cstddef>

#include "kernels/kernels.h"

namespace pocket::kernels {

// Indexed by the DType value (ggml type ids are small: the largest known is 39).
inline constexpr size_t kMaxTypeId = 40;
using KernelTable = std::array<TypeOps, kMaxTypeId>;

inline TypeOps& entry(KernelTable& table, DType type) {
    return table[static_cast<size_t>(type)];
}

// Fills every computable type with the scalar reference kernels (the table is complete after).
void register_scalar_kernels(KernelTable& table);
// Override the entries an instruction set accelerates; they receive a copy of the table below
// (scalar for AVX2, AVX2 for AVX-512) and must leave the rest untouched. Each lives in its own
// folder (src/kernels/avx2/, src/kernels/avx512/), compiled with that instruction set's flags,
// and is only called after the CPU check, never at static-initialisation time.
void register_avx2_kernels(KernelTable& table);
void register_avx512_kernels(KernelTable& table);
// AArch64: receives a copy of the scalar table (src/kernels/neon/, built only for AArch64).
void register_neon_kernels(KernelTable& table);

// Whether the CPU is AMD's. Where the two vendors' cores measured differently with the same
// kernels (their memory prefetchers, AMD's 512-bit operations run as two 256-bit halves up to
// Zen 4), the AVX-512 table picks its generation tiles by vendor (register_avx512.cpp).
bool cpu_is_amd();

}  // namespace pocket::kernels
