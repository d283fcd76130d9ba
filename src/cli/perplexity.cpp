// `pocket perplexity -m MODEL -f TEXT`: perplexity over a text with llama-perplexity's procedure
// (pocket/eval/perplexity.h), and KL divergence against a base model's saved log-probabilities
// (--save-logits with the base model, then --kld-base with the model under test).
#include <CLI/CLI.hpp>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/generate_options.h"
#include "cli/model_path.h"
#include "pocket/convert/hf_loader.h"
#include "pocket/core/error.h"
#include "pocket/core/read_file.h"
#include "pocket/core/thread_pool.h"
#include "pocket/eval/kl_divergence.h"
#include "pocket/eval/perplexity.h"
#include "pocket/model/model.h"

namespace pocket::cli {
namespace {

using Clock = std::chrono::steady_clock;

struct PerplexityCliOptions {
    std::string model;
    std::string text_file;
    int64_t ctx = 512;
    bool ctx_given = false;
    int64_t batch = 512;
    int threads = 0;
    int64_t chunks = 0;
    bool json = false;
    std::string save_logits;
    std::string kld_base;
    CacheTypeOptions cache_types;
    LoraCliOptions lora;
};

// A one-line progress indicator on stderr, shown only when stderr is a terminal (and not when
// stdout is the same terminal already showing the running values line by line).
class ProgressLine {
  public:
    explicit ProgressLine(bool stdout_shows_progress)
        : enabled_(isatty(STDERR_FILENO) && !(stdout_shows_progress && isatty(STDOUT_FILENO))),
          start_(Clock::now()) {}
    ~ProgressLine() {
        if (shown_) std::fprintf(stderr, "\r\033[K");
    }
    ProgressLine(const ProgressLine&) = delete;
    ProgressLine& operator=(const ProgressLine&) = delete;

    void update(int64_t done, int64_t total) {
        if (!enabled_) return;
        const double s = std::chrono::duration<double>(Clock::now() - start_).count();
        const double eta = s / static_cast<double>(done) * static_cast<double>(total - done);
        std::fprintf(stderr, "\r\033[Kperplexity: chunk %lld/%lld, %.1f s, ETA %.1f s",
                     (long long)done, (long long)total, s, eta);
        std::fflush(stderr);
        shown_ = true;
    }

  private:
    bool enabled_;
    bool shown_ = false;
    Clock::time_point start_;
};

nlohmann::json ppl_json(const eval::PerplexityResult& r) {
    nlohmann::json j;
    j["ppl"] = r.ppl;
    j["ppl_stderr"] = r.ppl_stderr;
    j["mean_nll"] = r.mean_nll;
    j["tokens"] = r.n_text_tokens;
    j["scored_tokens"] = r.n_scored;
    j["n_ctx"] = r.n_ctx;
    j["n_chunks"] = r.n_chunks;
    auto running = nlohmann::json::array();
    for (const auto& c : r.chunks) running.push_back(c.running_ppl);
    j["running_ppl"] = running;
    return j;
}

nlohmann::json kld_json(const eval::KlDivergenceResult& r) {
    return {{"base_ppl", r.base_ppl},
            {"base_ppl_stderr", r.base_ppl_stderr},
            {"ln_ppl_ratio", r.ln_ratio},
            {"ln_ppl_ratio_stderr", r.ln_ratio_stderr},
            {"delta_ppl", r.delta_ppl},
            {"delta_ppl_stderr", r.delta_ppl_stderr},
            {"ppl_correlation", r.ppl_correlation},
            {"positions", r.n_positions},
            {"mean", r.kld_mean},
            {"stderr", r.kld_stderr},
            {"median", r.kld_median},
            {"p90", r.kld_p90},
            {"p99", r.kld_p99},
            {"p99_9", r.kld_p999},
            {"max", r.kld_max},
            {"min", r.kld_min},
            {"same_top_percent", 100 * r.same_top},
            {"same_top_percent_stderr", 100 * r.same_top_stderr},
            {"rms_delta_p_percent", 100 * r.rms_delta_p}};
}

void print_kld_summary(const eval::KlDivergenceResult& r) {
    const auto& q = r.ppl;
    std::printf("\n");
    std::printf("Mean PPL(Q)                  : %10.6f ± %10.6f\n", q.ppl, q.ppl_stderr);
    std::printf("Mean PPL(base)               : %10.6f ± %10.6f\n", r.base_ppl, r.base_ppl_stderr);
    std::printf("Cor(ln PPL(Q), ln PPL(base)) : %9.2f%%\n", 100 * r.ppl_correlation);
    std::printf("Mean ln(PPL(Q)/PPL(base))    : %10.6f ± %10.6f\n", r.ln_ratio, r.ln_ratio_stderr);
    std::printf("Mean PPL(Q)-PPL(base)        : %10.6f ± %10.6f\n", r.delta_ppl,
                r.delta_ppl_stderr);
    std::printf("\n");
    std::printf("Mean    KLD: %10.6f ± %10.6f\n", r.kld_mean, r.kld_stderr);
    std::printf("Maximum KLD: %10.6f\n", r.kld_max);
    std::printf("99.9%%   KLD: %10.6f\n", r.kld_p999);
    std::printf("99.0%%   KLD: %10.6f\n", r.kld_p99);
    std::printf("90.0%%   KLD: %10.6f\n", r.kld_p90);
    std::printf("Median  KLD: %10.6f\n", r.kld_median);
    std::printf("Minimum KLD: %10.6f\n", r.kld_min);
    std::printf("RMS Δp     : %10.3f %%\n", 100 * r.rms_delta_p);
    std::printf("Same top p : %10.3f ± %6.3f %%\n", 100 * r.same_top, 100 * r.same_top_stderr);
    std::printf("\n");
}

void print_final(const eval::PerplexityResult& r) {
    std::printf("PPL = %.4f +/- %.5f\n", r.ppl, r.ppl_stderr);
}

int run_kld(const PerplexityCliOptions& opt, const model::Model& model) {
    std::optional<eval::LogProbReader> base;
    try {
        base.emplace(opt.kld_base);
    } catch (const FormatError& e) {
        // main() would call this an invalid GGUF file; it is our own format.
        std::fprintf(stderr, "pocket: invalid log-probability file: %s\n", e.what());
        return kExitInvalidFile;
    }
    if (opt.ctx_given && opt.ctx != base->header().n_ctx)
        fail(opt.kld_base, " was made with a context of ", base->header().n_ctx, " tokens; -c ",
             opt.ctx, " differs (leave -c out)");
    std::vector<TokenId> text_tokens;
    if (!opt.text_file.empty())
        text_tokens = eval::perplexity_tokens(model.tokenizer(), read_file(opt.text_file));
    ProgressLine progress(!opt.json);
    auto r = eval::kl_divergence(model, *base,
                                 {.n_batch = opt.batch,
                                  .max_chunks = opt.chunks,
                                  .text_tokens = text_tokens,
                                  .type_k = opt.cache_types.type_k(),
                                  .type_v = opt.cache_types.type_v()},
                                 [&](int64_t c, int64_t n, const eval::KlDivergenceChunk& chunk) {
                                     progress.update(c + 1, n);
                                     if (opt.json) return;
                                     if (c == 0)
                                         std::printf("chunk  PPL         KLD         same top\n");
                                     std::printf("%5lld  %-10.4f  %-10.6f  %6.2f%%\n",
                                                 (long long)c + 1, chunk.running_ppl,
                                                 chunk.mean_kld, 100 * chunk.same_top);
                                     std::fflush(stdout);
                                 });
    if (!text_tokens.empty()) r.ppl.n_text_tokens = static_cast<int64_t>(text_tokens.size());
    if (opt.json) {
        auto j = ppl_json(r.ppl);
        j["kld"] = kld_json(r);
        std::cout << j.dump() << "\n";
    } else {
        print_kld_summary(r);
        print_final(r.ppl);
    }
    return kExitOk;
}

int run_ppl(const PerplexityCliOptions& opt, const model::Model& model) {
    const std::vector<TokenId> tokens =
        eval::perplexity_tokens(model.tokenizer(), read_file(opt.text_file));
    ProgressLine progress(!opt.json);
    const auto r =
        eval::perplexity(model, tokens,
                         {.n_ctx = opt.ctx,
                          .n_batch = opt.batch,
                          .max_chunks = opt.chunks,
                          .save_logits = opt.save_logits,
                          .type_k = opt.cache_types.type_k(),
                          .type_v = opt.cache_types.type_v(),
                          .loras = opt.lora.load(model)},
                         [&](int64_t c, int64_t n, const eval::PerplexityChunk& chunk) {
                             progress.update(c + 1, n);
                             if (opt.json) return;
                             std::printf("[%lld]%.4f,", (long long)c + 1, chunk.running_ppl);
                             std::fflush(stdout);
                         });
    if (opt.json) {
        std::cout << ppl_json(r).dump() << "\n";
    } else {
        std::printf("\n");
        print_final(r);
    }
    if (!opt.save_logits.empty())
        std::fprintf(stderr, "pocket: saved the log-probabilities of %lld positions to %s\n",
                     (long long)r.n_scored, opt.save_logits.c_str());
    return kExitOk;
}

int run_perplexity(const PerplexityCliOptions& opt) {
    if (opt.threads > 0) ThreadPool::set_global_threads(opt.threads);
    const auto model = load_model_arg(opt.model);
    return opt.kld_base.empty() ? run_ppl(opt, *model) : run_kld(opt, *model);
}

}  // namespace

Runner register_perplexity(CLI::App& app) {
    auto opt = std::make_shared<PerplexityCliOptions>();
    app.add_option("-m,--model", opt->model,
                   "GGUF file, Hugging Face folder, or a model name in the models folder")
        ->required();
    auto* text = app.add_option("-f,--file", opt->text_file,
                                "Text to evaluate (with --kld-base: optional, checked against "
                                "the tokens stored in the base file)");
    auto* ctx = app.add_option("-c,--ctx-size", opt->ctx, "Tokens per chunk")
                    ->capture_default_str()
                    ->check(CLI::Range(int64_t{4}, int64_t{1} << 24));
    app.add_option("-b,--batch-size", opt->batch, "Tokens per evaluation pass")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    app.add_option("-t,--threads", opt->threads, "Threads (default: physical cores)");
    app.add_option("--chunks", opt->chunks, "Evaluate at most this many chunks (default: all)")
        ->check(CLI::PositiveNumber);
    app.add_flag("--json", opt->json,
                 "Print one JSON object: ppl, ppl_stderr, tokens, ... (and kld with --kld-base)");
    auto* save = app.add_option(
        "--save-logits", opt->save_logits,
        "Also write the log-probabilities of every scored position to this file (F16), the "
        "base for --kld-base");
    auto* kld = app.add_option("--kld-base", opt->kld_base,
                               "KL divergence of this model from the base whose log-probabilities "
                               "--save-logits wrote");
    save->excludes(kld);
    add_cache_type_options(app, opt->cache_types);
    add_lora_options(app, opt->lora);
    return [opt, text, ctx] {
        opt->ctx_given = ctx->count() > 0;
        if (!opt->kld_base.empty() && !opt->lora.list().empty()) {
            std::fprintf(stderr,
                         "pocket perplexity: --lora applies to perplexity runs, not to "
                         "--kld-base (merge the adapter with merge-lora to compare)\n");
            return static_cast<int>(kExitUsage);
        }
        if (opt->kld_base.empty() && text->count() == 0) {
            std::fprintf(stderr, "pocket perplexity: -f TEXT is required (unless --kld-base)\n");
            return static_cast<int>(kExitUsage);
        }
        return run_perplexity(*opt);
    };
}

}  // namespace pocket::cli
