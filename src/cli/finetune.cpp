// `pocket finetune -m BASE --data FILE -o ADAPTER.gguf`: trains a LoRA adapter
// on a base model (pocket/train/trainer.h does the work) and writes it in
// llama.cpp's adapter layout with the training's provenance in its metadata
// (training.*).
//
// Checkpoints go to ADAPTER.gguf.ckpt (every --checkpoint-every steps, at each
// epoch's end and on Ctrl-C); `--resume` continues from that file with the same
// command line, and gives the same losses as a run that was never stopped. The
// checkpoint is removed once the adapter is written.
#include <CLI/CLI.hpp>

#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/model_path.h"
#include "cli/train_options.h"
#include "pocket/core/error.h"
#include "pocket/core/read_file.h"
#include "pocket/core/sha256.h"
#include "pocket/core/thread_pool.h"
#include "pocket/generate/chat_template.h"
#include "pocket/model/lora.h"
#include "pocket/model/model.h"
#include "pocket/train/backprop.h"
#include "pocket/train/dataset.h"
#include "pocket/train/parameters.h"
#include "pocket/train/trainer.h"

namespace pocket::cli {
namespace {

std::atomic<bool> g_interrupted{false};

extern "C" void on_sigint(int) {
    g_interrupted.store(true);
    // A second Ctrl-C ends the program at once.
    std::signal(SIGINT, SIG_DFL);
}

struct FinetuneOptions {
    std::string model;
    std::string data;
    std::string format = "text";
    TrainerCliOptions train;  // ctx 256 unless -c says otherwise
    LoraTrainingCliOptions lora;
    int64_t checkpoint_every = 0;
    bool resume = false;
    bool no_grad_checkpoint = false;
    bool json = false;
    std::string output;
};

std::string duration_text(double s) {
    if (!(s >= 0) || s > 1e7) return "?";
    const auto total = static_cast<long long>(s + 0.5);
    char buf[32];
    if (total >= 3600)
        std::snprintf(buf, sizeof buf, "%lldh%02lldm", total / 3600, total / 60 % 60);
    else if (total >= 60)
        std::snprintf(buf, sizeof buf, "%lldm%02llds", total / 60, total % 60);
    else
        std::snprintf(buf, sizeof buf, "%llds", total);
    return buf;
}

double peak_rss_mib() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return static_cast<double>(usage.ru_maxrss) / 1024.0;  // Linux reports KiB
}

std::string format_g(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", v);
    return buf;
}

int run_finetune(const FinetuneOptions& o) {
    const TrainerCliOptions& t = o.train;
    if (t.threads > 0) ThreadPool::set_global_threads(t.threads);
    if (!t.val.empty() && t.val_split > 0) fail("give --val or --val-split, not both");
    const train::DataFormat format = train::parse_data_format(o.format);
    const train::LoraSpec lora_spec = o.lora.spec(t.seed);
    const std::unique_ptr<model::Model> base = load_model_arg(o.model);

    std::optional<ModelChatTemplate> chat;
    if (format == train::DataFormat::Chat) {
        chat.emplace(chat_template_for(*base));
        if (chat->builtin)
            std::fprintf(stderr,
                         "finetune: the model has no chat template; using the built-in ChatML "
                         "one\n");
    }
    const train::DatasetOptions data_options{
        .format = format, .ctx = t.ctx, .chat_template = chat ? &*chat : nullptr};
    const std::string data_bytes = read_file(o.data);
    const std::string data_sha = sha256_hex(data_bytes);
    train::Dataset train_data =
        train::parse_dataset(data_bytes, o.data, base->tokenizer(), data_options);
    train::Dataset val_data;
    if (!t.val.empty())
        val_data = train::read_dataset(t.val, base->tokenizer(), data_options);
    else if (t.val_split > 0)
        val_data = train::split_validation(train_data, t.val_split);
    std::fprintf(stderr,
                 "finetune: %zu training sequences (%lld tokens, %.0f targets), "
                 "%zu held out "
                 "(%.0f targets)",
                 train_data.examples.size(), (long long)train_data.n_tokens(),
                 train_data.total_weight(), val_data.examples.size(), val_data.total_weight());
    if (train_data.n_truncated > 0)
        std::fprintf(stderr, "; %lld records cut to --ctx %lld", (long long)train_data.n_truncated,
                     (long long)t.ctx);
    if (train_data.n_empty > 0)
        std::fprintf(stderr, "; %lld records left nothing to learn within --ctx and were left out",
                     (long long)train_data.n_empty);
    std::fprintf(stderr, "\n");

    train::TrainableWeights weights = train::TrainableWeights::lora(*base, lora_spec);
    train::Backprop backprop(*base, weights,
                             {.checkpoint = !o.no_grad_checkpoint, .max_tokens = t.ctx});
    train::LanguageModelObjective objective(backprop, weights);

    const std::filesystem::path ckpt = o.output + ".ckpt";
    const bool tty = isatty(STDERR_FILENO) != 0;
    bool line_shown = false;
    const auto end_line = [&] {
        if (line_shown) std::fprintf(stderr, "\n");
        line_shown = false;
    };
    train::TrainerOptions topt = t.trainer_options();
    topt.checkpoint = ckpt;
    topt.checkpoint_every = o.checkpoint_every;
    topt.interrupt = &g_interrupted;
    topt.on_step = [&](const train::StepReport& r) {
        std::fprintf(stderr,
                     "%sstep %lld/%lld  epoch %lld/%lld  loss %.4f  lr %.2e  |g| "
                     "%.3f  %.0f tok/s  "
                     "ETA %s%s",
                     tty ? "\r\033[K" : "", (long long)r.step, (long long)r.total_steps,
                     (long long)r.epoch + 1, (long long)t.epochs, r.loss, r.lr, r.grad_norm,
                     r.tokens_per_s, duration_text(r.eta_s).c_str(), tty ? "" : "\n");
        line_shown = tty;
        std::fflush(stderr);
    };
    topt.on_eval = [&](const train::EvalReport& r) {
        end_line();
        if (r.epoch < 0)
            std::fprintf(stderr, "held-out before training: loss %.4f  ppl %.3f\n", r.loss, r.ppl);
        else
            std::fprintf(stderr, "held-out after epoch %lld (step %lld): loss %.4f  ppl %.3f\n",
                         (long long)r.epoch + 1, (long long)r.step, r.loss, r.ppl);
    };
    const train::Dataset* val = val_data.examples.empty() ? nullptr : &val_data;
    train::Trainer trainer(objective, train_data, val, topt);
    if (o.resume) {
        if (!std::filesystem::exists(ckpt))
            fail("--resume: no checkpoint at '", ckpt.string(), "'");
        trainer.resume(ckpt);
        std::fprintf(stderr, "finetune: resumed from %s at step %lld/%lld\n", ckpt.string().c_str(),
                     (long long)trainer.step(), (long long)trainer.total_steps());
    } else if (std::filesystem::exists(ckpt)) {
        fail("'", ckpt.string(),
             "' exists: an earlier run of this output stopped there; continue it "
             "with --resume, "
             "or remove the file to start again");
    }

    const int64_t first_step = trainer.step();
    g_interrupted.store(false);
    std::signal(SIGINT, on_sigint);
    train::TrainResult result;
    try {
        result = trainer.run();
    } catch (...) {
        std::signal(SIGINT, SIG_DFL);
        end_line();
        throw;
    }
    std::signal(SIGINT, SIG_DFL);
    end_line();
    const double tokens_per_s = result.seconds > 0 ? result.tokens / result.seconds : 0.0;
    if (!result.finished) {
        std::fprintf(stderr,
                     "finetune: stopped at step %lld/%lld; checkpoint %s (continue "
                     "with --resume)\n",
                     (long long)result.steps, (long long)trainer.total_steps(),
                     ckpt.string().c_str());
        return g_interrupted.load() ? 130 : kExitOk;
    }

    std::vector<std::pair<std::string, std::string>> meta = {
        {"general.name", std::filesystem::path(o.output).stem().string()},
        {"training.base_model", std::filesystem::path(o.model).filename().string()},
        {"training.data", std::filesystem::path(o.data).filename().string()},
        {"training.data_sha256", data_sha},
        {"training.data_format", o.format},
        {"training.steps", std::to_string(result.steps)},
        {"training.epochs", std::to_string(t.epochs)},
        {"training.batch", std::to_string(t.batch)},
        {"training.ctx", std::to_string(t.ctx)},
        {"training.lr", format_g(t.lr)},
        {"training.warmup", std::to_string(t.warmup)},
        {"training.seed", std::to_string(t.seed)},
        {"training.lora_rank", std::to_string(o.lora.rank)},
        {"training.targets", o.lora.targets},
        {"training.tool", "pocket finetune"},
    };
    if (!result.evals.empty())
        meta.emplace_back("training.held_out_loss", format_g(result.evals.back().loss));
    weights.adapter().save(o.output, DType::F32, meta);
    std::error_code ignored;
    std::filesystem::remove(ckpt, ignored);

    const double rss = peak_rss_mib();
    if (o.json) {
        nlohmann::ordered_json j = {{"adapter", o.output},
                                    {"first_step", first_step},
                                    {"steps", result.steps},
                                    {"tokens", result.tokens},
                                    {"seconds", result.seconds},
                                    {"tokens_per_s", tokens_per_s},
                                    {"peak_rss_mib", rss},
                                    {"trainable", weights.n_values()},
                                    {"step_losses", result.step_losses}};
        auto evals = nlohmann::ordered_json::array();
        for (const auto& e : result.evals)
            evals.push_back(
                {{"epoch", e.epoch}, {"step", e.step}, {"loss", e.loss}, {"ppl", e.ppl}});
        j["held_out"] = evals;
        std::printf("%s\n", j.dump(2).c_str());
    } else {
        std::printf(
            "wrote %s: %lld steps, %lld tokens in %.1f s (%.0f tokens/s), "
            "%lld trainable "
            "values, peak RSS %.0f MiB\n",
            o.output.c_str(), (long long)result.steps, (long long)result.tokens, result.seconds,
            tokens_per_s, (long long)weights.n_values(), rss);
        if (result.evals.size() >= 2)
            std::printf("held-out perplexity %.3f -> %.3f\n", result.evals.front().ppl,
                        result.evals.back().ppl);
    }
    return kExitOk;
}

}  // namespace

Runner register_finetune(CLI::App& app) {
    auto o = std::make_shared<FinetuneOptions>();
    app.add_option("-m,--model", o->model, "base model (GGUF path or name)")->required();
    app.add_option("--data", o->data, "training data file")->required()->check(CLI::ExistingFile);
    app.add_option("--format", o->format,
                   "text (windows of --ctx tokens), chat (JSONL {\"messages\": [...]}, "
                   "loss on "
                   "assistant turns) or completion (JSONL {\"prompt\", \"completion\"})")
        ->capture_default_str()
        ->check(CLI::IsMember({"text", "chat", "completion"}));
    app.add_option("-o,--output", o->output, "adapter file to write (GGUF, llama.cpp's layout)")
        ->required();
    add_lora_training_options(app, o->lora);
    add_trainer_options(app, o->train);
    app.add_option("--checkpoint-every", o->checkpoint_every,
                   "also checkpoint every N steps (always at each epoch's end and on Ctrl-C)")
        ->check(CLI::NonNegativeNumber);
    app.add_flag("--resume", o->resume,
                 "continue from OUTPUT.ckpt (the same command line as the stopped run)");
    app.add_flag("--no-grad-checkpoint", o->no_grad_checkpoint,
                 "keep every activation instead of recomputing layers (faster, "
                 "more memory)");
    app.add_flag("--json", o->json, "print the result as JSON");
    return [o] { return run_finetune(*o); };
}

}  // namespace pocket::cli
