// How long a tokenizer takes to load, phase by phase: Hugging Face tokenizer.json files (read,
// JSON, vocabulary table, pipeline with its regex and normalizer, special tokens, vocabulary
// index, merges, piece cache) and GGUF vocabularies (open, whole load). Each file is loaded
// --reps times; the median (and the minimum) of each phase and of the total is printed, and
// "cpu" is the process's CPU time for the load (all threads): on a busy machine wall time
// includes waiting for a core.
//
//   bench_tokenizer_load [--reps 7] [--shared ../shared] [FILE...]
//
// Without files it loads every ../shared/tokenizers/hf/*/tokenizer.json and the GGUF
// vocabularies ggml-vocab-{llama-spm,gpt-2,deepseek-llm}.gguf. A file ending in .gguf is loaded
// as a GGUF vocabulary, anything else as tokenizer.json (with tokenizer_config.json beside it).
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "pocket/core/error.h"
#include "pocket/core/read_file.h"
#include "pocket/gguf/gguf.h"
#include "pocket/tokenizer/tokenizer.h"
#include "tokenizer/load_phases.h"

namespace {

namespace fs = std::filesystem;
using pocket::tokenizer::LoadPhases;

// CPU time of the whole process (all threads), to tell work from waiting on a busy machine.
double process_cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const size_t n = v.size();
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// One load of `path`, its phases in order, then "total" (wall) and "cpu".
std::vector<std::pair<std::string, double>> load_once(const fs::path& path) {
    LoadPhases phases;
    const double cpu0 = process_cpu_seconds();
    const auto t0 = LoadPhases::Clock::now();
    if (path.extension() == ".gguf") {
        const pocket::gguf::File file = pocket::gguf::File::open(path);
        phases.mark("open");
        auto tok = pocket::tokenizer::load_tokenizer(file);
        phases.mark("vocabulary");
        tok.reset();
        phases.mark("destroy");
    } else {
        const std::string text = pocket::read_file(path);
        const fs::path config_path = path.parent_path() / "tokenizer_config.json";
        const std::string config =
            fs::exists(config_path) ? pocket::read_file(config_path) : std::string();
        phases.mark("read");
        auto tok =
            pocket::tokenizer::parse_hf_tokenizer_timed(text, config, path.string(), &phases);
        phases.mark("return");  // what the loader frees on its way out (a JSON DOM)
        tok.reset();
        phases.mark("destroy");
    }
    // "total" includes destroying the tokenizer on purpose: a command pays for that too.
    auto out = phases.phases();
    out.emplace_back("total", std::chrono::duration<double>(LoadPhases::Clock::now() - t0).count());
    out.emplace_back("cpu", process_cpu_seconds() - cpu0);
    return out;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"Tokenizer load time per phase (median of --reps loads)"};
    int reps = 7;
    std::string shared;
    std::vector<std::string> files;
    app.add_option("--reps", reps, "Loads per file")->check(CLI::PositiveNumber);
    app.add_option("--shared", shared,
                   "The shared data folder (default $POCKET_SHARED_DIR or ../shared)");
    app.add_option("files", files, "tokenizer.json or .gguf vocabulary files");
    CLI11_PARSE(app, argc, argv);

    if (files.empty()) {
        if (shared.empty()) {
            const char* env = std::getenv("POCKET_SHARED_DIR");
            shared = env != nullptr ? env : "../shared";
        }
        const fs::path hf = fs::path(shared) / "tokenizers" / "hf";
        std::vector<std::string> found;
        if (fs::is_directory(hf)) {
            for (const auto& e : fs::directory_iterator(hf)) {
                if (fs::exists(e.path() / "tokenizer.json"))
                    found.push_back((e.path() / "tokenizer.json").string());
            }
        }
        std::sort(found.begin(), found.end());
        files = found;
        for (const char* v : {"llama-spm", "gpt-2", "deepseek-llm"}) {
            const fs::path p =
                fs::path(shared) / "tokenizers" / ("ggml-vocab-" + std::string(v) + ".gguf");
            if (fs::exists(p)) files.push_back(p.string());
        }
        if (files.empty()) {
            std::fprintf(stderr, "no tokenizer files under %s\n", shared.c_str());
            return 1;
        }
    }

    try {
        for (const std::string& file : files) {
            std::map<std::string, std::vector<double>> samples;
            std::vector<std::string> order;
            for (int r = 0; r < reps; ++r) {
                for (const auto& [name, s] : load_once(file)) {
                    if (!samples.count(name)) order.push_back(name);
                    samples[name].push_back(s);
                }
            }
            const double mb = static_cast<double>(fs::file_size(file)) / 1e6;
            std::printf("%s (%.1f MB, median of %d)\n", file.c_str(), mb, reps);
            for (const std::string& name : order) {
                const auto& v = samples[name];
                std::printf("  %-16s %9.1f ms  (min %.1f)\n", name.c_str(), 1e3 * median(v),
                            1e3 * *std::min_element(v.begin(), v.end()));
            }
            std::printf("  %-16s %9.1f ms/MB\n", "per MB", 1e3 * median(samples["total"]) / mb);
            std::fflush(stdout);
        }
    } catch (const pocket::Error& e) {
        std::fprintf(stderr, "%s\n", e.what());
        return 1;
    }
    return 0;
}
