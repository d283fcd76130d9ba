#include "cli/model_path.h"

#include <cstdlib>
#include <string_view>
#include <system_error>

#include "pocket/core/error.h"
#include "pocket/model/load.h"
#include "pocket/model/model_directory.h"

namespace pocket::cli {

model::LoadOptions model_load_options() {
    model::LoadOptions options;
    const char* interleave = std::getenv("POCKET_INTERLEAVE");
    options.interleave = interleave == nullptr || std::string_view(interleave) != "0";
    return options;
}

std::unique_ptr<model::Model> load_model_arg(const std::string& arg) {
    return model::load_model(resolve_model_arg(arg), model_load_options());
}
namespace fs = std::filesystem;

namespace {

// An empty variable counts as unset, as the XDG base directory specification says.
const char* env(const char* name) {
    const char* value = std::getenv(name);
    return value != nullptr && *value != '\0' ? value : nullptr;
}

}  // namespace

fs::path default_models_dir() {
    if (const char* dir = env("POCKET_MODELS")) return dir;
    if (const char* data = env("XDG_DATA_HOME")) return fs::path(data) / "pocket" / "models";
    if (const char* home = env("HOME")) return fs::path(home) / ".local/share/pocket/models";
    return {};
}

std::string resolve_model_arg(const std::string& arg) {
    std::error_code ec;
    if (fs::exists(arg, ec)) return arg;  // the common case reads no environment at all
    // An absolute path names no model: say plainly that the file is missing.
    if (fs::path(arg).is_absolute()) fail(arg, ": no such file or directory");
    const fs::path dir = default_models_dir();
    if (dir.empty() || !fs::is_directory(dir, ec)) {
        fail("model '", arg, "': no such file, and no models folder to look the name up in (",
             dir.empty() ? std::string("set POCKET_MODELS") : cat(dir.string(), " does not exist"),
             ")");
    }
    return model::ModelDirectory(dir).require(arg).string();
}

}  // namespace pocket::cli
