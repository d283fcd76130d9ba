// The training loop of `pocket finetune` (and of any objective with trainable parameters):
// epochs over a Dataset in a seeded shuffled order, --batch sequences per optimizer step
// (gradients accumulated, the loss averaged over the batch's weighted targets), AdamW with a
// warm-up + cosine schedule, held-out loss and perplexity before training and after each epoch,
// and checkpoints that resume exactly.
//
// Checkpoint file: a GGUF (written to a temporary name and renamed into place, so a kill never
// leaves a torn file) holding every parameter's values and AdamW moments as F32 tensors
// ("param.I", "adam_m.I", "adam_v.I", with their names in pocket.checkpoint.param_names), the data
// order of the current epoch (I32 tensor "data_order"), and in metadata the step, epoch, position
// in the epoch, the shuffle generator's state, AdamW's step count, and the settings and data
// fingerprint the run was started with. Resuming checks the settings and data are the same and
// then continues bit for bit: a run stopped after any step and resumed reports the same losses as
// one that never stopped (given deterministic forward/backward passes, as pocket's are).
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <span>
#include <vector>

#include "pocket/core/rng.h"
#include "pocket/train/backprop.h"
#include "pocket/train/dataset.h"
#include "pocket/train/optimizer.h"
#include "pocket/train/parameters.h"

namespace pocket::train {

// What is trained: the parameters and the loss of one example. Implementations must be
// deterministic (the same values and example give the same loss and gradients).
class Objective {
  public:
    virtual ~Objective() = default;
    virtual std::span<Parameter> params() = 0;
    // ADDS d(loss sum)/d(value) · grad_scale into every parameter's grad; returns the loss.
    virtual LossValue forward_backward(const Example& example, float grad_scale) = 0;
    // The loss only (held-out evaluation).
    virtual LossValue evaluate(const Example& example) = 0;
};

// Next-token cross-entropy (train::cross_entropy with the example's weights) of a model through
// Backprop, on LoRA or full-mode weights.
class LanguageModelObjective final : public Objective {
  public:
    LanguageModelObjective(Backprop& backprop, TrainableWeights& weights)
        : backprop_(backprop), weights_(weights) {}
    std::span<Parameter> params() override;
    LossValue forward_backward(const Example& example, float grad_scale) override;
    LossValue evaluate(const Example& example) override;

  private:
    Backprop& backprop_;
    TrainableWeights& weights_;
    std::vector<float> logits_, dlogits_;
};

struct StepReport {
    int64_t step = 0;         // optimizer steps done (1 after the first)
    int64_t total_steps = 0;  // of the whole run
    int64_t epoch = 0;        // 0-based epoch of this step
    double loss = 0.0;        // mean over the batch's weighted targets
    double lr = 0.0;
    double grad_norm = 0.0;  // before clipping
    int64_t tokens = 0;      // model inputs this step
    double elapsed_s = 0.0;  // since this run (or resume) started
    double tokens_per_s = 0.0;
    double eta_s = 0.0;
};

struct EvalReport {
    int64_t step = 0;    // optimizer steps done when evaluated (0: before training)
    int64_t epoch = -1;  // the epoch just finished (-1: before training)
    double loss = 0.0;   // mean negative log-likelihood per weighted target
    double ppl = 0.0;    // exp(loss)
    double weight = 0.0;
};

struct TrainerOptions {
    int64_t epochs = 1;
    int64_t batch = 1;  // sequences per optimizer step
    uint64_t seed = 0;  // the shuffle's; 0 is a seed like any other
    bool shuffle = true;
    double lr = 1e-3;           // peak learning rate
    double min_lr_ratio = 0.1;  // the cosine's floor, as a fraction of lr
    int64_t warmup = 0;         // steps of linear warm-up
    AdamWOptions adamw;
    bool eval_before = true;  // held-out loss before the first step (not when resuming)
    // Checkpoints go to `checkpoint` (empty: none) every `checkpoint_every` steps (0: never on a
    // step count), at the end of each epoch, at the end, and when interrupted.
    std::filesystem::path checkpoint;
    int64_t checkpoint_every = 0;
    int64_t max_steps = 0;  // stop (with a checkpoint) after this many steps of this run; 0 = none
    // When it becomes true (a SIGINT handler), the run checkpoints after the current step and
    // returns with finished = false.
    const std::atomic<bool>* interrupt = nullptr;
    std::function<void(const StepReport&)> on_step;
    std::function<void(const EvalReport&)> on_eval;
    std::function<void(const std::filesystem::path&, int64_t step)> on_checkpoint;
};

struct TrainResult {
    bool finished = false;            // every epoch done (false: interrupted or max_steps)
    int64_t steps = 0;                // optimizer steps done in all (resumed ones included)
    std::vector<double> step_losses;  // this run's, in order
    std::vector<EvalReport> evals;    // this run's
    int64_t tokens = 0;               // model inputs this run
    double seconds = 0.0;             // this run's wall time in training steps and evaluation
};

class Trainer {
  public:
    // Neither the objective nor the data are owned; they must outlive the trainer. `val` may be
    // null or empty (no held-out evaluation). Throws pocket::Error for invalid options.
    Trainer(Objective& objective, const Dataset& train, const Dataset* val, TrainerOptions options);

    // Loads a checkpoint written by a run with the same settings on the same data (pocket::Error
    // naming what differs otherwise) and continues from it: parameters, AdamW state, position.
    void resume(const std::filesystem::path& checkpoint);
    // Runs until every epoch is done, max_steps is reached or the interrupt flag is set.
    TrainResult run();
    // Writes the current state (atomically: temporary file, then rename).
    void save_checkpoint(const std::filesystem::path& path) const;

    int64_t steps_per_epoch() const { return steps_per_epoch_; }
    int64_t total_steps() const { return steps_per_epoch_ * options_.epochs; }
    int64_t step() const { return step_; }
    // Held-out loss now (empty `val`: weight 0).
    EvalReport evaluate();

  private:
    void new_epoch_order();
    double train_step(StepReport& report);

    Objective& objective_;
    const Dataset& train_;
    const Dataset* val_;
    TrainerOptions options_;
    AdamW adamw_;
    LrSchedule schedule_;
    int64_t steps_per_epoch_ = 0;
    // Position: optimizer steps done, the epoch in progress, examples of it consumed, its order.
    int64_t step_ = 0;
    int64_t epoch_ = 0;
    int64_t epoch_pos_ = 0;
    std::vector<int32_t> order_;
    Rng rng_;
};

}  // namespace pocket::train
