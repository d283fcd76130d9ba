#include "cli/train_options.h"

#include <CLI/CLI.hpp>

#include "pocket/core/error.h"

namespace pocket::cli {

train::TrainerOptions TrainerCliOptions::trainer_options() const {
    train::TrainerOptions t;
    t.epochs = epochs;
    t.batch = batch;
    t.seed = seed;
    t.lr = lr;
    t.min_lr_ratio = min_lr_ratio;
    t.warmup = warmup;
    t.adamw.weight_decay = weight_decay;
    t.adamw.grad_clip = grad_clip;
    t.max_steps = max_steps;
    return t;
}

void add_trainer_options(CLI::App& app, TrainerCliOptions& o) {
    app.add_option("--epochs", o.epochs, "passes over the training data")
        ->capture_default_str()
        ->check(CLI::Range(int64_t{1}, int64_t{1000000}));
    app.add_option("--lr", o.lr, "peak learning rate (AdamW)")->capture_default_str();
    app.add_option("--min-lr-ratio", o.min_lr_ratio,
                   "the cosine decay's floor as a fraction of --lr")
        ->capture_default_str();
    app.add_option("--batch", o.batch, "sequences per optimizer step (gradients accumulated)")
        ->capture_default_str()
        ->check(CLI::Range(int64_t{1}, int64_t{1000000}));
    app.add_option("-c,--ctx", o.ctx, "predictions per training sequence (longer ones are cut)")
        ->capture_default_str()
        ->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
    app.add_option("--seed", o.seed, "seed of the LoRA init and the data shuffle")
        ->capture_default_str();
    app.add_option("--warmup", o.warmup, "optimizer steps of linear learning-rate warm-up")
        ->capture_default_str()
        ->check(CLI::NonNegativeNumber);
    app.add_option("--weight-decay", o.weight_decay, "AdamW's decoupled weight decay")
        ->capture_default_str();
    app.add_option("--grad-clip", o.grad_clip, "clip the global gradient norm to this (0: off)")
        ->capture_default_str();
    app.add_option("--val-split", o.val_split,
                   "hold out this fraction of the sequences (the end of the data) for evaluation")
        ->check(CLI::Range(0.0, 0.9));
    app.add_option("--val", o.val, "held-out data file (same format)")->check(CLI::ExistingFile);
    app.add_option("--max-steps", o.max_steps, "stop after N optimizer steps of this run (0: all)")
        ->check(CLI::NonNegativeNumber);
    app.add_option("-t,--threads", o.threads, "threads (default: physical cores)");
}

std::vector<model::Projection> parse_targets(const std::string& list) {
    std::vector<model::Projection> out;
    size_t start = 0;
    while (start <= list.size()) {
        const size_t comma = std::min(list.find(',', start), list.size());
        if (comma > start)
            out.push_back(model::parse_projection(list.substr(start, comma - start)));
        start = comma + 1;
    }
    if (out.empty()) fail("--targets: no projection named");
    return out;
}

train::LoraSpec LoraTrainingCliOptions::spec(uint64_t seed) const {
    return {.rank = rank, .alpha = alpha, .targets = parse_targets(targets), .seed = seed};
}

void add_lora_training_options(CLI::App& app, LoraTrainingCliOptions& o) {
    app.add_option("--lora-rank", o.rank, "rank of each LoRA pair")
        ->capture_default_str()
        ->check(CLI::Range(int64_t{1}, int64_t{4096}));
    app.add_option("--lora-alpha", o.alpha, "LoRA alpha (scale = alpha / rank)")
        ->capture_default_str();
    app.add_option("--targets", o.targets,
                   "projections to adapt: q,k,v,qkv,o,gate,up,down,output (those the model lacks "
                   "are skipped)")
        ->capture_default_str();
}

}  // namespace pocket::cli
