// The pieces register_neon_kernels assembles the NEON table from (internal to src/kernels/neon/).
#pragma once

#include "kernels/kernel_table.h"

namespace pocket::kernels::neon {

// Activation converters (Q8_0, Q8_1, Q8_K, F16; bit-identical to scalar) and float dot products.
void register_converters_and_float_dots(KernelTable& table);
// Quantized dot products: baseline NEON, or with SDOT (only on CPUs that have it).
void register_quant_dots_plain(KernelTable& table);
void register_quant_dots_dotprod(KernelTable& table);
// Whether the CPU (and kernel) support the ARMv8.2-A dot-product instructions.
bool cpu_has_dotprod();

}  // namespace pocket::kernels::neon
