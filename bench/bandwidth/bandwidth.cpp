// pocket_bandwidth: sustained memory READ bandwidth with N threads.
//
// Token generation reads every weight once per token, so its speed is bounded by how fast the
// cores can stream memory; this probe measures that bound on the machine at hand. Each thread
// owns one contiguous slice of a buffer far larger than the last-level cache (1 GiB by default),
// touches it first itself (so on NUMA machines the pages live near it), then every repetition
// all threads sum their slices at once. Several independent accumulators keep the loop limited
// by loads rather than by the add latency, and the compiler vectorizes it.
//
//   pocket_bandwidth [--threads N] [--mib SIZE] [--reps R] [--json]
//
// Prints the best and mean GB/s (10^9 bytes per second) over the repetitions, after one
// untimed warm-up pass.
#include <algorithm>
#include <barrier>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
    int threads = 0;  // 0 = every CPU this process may use
    uint64_t mib = 1024;
    int reps = 5;
    bool json = false;
};

[[noreturn]] void usage(const char* why) {
    std::fprintf(stderr,
                 "pocket_bandwidth: %s\n"
                 "usage: pocket_bandwidth [--threads N] [--mib SIZE_MIB] [--reps R] [--json]\n",
                 why);
    std::exit(64);
}

long parse_positive(const char* text, const char* flag) {
    char* end = nullptr;
    const long v = std::strtol(text, &end, 10);
    if (end == text || *end != '\0' || v <= 0)
        usage((std::string(flag) + " needs a positive integer").c_str());
    return v;
}

Options parse(int argc, char** argv) {
    Options opt;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        auto value = [&]() -> const char* {
            if (i + 1 >= argc) usage((arg + " needs a value").c_str());
            return argv[++i];
        };
        if (arg == "--threads" || arg == "-t") {
            opt.threads = static_cast<int>(parse_positive(value(), "--threads"));
        } else if (arg == "--mib") {
            opt.mib = static_cast<uint64_t>(parse_positive(value(), "--mib"));
        } else if (arg == "--reps" || arg == "-r") {
            opt.reps = static_cast<int>(parse_positive(value(), "--reps"));
        } else if (arg == "--json") {
            opt.json = true;
        } else {
            usage(("unknown argument " + arg).c_str());
        }
    }
    if (opt.threads == 0)
        opt.threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    return opt;
}

// Sums n 64-bit words. Eight accumulators: enough independent adds to keep two vector load
// ports busy once the compiler has vectorized the loop.
uint64_t sum_words(const uint64_t* p, size_t n) {
    uint64_t a[8] = {};
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        for (int k = 0; k < 8; ++k) a[k] += p[i + static_cast<size_t>(k)];
    }
    for (; i < n; ++i) a[0] += p[i];
    uint64_t s = 0;
    for (uint64_t v : a) s += v;
    return s;
}

struct AlignedFree {
    void operator()(uint64_t* p) const { ::operator delete[](p, std::align_val_t{4096}); }
};

}  // namespace

int main(int argc, char** argv) {
    const Options opt = parse(argc, argv);
    const size_t n_words = opt.mib * 1024 * 1024 / sizeof(uint64_t);
    const size_t bytes = n_words * sizeof(uint64_t);
    std::unique_ptr<uint64_t[], AlignedFree> buffer(
        static_cast<uint64_t*>(::operator new[](bytes, std::align_val_t{4096})));

    const auto n_threads = static_cast<size_t>(opt.threads);
    std::vector<uint64_t> sinks(n_threads * 8);  // one cache line per thread: no false sharing
    std::barrier sync(static_cast<std::ptrdiff_t>(n_threads));
    std::vector<double> seconds;
    const int passes = opt.reps + 1;  // pass 0 is the warm-up

    auto worker = [&](size_t t) {
        const size_t begin = n_words * t / n_threads, end = n_words * (t + 1) / n_threads;
        for (size_t i = begin; i < end; ++i) buffer[i] = i * 0x9e3779b97f4a7c15ULL;  // first touch
        for (int pass = 0; pass < passes; ++pass) {
            sync.arrive_and_wait();
            const auto start = Clock::now();
            sinks[t * 8] += sum_words(buffer.get() + begin, end - begin);
            sync.arrive_and_wait();  // the pass ends when the slowest thread is done
            if (t == 0 && pass > 0)
                seconds.push_back(std::chrono::duration<double>(Clock::now() - start).count());
        }
    };
    std::vector<std::thread> threads;
    for (size_t t = 1; t < n_threads; ++t) threads.emplace_back(worker, t);
    worker(0);
    for (auto& th : threads) th.join();

    uint64_t checksum = 0;
    for (uint64_t s : sinks) checksum ^= s;  // printed, so the sums cannot be optimised away

    std::vector<double> gbps;
    for (double s : seconds) gbps.push_back(static_cast<double>(bytes) / s / 1e9);
    const double best = *std::max_element(gbps.begin(), gbps.end());
    double mean = 0.0;
    for (double g : gbps) mean += g;
    mean /= static_cast<double>(gbps.size());

    if (opt.json) {
        std::printf(
            "{\"threads\": %d, \"buffer_bytes\": %zu, \"reps\": %d, \"best_gb_per_s\": %.3f, "
            "\"mean_gb_per_s\": %.3f, \"samples_gb_per_s\": [",
            opt.threads, bytes, opt.reps, best, mean);
        for (size_t i = 0; i < gbps.size(); ++i) std::printf("%s%.3f", i ? ", " : "", gbps[i]);
        std::printf("], \"checksum\": %llu}\n", static_cast<unsigned long long>(checksum));
    } else {
        std::printf(
            "read bandwidth, %d thread%s, %.0f MiB buffer, %d reps: best %.2f GB/s, mean %.2f GB/s "
            "(checksum %llx)\n",
            opt.threads, opt.threads == 1 ? "" : "s",
            static_cast<double>(bytes) / (1024.0 * 1024.0), opt.reps, best, mean,
            static_cast<unsigned long long>(checksum));
    }
    return 0;
}
