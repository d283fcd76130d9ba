// Where the command line finds models named by `-m`: a path, or a name in the models folder.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "pocket/model/model.h"

namespace pocket::cli {

// The models folder: $POCKET_MODELS, else $XDG_DATA_HOME/pocket/models, else
// ~/.local/share/pocket/models (empty when none of those variables is set).
std::filesystem::path default_models_dir();

// What `-m ARG` means: ARG itself when it exists (a GGUF file, a Hugging Face or Model2Vec
// folder), else the model named ARG in default_models_dir(). Throws pocket::Error naming the
// folder and close model names when neither exists (for an absolute ARG: that it is missing).
std::string resolve_model_arg(const std::string& arg);

// How the command loads models: the library's defaults, with POCKET_INTERLEAVE=0 turning the
// interleaved weight layout off (libpocket itself reads no environment variables).
model::LoadOptions model_load_options();

// resolve_model_arg, then load_model (GGUF or Hugging Face folder) with model_load_options().
std::unique_ptr<model::Model> load_model_arg(const std::string& arg);

}  // namespace pocket::cli
