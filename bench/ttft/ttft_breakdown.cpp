// Where the time to first token goes, with plain timers (perf is not available everywhere):
//
//   bench_ttft_breakdown -m MODEL.gguf [-p 32] [-r 20] [-t THREADS]
//
// Each figure is the median over -r repetitions, in milliseconds:
//  - ttft: a -p token prompt from an empty cache, logits for the last token, greedy pick
//    (what `pocket bench` reports as ttft).
//  - ttft_cold: the same in a Context made just before (its scratch and cache pages are touched
//    for the first time), after the pool's threads have slept 20 ms: the first request of a server
//    or a fresh `pocket run`.
//  - forward_no_head: the prompt with no entry asking for logits, so neither the output norm nor
//    the output head over the whole vocabulary runs.
//  - head = ttft - forward_no_head - pick: the last token's output head (and final norm).
//  - pick_greedy / pick_sampled: argmax over the vocabulary, and the default sampler chain
//    (top-k 40, top-p 0.95, min-p 0.05, temperature 0.8) on the same logits.
//  - pool_wake_us: one empty run_on_all after the workers have gone to sleep (microseconds);
//    pool_hot_us: the same right after another one (the workers still spinning).
// ttft, ttft_cold and forward_no_head also come as process CPU time (all threads): on a machine
// other jobs share, wall time includes waiting for a core and CPU time does not (with one thread
// it is what an idle core would take; with more it includes the workers' spinning).
// Token ids are a fixed pseudo-random sequence over the non-control vocabulary.
#include <time.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "kernels/kernels.h"
#include "pocket/core/error.h"
#include "pocket/core/rng.h"
#include "pocket/core/thread_pool.h"
#include "pocket/generate/sampling.h"
#include "pocket/model/context.h"
#include "pocket/model/model.h"
#include "pocket/tokenizer/tokenizer.h"

namespace {

using Clock = std::chrono::steady_clock;
using namespace pocket;

double ms_since(Clock::time_point start) {
    return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

double cpu_ms() {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return 1e3 * static_cast<double>(ts.tv_sec) + 1e-6 * static_cast<double>(ts.tv_nsec);
}

double median(std::vector<double> xs) {
    std::sort(xs.begin(), xs.end());
    const size_t n = xs.size();
    return n % 2 == 1 ? xs[n / 2] : 0.5 * (xs[n / 2 - 1] + xs[n / 2]);
}

std::vector<TokenId> fixed_tokens(const tokenizer::Tokenizer& tok, size_t n) {
    Rng rng(0x747466742dULL);
    std::vector<TokenId> ids;
    while (ids.size() < n) {
        const auto id = static_cast<TokenId>(rng.next_u64() % tok.n_vocab());
        if (!tok.is_control(id)) ids.push_back(id);
    }
    return ids;
}

TokenId argmax(std::span<const float> logits) {
    return static_cast<TokenId>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

// The batch of `tokens` at positions 0.., sequence 0, logits for the last entry if `head`.
std::vector<model::BatchEntry> prompt_batch(std::span<const TokenId> tokens, bool head) {
    std::vector<model::BatchEntry> batch;
    for (size_t i = 0; i < tokens.size(); ++i) {
        batch.push_back({.token = tokens[i],
                         .pos = static_cast<int64_t>(i),
                         .seq = 0,
                         .logits = head && i + 1 == tokens.size()});
    }
    return batch;
}

double pool_call_us(ThreadPool& pool) {
    const auto start = Clock::now();
    pool.run_on_all([](int, int) {});
    return 1000.0 * ms_since(start);
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"Time-to-first-token breakdown"};
    std::string model_path;
    std::string isa;
    int n_prompt = 32, reps = 20, threads = 0;
    app.add_option("-m,--model", model_path, "GGUF model")->required();
    app.add_option("--isa", isa,
                   "Kernel instruction set (scalar, avx2, avx512, neon; default: best)");
    app.add_option("-p,--n-prompt", n_prompt, "Prompt tokens")->check(CLI::Range(1, 4096));
    app.add_option("-r,--repetitions", reps, "Repetitions (median)")->check(CLI::Range(1, 1000));
    app.add_option("-t,--threads", threads, "Threads (default: physical cores)");
    CLI11_PARSE(app, argc, argv);
    try {
        if (threads > 0) ThreadPool::set_global_threads(threads);
        if (!isa.empty()) kernels::force_isa(kernels::parse_isa(isa));
        ThreadPool& pool = ThreadPool::global();
        const auto m = model::Model::load(model_path);
        const model::ContextParams params{.n_ctx = 512, .n_batch = 512};
        model::Context ctx(*m, params);
        const auto tokens = fixed_tokens(m->tokenizer(), static_cast<size_t>(n_prompt));
        const auto with_head = prompt_batch(tokens, true);
        const auto without_head = prompt_batch(tokens, false);
        Sampler sampler;  // llama.cpp's defaults

        // Warm-up: pages the weights in.
        ctx.decode(with_head);
        ctx.kv().clear_all();

        std::vector<double> ttft, cold, no_head, greedy, sampled, wake, hot;
        std::vector<double> ttft_cpu, cold_cpu, no_head_cpu;
        for (int rep = 0; rep < reps; ++rep) {
            auto start = Clock::now();
            double cpu = cpu_ms();
            ctx.decode(with_head);
            argmax(ctx.logits(0));
            ttft.push_back(ms_since(start));
            ttft_cpu.push_back(cpu_ms() - cpu);
            ctx.kv().clear_all();

            start = Clock::now();
            cpu = cpu_ms();
            ctx.decode(without_head);
            no_head.push_back(ms_since(start));
            no_head_cpu.push_back(cpu_ms() - cpu);
            ctx.kv().clear_all();

            ctx.decode(with_head);
            const auto logits = ctx.logits(0);
            start = Clock::now();
            argmax(logits);
            greedy.push_back(ms_since(start));
            start = Clock::now();
            sampler.sample(logits);
            sampled.push_back(ms_since(start));
            ctx.kv().clear_all();

            std::this_thread::sleep_for(std::chrono::milliseconds(20));
            wake.push_back(pool_call_us(pool));
            hot.push_back(pool_call_us(pool));

            std::this_thread::sleep_for(std::chrono::milliseconds(20));
            start = Clock::now();
            cpu = cpu_ms();
            {
                model::Context fresh(*m, params);
                fresh.decode(with_head);
                argmax(fresh.logits(0));
                cold.push_back(ms_since(start));
                cold_cpu.push_back(cpu_ms() - cpu);
            }
        }
        const double t = median(ttft), nh = median(no_head), pick = median(greedy);
        std::printf("model %s, %d-token prompt, %d threads, %d repetitions (medians)\n",
                    model_path.c_str(), n_prompt, pool.n_threads(), reps);
        std::printf("ttft             %8.2f ms  (cpu %.2f ms)\n", t, median(ttft_cpu));
        std::printf("ttft_cold        %8.2f ms  (cpu %.2f ms; fresh context, pool asleep)\n",
                    median(cold), median(cold_cpu));
        std::printf("forward_no_head  %8.2f ms  (cpu %.2f ms)\n", nh, median(no_head_cpu));
        std::printf("head             %8.2f ms  (output norm + head over %lld tokens)\n",
                    t - nh - pick, static_cast<long long>(m->hparams().n_vocab));
        std::printf("pick_greedy      %8.3f ms\n", pick);
        std::printf("pick_sampled     %8.3f ms  (default sampler chain)\n", median(sampled));
        std::printf("pool_wake        %8.1f us  (after 20 ms asleep)\n", median(wake));
        std::printf("pool_hot         %8.1f us\n", median(hot));
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench_ttft_breakdown: %s\n", e.what());
        return 1;
    }
    return 0;
}
