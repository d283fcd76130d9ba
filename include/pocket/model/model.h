// A loaded model: the memory-mapped GGUF file, its architecture row, hyper-parameters, bound
// weights and tokenizer. Immutable after loading, so any number of contexts can share it.
#pragma once

#include <filesystem>
#include <memory>

#include "pocket/gguf/gguf.h"
#include "pocket/model/arch.h"
#include "pocket/model/hparams.h"
#include "pocket/model/weights.h"

namespace pocket::tokenizer {
class Tokenizer;
}

namespace pocket::model {

class Model {
  public:
    // Opens, validates and binds; throws pocket::Error (or gguf::FormatError) with context.
    static std::unique_ptr<Model> load(const std::filesystem::path& path);
    // Builds a model from an already opened file (used by tests and tools).
    static std::unique_ptr<Model> from_file(gguf::File file);

    ~Model();
    Model(const Model&) = delete;
    Model& operator=(const Model&) = delete;

    const gguf::File& file() const { return file_; }
    const ArchSpec& arch() const { return *arch_; }
    const HParams& hparams() const { return hparams_; }
    const Weights& weights() const { return weights_; }
    const tokenizer::Tokenizer& tokenizer() const { return *tokenizer_; }
    uint64_t n_params() const;

  private:
    explicit Model(gguf::File file);

    gguf::File file_;
    const ArchSpec* arch_ = nullptr;
    HParams hparams_;
    Weights weights_;
    std::unique_ptr<tokenizer::Tokenizer> tokenizer_;
};

}  // namespace pocket::model
