#include "pocket/train/optimizer.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "pocket/core/error.h"

namespace pocket::train {

double AdamW::step(std::span<Parameter> params, double lr) {
    if (moments_.empty()) {
        moments_.resize(params.size());
        for (size_t i = 0; i < params.size(); ++i) {
            moments_[i].m.assign(params[i].value.size(), 0.0f);
            moments_[i].v.assign(params[i].value.size(), 0.0f);
        }
    }
    if (moments_.size() != params.size())
        fail("AdamW: ", params.size(), " parameters, but the optimizer state has ",
             moments_.size());
    // Norm in double: summed over millions of values, float would lose the small terms.
    double sum_sq = 0.0;
    for (size_t i = 0; i < params.size(); ++i) {
        const Parameter& p = params[i];
        if (p.grad.size() != p.value.size() || moments_[i].m.size() != p.value.size() ||
            moments_[i].v.size() != p.value.size())
            fail("AdamW: parameter '", p.name, "' has ", p.value.size(), " values, ", p.grad.size(),
                 " gradients and ", moments_[i].m.size(), " moments");
        for (const float g : p.grad) sum_sq += static_cast<double>(g) * g;
    }
    const double norm = std::sqrt(sum_sq);
    // As torch.nn.utils.clip_grad_norm_: scale by clip / (norm + 1e-6) when that is below 1.
    double grad_scale = 1.0;
    if (options_.grad_clip > 0.0 && norm > options_.grad_clip)
        grad_scale = options_.grad_clip / (norm + 1e-6);

    ++steps_;
    const double t = static_cast<double>(steps_);
    const double bc1 = 1.0 - std::pow(options_.beta1, t);
    const double bc2 = 1.0 - std::pow(options_.beta2, t);
    const auto b1 = static_cast<float>(options_.beta1);
    const auto b2 = static_cast<float>(options_.beta2);
    // 1 - beta in double: in float, 1 - 0.999f is off by 1.3e-5 relative.
    const auto c1 = static_cast<float>(1.0 - options_.beta1);
    const auto c2 = static_cast<float>(1.0 - options_.beta2);
    const auto step_size = static_cast<float>(lr / bc1);
    const auto inv_sqrt_bc2 = static_cast<float>(1.0 / std::sqrt(bc2));
    const auto eps = static_cast<float>(options_.eps);
    const auto gscale = static_cast<float>(grad_scale);
    const auto decay_factor = static_cast<float>(1.0 - lr * options_.weight_decay);
    for (size_t i = 0; i < params.size(); ++i) {
        Parameter& p = params[i];
        float* m = moments_[i].m.data();
        float* v = moments_[i].v.data();
        const bool decay = p.decay && options_.weight_decay != 0.0;
        for (size_t j = 0; j < p.value.size(); ++j) {
            const float g = p.grad[j] * gscale;
            m[j] = b1 * m[j] + c1 * g;
            v[j] = b2 * v[j] + c2 * g * g;
            float w = p.value[j];
            if (decay) w *= decay_factor;  // decoupled: applied to the weight, not the gradient
            p.value[j] = w - step_size * m[j] / (std::sqrt(v[j]) * inv_sqrt_bc2 + eps);
        }
    }
    return norm;
}

void AdamW::restore(int64_t steps, std::vector<AdamWMoments> moments) {
    if (steps < 0) fail("AdamW: negative step count ", steps);
    steps_ = steps;
    moments_ = std::move(moments);
}

double LrSchedule::at(int64_t step) const {
    if (step < 0) fail("learning-rate schedule: negative step ", step);
    if (step < warmup) return peak * static_cast<double>(step + 1) / static_cast<double>(warmup);
    const int64_t decay_steps = total - warmup;
    if (decay_steps <= 0) return peak;
    const double progress =
        std::min(1.0, static_cast<double>(step - warmup) / static_cast<double>(decay_steps));
    return floor + (peak - floor) * 0.5 * (1.0 + std::cos(std::numbers::pi * progress));
}

}  // namespace pocket::train
