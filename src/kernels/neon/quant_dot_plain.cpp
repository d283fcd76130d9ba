// The quantized dot products for every AArch64 CPU (baseline NEON), see neon_quant_dot.h.
#define POCKET_NEON_NS neon_plain
#define POCKET_NEON_DOTPROD 0
#include "kernels/neon/neon_quant_dot.h"
#include "kernels/neon/neon_registry.h"

namespace pocket::kernels::neon {

void register_quant_dots_plain(KernelTable& table) {
    neon_plain::fill_quant_dots(table);
}

}  // namespace pocket::kernels::neon
