// `pocket imatrix -m MODEL -f CALIB.txt -o FILE [-c CTX] [--chunks N] [--process-output]`:
// collects an importance matrix (per-column activation statistics of every weight matrix) over a
// calibration text, in llama-imatrix's file format (see pocket/quant/imatrix.h).
#include <CLI/CLI.hpp>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "cli/model_path.h"
#include "pocket/core/read_file.h"
#include "pocket/core/thread_pool.h"
#include "pocket/model/model.h"
#include "pocket/quant/imatrix.h"

namespace pocket::cli {
namespace {

struct ImatrixCliOptions {
    std::string model;
    std::string text_file;
    std::string output = "imatrix.dat";
    int64_t n_ctx = 512;
    int64_t chunks = 0;
    bool process_output = false;
    int threads = 0;
};

int run_imatrix(const ImatrixCliOptions& opt) {
    if (opt.threads > 0) ThreadPool::set_global_threads(opt.threads);
    const auto model = model::Model::load(resolve_model_arg(opt.model), model_load_options());
    const std::string text = read_file(opt.text_file);
    const bool tty = isatty(STDERR_FILENO) != 0;
    const auto start = std::chrono::steady_clock::now();

    quant::ImatrixOptions options;
    options.n_ctx = opt.n_ctx;
    options.max_chunks = opt.chunks;
    options.process_output = opt.process_output;
    options.progress = [&](int64_t done, int64_t total, double ppl) {
        const double s =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        const double eta = s / static_cast<double>(done) * static_cast<double>(total - done);
        if (tty) {
            std::fprintf(stderr, "\r  chunk %lld/%lld  ppl %.4f  %.1f s, about %.0f s left   ",
                         static_cast<long long>(done), static_cast<long long>(total), ppl, s, eta);
        } else if (done == total) {
            std::fprintf(stderr, "  %lld chunks, ppl %.4f, %.1f s\n", static_cast<long long>(total),
                         ppl, s);
        }
    };
    quant::ImatrixResult r = quant::compute_imatrix(*model, text, options);
    if (tty) std::fputc('\n', stderr);
    r.matrix.set_dataset(opt.text_file);
    r.matrix.save(opt.output);
    std::printf(
        "imatrix: %zu matrices from %lld chunks of %lld tokens (%lld tokens in the text), "
        "ppl %.4f -> %s\n",
        r.matrix.entries().size(), static_cast<long long>(r.n_chunks),
        static_cast<long long>(opt.n_ctx), static_cast<long long>(r.n_tokens), r.ppl,
        opt.output.c_str());
    return kExitOk;
}

}  // namespace

Runner register_imatrix(CLI::App& app) {
    auto opt = std::make_shared<ImatrixCliOptions>();
    app.add_option("-m,--model", opt->model, "Model (GGUF file or name in the models folder)")
        ->required();
    app.add_option("-f,--file", opt->text_file, "Calibration text (e.g. wikitext-2 test)")
        ->required()
        ->check(CLI::ExistingFile);
    app.add_option("-o,--output", opt->output, "Output file (llama-imatrix's format)")
        ->capture_default_str();
    app.add_option("-c,--ctx", opt->n_ctx, "Tokens per chunk")
        ->capture_default_str()
        ->check(CLI::Range(int64_t{16}, int64_t{1} << 20));
    app.add_option("--chunks", opt->chunks, "Use at most N chunks (0 = the whole text)")
        ->check(CLI::NonNegativeNumber);
    app.add_flag("--process-output", opt->process_output,
                 "Also collect output.weight (llama-imatrix leaves it out by default)");
    app.add_option("-t,--threads", opt->threads, "Threads (default: physical cores)")
        ->check(CLI::NonNegativeNumber);
    return [opt] { return run_imatrix(*opt); };
}

}  // namespace pocket::cli
