// The non-linear 4-bit levels shared by IQ4_NL and IQ4_XS: nearest-level search and the weighted
// scale fit of one 32-value group. Both follow ggml's float operations step by step, because the
// chosen scales and levels end up in the file bytes.
#pragma once

#include <cstdint>

namespace pocket::kernels::scalar {

// Index of the level nearest to v (the upper one on ties).
int nearest_iq4_level(float v);

// The best scale of a 32-value group as llama-quantize chooses it: the scale that maps the
// largest-magnitude element onto the outermost level, then 15 nearby inverse scales, keeping the
// best weighted least-squares fit. Weights are x^2 when `weights` is null (no importance matrix),
// else the given ones. Returns 0 for an all-zero group.
float fit_iq4_group_scale(const float* x, const float* weights);

}  // namespace pocket::kernels::scalar
