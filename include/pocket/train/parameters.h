// What training changes. Two modes over a frozen base model (any stored weight type; frozen
// matrices are read through the inference kernels or dequantized on the fly, QLoRA-style):
//   - LoRA: rank-r pairs on chosen projections (model::LoraAdapter holds their values);
//   - full: every tensor of a small model copied to F32 and trained (a student made by
//     `pocket synth`, for distillation).
// Every trainable tensor is a Parameter: a name, its F32 values and a gradient of the same size.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pocket/model/lora.h"

namespace pocket::model {
class Model;
}

namespace pocket::train {

struct Parameter {
    std::string name;         // the GGUF tensor name it is saved under
    std::span<float> value;   // points into the LoRA adapter or the full-mode F32 copy
    std::vector<float> grad;  // same size; forward_backward adds into it
    bool decay = true;        // AdamW weight decay applies (false for norms and biases)
};

struct LoraSpec {
    int64_t rank = 8;
    float alpha = 16.0f;
    std::vector<model::Projection> targets = {model::Projection::Q,    model::Projection::K,
                                              model::Projection::V,    model::Projection::O,
                                              model::Projection::Gate, model::Projection::Up,
                                              model::Projection::Down};
    uint64_t seed = 0;  // A ~ Kaiming-uniform (PEFT's init), B = 0: training starts at the base
};

class TrainableWeights {
  public:
    // LoRA pairs on `spec.targets` of every layer (targets the architecture lacks are skipped;
    // none at all is an error).
    static TrainableWeights lora(const model::Model& base, const LoraSpec& spec);
    // Continues training an existing adapter (resume, or fine-tune further).
    static TrainableWeights lora(const model::Model& base, model::LoraAdapter adapter);
    // Every tensor of `base` as trainable F32 (norm weights and biases without decay).
    static TrainableWeights full(const model::Model& base);

    TrainableWeights(TrainableWeights&&) noexcept;
    TrainableWeights& operator=(TrainableWeights&&) noexcept;
    ~TrainableWeights();

    bool is_lora() const;
    std::span<Parameter> params();
    std::span<const Parameter> params() const;
    void zero_grad();
    int64_t n_values() const;  // trainable values in all
    // The parameter saved under `name` (LoRA: "<base tensor>.lora_a" / ".lora_b"; full: the
    // GGUF tensor name), or nullptr when nothing of that name is trained.
    Parameter* find(std::string_view name);
    const Parameter* find(std::string_view name) const;
    const model::Model& base() const;

    // LoRA mode: the adapter being trained (its values are the parameters).
    const model::LoraAdapter& adapter() const;
    // Full mode: the F32 value of a base tensor by GGUF name, or nullptr (frozen / LoRA mode).
    const std::vector<float>* full_tensor(std::string_view name) const;
    // Full mode: writes the trained model as a GGUF (metadata, tokenizer and tensor names of the
    // base; matrices in `type`, norms and biases F32).
    void save_model(const std::filesystem::path& path, DType type = DType::F32) const;

  private:
    struct Impl;
    explicit TrainableWeights(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace pocket::train
