// Single-thread cost of the attention kernels over the F16 KV cache per instruction set, for one
// KV head of 64-wide heads at 1024 positions: Q.K scores and the P.V accumulation for one query
// head (a generation step's task) and for a GQA group of 7 (qwen2.5-0.5b: 14 heads, 2 KV heads),
// which share each K and V row. Values: CPU ms per call and "pos/s", positions x queries a second.
//
//   bench_kernels --benchmark_filter='attn_pv/avx2'
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "core/page_buffer.h"
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

// One generation step's attention for one KV head over whole tiles of 64 positions: Q.K for the
// GQA group, the online-softmax step and the P.V accumulation. The K/V rows of the head are 8
// heads apart (the llama-3.2-1b layout), in memory offered huge pages like the KV cache; at 256
// positions they fit the L2 cache, at 4096 they do not. The kernels' own cost; the model walks
// tiles across several heads at once and asks for the next tile's rows ahead (attention.cpp).
// Which of a tile's three steps a run times (the others still run once, untimed, for its inputs).
enum class TilePart { All, Qk, Softmax, Pv };

void run_tiles(benchmark::State& state, Isa isa, int64_t n_q, int64_t positions,
               TilePart part = TilePart::All) {
    constexpr int64_t kTile = 64;
    constexpr int64_t kStride = 8 * kHeadDim;
    const AttentionOps& a = attention_ops(isa);
    const auto q = random_f16(static_cast<size_t>(n_q * kHeadDim), 1);
    const auto keys_v = random_f16(static_cast<size_t>(positions * kStride), 2);
    const auto values_v = random_f16(static_cast<size_t>(positions * kStride), 4);
    // In page-aligned memory offered huge pages, as the KV cache is.
    pocket::PageBuffer kbuf(keys_v.size() * 2), vbuf(values_v.size() * 2);
    std::copy(keys_v.begin(), keys_v.end(), reinterpret_cast<f16_t*>(kbuf.data()));
    std::copy(values_v.begin(), values_v.end(), reinterpret_cast<f16_t*>(vbuf.data()));
    const std::span<const f16_t> keys(reinterpret_cast<const f16_t*>(kbuf.data()), keys_v.size());
    const std::span<const f16_t> values(reinterpret_cast<const f16_t*>(vbuf.data()),
                                        values_v.size());
    std::vector<float> scores(static_cast<size_t>(n_q * kTile)), m(n_q), l(n_q), r(n_q);
    std::vector<float> acc(static_cast<size_t>(n_q * kHeadDim));
    const bool qk = part == TilePart::All || part == TilePart::Qk;
    const bool softmax = part == TilePart::All || part == TilePart::Softmax;
    const bool pv = part == TilePart::All || part == TilePart::Pv;
    // Inputs for a part timed alone: one tile's scores and probabilities.
    std::vector<float> raw(scores.size()), probs(scores.size());
    a.qk(q.data(), n_q, keys.data(), kStride, kTile, kHeadDim, raw.data(), kTile);
    probs = raw;
    a.softmax_tile(probs.data(), kTile, n_q, kTile, 0.125f, m.data(), l.data(), r.data());
    for (auto _ : state) {
        std::fill(m.begin(), m.end(), -INFINITY);
        std::fill(l.begin(), l.end(), 0.0f);
        std::fill(acc.begin(), acc.end(), 0.0f);
        for (int64_t p0 = 0; p0 < positions; p0 += kTile) {
            if (qk) {
                a.qk(q.data(), n_q, keys.data() + p0 * kStride, kStride, kTile, kHeadDim,
                     scores.data(), kTile);
            } else if (softmax) {
                std::copy(raw.begin(), raw.end(), scores.begin());
            }
            if (softmax) {
                a.softmax_tile(scores.data(), kTile, n_q, kTile, 0.125f, m.data(), l.data(),
                               r.data());
            }
            if (pv) {
                a.pv_tile(softmax ? scores.data() : probs.data(), kTile, n_q,
                          values.data() + p0 * kStride, kStride, kTile, kHeadDim, r.data(),
                          acc.data());
            }
        }
        benchmark::DoNotOptimize(acc.data());
        benchmark::DoNotOptimize(scores.data());
    }
    state.counters["pos/s"] = benchmark::Counter(static_cast<double>(positions),
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
        for (const int64_t n_q : {int64_t{4}, int64_t{7}}) {
            for (const int64_t positions : {int64_t{256}, int64_t{4096}}) {
                const std::string name = "attn_tiles/" + std::string(isa_name(isa)) + "/q" +
                                         std::to_string(n_q) + "/" + std::to_string(positions);
                benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State& s) {
                    run_tiles(s, isa, n_q, positions);
                })->Unit(benchmark::kMicrosecond);
            }
        }
        // A prompt's block: 8 tokens of a GQA group of 4 (llama-3.2-1b) share each tile, 2048
        // positions (the mean depth of a 4096-token prompt); each step alone and all three.
        const std::pair<const char*, TilePart> parts[] = {{"all", TilePart::All},
                                                          {"qk", TilePart::Qk},
                                                          {"softmax", TilePart::Softmax},
                                                          {"pv", TilePart::Pv}};
        for (const auto& [part_name, part] : parts) {
            const std::string name =
                "attn_prompt/" + std::string(isa_name(isa)) + "/q32/2048/" + part_name;
            benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State& s) {
                run_tiles(s, isa, 32, 2048, part);
            })->Unit(benchmark::kMicrosecond);
        }
    }
    return true;
}

// Registered before main() runs the benchmarks (matmul_bench.cpp holds main).
const bool registered = register_attention();

}  // namespace
