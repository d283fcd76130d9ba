// AVX2 (+FMA, F16C) kernels. None yet: the table keeps the scalar entries it was given.
#include "kernels/kernel_table.h"

namespace pocket::kernels {

void register_avx2_kernels(KernelTable& /*table*/) {}

}  // namespace pocket::kernels
