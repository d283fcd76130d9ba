// Single-thread cost of the attention kernels over the F16 KV cache per instruction set, for one
// KV head of 64-wide heads at 1024 positions: Q.K scores and the P.V accumulation for one query
// head (a generation step's task) and for a GQA group of 7 (qwen2.5-0.5b: 14 heads, 2 KV heads),
// which share each K and V row. Values: CPU ms per call and "pos/s", positions x queries a second.
//
//   bench_kernels --benchmark_filter='attn_pv/avx2'
#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

#include "kernels/attention.h"
#include "pocket/core/fp16.h"

namespace {

using namespace pocket::kernels;
using pocket::f16_t;

constexpr int64_t kHeadDim = 64;
constexpr int64_t kKvHeads = 2;  // K/V rows of one head are interleaved with the other's
constexpr int64_t kPositions = 1024;

std::vector<f16_t> random_f16(size_t n, uint32_t seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> dist(0.f, 1.f);
    std::vector<f16_t> v(n);
    for (auto& x : v) x = pocket::f32_to_f16(dist(rng));
    return v;
}

void run_qk(benchmark::State& state, Isa isa, int64_t n_q) {
    const AttentionOps& a = attention_ops(isa);
    const auto q = random_f16(static_cast<size_t>(n_q * kHeadDim), 1);
    const auto keys = random_f16(static_cast<size_t>(kPositions * kKvHeads * kHeadDim), 2);
    std::vector<float> scores(static_cast<size_t>(n_q * kPositions));
    for (auto _ : state) {
        a.qk(q.data(), n_q, keys.data(), kKvHeads * kHeadDim, kPositions, kHeadDim, scores.data(),
             kPositions);
        benchmark::DoNotOptimize(scores.data());
    }
    state.counters["pos/s"] = benchmark::Counter(static_cast<double>(kPositions * n_q),
                                                 benchmark::Counter::kIsIterationInvariantRate);
}

void run_pv(benchmark::State& state, Isa isa, int64_t n_q) {
    const AttentionOps& a = attention_ops(isa);
    std::mt19937 rng(3);
    std::uniform_real_distribution<float> dist(0.f, 2.f / kPositions);
    std::vector<float> probs(static_cast<size_t>(n_q * kPositions));
    for (auto& p : probs) p = dist(rng);
    const auto values = random_f16(static_cast<size_t>(kPositions * kKvHeads * kHeadDim), 4);
    std::vector<float> acc(static_cast<size_t>(n_q * 16 * kHeadDim));
    for (auto _ : state) {
        a.pv(probs.data(), kPositions, n_q, values.data(), kKvHeads * kHeadDim, kPositions, 0,
             kHeadDim, acc.data());
        benchmark::DoNotOptimize(acc.data());
    }
    state.counters["pos/s"] = benchmark::Counter(static_cast<double>(kPositions * n_q),
                                                 benchmark::Counter::kIsIterationInvariantRate);
}

bool register_attention() {
    for (const Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512, Isa::Neon}) {
        if (!isa_supported(isa)) continue;
        for (const int64_t n_q : {int64_t{1}, int64_t{7}}) {
            const std::string tail = "/" + std::string(isa_name(isa)) + "/q" + std::to_string(n_q) +
                                     "/" + std::to_string(kPositions);
            benchmark::RegisterBenchmark(("attn_qk" + tail).c_str(), [=](benchmark::State& s) {
                run_qk(s, isa, n_q);
            })->Unit(benchmark::kMicrosecond);
            benchmark::RegisterBenchmark(("attn_pv" + tail).c_str(), [=](benchmark::State& s) {
                run_pv(s, isa, n_q);
            })->Unit(benchmark::kMicrosecond);
        }
    }
    return true;
}

// Registered before main() runs the benchmarks (matmul_bench.cpp holds main).
const bool registered = register_attention();

}  // namespace
