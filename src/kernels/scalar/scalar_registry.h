// Each scalar source file fills the table entries of the types it implements.
#pragma once

#include "kernels/kernel_table.h"

namespace pocket::kernels::scalar {

void register_float_types(KernelTable& table);    // F32, F16, BF16
void register_legacy_quants(KernelTable& table);  // Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1, IQ4_NL
void register_k_quants(KernelTable& table);       // Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_K

}  // namespace pocket::kernels::scalar
