// Whether the AVX-512 kernels use AMX tiles (kept apart from kernels.h, which most of the library
// includes, so that few files depend on it).
#pragma once

namespace pocket::kernels {

// AMX-INT8 tiles (Intel Sapphire Rapids and later). Where the CPU has them and the OS grants the
// process their register state, the AVX-512 table multiplies batches of 16 or more tokens over
// interleaved Q4_0 / Q5_0 / Q8_0 weights with them (the same exact block sums as the VNNI kernels,
// so the results agree with scalar to float rounding). amx_supported() asks the OS once.
bool amx_supported();
// On by default where supported; set_amx_enabled(false) keeps every matmul on the AVX-512 VNNI
// kernels (to compare the two, like force_isa). Safe to call at any time from any thread.
void set_amx_enabled(bool enabled);
bool amx_enabled();  // amx_supported() and not switched off
// Whether prompts run on AMX tiles now: amx_enabled() and the active table is AVX-512.
bool amx_active();

}  // namespace pocket::kernels
