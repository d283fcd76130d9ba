// `pocket convert HF_DIR -o OUT.gguf [--type f32|f16|bf16|q8_0] [--pre NAME]`.
#include <CLI/CLI.hpp>

#include <cstdio>

#include "cli/commands.h"
#include "pocket/convert/convert.h"

namespace pocket::cli {
namespace {

struct ConvertCliOptions {
    std::string input, output, type = "f16", pre;
};

int run_convert(const ConvertCliOptions& opt) {
    const auto type = dtype_from_name(opt.type);
    if (!type || (*type != DType::F32 && *type != DType::F16 && *type != DType::BF16 &&
                  *type != DType::Q8_0)) {
        std::fprintf(stderr, "pocket convert: --type must be f32, f16, bf16 or q8_0\n");
        return kExitUsage;
    }
    const auto result = convert::convert_hf_to_gguf(opt.input, opt.output,
                                                    {.type = *type, .pre_tokenizer = opt.pre});
    std::printf("wrote %s: %s, %zu tensors\n", opt.output.c_str(), result.kind.c_str(),
                result.n_tensors);
    return kExitOk;
}

}  // namespace

Runner register_convert(CLI::App& app) {
    auto opt = std::make_shared<ConvertCliOptions>();
    app.add_option("input", opt->input,
                   "Hugging Face model folder (llama, qwen2, qwen3, phi3, gemma2, gemma3, bert or "
                   "Model2Vec)")
        ->required();
    app.add_option("-o,--output", opt->output, "Output GGUF file")->required();
    app.add_option("--type", opt->type, "Type of the weight matrices: f32, f16, bf16, q8_0")
        ->capture_default_str();
    app.add_option("--pre", opt->pre, "llama.cpp pre-tokenizer name (default: detected)");
    return [opt] { return run_convert(*opt); };
}

}  // namespace pocket::cli
