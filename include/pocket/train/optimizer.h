// AdamW (Loshchilov & Hutter, "Decoupled Weight Decay Regularization") over train::Parameter
// values, and the learning-rate schedule `pocket finetune` uses: linear warm-up, then cosine decay
// to a floor. The optimizer's whole state (step count, first and second moments) is public so a
// checkpoint can save it and a resumed run continue bit for bit.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "pocket/train/parameters.h"

namespace pocket::train {

struct AdamWOptions {
    double beta1 = 0.9;
    double beta2 = 0.999;
    double eps = 1e-8;
    double weight_decay = 0.0;  // decoupled: p -= lr * weight_decay * p, for Parameter::decay only
    // Global gradient-norm clip: when the L2 norm of all gradients together exceeds it, every
    // gradient is scaled by clip / norm before the update (0 = off).
    double grad_clip = 1.0;
};

// The moments of one parameter, the same size as its values.
struct AdamWMoments {
    std::vector<float> m;
    std::vector<float> v;
};

class AdamW {
  public:
    explicit AdamW(AdamWOptions options = {}) : options_(options) {}

    // One update of every parameter from its grad with learning rate `lr`. The first call sizes the
    // moments for `params`; later calls must pass the same parameters in the same order (checked by
    // size; pocket::Error otherwise). Returns the global gradient norm before clipping. Gradients
    // are read, not cleared.
    double step(std::span<Parameter> params, double lr);

    const AdamWOptions& options() const { return options_; }
    int64_t steps() const { return steps_; }  // updates done (the t of bias correction)
    std::span<const AdamWMoments> moments() const { return moments_; }

    // Restores a saved state (moment sizes are checked against the parameters at the next step).
    void restore(int64_t steps, std::vector<AdamWMoments> moments);

  private:
    AdamWOptions options_;
    int64_t steps_ = 0;
    std::vector<AdamWMoments> moments_;
};

// Linear warm-up over the first `warmup` steps (step s uses peak * (s + 1) / warmup, so the first
// update is not wasted at 0), then half a cosine from `peak` at step `warmup` down towards `floor`
// at step `total` (the last step, total - 1, is just above the floor).
struct LrSchedule {
    double peak = 1e-3;
    double floor = 1e-4;
    int64_t warmup = 0;
    int64_t total = 1;

    double at(int64_t step) const;  // the learning rate of optimizer step `step` (0-based)
};

}  // namespace pocket::train
