// AVX-512 (F, BW, VL, DQ, VNNI, BF16) kernels. None yet: the table keeps the AVX2 entries it was
// given.
#include "kernels/kernel_table.h"

namespace pocket::kernels {

void register_avx512_kernels(KernelTable& /*table*/) {}

}  // namespace pocket::kernels
