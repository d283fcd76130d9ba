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

}  // namespace pocket::kernels
