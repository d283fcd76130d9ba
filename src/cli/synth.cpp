// `pocket synth --shape NAME --type TYPE -o OUT.gguf`: random-weight models of real shapes.
// `pocket synth --like TEACHER.gguf [--n-layer L --n-embd E ...]`: a smaller random model with the
// teacher's vocabulary (a distillation student).
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
    std::string like;   // a GGUF whose vocabulary (and unchanged dimensions) the model takes
    model::LikeShape like_shape;
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
    if (!opt.like.empty()) {
        if (!opt.shape.empty() || !opt.vocab.empty())
            fail("--like takes the shape and vocabulary from its model: not with --shape/--vocab");
        if (opt.output.empty()) fail("missing -o/--output");
        if (opt.threads > 0) ThreadPool::set_global_threads(opt.threads);
        const auto scheme = quant::parse_scheme(opt.type);
        if (!scheme) fail("unknown tensor type or scheme '", opt.type, "'");
        const auto result = model::write_synth_like(opt.like, opt.like_shape,
                                                    synth_options(opt, *scheme), opt.output);
        std::printf("wrote %s: %s, %s parameters, %s weights, vocabulary of %s\n",
                    opt.output.c_str(), human_bytes(result.file_bytes).c_str(),
                    human_count(result.n_params).c_str(), scheme->name.c_str(), opt.like.c_str());
        return kExitOk;
    }
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
    app.add_option(
        "--shape", opt->shape,
        "Model shape: smollm2-135m, qwen2.5-0.5b, llama-3.2-1b, qwen3-0.6b, gemma-3-1b, tiny");
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
    app.add_option("--like", opt->like,
                   "Take this model's vocabulary (and the dimensions not given below): a "
                   "smaller student for `pocket distill`");
    app.add_option("--n-layer", opt->like_shape.n_layer, "With --like: layers");
    app.add_option("--n-embd", opt->like_shape.n_embd, "With --like: embedding width");
    app.add_option("--n-head", opt->like_shape.n_head, "With --like: attention heads");
    app.add_option("--n-head-kv", opt->like_shape.n_head_kv, "With --like: KV heads");
    app.add_option("--n-ff", opt->like_shape.n_ff, "With --like: feed-forward width");
    app.add_option("--head-dim", opt->like_shape.head_dim,
                   "With --like: head dimension (default n_embd / n_head)");
    return [opt] { return run_synth(*opt); };
}

}  // namespace pocket::cli
