// The quantized dot products with the ARMv8.2-A dot-product instructions (SDOT), see
// neon_quant_dot.h. Compiled with -march=armv8.2-a+dotprod (cmake/kernel-isa.cmake); only
// registered when the CPU reports them (HWCAP_ASIMDDP).
#define POCKET_NEON_NS neon_dotprod
#define POCKET_NEON_DOTPROD 1
#include "kernels/neon/neon_quant_dot.h"
#include "kernels/neon/neon_registry.h"

#if !defined(__ARM_FEATURE_DOTPROD)
#error "quant_dot_dotprod.cpp must be compiled with the dot-product extension (+dotprod)"
#endif

namespace pocket::kernels::neon {

void register_quant_dots_dotprod(KernelTable& table) {
    neon_dotprod::fill_quant_dots(table);
}

}  // namespace pocket::kernels::neon
