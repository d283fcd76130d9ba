// `pocket list [--json]`: the models in the models folder (see cli/model_path.h), as `-m NAME`
// accepts them, read from their headers only.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <system_error>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/format.h"
#include "cli/model_path.h"
#include "pocket/model/model_directory.h"

namespace pocket::cli {
namespace {

struct ListOptions {
    bool json = false;
};

nlohmann::json entry_json(const model::ModelEntry& e) {
    nlohmann::json j;
    j["name"] = lossy_utf8(e.name);
    j["path"] = lossy_utf8(e.path.string());
    j["format"] = e.format;
    j["architecture"] = lossy_utf8(e.architecture);
    j["type"] = e.type;
    j["size_bytes"] = e.size_bytes;
    j["n_params"] = e.n_params ? nlohmann::json(*e.n_params) : nlohmann::json(nullptr);
    j["chat_template"] = e.has_chat_template;
    j["error"] = e.error.empty() ? nlohmann::json(nullptr) : nlohmann::json(lossy_utf8(e.error));
    return j;
}

int run_list(const ListOptions& opt) {
    const std::filesystem::path dir = default_models_dir();
    std::error_code ec;
    if (dir.empty() || !std::filesystem::is_directory(dir, ec)) {
        // No folder is no models, not a failure: say where they would go.
        std::fprintf(stderr, "pocket list: no models folder%s%s (set POCKET_MODELS)\n",
                     dir.empty() ? "" : " at ", dir.string().c_str());
        if (opt.json) std::cout << "[]\n";
        return kExitOk;
    }
    const auto entries = model::ModelDirectory(dir).list();
    if (opt.json) {
        nlohmann::json out = nlohmann::json::array();
        for (const auto& e : entries) out.push_back(entry_json(e));
        std::cout << out.dump(2) << "\n";
        return kExitOk;
    }
    std::printf("models in %s\n", printable(dir.string(), 400).c_str());
    if (entries.empty()) {
        std::printf("  (none)\n");
        return kExitOk;
    }
    std::printf("%-32s %-12s %-8s %10s %10s  %s\n", "NAME", "ARCH", "TYPE", "SIZE", "PARAMS",
                "TEMPLATE");
    for (const auto& e : entries) {
        const std::string name = printable(e.name, 32);
        if (!e.error.empty()) {
            std::printf("%-32s error: %s\n", name.c_str(), printable(e.error, 300).c_str());
            continue;
        }
        std::printf("%-32s %-12s %-8s %10s %10s  %s\n", name.c_str(),
                    printable(e.architecture, 12).c_str(), printable(e.type, 8).c_str(),
                    human_bytes(e.size_bytes).c_str(),
                    e.n_params ? human_count(*e.n_params).c_str() : "-",
                    e.has_chat_template ? "yes" : "no");
    }
    return kExitOk;
}

}  // namespace

Runner register_list(CLI::App& app) {
    auto opt = std::make_shared<ListOptions>();
    app.add_flag("--json", opt->json,
                 "Print a JSON array of {name, path, format, architecture, type, size_bytes, "
                 "n_params, chat_template, error}");
    return [opt] { return run_list(*opt); };
}

}  // namespace pocket::cli
