// The training loop on a real (if small) model with its own exact gradients: a bigram language
// model, whose logits for the next token are one row of a trainable table. It runs in
// milliseconds, so the loop's properties are tested at every stopping point: the loss falls,
// held-out loss is reported per epoch, and a run stopped anywhere and resumed from its checkpoint
// reports the same losses and ends with the same weights as one that never stopped.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <filesystem>
#include <memory>
#include <vector>

#include "pocket/core/error.h"
#include "pocket/core/rng.h"
#include "pocket/gguf/gguf.h"
#include "pocket/train/trainer.h"
#include "support/test_support.h"

namespace pocket::train {
namespace {

constexpr int kVocab = 8;

// logits(next | t) = W[t]; loss = Σ weight · (logsumexp(W[t]) − W[t][next]).
class Bigram final : public Objective {
  public:
    explicit Bigram(uint64_t seed) : w_(kVocab * kVocab) {
        Rng rng(seed);
        for (float& v : w_) v = static_cast<float>(rng.uniform01() - 0.5);
        params_.push_back(
            {.name = "bigram.weight", .value = w_, .grad = std::vector<float>(w_.size())});
    }
    std::span<Parameter> params() override { return params_; }
    LossValue forward_backward(const Example& e, float grad_scale) override {
        return run(e, grad_scale, true);
    }
    LossValue evaluate(const Example& e) override { return run(e, 0.0f, false); }
    const std::vector<float>& weights() const { return w_; }

  private:
    LossValue run(const Example& e, float grad_scale, bool backward) {
        LossValue loss;
        for (size_t t = 0; t + 1 < e.tokens.size(); ++t) {
            const float weight = e.weights[t + 1];
            if (weight == 0.0f) continue;
            const float* row = &w_[static_cast<size_t>(e.tokens[t]) * kVocab];
            const float max = *std::max_element(row, row + kVocab);
            double z = 0.0;
            for (int j = 0; j < kVocab; ++j) z += std::exp(static_cast<double>(row[j] - max));
            const TokenId next = e.tokens[t + 1];
            loss.sum += weight * (std::log(z) + max - row[next]);
            loss.weight += weight;
            if (!backward) continue;
            float* grad = &params_[0].grad[static_cast<size_t>(e.tokens[t]) * kVocab];
            for (int j = 0; j < kVocab; ++j) {
                const double p = std::exp(static_cast<double>(row[j] - max)) / z;
                grad[j] += static_cast<float>(grad_scale * weight * (p - (j == next ? 1.0 : 0.0)));
            }
        }
        return loss;
    }

    std::vector<float> w_;
    std::vector<Parameter> params_;
};

// Sequences that mostly count up (t -> t + 1 mod 8), with some noise: learnable, not trivial.
Dataset counting_data(int n, uint64_t seed) {
    Rng rng(seed);
    Dataset d;
    for (int i = 0; i < n; ++i) {
        Example e;
        auto t = static_cast<TokenId>(rng.next_u64() % kVocab);
        const int len = 5 + static_cast<int>(rng.next_u64() % 6);
        for (int k = 0; k < len; ++k) {
            e.tokens.push_back(t);
            t = rng.uniform01() < 0.8 ? (t + 1) % kVocab
                                      : static_cast<TokenId>(rng.next_u64() % kVocab);
        }
        e.weights.assign(e.tokens.size(), 1.0f);
        e.weights[0] = 0.0f;
        e.weights[1] = 0.5f;  // a weight that is neither 0 nor 1
        d.examples.push_back(std::move(e));
    }
    return d;
}

TrainerOptions options_for(const std::filesystem::path& checkpoint) {
    TrainerOptions o;
    o.epochs = 3;
    o.batch = 3;
    o.seed = 7;
    o.lr = 0.05;
    o.warmup = 2;
    o.adamw = {.weight_decay = 0.01, .grad_clip = 1.0};
    o.checkpoint = checkpoint;
    o.checkpoint_every = 3;
    return o;
}

TEST(Trainer, LossFallsAndHeldOutLossIsReportedPerEpoch) {
    const Dataset train = counting_data(30, 1);
    const Dataset val = counting_data(8, 2);
    Bigram model(3);
    TrainerOptions o = options_for({});
    o.epochs = 4;
    o.lr = 0.1;
    int64_t reports = 0;
    o.on_step = [&](const StepReport& r) {
        ++reports;
        EXPECT_EQ(r.step, reports);
        EXPECT_EQ(r.total_steps, 40);
        EXPECT_GT(r.tokens, 0);
        EXPECT_GT(r.lr, 0.0);
    };
    Trainer trainer(model, train, &val, o);
    EXPECT_EQ(trainer.steps_per_epoch(), 10);
    const TrainResult r = trainer.run();
    EXPECT_TRUE(r.finished);
    EXPECT_EQ(r.steps, 40);
    EXPECT_EQ(reports, 40);
    ASSERT_EQ(r.evals.size(), 5u);  // before training and after each epoch
    EXPECT_EQ(r.evals[0].epoch, -1);
    EXPECT_EQ(r.evals[0].step, 0);
    EXPECT_EQ(r.evals[4].epoch, 3);
    EXPECT_EQ(r.evals[4].step, 40);
    EXPECT_LT(r.evals[4].loss, r.evals[0].loss - 0.5);
    EXPECT_NEAR(r.evals[4].ppl, std::exp(r.evals[4].loss), 1e-9);
    EXPECT_DOUBLE_EQ(r.evals[0].weight, val.total_weight());
    double first = 0, last = 0;
    for (int i = 0; i < 10; ++i) {
        first += r.step_losses[static_cast<size_t>(i)];
        last += r.step_losses[static_cast<size_t>(30 + i)];
    }
    EXPECT_LT(last, first * 0.8);
}

TEST(Trainer, BatchLossIsTheMeanOverWeightedTargets) {
    // One step over the whole data with lr tiny: the reported loss equals the held-out
    // evaluation of the same data before the step.
    const Dataset train = counting_data(5, 4);
    Bigram model(5);
    TrainerOptions o = options_for({});
    o.epochs = 1;
    o.batch = 5;
    o.shuffle = false;
    Trainer trainer(model, train, &train, o);
    const EvalReport before = trainer.evaluate();
    const TrainResult r = trainer.run();
    ASSERT_EQ(r.step_losses.size(), 1u);
    EXPECT_NEAR(r.step_losses[0], before.loss, 1e-12);
}

// Stops a run after `stop_after` steps, resumes it in a fresh trainer over a freshly initialised
// model, and compares everything with the uninterrupted run.
void expect_resume_matches(int64_t stop_after) {
    SCOPED_TRACE(stop_after);
    test::ScratchDir dir;
    const Dataset train = counting_data(10, 11);
    const Dataset val = counting_data(4, 12);

    Bigram whole_model(9);
    Trainer whole(whole_model, train, &val, options_for(dir / "whole.ckpt"));
    const TrainResult expected = whole.run();
    ASSERT_EQ(expected.steps, 12);

    Bigram first_model(9);
    TrainerOptions o = options_for(dir / "run.ckpt");
    o.max_steps = stop_after;
    Trainer first(first_model, train, &val, o);
    const TrainResult a = first.run();
    EXPECT_FALSE(a.finished);
    EXPECT_EQ(a.steps, stop_after);
    ASSERT_TRUE(std::filesystem::exists(dir / "run.ckpt"));

    Bigram second_model(9);  // the initial weights again: the checkpoint must restore them
    Trainer second(second_model, train, &val, options_for(dir / "run.ckpt"));
    second.resume(dir / "run.ckpt");
    EXPECT_EQ(second.step(), stop_after);
    const TrainResult b = second.run();
    EXPECT_TRUE(b.finished);

    std::vector<double> losses = a.step_losses;
    losses.insert(losses.end(), b.step_losses.begin(), b.step_losses.end());
    ASSERT_EQ(losses.size(), expected.step_losses.size());
    for (size_t i = 0; i < losses.size(); ++i)
        EXPECT_NEAR(losses[i], expected.step_losses[i], 1e-5) << "step " << i + 1;
    // Deterministic arithmetic: in fact bit for bit.
    EXPECT_EQ(losses, expected.step_losses);
    EXPECT_EQ(second_model.weights(), whole_model.weights());
    std::vector<EvalReport> evals = a.evals;
    evals.insert(evals.end(), b.evals.begin(), b.evals.end());
    ASSERT_EQ(evals.size(), expected.evals.size());
    for (size_t i = 0; i < evals.size(); ++i) {
        EXPECT_EQ(evals[i].step, expected.evals[i].step);
        EXPECT_EQ(evals[i].loss, expected.evals[i].loss);
    }
}

TEST(Trainer, ResumedRunMatchesAnUninterruptedOne) {
    // Mid-epoch (1, 5, 11), at an epoch's end (4, 8), on a checkpoint interval (3, 6).
    for (const int64_t k : {1, 3, 4, 5, 6, 8, 11}) expect_resume_matches(k);
}

TEST(Trainer, InterruptCheckpointsAndStops) {
    test::ScratchDir dir;
    const Dataset train = counting_data(10, 11);
    Bigram model(9);
    std::atomic<bool> stop{false};
    TrainerOptions o = options_for(dir / "x.ckpt");
    o.checkpoint_every = 0;
    o.interrupt = &stop;
    o.on_step = [&](const StepReport& r) {
        if (r.step == 2) stop = true;
    };
    std::vector<int64_t> saved;
    o.on_checkpoint = [&](const std::filesystem::path& p, int64_t step) {
        EXPECT_EQ(p, dir / "x.ckpt");
        saved.push_back(step);
    };
    Trainer trainer(model, train, nullptr, o);
    const TrainResult r = trainer.run();
    EXPECT_FALSE(r.finished);
    EXPECT_EQ(r.steps, 2);
    EXPECT_EQ(saved, std::vector<int64_t>{2});
    // A GGUF with the step in it, and no temporary file left beside it.
    const gguf::File f = gguf::File::open(dir / "x.ckpt");
    EXPECT_EQ(f.get_string("general.type"), "pocket-training-checkpoint");
    EXPECT_EQ(f.get_int("pocket.checkpoint.step"), 2);
    int64_t files = 0;
    for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(dir.path()))
        ++files;
    EXPECT_EQ(files, 1);
}

TEST(Trainer, ResumeRefusesOtherSettingsOrData) {
    test::ScratchDir dir;
    const Dataset train = counting_data(10, 11);
    Bigram model(9);
    TrainerOptions o = options_for(dir / "c.ckpt");
    o.max_steps = 2;
    Trainer(model, train, nullptr, o).run();

    const auto error_of = [&](const TrainerOptions& options, const Dataset& data) {
        Bigram fresh(9);
        Trainer t(fresh, data, nullptr, options);
        try {
            t.resume(dir / "c.ckpt");
        } catch (const Error& e) {
            EXPECT_EQ(fresh.weights(), Bigram(9).weights()) << "changed before failing";
            return std::string(e.what());
        }
        return std::string("no error");
    };
    TrainerOptions other_lr = options_for(dir / "c.ckpt");
    other_lr.lr = 0.06;
    EXPECT_NE(error_of(other_lr, train).find("lr = 0.05; this run has 0.06"), std::string::npos);
    TrainerOptions other_batch = options_for(dir / "c.ckpt");
    other_batch.batch = 2;
    EXPECT_NE(error_of(other_batch, train).find("batch"), std::string::npos);
    Dataset other_data = train;
    other_data.examples[3].tokens[1] = (other_data.examples[3].tokens[1] + 1) % kVocab;
    EXPECT_NE(error_of(options_for(dir / "c.ckpt"), other_data).find("data.fingerprint"),
              std::string::npos);
    EXPECT_EQ(error_of(options_for(dir / "c.ckpt"), train), "no error");
    EXPECT_THROW(
        {
            Bigram fresh(9);
            Trainer(fresh, train, nullptr, options_for({})).resume(dir / "missing.ckpt");
        },
        Error);
}

TEST(Trainer, RefusesInvalidOptions) {
    const Dataset train = counting_data(3, 1);
    Bigram model(1);
    for (auto change :
         {+[](TrainerOptions& o) { o.epochs = 0; }, +[](TrainerOptions& o) { o.batch = 0; },
          +[](TrainerOptions& o) { o.lr = 0; }, +[](TrainerOptions& o) { o.min_lr_ratio = 2; },
          +[](TrainerOptions& o) { o.warmup = -1; }}) {
        TrainerOptions o = options_for({});
        change(o);
        EXPECT_THROW(Trainer(model, train, nullptr, o), Error);
    }
    EXPECT_THROW(Trainer(model, Dataset{}, nullptr, options_for({})), Error);
}

}  // namespace
}  // namespace pocket::train
