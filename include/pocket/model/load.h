// The one way front ends load a model: a GGUF file, or a Hugging Face model folder (config.json,
// safetensors, tokenizer.json) converted on the fly. Model::load reads GGUF only; this adds the
// folder case. Implemented in src/convert/hf_loader.cpp, since the folder case needs the
// converter (the convert layer sits above the model layer).
#pragma once

#include <filesystem>
#include <memory>

#include "pocket/model/model.h"

namespace pocket::model {

// Throws pocket::Error (or gguf::FormatError) naming the file or folder and what is wrong.
std::unique_ptr<Model> load_model(const std::filesystem::path& path,
                                  const LoadOptions& options = {});

// Whether `path` looks like a Hugging Face model folder (a folder with config.json).
bool is_hf_model_dir(const std::filesystem::path& path);

}  // namespace pocket::model
