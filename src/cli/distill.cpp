// `pocket distill --teacher T --student S --data FILE -o OUT`: knowledge distillation. The teacher
// runs once over the training windows into a top-K cache (OUT.teacher unless --cache); the student
// (a LoRA on S, or with --full every weight of S) then trains on α·KD + (1 − α)·CE through
// train::Trainer. Held-out text: perplexity of student and teacher and their top-1 agreement.
#include <CLI/CLI.hpp>

#include <cmath>
#include <cstdio>
#include <filesystem>

#include "cli/commands.h"
#include "cli/train_options.h"
#include "pocket/core/error.h"
#include "pocket/core/thread_pool.h"
#include "pocket/model/lora.h"
#include "pocket/model/model.h"
#include "pocket/tokenizer/tokenizer.h"
#include "pocket/train/backprop.h"
#include "pocket/train/dataset.h"
#include "pocket/train/distill.h"
#include "pocket/train/parameters.h"
#include "pocket/train/trainer.h"

namespace pocket::cli {
namespace {

struct DistillCliOptions {
    std::string teacher, student, data, output, cache, kd_loss = "forward-kl";
    float temperature = 2.0f, alpha = 0.5f;
    int64_t top_k = 32;
    bool full = false;
    TrainerCliOptions train;
    LoraTrainingCliOptions lora;
};

int run_distill(const DistillCliOptions& opt) {
    if (opt.teacher.empty() || opt.student.empty() || opt.data.empty() || opt.output.empty())
        fail("distill needs --teacher, --student, --data and -o");
    const TrainerCliOptions& t = opt.train;
    if (t.threads > 0) ThreadPool::set_global_threads(t.threads);
    if (!t.val.empty() && t.val_split > 0) fail("give --val or --val-split, not both");
    const train::DistillLossOptions loss{.kind = train::parse_kd_loss(opt.kd_loss),
                                         .alpha = opt.alpha};
    if (!(opt.alpha >= 0.0f && opt.alpha <= 1.0f)) fail("--alpha must be in [0, 1]");
    const train::LoraSpec lora_spec = opt.lora.spec(t.seed);

    const auto teacher = model::Model::load(opt.teacher);
    const auto student = model::Model::load(opt.student);
    train::check_same_vocabulary(teacher->tokenizer(), student->tokenizer());

    const train::DatasetOptions data_options{.format = train::DataFormat::Text, .ctx = t.ctx};
    train::Dataset train_set = train::read_dataset(opt.data, student->tokenizer(), data_options);
    train::Dataset val_set;
    if (!t.val.empty())
        val_set = train::read_dataset(t.val, student->tokenizer(), data_options);
    else if (t.val_split > 0.0)
        val_set = train::split_validation(train_set, t.val_split);
    std::fprintf(stderr, "data: %zu training windows (%lld tokens), %zu held-out\n",
                 train_set.examples.size(), static_cast<long long>(train_set.n_tokens()),
                 val_set.examples.size());

    // The teacher's top-K rows: made once, reused while they match this run (α = 0 needs none).
    const std::vector<std::vector<TokenId>> inputs = train::teacher_inputs(train_set);
    const std::filesystem::path cache_path =
        std::filesystem::path(opt.cache.empty() ? opt.output + ".teacher" : opt.cache);
    std::optional<train::TeacherCache> cache;
    if (opt.alpha > 0.0f) {
        const auto key = train::cache_key(*teacher, inputs, opt.top_k, opt.temperature);
        if (!std::filesystem::exists(cache_path)) {
            std::fprintf(stderr, "teacher cache: %s (top %lld, temperature %g)\n",
                         cache_path.string().c_str(), static_cast<long long>(opt.top_k),
                         static_cast<double>(opt.temperature));
            train::write_teacher_cache(*teacher, inputs, opt.top_k, opt.temperature, cache_path,
                                       [](size_t done, size_t total) {
                                           if (done == total || done % 64 == 0)
                                               std::fprintf(stderr, "  teacher %zu/%zu\n", done,
                                                            total);
                                       });
        } else {
            std::fprintf(stderr, "teacher cache: reusing %s\n", cache_path.string().c_str());
        }
        cache.emplace(train::TeacherCache::open(cache_path, key));
    }

    train::TrainableWeights weights = opt.full ? train::TrainableWeights::full(*student)
                                               : train::TrainableWeights::lora(*student, lora_spec);
    train::Backprop backprop(*student, weights, {.checkpoint = true, .max_tokens = t.ctx + 1});
    std::unique_ptr<train::Objective> objective;
    if (cache)
        objective =
            std::make_unique<train::DistillObjective>(backprop, weights, *cache, train_set, loss);
    else
        objective = std::make_unique<train::LanguageModelObjective>(backprop, weights);

    train::TrainerOptions topt = t.trainer_options();
    topt.on_step = [](const train::StepReport& r) {
        if (r.step == r.total_steps || r.step % 10 == 0)
            std::fprintf(stderr, "step %lld/%lld  loss %.4f  lr %.2e  %.0f tok/s  eta %.0fs\n",
                         static_cast<long long>(r.step), static_cast<long long>(r.total_steps),
                         r.loss, r.lr, r.tokens_per_s, r.eta_s);
    };
    topt.on_eval = [](const train::EvalReport& r) {
        std::fprintf(stderr, "held-out after step %lld: loss %.4f  ppl %.3f\n",
                     static_cast<long long>(r.step), r.loss, r.ppl);
    };
    train::Trainer trainer(*objective, train_set, val_set.examples.empty() ? nullptr : &val_set,
                           std::move(topt));
    const train::TrainResult result = trainer.run();
    std::printf("trained %lld steps, %lld tokens in %.1f s (%.0f tokens/s), %s, alpha %g\n",
                static_cast<long long>(result.steps), static_cast<long long>(result.tokens),
                result.seconds, result.seconds > 0 ? result.tokens / result.seconds : 0.0,
                cache ? std::string(train::kd_loss_name(loss.kind)).c_str() : "text only",
                static_cast<double>(opt.alpha));
    if (!val_set.examples.empty()) {
        const auto c = train::compare_with_teacher(*teacher, backprop, val_set);
        std::printf(
            "held-out (%.0f targets): student ppl %.3f, teacher ppl %.3f, top-1 agreement "
            "%.2f %%\n",
            c.weight, std::exp(c.student_nll), std::exp(c.teacher_nll), 100.0 * c.top1_agreement);
    }
    if (opt.full)
        weights.save_model(opt.output);
    else
        weights.adapter().save(opt.output);
    std::printf("wrote %s\n", opt.output.c_str());
    return kExitOk;
}

}  // namespace

Runner register_distill(CLI::App& app) {
    auto opt = std::make_shared<DistillCliOptions>();
    app.add_option("--teacher", opt->teacher, "Teacher model (GGUF)")->required();
    app.add_option("--student", opt->student,
                   "Student model with the teacher's vocabulary (e.g. from `pocket synth --like`)")
        ->required();
    app.add_option("--data", opt->data, "Training text")->required();
    app.add_option("-o,--output", opt->output,
                   "Output: the LoRA adapter, or with --full the trained model (GGUF)")
        ->required();
    app.add_option("--kd-loss", opt->kd_loss, "forward-kl, reverse-kl or jsd")
        ->capture_default_str();
    app.add_option("--temperature", opt->temperature, "Softmax temperature of the KD term")
        ->capture_default_str();
    app.add_option("--alpha", opt->alpha,
                   "Weight of the KD term: alpha*KD + (1-alpha)*CE (0 = the text alone)")
        ->capture_default_str();
    app.add_option("--top-k", opt->top_k, "Teacher logits kept per position")
        ->capture_default_str();
    app.add_option("--cache", opt->cache, "Teacher cache file (default: OUT.teacher)");
    app.add_flag("--full", opt->full, "Train every weight of the student (OUT is a model)");
    add_lora_training_options(app, opt->lora);
    opt->train.ctx = 128;  // distill's own default (finetune's is 256)
    add_trainer_options(app, opt->train);
    return [opt] { return run_distill(*opt); };
}

}  // namespace pocket::cli
