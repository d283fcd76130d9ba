// Lives in the convert layer (above model/) because it needs the converter.
// Loading a Hugging Face model folder (config.json + safetensors + tokenizer.json) directly as a
// pocket Model: the folder is converted to GGUF (pocket::convert::build_gguf) into a temporary
// file that is memory-mapped and unlinked at once, so the model reads exactly what
// `pocket convert` would have written, and nothing is left behind on disk.
#pragma once

#include <filesystem>
#include <memory>

#include "pocket/convert/convert.h"
#include "pocket/model/model.h"

namespace pocket::model {

// Weights keep their stored float type unless `options.type` says otherwise. Throws
// pocket::Error naming the folder and what is missing or unsupported.
std::unique_ptr<Model> load_hf_model(const std::filesystem::path& dir,
                                     const convert::ConvertOptions& options = {},
                                     const LoadOptions& load = {});

// Whether `path` looks like a Hugging Face model folder (a folder with config.json).
bool is_hf_model_dir(const std::filesystem::path& path);

// What front ends call: a GGUF file, or a Hugging Face folder converted on the fly.
std::unique_ptr<Model> load_model(const std::filesystem::path& path,
                                  const LoadOptions& options = {});

}  // namespace pocket::model
