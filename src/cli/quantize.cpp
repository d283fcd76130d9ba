// `pocket quantize IN OUT TYPE [--threads N] [--pure] [--keep-output] [--leave-tensors REGEX]`:
// a GGUF file or Hugging Face folder to a quantized GGUF (pocket::quant::quantize_model).
#include <unistd.h>

#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "cli/commands.h"
#include "cli/format.h"
#include "pocket/quant/imatrix.h"
#include "pocket/quant/quantize.h"

namespace pocket::cli {
namespace {

struct QuantizeCliOptions {
    std::string input, output, type, imatrix;
    int threads = 0;
    bool pure = false, keep_output = false;
    std::vector<std::string> leave_tensors;
};

std::string scheme_list() {
    std::string out;
    for (auto name : quant::scheme_names()) {
        if (!out.empty()) out += ", ";
        out += name;
    }
    return out;
}

// One line per tensor, redrawn in place; only when stderr is a terminal so logs stay clean.
bool draw_progress(const quant::QuantizeProgress& p, std::chrono::steady_clock::time_point start) {
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double mbps = s > 0 ? static_cast<double>(p.bytes_in) / 1e6 / s : 0.0;
    const int width = 30;
    const int filled = p.total_bytes_in ? static_cast<int>(width * static_cast<double>(p.bytes_in) /
                                                           static_cast<double>(p.total_bytes_in))
                                        : width;
    std::fprintf(stderr, "\r\033[K[%s%s] %zu/%zu %7.1f MB/s %s (%s)",
                 std::string(static_cast<size_t>(filled), '#').c_str(),
                 std::string(static_cast<size_t>(width - filled), ' ').c_str(), p.index, p.count,
                 mbps, printable(p.name, 40).c_str(), std::string(dtype_name(p.type)).c_str());
    if (p.index == p.count) std::fputc('\n', stderr);
    return true;
}

int run_quantize(const QuantizeCliOptions& opt) {
    const auto scheme = quant::parse_scheme(opt.type);
    if (!scheme) {
        std::fprintf(stderr, "pocket quantize: unknown type '%s' (known: %s)\n", opt.type.c_str(),
                     scheme_list().c_str());
        return kExitUsage;
    }
    std::optional<quant::ImportanceMatrix> imatrix;
    if (!opt.imatrix.empty()) imatrix = quant::ImportanceMatrix::load(opt.imatrix);
    quant::QuantizeOptions options{.threads = opt.threads,
                                   .pure = opt.pure,
                                   .keep_output = opt.keep_output,
                                   .leave_tensors = opt.leave_tensors};
    if (imatrix) options.imatrix = &*imatrix;
    const auto start = std::chrono::steady_clock::now();
    if (isatty(STDERR_FILENO) != 0)
        options.progress = [start](const quant::QuantizeProgress& p) {
            return draw_progress(p, start);
        };
    const auto r = quant::quantize_model(opt.input, opt.output, *scheme, options);
    for (const auto& w : r.warnings) std::fprintf(stderr, "warning: %s\n", w.c_str());
    if (imatrix) {
        std::fprintf(
            stderr, "importance matrix: %zu entries (%d chunks%s%s), used for %zu tensors\n",
            imatrix->entries().size(), imatrix->chunks(), imatrix->dataset().empty() ? "" : " of ",
            imatrix->dataset().c_str(), r.n_with_importance);
    }
    // One line per (wanted, used, row length): real models repeat the same fallback per layer.
    std::map<std::tuple<DType, DType, int64_t>, std::vector<std::string>> groups;
    for (const auto& f : r.fallbacks) groups[{f.wanted, f.used, f.row_length}].push_back(f.name);
    for (const auto& [key, names] : groups) {
        const auto [wanted, used, row] = key;
        std::fprintf(stderr,
                     "fallback: %zu tensors with rows of %lld values (not a multiple of %s's %u) "
                     "written as %s, e.g. %s\n",
                     names.size(), static_cast<long long>(row),
                     std::string(dtype_name(wanted)).c_str(), traits(wanted).block_size,
                     std::string(dtype_name(used)).c_str(), names.front().c_str());
    }
    std::printf(
        "wrote %s (%s): %s -> %s, %.2f bits per weight, %zu tensors, %zu fallbacks, "
        "%.2f s (%.1f MB/s)\n",
        opt.output.c_str(), scheme->name.c_str(), human_bytes(r.input_bytes).c_str(),
        human_bytes(r.output_bytes).c_str(), r.bits_per_weight(), r.tensors.size(),
        r.fallbacks.size(), r.seconds,
        r.seconds > 0 ? static_cast<double>(r.input_bytes) / 1e6 / r.seconds : 0.0);
    return kExitOk;
}

}  // namespace

Runner register_quantize(CLI::App& app) {
    auto opt = std::make_shared<QuantizeCliOptions>();
    app.add_option("input", opt->input, "GGUF file (F32/F16/BF16 weights) or Hugging Face folder")
        ->required();
    app.add_option("output", opt->output, "Output GGUF file")->required();
    app.add_option("type", opt->type,
                   "Q8_0, Q6_K, Q5_K_M, Q5_K_S, Q5_0, Q5_1, Q4_K_M, Q4_K_S, "
                   "Q4_0, Q4_1, Q3_K_M, Q3_K_S, Q2_K, IQ4_NL, IQ4_XS, F16, ...")
        ->required();
    app.add_option("-t,--threads", opt->threads, "Threads (default: physical cores)");
    app.add_flag("--pure", opt->pure, "Every weight matrix gets TYPE (no mix rules)");
    app.add_flag("--keep-output", opt->keep_output, "Leave output.weight unquantized");
    app.add_option("--leave-tensors", opt->leave_tensors,
                   "Regular expression: matching tensors are copied unchanged (repeatable)");
    app.add_option(
        "--imatrix", opt->imatrix,
        "Importance matrix (pocket imatrix or llama-imatrix .dat): weights the K-quant and "
        "IQ4_NL scale fits");
    return [opt] { return run_quantize(*opt); };
}

}  // namespace pocket::cli
