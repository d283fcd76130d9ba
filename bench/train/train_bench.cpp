// Training throughput: forward_backward over one sequence of --ctx tokens, repeated --steps
// times after one warm-up step, on a LoRA (default) or full-mode model. Prints tokens/s, the
// activation bytes Backprop reports and the process's peak resident memory (VmHWM).
//
//   bench_train MODEL.gguf [--ctx 256] [--steps 4] [--threads 2] [--full] [--no-checkpoint]
//               [--rank 8]
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "pocket/core/thread_pool.h"
#include "pocket/model/model.h"
#include "pocket/train/backprop.h"
#include "pocket/train/loss.h"
#include "pocket/train/parameters.h"

namespace {

long peak_rss_kib() {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line)) {
        if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
    }
    return -1;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"forward_backward throughput of the training pass"};
    std::string path;
    int64_t ctx = 256, rank = 8;
    int steps = 4, threads = 2;
    bool full = false, no_checkpoint = false;
    app.add_option("model", path)->required();
    app.add_option("--ctx", ctx);
    app.add_option("--steps", steps);
    app.add_option("--threads", threads);
    app.add_option("--rank", rank);
    app.add_flag("--full", full);
    app.add_flag("--no-checkpoint", no_checkpoint);
    CLI11_PARSE(app, argc, argv);
    try {
        pocket::ThreadPool::set_global_threads(threads);
        // Row-major weights: the training pass reads rows one at a time.
        const auto model = pocket::model::Model::load(path, {.interleave = false});
        auto weights = full ? pocket::train::TrainableWeights::full(*model)
                            : pocket::train::TrainableWeights::lora(*model, {.rank = rank});
        pocket::train::Backprop bp(*model, weights, {.checkpoint = !no_checkpoint});
        const int64_t n_vocab = model->hparams().n_vocab;
        std::vector<pocket::TokenId> tokens(static_cast<size_t>(ctx));
        uint32_t x = 1;
        for (auto& t : tokens) {
            x = x * 1664525u + 1013904223u;
            t = static_cast<pocket::TokenId>((x >> 8) % static_cast<uint32_t>(n_vocab));
        }
        std::vector<pocket::TokenId> targets(tokens.begin() + 1, tokens.end());
        targets.push_back(0);
        const pocket::train::LossFn loss = [&](std::span<const float> logits, int64_t n_rows,
                                               int64_t vocab, std::span<float> dlogits) {
            return pocket::train::cross_entropy(logits, n_rows, vocab, targets, {}, dlogits);
        };
        bp.forward_backward(tokens, loss, 1.0f / static_cast<float>(ctx));  // warm-up
        const auto start = std::chrono::steady_clock::now();
        double last = 0.0;
        for (int s = 0; s < steps; ++s) {
            last = bp.forward_backward(tokens, loss, 1.0f / static_cast<float>(ctx)).sum;
        }
        const double seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        std::printf(
            "%s: %s%s, ctx %lld, %d threads, %lld trainable values: %.1f tokens/s (%.3f s/step), "
            "activations %.1f MiB, peak RSS %.1f MiB, loss %.4f\n",
            path.c_str(), full ? "full" : "lora", no_checkpoint ? "" : " +checkpoint",
            static_cast<long long>(ctx), threads, static_cast<long long>(weights.n_values()),
            static_cast<double>(ctx) * steps / seconds, seconds / steps,
            static_cast<double>(bp.activation_bytes()) / (1 << 20),
            static_cast<double>(peak_rss_kib()) / 1024.0, last / static_cast<double>(ctx));
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench_train: %s\n", e.what());
        return 1;
    }
    return 0;
}
