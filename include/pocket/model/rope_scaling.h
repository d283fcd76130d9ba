// Llama 3.1-style rope scaling ("rope_type": "llama3"): per dimension pair, a divisor of the
// rotation frequency. GGUF files carry the divisors as the `rope_freqs.weight` tensor, which the
// forward pass applies; the converter and `pocket synth` compute them here.
#pragma once

#include <cstdint>
#include <vector>

namespace pocket::model {

struct Llama3RopeScaling {
    float factor = 8.0f;
    float low_freq_factor = 1.0f;
    float high_freq_factor = 4.0f;
    int64_t original_context = 8192;
};

// head_dim / 2 divisors: wavelengths longer than original_context / low_freq_factor are divided
// by `factor`, shorter than original_context / high_freq_factor kept, and the band between
// blended smoothly (Meta's reference apply_scaling).
std::vector<float> llama3_rope_factors(float freq_base, int64_t head_dim,
                                       const Llama3RopeScaling& scaling);

}  // namespace pocket::model
