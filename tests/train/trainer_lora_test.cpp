// The training loop on a real model: LoRA on stories260K (a trained llama model) through
// Backprop and cross-entropy. A short run lowers the loss on the text it trains on, and a run
// stopped mid-epoch and resumed from its checkpoint gives the same losses to 1e-5.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "pocket/model/model.h"
#include "pocket/train/backprop.h"
#include "pocket/train/dataset.h"
#include "pocket/train/parameters.h"
#include "pocket/train/trainer.h"
#include "support/test_support.h"

namespace pocket::train {
namespace {

// A model, its LoRA weights and the objective over them, built the same way each time.
struct LoraRun {
    std::unique_ptr<model::Model> base;
    TrainableWeights weights;
    Backprop backprop;
    LanguageModelObjective objective;

    explicit LoraRun(std::unique_ptr<model::Model> m)
        : base(std::move(m)),
          weights(TrainableWeights::lora(*base, LoraSpec{.rank = 4, .alpha = 8, .seed = 3})),
          backprop(*base, weights, {.checkpoint = true, .max_tokens = 32}),
          objective(backprop, weights) {}
};

std::unique_ptr<model::Model> stories() {
    return model::Model::load(test::shared_path("models/stories260K.gguf"));
}

// Shakespeare is far from the children's stories the model was trained on, so there is much to
// learn in a few steps.
std::string shakespeare(size_t bytes) {
    return test::read_file_bytes(test::shared_path("data/corpus/tinyshakespeare.txt"))
        .substr(0, bytes);
}

TrainerOptions options(const std::filesystem::path& checkpoint) {
    TrainerOptions o;
    o.epochs = 2;
    o.batch = 2;
    o.seed = 1;
    o.lr = 1e-2;
    o.warmup = 1;
    o.checkpoint = checkpoint;
    o.checkpoint_every = 2;
    return o;
}

TEST(LoraTraining, ShortRunOnStories260KLowersTheLoss) {
    LoraRun run(stories());
    const Dataset data =
        parse_dataset(shakespeare(1500), "shakespeare", run.base->tokenizer(), {.ctx = 32});
    ASSERT_GE(data.examples.size(), 8u);
    TrainerOptions o = options({});
    o.epochs = 4;
    // Evaluated on the training text itself: this checks that the updates fit the data.
    Trainer trainer(run.objective, data, &data, o);
    const TrainResult r = trainer.run();
    ASSERT_TRUE(r.finished);
    ASSERT_EQ(r.evals.size(), 5u);
    EXPECT_LT(r.evals.back().loss, r.evals.front().loss - 0.3)
        << r.evals.front().loss << " -> " << r.evals.back().loss;
    for (size_t i = 1; i < r.evals.size(); ++i) EXPECT_LT(r.evals[i].loss, r.evals[i - 1].loss);
    // Only the adapter changed: B was zero, so before training the loss was the base model's.
    const auto& a = run.weights.adapter();
    ASSERT_FALSE(a.matrices().empty());
    bool b_moved = false;
    for (const auto& m : a.matrices())
        for (const float v : m.b) b_moved |= v != 0.0f;
    EXPECT_TRUE(b_moved);
}

TEST(LoraTraining, StoppedMidEpochAndResumedGivesTheSameLosses) {
    test::ScratchDir dir;
    const std::string text = shakespeare(1200);
    LoraRun whole(stories());
    const Dataset data = parse_dataset(text, "shakespeare", whole.base->tokenizer(), {.ctx = 32});
    Trainer uninterrupted(whole.objective, data, nullptr, options(dir / "whole.ckpt"));
    const TrainResult expected = uninterrupted.run();
    ASSERT_GE(expected.steps, 6);
    const int64_t stop = expected.steps / 2 + 1;  // inside the second epoch's first half
    ASSERT_NE(stop % uninterrupted.steps_per_epoch(), 0) << "not mid-epoch";

    std::vector<double> losses;
    {
        LoraRun first(stories());
        TrainerOptions o = options(dir / "run.ckpt");
        o.max_steps = stop;
        const TrainResult a = Trainer(first.objective, data, nullptr, o).run();
        ASSERT_FALSE(a.finished);
        losses = a.step_losses;
    }
    LoraRun second(stories());
    Trainer resumed(second.objective, data, nullptr, options(dir / "run.ckpt"));
    resumed.resume(dir / "run.ckpt");
    const TrainResult b = resumed.run();
    ASSERT_TRUE(b.finished);
    losses.insert(losses.end(), b.step_losses.begin(), b.step_losses.end());
    ASSERT_EQ(losses.size(), expected.step_losses.size());
    for (size_t i = 0; i < losses.size(); ++i)
        EXPECT_NEAR(losses[i], expected.step_losses[i], 1e-5) << "step " << i + 1;
    const auto wa = whole.weights.adapter().matrices();
    const auto wb = second.weights.adapter().matrices();
    ASSERT_EQ(wa.size(), wb.size());
    for (size_t i = 0; i < wa.size(); ++i) {
        ASSERT_EQ(wa[i].b.size(), wb[i].b.size());
        for (size_t j = 0; j < wa[i].b.size(); ++j) EXPECT_NEAR(wa[i].b[j], wb[i].b[j], 1e-6);
    }
}

}  // namespace
}  // namespace pocket::train
