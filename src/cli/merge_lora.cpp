// `pocket merge-lora -m BASE --lora A [--lora B] [--lora-scale S] [--lora-scaled FILE S] -o OUT
// [--type f16|f32|bf16]`: writes BASE with the adapters merged into its matrices
// (model::merge_lora); quantize the result with `pocket quantize` afterwards.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "cli/generate_options.h"
#include "cli/model_path.h"
#include "pocket/core/error.h"
#include "pocket/model/lora.h"
#include "pocket/model/model.h"

namespace pocket::cli {
namespace {

struct MergeLoraOptions {
    std::string model;
    std::string output;
    std::string type = "f16";
    LoraCliOptions lora;
};

int run_merge_lora(const MergeLoraOptions& opt) {
    const std::optional<DType> type = dtype_from_name(opt.type);
    if (!type || (*type != DType::F32 && *type != DType::F16 && *type != DType::BF16)) {
        std::fprintf(stderr,
                     "pocket merge-lora: --type must be f32, f16 or bf16, not '%s' (quantize the "
                     "merged file with `pocket quantize`)\n",
                     opt.type.c_str());
        return kExitUsage;
    }
    const std::vector<model::LoraFile> files = opt.lora.list();
    if (files.empty()) {
        std::fprintf(stderr, "pocket merge-lora: give at least one --lora or --lora-scaled\n");
        return kExitUsage;
    }
    const std::string path = resolve_model_arg(opt.model);
    if (std::filesystem::is_directory(path))
        fail("merge-lora needs a GGUF base model, not the folder '", path, "'");
    // The adapters are checked against the loaded model (architecture, matrices, shapes); the
    // merge itself reads the file, which still holds the vocabulary the model drops.
    model::LoadOptions load;
    load.interleave = false;
    const auto base = model::Model::load(path, load);
    const std::vector<model::AppliedLora> loras = model::load_loras(files, *base);
    size_t pairs = 0;
    for (const auto& l : loras) pairs += l.adapter->matrices().size();
    model::merge_lora(std::filesystem::path(path), loras, opt.output, *type);
    std::fprintf(stderr, "pocket merge-lora: %zu adapter(s), %zu matrices merged (%s) into %s\n",
                 loras.size(), pairs, opt.type.c_str(), opt.output.c_str());
    return kExitOk;
}

}  // namespace

Runner register_merge_lora(CLI::App& app) {
    auto opt = std::make_shared<MergeLoraOptions>();
    app.add_option("-m,--model", opt->model, "Base model: GGUF file or a name in the models folder")
        ->required();
    app.add_option("-o,--output", opt->output, "Merged model to write (GGUF)")->required();
    app.add_option("--type", opt->type,
                   "Type of the merged matrices: f16, f32 or bf16 (other tensors are copied)")
        ->capture_default_str();
    add_lora_options(app, opt->lora);
    return [opt] { return run_merge_lora(*opt); };
}

}  // namespace pocket::cli
