#include "pocket/model/rope_scaling.h"

#include <cmath>
#include <numbers>

#include "pocket/core/error.h"

namespace pocket::model {

std::vector<float> llama3_rope_factors(float freq_base, int64_t head_dim,
                                       const Llama3RopeScaling& s) {
    if (head_dim <= 0 || head_dim % 2 != 0)
        fail("llama3 rope scaling needs an even head size, got ", head_dim);
    if (!(s.factor > 0.0f) || !(s.high_freq_factor > s.low_freq_factor) ||
        s.original_context <= 0) {
        fail("invalid llama3 rope scaling (factor ", s.factor, ", low ", s.low_freq_factor,
             ", high ", s.high_freq_factor, ", original context ", s.original_context, ")");
    }
    const int64_t n = head_dim / 2;
    std::vector<float> factors(static_cast<size_t>(n));
    const double orig = static_cast<double>(s.original_context);
    const double low_wavelen = orig / s.low_freq_factor;
    const double high_wavelen = orig / s.high_freq_factor;
    for (int64_t i = 0; i < n; ++i) {
        const double freq =
            1.0 / std::pow(static_cast<double>(freq_base), 2.0 * static_cast<double>(i) / head_dim);
        const double wavelen = 2.0 * std::numbers::pi / freq;
        double f;
        if (wavelen < high_wavelen) {
            f = 1.0;
        } else if (wavelen > low_wavelen) {
            f = s.factor;
        } else {
            const double smooth =
                (orig / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
            f = 1.0 / ((1.0 - smooth) / s.factor + smooth);
        }
        factors[static_cast<size_t>(i)] = static_cast<float>(f);
    }
    return factors;
}

}  // namespace pocket::model
