// `pocket synth --shape NAME --type TYPE -o OUT.gguf`: random-weight models of real shapes.
#include <CLI/CLI.hpp>

#include <cstdio>

#include "cli/commands.h"
#include "cli/format.h"
#include "model/synth.h"
#include "pocket/convert/convert.h"
#include "pocket/core/read_file.h"
#include "pocket/core/thread_pool.h"
#include "pocket/gguf/gguf.h"
#include "pocket/quant/scheme.h"

namespace pocket::cli {
namespace {

struct SynthCliOptions {
    std::string shape;
    std::string type = "f16";
    std::string output;
    uint64_t seed = 42;
    int threads = 0;
    bool list = false;
    std::string vocab;  // a tokenizer.json whose vocabulary the model carries
};

model::SynthOptions synth_options(const SynthCliOptions& opt, const quant::Scheme& scheme) {
    model::SynthOptions o{.scheme = scheme, .seed = opt.seed};
    if (!opt.vocab.empty()) {
        const std::string path = opt.vocab;
        o.vocabulary = [path](gguf::Writer& w, int64_t min_tokens) {
            convert::add_vocab(w, path, convert::detect_pre_tokenizer(read_file(path)),
                               static_cast<size_t>(min_tokens));
        };
    }
    return o;
}

int run_synth(const SynthCliOptions& opt) {
    if (opt.list || opt.shape.empty()) {
        for (const auto& s : model::synth_shapes()) {
            std::printf(
                "%-14s %s: n_embd %lld, %lld layers, %lld/%lld heads, n_ff %lld, vocab %lld\n",
                std::string(s.name).c_str(), std::string(s.description).c_str(),
                (long long)s.n_embd, (long long)s.n_layer, (long long)s.n_head,
                (long long)s.n_head_kv, (long long)s.n_ff, (long long)s.n_vocab);
        }
        return opt.list ? kExitOk : kExitUsage;
    }
    if (opt.threads > 0) ThreadPool::set_global_threads(opt.threads);
    const model::SynthShape* shape = model::find_synth_shape(opt.shape);
    if (!shape) fail("unknown shape '", opt.shape, "' (see pocket synth --list)");
    const auto scheme = quant::parse_scheme(opt.type);
    if (!scheme)
        fail("unknown tensor type or scheme '", opt.type,
             "' (f32, f16, bf16, q8_0, q4_0, q4_k, q4_k_m, ...)");
    if (opt.output.empty()) fail("missing -o/--output");
    const auto result = model::write_synth_model(*shape, synth_options(opt, *scheme), opt.output);
    std::printf("wrote %s: %s, %s parameters, %s weights\n", opt.output.c_str(),
                human_bytes(result.file_bytes).c_str(), human_count(result.n_params).c_str(),
                scheme->name.c_str());
    // The tensors that differ from the scheme's base type: the mix's choices and the fallbacks for
    // rows that do not split into the base type's blocks.
    for (const auto& [name, type] : result.other_types) {
        std::printf("  %s: %s\n", name.c_str(), std::string(dtype_name(type)).c_str());
    }
    return kExitOk;
}

}  // namespace

Runner register_synth(CLI::App& app) {
    auto opt = std::make_shared<SynthCliOptions>();
    app.add_option("--shape", opt->shape,
                   "Model shape: smollm2-135m, qwen2.5-0.5b, llama-3.2-1b, tiny");
    app.add_option("--type", opt->type,
                   "Type of the 2-D weights (f32, f16, bf16, q8_0, q4_0, q4_k, ...) or a mix "
                   "(q4_k_m, q5_k_m)")
        ->capture_default_str();
    app.add_option("-o,--output", opt->output, "Output GGUF file");
    app.add_option("--seed", opt->seed, "Seed of the random weights")->capture_default_str();
    app.add_option("-t,--threads", opt->threads, "Threads (default: physical cores)");
    app.add_flag("--list", opt->list, "List the known shapes");
    app.add_option("--vocab", opt->vocab,
                   "Carry this tokenizer.json's vocabulary instead of a synthetic one");
    return [opt] { return run_synth(*opt); };
}

}  // namespace pocket::cli
