// `pocket embed -m MODEL -p TEXT [-p TEXT ...] [--file PATH] [--json]`: text embeddings as JSON.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/model_path.h"
#include "pocket/core/error.h"
#include "pocket/core/thread_pool.h"
#include "pocket/embed/embedder.h"

namespace pocket::cli {
namespace {

struct EmbedCliOptions {
    std::string model;
    std::vector<std::string> prompts;
    std::string file;
    bool json_objects = false;
    int threads = 0;
};

std::vector<std::string> read_lines(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail(path, ": cannot open");
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        lines.push_back(std::move(line));
    }
    return lines;
}

// %.9g round-trips every float exactly and stays short.
std::string vector_json(const std::vector<float>& v) {
    std::string out = "[";
    char buffer[32];
    for (size_t i = 0; i < v.size(); ++i) {
        std::snprintf(buffer, sizeof buffer, "%s%.9g", i ? "," : "", static_cast<double>(v[i]));
        out += buffer;
    }
    return out + "]";
}

int run_embed(const EmbedCliOptions& opt) {
    if (opt.threads > 0) ThreadPool::set_global_threads(opt.threads);
    std::vector<std::string> texts = opt.prompts;
    if (!opt.file.empty()) {
        auto lines = read_lines(opt.file);
        texts.insert(texts.end(), std::make_move_iterator(lines.begin()),
                     std::make_move_iterator(lines.end()));
    }
    if (texts.empty()) {
        std::fprintf(stderr, "pocket embed: give at least one text (-p TEXT or --file PATH)\n");
        return kExitUsage;
    }
    const auto embedder = embed::open_embedder(resolve_model_arg(opt.model));
    const auto vectors = embedder->embed_batch(texts);

    std::string out = "[";
    for (size_t i = 0; i < vectors.size(); ++i) {
        out += i ? ",\n " : "";
        if (opt.json_objects) {
            out += "{\"index\":" + std::to_string(i) + ",\"text\":" +
                   nlohmann::json(texts[i]).dump(-1, ' ', false,
                                                 nlohmann::json::error_handler_t::replace) +
                   ",\"embedding\":" + vector_json(vectors[i]) + "}";
        } else {
            out += vector_json(vectors[i]);
        }
    }
    out += "]\n";
    std::fwrite(out.data(), 1, out.size(), stdout);
    return kExitOk;
}

}  // namespace

Runner register_embed(CLI::App& app) {
    auto opt = std::make_shared<EmbedCliOptions>();
    app.add_option("-m,--model", opt->model,
                   "Embedding model: a Model2Vec folder (model.safetensors + tokenizer.json) or a "
                   "GGUF written by `pocket convert`")
        ->required();
    app.add_option("-p,--prompt", opt->prompts, "Text to embed (repeatable)");
    app.add_option("-f,--file", opt->file, "File with one text per line");
    app.add_flag("--json", opt->json_objects,
                 "Print objects {index, text, embedding} instead of bare vectors");
    app.add_option("-t,--threads", opt->threads, "Threads (default: physical cores)");
    return [opt] { return run_embed(*opt); };
}

}  // namespace pocket::cli
