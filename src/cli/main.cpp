// `pocket`: one binary, subcommands for each job.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <vector>

#include "cli/commands.h"
#include "kernels/amx.h"
#include "kernels/kernels.h"
#include "pocket/core/error.h"
#include "pocket/gguf/gguf.h"

namespace {
// What kind of file a malformed-input error is about, for the message.
const char* format_name(const std::string& file) {
    return file.ends_with(".safetensors") || file.ends_with(".json") ? "safetensors" : "GGUF";
}

// libpocket reads no environment variables; the command applies POCKET_ISA (force a kernel
// table: scalar, avx2, avx512, neon) and POCKET_AMX=0 (keep the AVX-512 matmuls off AMX tiles)
// before anything loads a model.
void apply_isa_environment() {
    if (const char* amx = std::getenv("POCKET_AMX"); amx != nullptr && *amx != '\0') {
        const std::string_view v = amx;
        if (v != "0" && v != "1") pocket::fail("POCKET_AMX=", v, ": use 0 or 1");
        pocket::kernels::set_amx_enabled(v == "1");
    }
    const char* value = std::getenv("POCKET_ISA");
    if (value == nullptr || *value == '\0') return;
    pocket::kernels::Isa isa;
    try {
        isa = pocket::kernels::parse_isa(value);
    } catch (const pocket::Error& e) {
        pocket::fail("POCKET_ISA=", value, ": ", e.what());
    }
    if (!pocket::kernels::isa_supported(isa)) {
        pocket::fail("POCKET_ISA=", value, ": this CPU cannot run it");
    }
    pocket::kernels::force_isa(isa);
}
}  // namespace

int main(int argc, char** argv) {
    using namespace pocket::cli;
    CLI::App app{"pocket: run small language models locally"};
    app.require_subcommand(1);
    app.set_version_flag("--version", "pocket 0.1.0");

    std::vector<std::pair<CLI::App*, Runner>> commands;
    auto add = [&](const char* name, const char* help, Runner (*reg)(CLI::App&)) {
        CLI::App* sub = app.add_subcommand(name, help);
        commands.emplace_back(sub, reg(*sub));
    };
    add("info", "Describe a GGUF model: architecture, sizes, metadata, tensors", register_info);
    add("run", "Generate text from a prompt, streaming to stdout", register_run);
    add("chat", "Chat with a model in its own chat format", register_chat);
    add("synth", "Write a random-weight GGUF model of a real model's shape", register_synth);
    add("finetune", "Train a LoRA adapter on text, chat or completion data (llama.cpp's layout)",
        register_finetune);
    add("distill", "Distil a teacher model into a student (LoRA or full) from a top-K logit cache",
        register_distill);
    add("embed", "Embed texts with an embedding model, printing JSON vectors", register_embed);
    add("convert", "Convert a Hugging Face model folder to GGUF", register_convert);
    add("tokenize", "Print the token ids (and pieces) of a text", register_tokenize);
    add("template", "Render a chat template for a conversation, as the model will see it",
        register_template);
    add("list", "List the models in the models folder ($POCKET_MODELS)", register_list);
    add("serve", "Serve models over HTTP: OpenAI and Ollama APIs, web chat page", register_serve);
    add("quantize", "Quantize a GGUF model or a Hugging Face folder to 8/6/5/4/3/2-bit types",
        register_quantize);
    add("merge-lora", "Merge LoRA adapters into a model's matrices, writing a new GGUF",
        register_merge_lora);
    add("imatrix", "Collect an importance matrix for quantization from a calibration text",
        register_imatrix);
    add("perplexity", "Perplexity of a model over a text, and KL divergence against a base model",
        register_perplexity);
    add("eval", "Score a model on multiple-choice benchmarks (HellaSwag, ARC, ...)", register_eval);
    add("index", "Index a folder of documents for local search and grounded answers (RAG)",
        register_index);
    add("search", "Search an index: BM25, vector or hybrid, with file, page and snippet",
        register_search);
    add("ask", "Answer a question from an index's documents, citing them", register_ask);
    add("eval-retrieval", "Score retrieval (nDCG@10, recall, MRR) on a BEIR-layout collection",
        register_eval_retrieval);
    add("router", "Train and evaluate the local/cloud router (pocket router train|eval)",
        register_router);
    add("audit", "Verify or summarise an egress audit log (pocket audit verify|show LOG)",
        register_audit);
    add("guard",
        "Check texts for unsafe content (S1-S14): built-in classifier or a guard model; "
        "pocket guard train fits the classifier",
        register_guard);
    add("bench", "Measure prompt, generation and first-token speed, load time and peak memory",
        register_bench);

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        const int code = app.exit(e);
        return code == 0 ? kExitOk : kExitUsage;
    }
    try {
        apply_isa_environment();
        for (auto& [sub, run] : commands) {
            if (sub->parsed()) return run();
        }
    } catch (const pocket::FormatError& e) {
        std::fprintf(stderr, "pocket: invalid %s file: %s\n", format_name(e.file()), e.what());
        return kExitInvalidFile;
    } catch (const pocket::Error& e) {
        std::fprintf(stderr, "pocket: error: %s\n", e.what());
        return kExitError;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "pocket: unexpected error: %s\n", e.what());
        return kExitError;
    }
    return kExitUsage;
}
