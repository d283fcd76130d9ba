// Where the command line finds models named by `-m`: a path, or a name in the models folder.
#pragma once

#include <filesystem>
#include <string>

namespace pocket::cli {

// The models folder: $POCKET_MODELS, else $XDG_DATA_HOME/pocket/models, else
// ~/.local/share/pocket/models (empty when none of those variables is set).
std::filesystem::path default_models_dir();

// What `-m ARG` means: ARG itself when it exists (a GGUF file, a Hugging Face or Model2Vec
// folder), else the model named ARG in default_models_dir(). Throws pocket::Error naming the
// folder and close model names when neither exists (for an absolute ARG: that it is missing).
std::string resolve_model_arg(const std::string& arg);

}  // namespace pocket::cli
