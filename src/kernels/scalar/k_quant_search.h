// Scale searches of the K-quant reference quantizers. They follow llama.cpp's float operations
// step by step, because the chosen scales and levels end up in the file bytes.
#pragma once

#include <cstdint>

namespace pocket::kernels::scalar {

// Symmetric levels l in [-nmax, nmax-1] for a group of n values (stored as l + nmax in L), with
// the scale chosen by weighted least squares over 19 candidate inverse scales around -nmax/max:
// weights x^2 when `weights` is null (llama.cpp: make_qx_quants(rmse_type 1), bit for bit), else
// the given ones (an importance matrix's). Returns the scale (0 for an all-zero group).
float fit_symmetric_scale(int n, int nmax, const float* x, int8_t* L,
                          const float* weights = nullptr);

// Like fit_symmetric_scale for 3-bit groups (nmax 4), refined by moving single levels while the
// x^2-weighted fit improves (at most 5 passes). llama.cpp: make_q3_quants(do_rmse true).
float fit_q3_scale(int n, int nmax, const float* x, int8_t* L);

// Asymmetric levels L in [0, nmax] with x ~ scale * L - min. Tries nstep+1 inverse scales
// (rmin + rdelta*i + nmax)/(max - min), solving weighted least squares for scale and min each
// time, and keeps the one with the smallest weighted error (absolute if use_mad, else squared).
// Returns the scale; *neg_min receives -min (>= 0). llama.cpp: make_qkx2_quants.
float fit_scale_and_min(int n, int nmax, const float* x, const float* weights, uint8_t* L,
                        float* neg_min, float rmin, float rdelta, int nstep, bool use_mad);

}  // namespace pocket::kernels::scalar
