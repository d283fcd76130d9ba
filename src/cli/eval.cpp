// `pocket eval -m MODEL --task TASK -f FILE [--limit N] [--json]`: multiple-choice benchmark
// accuracy by log-likelihood (pocket/eval/multiple_choice.h), comparable with llama.cpp's
// `llama-perplexity --hellaswag` / `--winogrande` / `--multiple-choice`.
#include <unistd.h>
#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/generate_options.h"
#include "cli/model_path.h"
#include "pocket/convert/hf_loader.h"
#include "pocket/core/error.h"
#include "pocket/core/thread_pool.h"
#include "pocket/eval/multiple_choice.h"
#include "pocket/model/context.h"
#include "pocket/model/model.h"

namespace pocket::cli {
namespace {

using Clock = std::chrono::steady_clock;

struct EvalCliOptions {
    std::string model;
    std::string task;
    std::string file;
    size_t limit = 0;
    bool first = false;
    bool json = false;
    int threads = 0;
    int64_t ctx_size = 2048;
    CacheTypeOptions cache_types;
    LoraCliOptions lora;
};

int run_eval(const EvalCliOptions& opt) {
    const eval::Task task = eval::parse_task(opt.task);
    std::vector<eval::Question> all;
    try {
        all = eval::load_questions(task, opt.file);
    } catch (const eval::DataError& e) {
        std::fprintf(stderr, "pocket eval: %s\n", e.what());
        return kExitInvalidFile;
    }
    const auto picked = eval::select_questions(task, all.size(), opt.limit, !opt.first);
    std::vector<eval::Question> questions;
    questions.reserve(picked.size());
    for (size_t i : picked) questions.push_back(std::move(all[i]));

    if (opt.threads > 0) ThreadPool::set_global_threads(opt.threads);
    const auto model = load_model_arg(opt.model);
    model::Context ctx(*model, {.n_ctx = opt.ctx_size,
                                .type_k = opt.cache_types.type_k(),
                                .type_v = opt.cache_types.type_v(),
                                .loras = opt.lora.load(*model)});

    eval::EvalOptions options;
    const bool show_progress = isatty(STDERR_FILENO) != 0;
    if (show_progress) {
        options.progress = [](const eval::QuestionResult&, size_t done, size_t total, double acc) {
            std::fprintf(stderr, "\r%zu/%zu  accuracy %.2f%%", done, total, 100.0 * acc);
            if (done == total) std::fputc('\n', stderr);
            return true;
        };
    }
    const auto t0 = Clock::now();
    const eval::EvalResult r = eval::evaluate(ctx, task, questions, options);
    const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    const auto [lo, hi] = r.wilson95();

    if (opt.json) {
        nlohmann::json j;
        j["task"] = std::string(eval::task_name(task));
        j["n"] = r.n();
        j["correct"] = r.n_correct;
        j["accuracy"] = r.accuracy();
        j["stderr"] = r.standard_error();
        j["ci95"] = {lo, hi};
        j["selection"] = opt.limit == 0 || opt.limit >= all.size() ? "all"
                         : opt.first                               ? "first"
                                                                   : "llama.cpp";
        j["seconds"] = seconds;
        std::cout << j.dump() << "\n";
        return kExitOk;
    }
    std::printf("%s: %zu questions, accuracy %.2f%% +/- %.2f%% (95%% CI %.2f-%.2f%%), %.1f s\n",
                std::string(eval::task_name(task)).c_str(), r.n(), 100.0 * r.accuracy(),
                100.0 * r.standard_error(), 100.0 * lo, 100.0 * hi, seconds);
    return kExitOk;
}

}  // namespace

Runner register_eval(CLI::App& app) {
    auto opt = std::make_shared<EvalCliOptions>();
    app.add_option("-m,--model", opt->model,
                   "GGUF file, Hugging Face folder, or a model name in the models folder")
        ->required();
    app.add_option("--task", opt->task,
                   "hellaswag, winogrande, arc-easy, arc-challenge or truthfulqa-mc1")
        ->required()
        ->check(CLI::IsMember(
            {"hellaswag", "winogrande", "arc-easy", "arc-challenge", "truthfulqa-mc1"}));
    app.add_option("-f,--file", opt->file,
                   "Data file (.bz2 is read directly; for truthfulqa-mc1 mc_task.json or its "
                   "folder)")
        ->required();
    app.add_option("--limit", opt->limit,
                   "Evaluate N questions, drawn as llama.cpp's --hellaswag-tasks / "
                   "--winogrande-tasks / --multiple-choice-tasks draw them (seeded random subset)");
    app.add_flag("--first", opt->first, "With --limit: the first N questions in file order");
    app.add_flag("--json", opt->json,
                 "Print one JSON object {task, n, correct, accuracy, stderr, ci95, selection, "
                 "seconds}");
    app.add_option("-t,--threads", opt->threads, "Threads (default: physical cores)");
    app.add_option("-c,--ctx-size", opt->ctx_size,
                   "Context positions per pass; questions are batched into it")
        ->capture_default_str();
    add_cache_type_options(app, opt->cache_types);
    add_lora_options(app, opt->lora);
    return [opt] { return run_eval(*opt); };
}

}  // namespace pocket::cli
