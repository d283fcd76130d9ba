// Command-line options shared by the commands that train (finetune, distill): the trainer's
// schedule and data split, the LoRA shape and the thread count, registered the same way in both so
// a flag means the same thing in each.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "pocket/model/lora.h"
#include "pocket/train/parameters.h"
#include "pocket/train/trainer.h"

namespace CLI {
class App;
}

namespace pocket::cli {

struct TrainerCliOptions {
    int64_t epochs = 1;
    double lr = 1e-3;
    double min_lr_ratio = 0.1;
    int64_t batch = 4;
    int64_t ctx = 256;  // the command sets its own default before add_trainer_options
    uint64_t seed = 0;
    int64_t warmup = 0;
    double weight_decay = 0.0;
    double grad_clip = 1.0;
    double val_split = 0.0;
    std::string val;
    int64_t max_steps = 0;
    int threads = 0;

    // The schedule and optimizer settings (checkpointing, callbacks and the interrupt flag are
    // the command's own).
    train::TrainerOptions trainer_options() const;
};

// --epochs, --lr, --min-lr-ratio, --batch, -c/--ctx, --seed, --warmup, --weight-decay,
// --grad-clip, --val-split, --val, --max-steps, -t/--threads; defaults shown are the struct's
// values at the time of the call.
void add_trainer_options(CLI::App& app, TrainerCliOptions& o);

struct LoraTrainingCliOptions {
    int64_t rank = 8;
    float alpha = 16.0f;
    std::string targets = "q,k,v,o,gate,up,down";

    // The spec of the adapter to train; throws pocket::Error for an unknown or empty --targets.
    train::LoraSpec spec(uint64_t seed) const;
};

// --lora-rank, --lora-alpha, --targets.
void add_lora_training_options(CLI::App& app, LoraTrainingCliOptions& o);

// "q,k,v" -> the projections; throws pocket::Error naming an unknown one, or when none is named.
std::vector<model::Projection> parse_targets(const std::string& list);

}  // namespace pocket::cli
