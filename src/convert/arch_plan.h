// What the converter does for one Hugging Face architecture: the GGUF `<arch>.*` metadata it
// writes from config.json and how each checkpoint tensor is renamed and transformed.
// Facts (names, keys, the +1 on Gemma norms, the llama Q/K row order) follow llama.cpp's
// convert_hf_to_gguf.py and gguf-py's tensor_mapping.py.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "pocket/gguf/gguf.h"

namespace pocket::convert::detail {

enum class Transform {
    None,
    PermuteQ,  // llama: Hugging Face rotary halves -> interleaved pairs, n_head heads
    PermuteK,  // the same with n_head_kv heads
    PlusOne,   // gemma: HF norms multiply by (1 + w); GGUF stores 1 + w
};

struct TensorPlan {
    std::string name;  // GGUF name
    Transform transform = Transform::None;
};

class ArchPlan {
  public:
    // Reads and validates config.json (`config`, already parsed; for multimodal Gemma 3 the
    // text_config part is used). Throws pocket::Error naming the unsupported field.
    static ArchPlan from_config(const nlohmann::json& config);

    const std::string& gguf_arch() const { return arch_; }
    int64_t n_head() const { return n_head_; }
    int64_t n_head_kv() const { return n_head_kv_; }

    // `<arch>.*` keys (and general.architecture) on `writer`; `dir` holds optional side files
    // (sentence-transformers modules.json for BERT pooling).
    void write_metadata(gguf::Writer& writer, const std::filesystem::path& dir) const;

    // The GGUF tensor for a checkpoint tensor; nullopt for tensors the GGUF does not keep
    // (rotary caches, BERT pooler, vision tower). Throws for a tensor the plan does not know.
    std::optional<TensorPlan> map(const std::string& hf_name) const;

    // F32 vectors the GGUF needs that the checkpoint does not hold (llama3 rope_freqs).
    std::vector<std::pair<std::string, std::vector<float>>> extra_tensors() const;

  private:
    std::optional<TensorPlan> map_decoder(const std::string& hf_name) const;
    std::optional<TensorPlan> map_bert(const std::string& hf_name) const;

    std::string model_type_;  // Hugging Face model_type
    std::string arch_;        // GGUF general.architecture
    nlohmann::json config_;
    int64_t n_embd_ = 0, n_head_ = 0, n_head_kv_ = 0, head_dim_ = 0;
};

}  // namespace pocket::convert::detail
