// `pocket template (-m MODEL | --file T.jinja) --messages M.json [--tools T.json] [--bos S]
// [--eos S] [--no-generation-prompt] [--variant NAME]`: prints exactly the prompt a chat template
// renders for a conversation (no newline added), to check what a model will see.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/model_path.h"
#include "pocket/core/read_file.h"
#include "pocket/generate/chat_template.h"
#include "pocket/gguf/gguf.h"
#include "pocket/tokenizer/tokenizer.h"

namespace pocket::cli {
namespace {

struct TemplateOptions {
    std::string model;
    std::string file;
    std::string messages;
    std::string tools;
    std::optional<std::string> bos;
    std::optional<std::string> eos;
    bool no_generation_prompt = false;
    std::string variant;
};

nlohmann::ordered_json read_json_file(const std::string& path) {
    try {
        return nlohmann::ordered_json::parse(read_file(path));
    } catch (const nlohmann::json::exception& e) {
        fail(path, ": not valid JSON: ", e.what());
    }
}

int run_template(const TemplateOptions& opt) {
    std::optional<ChatTemplate> tmpl;
    ChatTemplateInputs inputs;
    if (!opt.model.empty()) {
        const gguf::File file = gguf::File::open(resolve_model_arg(opt.model));
        const auto tok = tokenizer::load_tokenizer(file);
        ModelChatTemplate m = chat_template_for(file, *tok, opt.variant);
        if (m.builtin)
            std::fprintf(stderr, "pocket: the model has no chat template; using built-in ChatML\n");
        inputs = m.inputs();
        tmpl.emplace(std::move(m.tmpl));
    } else {
        tmpl.emplace(read_file(opt.file), opt.file);
    }
    // A file holding {"messages": [...], "tools": [...]} works as well as a bare message list.
    nlohmann::ordered_json messages = read_json_file(opt.messages);
    if (messages.is_object() && messages.contains("messages")) {
        if (messages.contains("tools")) inputs.tools = messages["tools"];
        messages = nlohmann::ordered_json(messages["messages"]);
    }
    if (!messages.is_array()) fail(opt.messages, ": expected a JSON list of messages");
    inputs.messages = std::move(messages);
    if (!opt.tools.empty()) inputs.tools = read_json_file(opt.tools);
    if (opt.bos) inputs.bos_token = opt.bos;
    if (opt.eos) inputs.eos_token = opt.eos;
    inputs.add_generation_prompt = !opt.no_generation_prompt;

    const std::string text = tmpl->render_text(inputs);
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
    return kExitOk;
}

}  // namespace

Runner register_template(CLI::App& app) {
    auto opt = std::make_shared<TemplateOptions>();
    auto* model = app.add_option("-m,--model", opt->model, "GGUF model whose chat template to use");
    auto* file = app.add_option("--file", opt->file, "Jinja chat template file");
    model->excludes(file);
    app.add_option("--messages", opt->messages,
                   "JSON file: [{\"role\": ..., \"content\": ...}, ...]")
        ->required();
    app.add_option("--tools", opt->tools, "JSON file with the tool definitions");
    app.add_option("--bos", opt->bos, "BOS token text (default: the model's)");
    app.add_option("--eos", opt->eos, "EOS token text (default: the model's)");
    app.add_flag("--no-generation-prompt", opt->no_generation_prompt,
                 "Do not open an assistant turn at the end");
    app.add_option("--variant", opt->variant,
                   "Named template of the model (tokenizer.chat_template.NAME), e.g. tool_use")
        ->needs(model);
    return [opt] {
        if (opt->model.empty() == opt->file.empty()) {
            std::fprintf(stderr,
                         "pocket template: give exactly one of -m MODEL or --file T.jinja\n");
            return static_cast<int>(kExitUsage);
        }
        return run_template(*opt);
    };
}

}  // namespace pocket::cli
