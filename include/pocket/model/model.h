// A loaded model: the memory-mapped GGUF file, its architecture row, hyper-parameters, bound
// weights and tokenizer. Immutable after loading, so any number of contexts can share it.
#pragma once

#include <filesystem>
#include <memory>

#include "pocket/gguf/gguf.h"
#include "pocket/model/arch.h"
#include "pocket/model/hparams.h"
#include "pocket/model/weights.h"

namespace pocket {
class PageBuffer;
}
namespace pocket::tokenizer {
class Tokenizer;
}

namespace pocket::model {

struct LoadOptions {
    // Re-lay out the Q4_0 / Q8_0 matrices in the interleaved layout (an internal layout, see
    // src/kernels/interleaved.h) when the active instruction set has kernels for it: prompt
    // processing ~2x faster, and the weights stream as one run per 8 rows during generation. Costs
    // one pass over those weights at load time; the copies live in anonymous memory (the mapped
    // file pages they came from are dropped, so resident memory does not double) and cannot be
    // evicted under memory pressure the way mapped file pages can. False: every weight is used in
    // place from the mapping. (The `pocket` command sets this from POCKET_INTERLEAVE; the library
    // reads no environment.)
    bool interleave = true;
};

class Model {
  public:
    // Opens, validates and binds; throws pocket::Error (or gguf::FormatError) with context.
    static std::unique_ptr<Model> load(const std::filesystem::path& path,
                                       const LoadOptions& options = {});
    // Builds a model from an already opened file (used by tests and tools).
    static std::unique_ptr<Model> from_file(gguf::File file, const LoadOptions& options = {});

    ~Model();
    Model(const Model&) = delete;
    Model& operator=(const Model&) = delete;

    // The file, less the vocabulary arrays (tokenizer.ggml.tokens, .scores, .token_type,
    // .merges), which are dropped once tokenizer() holds them.
    const gguf::File& file() const { return file_; }
    const ArchSpec& arch() const { return *arch_; }
    const HParams& hparams() const { return hparams_; }
    const Weights& weights() const { return weights_; }
    const tokenizer::Tokenizer& tokenizer() const { return *tokenizer_; }
    uint64_t n_params() const;
    // Bytes of weights held in the interleaved layout (0 when none were re-laid out).
    size_t interleaved_bytes() const;

  private:
    Model(gguf::File file, const LoadOptions& options);
    void interleave_weights();

    gguf::File file_;
    const ArchSpec* arch_ = nullptr;
    HParams hparams_;
    Weights weights_;
    std::unique_ptr<tokenizer::Tokenizer> tokenizer_;
    // The re-laid-out matrices that weights_ points into (null when none were re-laid out).
    std::unique_ptr<PageBuffer> interleaved_;
};

}  // namespace pocket::model
