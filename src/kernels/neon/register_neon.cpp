// Fills the AArch64 table: NEON everywhere (it is mandatory in ARMv8-A), plus the SDOT variants
// of the quantized dot products when the CPU reports the dot-product extension.
#include <sys/auxv.h>

#include "kernels/neon/neon_registry.h"

#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20)  // Linux's AArch64 hwcap bit for SDOT/UDOT
#endif

namespace pocket::kernels {

namespace neon {
bool cpu_has_dotprod() {
    static const bool ok = (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
    return ok;
}
}  // namespace neon

void register_neon_kernels(KernelTable& table) {
    // No NEON kernels for the interleaved layout yet: clear the scalar reference the table was
    // copied from, so models on ARM keep their weights row-major (and fast NEON kernels) instead
    // of running the reference.
    for (TypeOps& entry : table) {
        entry.to_interleaved_act = nullptr;
        entry.matmul_interleaved = nullptr;
    }
    neon::register_converters_and_float_dots(table);
    if (neon::cpu_has_dotprod()) {
        neon::register_quant_dots_dotprod(table);
    } else {
        neon::register_quant_dots_plain(table);
    }
}

}  // namespace pocket::kernels
