// `pocket tokenize (-m MODEL.gguf | --tokenizer tokenizer.json) [options] (TEXT | --file PATH)`:
// the token ids (and pieces) a model's tokenizer gives for a text, for checking prompts and
// comparing with other tools.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/format.h"
#include "cli/model_path.h"
#include "pocket/core/read_file.h"
#include "pocket/gguf/gguf.h"
#include "pocket/tokenizer/hf_tokenizer.h"
#include "pocket/tokenizer/tokenizer.h"

namespace pocket::cli {
namespace {

struct TokenizeOptions {
    std::string model;
    std::string tokenizer_json;
    std::string text;
    std::string file;
    bool no_special = false;
    // Special-token text such as <|im_start|> becomes that token, as llama-tokenize and Hugging
    // Face tokenizers do by default.
    bool parse_special = true;
    bool json = false;
    bool ids_only = false;
};

std::string to_hex(std::string_view bytes) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (const char c : bytes) {
        out += kHex[static_cast<uint8_t>(c) >> 4];
        out += kHex[static_cast<uint8_t>(c) & 15];
    }
    return out;
}

int run_tokenize(const TokenizeOptions& opt) {
    std::unique_ptr<tokenizer::Tokenizer> tok;
    if (!opt.model.empty()) {
        tok = tokenizer::load_tokenizer(gguf::File::open(resolve_model_arg(opt.model)));
    } else {
        tok = tokenizer::load_hf_tokenizer(opt.tokenizer_json);
    }
    const std::string text = opt.file.empty() ? opt.text : read_file(opt.file);
    const std::vector<TokenId> ids = tok->encode(text, !opt.no_special, opt.parse_special);

    if (opt.json) {
        nlohmann::json out;
        out["ids"] = ids;
        out["pieces"] = nlohmann::json::array();
        out["piece_hex"] = nlohmann::json::array();
        for (const auto id : ids) {
            const std::string piece = tok->token_to_piece(id, true);
            out["pieces"].push_back(lossy_utf8(piece));
            out["piece_hex"].push_back(to_hex(piece));
        }
        out["n_tokens"] = ids.size();
        std::cout << out.dump() << "\n";
    } else if (opt.ids_only) {
        for (size_t i = 0; i < ids.size(); ++i) std::cout << (i ? " " : "") << ids[i];
        std::cout << "\n";
    } else {
        for (const auto id : ids) {
            std::cout << id << "\t" << quoted(tok->token_to_piece(id, true), 200) << "\n";
        }
    }
    std::cout.flush();
    return kExitOk;
}

}  // namespace

Runner register_tokenize(CLI::App& app) {
    auto opt = std::make_shared<TokenizeOptions>();
    auto* model = app.add_option("-m,--model", opt->model, "GGUF model (or vocabulary) file");
    auto* hf = app.add_option(
        "--tokenizer", opt->tokenizer_json,
        "Hugging Face tokenizer.json (tokenizer_config.json next to it is read too)");
    model->excludes(hf);
    auto* text = app.add_option("text", opt->text, "Text to tokenize");
    app.add_option("-f,--file", opt->file, "Read the text from a file, byte for byte")
        ->excludes(text);
    app.add_flag("--no-special", opt->no_special,
                 "Do not add the special tokens the tokenizer adds (BOS, [CLS]...[SEP])");
    auto* no_parse = app.add_flag(
        "!--no-parse-special", opt->parse_special,
        "Tokenize special-token text such as <|im_start|> as plain text (by default it "
        "becomes that token)");
    // Parsing is the default now; the old flags stay accepted so scripts keep working.
    app.add_flag("--parse-special,--special", opt->parse_special,
                 "Match special-token text as that token (the default)")
        ->excludes(no_parse);
    auto* json = app.add_flag("--json", opt->json,
                              "Print {\"ids\", \"pieces\", \"piece_hex\", \"n_tokens\"} as JSON");
    app.add_flag("--ids", opt->ids_only, "Print only the ids, on one line")->excludes(json);
    return [opt] {
        if (opt->model.empty() == opt->tokenizer_json.empty()) {
            std::fprintf(stderr,
                         "pocket tokenize: give exactly one of -m MODEL.gguf or --tokenizer "
                         "tokenizer.json\n");
            return static_cast<int>(kExitUsage);
        }
        return run_tokenize(*opt);
    };
}

}  // namespace pocket::cli
