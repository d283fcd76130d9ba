// Loading a Hugging Face model folder (config.json + safetensors + tokenizer.json) directly as a
// pocket Model: the folder is converted to GGUF (pocket::convert::build_gguf) into a temporary
// file that is memory-mapped and unlinked at once, so the model reads exactly what
// `pocket convert` would have written, and nothing is left behind on disk. Applications call
// load_model (pocket/model/load.h), which takes GGUF files too.
#pragma once

#include <filesystem>
#include <memory>

#include "pocket/convert/convert.h"
#include "pocket/model/load.h"
#include "pocket/model/model.h"

namespace pocket::model {

// Weights keep their stored float type unless `options.type` says otherwise. Throws
// pocket::Error naming the folder and what is missing or unsupported.
std::unique_ptr<Model> load_hf_model(const std::filesystem::path& dir,
                                     const convert::ConvertOptions& options = {},
                                     const LoadOptions& load = {});

}  // namespace pocket::model
