// Single-thread throughput of matmul_rows per weight type and instruction set, on layer shapes of
// a small model (rows x k = 2048x2048 and 8192x2048):
// - matrix-vector (1 token, the generation path): GB/s of weight bytes streamed, also on a
//   32768x4096 matrix that does not fit the caches (also for 32 tokens);
// - matrix-matrix (8 tokens, a batched server step; 512 tokens, the prompt path): GFLOP/s
//   (2 * rows * k * tokens per call).
// Activation conversion is done once outside the timed loop (it is per token, not per weight).
// Types with an interleaved layout are also measured in it ("q4_0x8", "q8_0x8": what the model
// runs after load-time interleaving).
//
//   bench_kernels --benchmark_filter='q4_0/avx512'   # one type and instruction set
#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "kernels/interleaved.h"
#include "kernels/kernels.h"
#include "pocket/core/dtype.h"
#include "pocket/core/error.h"

namespace {

using pocket::DType;
using namespace pocket::kernels;

struct Shape {
    int64_t rows;
    int64_t k;
};

std::vector<float> normal_values(int64_t n, uint32_t seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> dist(0.f, 1.f);
    std::vector<float> v(static_cast<size_t>(n));
    for (auto& x : v) x = dist(rng);
    return v;
}

// A weight matrix: a few distinct quantized rows repeated (quantizing every row of the larger
// shapes with the K-quant search would take longer than the benchmarks); the memory traffic is
// the same as for distinct rows.
struct Matrix {
    size_t row_bytes = 0;
    std::vector<std::byte> data;
};

Matrix make_matrix(DType type, Shape shape) {
    constexpr int64_t kDistinctRows = 16;
    const TypeOps& o = ops(type, Isa::Scalar);
    Matrix m;
    m.row_bytes = static_cast<size_t>(*pocket::row_bytes(type, static_cast<uint64_t>(shape.k)));
    m.data.resize(m.row_bytes * static_cast<size_t>(shape.rows));
    for (int64_t r = 0; r < kDistinctRows && r < shape.rows; ++r) {
        const auto x = normal_values(shape.k, 1000 + static_cast<uint32_t>(r));
        o.from_float_ref(x.data(), m.data.data() + r * m.row_bytes, shape.k);
    }
    for (int64_t r = kDistinctRows; r < shape.rows; ++r) {
        std::memcpy(m.data.data() + r * m.row_bytes,
                    m.data.data() + (r % kDistinctRows) * m.row_bytes, m.row_bytes);
    }
    return m;
}

void run_matmul(benchmark::State& state, DType type, Isa isa, Shape shape, int64_t tokens,
                bool interleaved) {
    if (!isa_supported(isa)) {
        state.SkipWithError("instruction set not supported by this CPU");
        return;
    }
    const TypeOps& o = ops(type, isa);
    if (interleaved && o.matmul_interleaved == nullptr) {
        state.SkipWithError("no interleaved kernel for this type and instruction set");
        return;
    }
    Matrix w = make_matrix(type, shape);
    if (interleaved) {
        std::vector<std::byte> packed(interleaved_bytes(type, shape.rows, shape.k));
        interleave_rows(type, shape.k, w.data.data(), w.row_bytes, shape.rows, packed.data(), 0,
                        shape.rows / kInterleaveRows);
        w.data = std::move(packed);
    }
    const auto x = normal_values(shape.k * tokens, 7);
    const size_t a_row =
        interleaved ? interleaved_act_row_bytes(type, shape.k) : activation_row_bytes(o, shape.k);
    std::vector<std::byte> act(a_row * static_cast<size_t>(tokens));
    for (int64_t t = 0; t < tokens; ++t) {
        (interleaved ? o.to_interleaved_act : o.to_dot_type)(x.data() + t * shape.k,
                                                             act.data() + t * a_row, shape.k);
    }
    std::vector<float> y(static_cast<size_t>(shape.rows * tokens));
    const auto multiply = interleaved ? o.matmul_interleaved : nullptr;
    for (auto _ : state) {
        if (multiply != nullptr) {
            multiply(shape.k, w.data.data(), w.row_bytes, act.data(), a_row, tokens, y.data(),
                     static_cast<size_t>(shape.rows), 0, shape.rows);
        } else {
            matmul_rows(o, shape.k, w.data.data(), w.row_bytes, act.data(), a_row, tokens, y.data(),
                        static_cast<size_t>(shape.rows), 0, shape.rows);
        }
        benchmark::DoNotOptimize(y.data());
        benchmark::ClobberMemory();
    }
    const double iterations = static_cast<double>(state.iterations());
    if (tokens == 1) {
        state.counters["GB/s"] = benchmark::Counter(
            static_cast<double>(w.data.size()) * iterations / 1e9, benchmark::Counter::kIsRate);
    } else {
        const double flops = 2.0 * static_cast<double>(shape.rows * shape.k * tokens);
        state.counters["GFLOP/s"] =
            benchmark::Counter(flops * iterations / 1e9, benchmark::Counter::kIsRate);
    }
}

void register_all() {
    const DType types[] = {DType::F16,    DType::Q8_0,   DType::Q4_0, DType::Q4_K, DType::Q6_K,
                           DType::Q5_0,   DType::BF16,   DType::F32,  DType::Q4_1, DType::Q5_1,
                           DType::IQ4_NL, DType::IQ4_XS, DType::Q2_K, DType::Q3_K, DType::Q5_K};
    // The third is a down projection: its long rows stream more activations per weight block.
    const Shape shapes[] = {{2048, 2048}, {8192, 2048}, {2048, 8192}};
    // Generation and the short prompt also from memory: a matrix larger than any L3 (~75 MB in
    // Q4_0), where the kernel has to overlap its work with the DRAM stream.
    const Shape dram_shape{32768, 4096};
    // 1: generation; 8: a continuous-batching server step with 8 sequences; 32: a short prompt
    // (time to first token); 512: a long one.
    for (const int64_t tokens : {int64_t{1}, int64_t{8}, int64_t{32}, int64_t{512}}) {
        for (DType type : types) {
            for (const bool interleaved : {false, true}) {
                if (interleaved && !can_interleave(type)) continue;
                for (Isa isa : kAllIsas) {
                    std::vector<Shape> run_shapes(std::begin(shapes), std::end(shapes));
                    if (tokens == 1 || tokens == 32) run_shapes.push_back(dram_shape);
                    for (const Shape shape : run_shapes) {
                        const std::string name =
                            std::string(tokens == 1 ? "matvec/"
                                                    : pocket::cat("matmul", tokens, "/")) +
                            std::string(pocket::dtype_name(type)) + (interleaved ? "x8/" : "/") +
                            std::string(isa_name(isa)) + "/" + std::to_string(shape.rows) + "x" +
                            std::to_string(shape.k);
                        auto* b =
                            benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State& s) {
                                run_matmul(s, type, isa, shape, tokens, interleaved);
                            });
                        // CPU time: the machines this runs on are often shared, and one thread is
                        // measured.
                        b->Unit(benchmark::kMillisecond);
                        // The scalar prompt path takes seconds per call: one call is enough.
                        if (tokens > 1 && isa == Isa::Scalar) b->Iterations(1);
                    }
                }
            }
        }
    }
}

}  // namespace

int main(int argc, char** argv) {
    register_all();
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
