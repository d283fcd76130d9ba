// A folder of models that the front ends can name: `-m smollm2` instead of a full path.
//
// A name is looked up as <dir>/<name>, then <dir>/<name>.gguf (case-sensitive); a path that
// exists is always taken as it is. Listing reads only each GGUF file's header and metadata
// (the weights are never loaded), so it stays fast for folders of multi-GB models, and a
// corrupt file is listed with its error instead of stopping the listing. Hugging Face model
// folders (a directory with config.json) are listed too: loaders accept them as models.
//
// Where the folder is (an environment variable, a default under the user's data directory) is
// the front end's business: the library reads no environment.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pocket::model {

struct ModelEntry {
    std::string name;  // what resolve() accepts: the file name without ".gguf"
    std::filesystem::path path;
    std::string format;        // "gguf", or "hf" for a folder with config.json
    std::string architecture;  // general.architecture (config.json's model_type for "hf")
    // The tensor type holding most of the weight bytes, as dtype_name() spells it ("q8_0"); for
    // "hf", config.json's torch_dtype. Empty when unknown.
    std::string type;
    uint64_t size_bytes = 0;           // the file, or every file of the folder
    std::optional<uint64_t> n_params;  // elements of all tensors, where the header says
    bool has_chat_template = false;    // tokenizer.chat_template (tokenizer_config.json for "hf")
    std::string error;                 // why the entry could not be read; empty when it could
};

// Describes one model file or folder from its header only; never throws for a bad file (the
// problem goes into `error`).
ModelEntry describe_model(const std::filesystem::path& path);

class ModelDirectory {
  public:
    explicit ModelDirectory(std::filesystem::path dir);

    const std::filesystem::path& dir() const { return dir_; }

    // `name_or_path` itself when it exists, else <dir>/<name>, else <dir>/<name>.gguf; nullopt
    // when none exists.
    std::optional<std::filesystem::path> resolve(std::string_view name_or_path) const;
    // As resolve(), but throws pocket::Error naming the folder and the models in it whose names
    // are close to `name_or_path`.
    std::filesystem::path require(std::string_view name_or_path) const;

    // The models in the folder (GGUF files and Hugging Face folders), sorted by name. An absent
    // folder has no models.
    std::vector<ModelEntry> list() const;
    // Names of the models in the folder, sorted, without reading any file.
    std::vector<std::string> names() const;

  private:
    std::filesystem::path dir_;
};

// Names among `candidates` close to `name`: equal ignoring case, one containing the other, or a
// small edit distance. Best first.
std::vector<std::string> close_names(std::string_view name,
                                     const std::vector<std::string>& candidates);

}  // namespace pocket::model
