#include "kernels/scalar/scalar_registry.h"

namespace pocket::kernels {

void register_scalar_kernels(KernelTable& table) {
    scalar::register_float_types(table);
    scalar::register_legacy_quants(table);
    scalar::register_k_quants(table);
    scalar::register_iq4_xs(table);
    scalar::register_interleaved(table);
}

}  // namespace pocket::kernels
