// A LoRA adapter: low-rank updates W' = W + s·(B·A) of chosen weight matrices of a base model,
// stored in llama.cpp's adapter GGUF layout so the same file works in both programs:
//   general.type = "adapter", adapter.type = "lora", general.architecture = the base's,
//   adapter.lora.alpha (f32); for each adapted base tensor NAME (e.g. "blk.3.attn_q.weight")
//   NAME.lora_a with ne = [n_in, rank] (rank rows of n_in) and NAME.lora_b with ne = [rank, n_out]
//   (n_out rows of rank). The scale is s = user_scale · alpha / rank (user_scale when alpha = 0),
//   as in llama.cpp's llama_adapter_lora_weight::get_scale.
// Applied at inference by Context::set_loras (no merge), or merged into a new file by merge_lora.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pocket/core/dtype.h"
#include "pocket/model/weights.h"

namespace pocket::gguf {
class File;
}

namespace pocket::model {

class Model;

// The matrices an adapter can change (the `--targets` of `pocket finetune`). QKV and the fused
// gate|up of ffn_up exist only in architectures that fuse them (phi3): there Gate is absent and
// Up means the fused matrix.
enum class Projection : uint8_t { Q, K, V, QKV, O, Gate, Up, Down, Output };
inline constexpr int kProjectionCount = 9;

// "q", "k", "v", "qkv", "o", "gate", "up", "down", "output".
std::string_view projection_name(Projection p);
// Parses one of projection_name's names; throws pocket::Error listing the valid ones.
Projection parse_projection(std::string_view name);
// The base tensor name ("blk.<layer>.attn_q.weight", "output.weight" with layer -1).
std::string projection_tensor_name(Projection p, int64_t layer);

struct ProjectionSite {
    int64_t layer = -1;  // -1 for Output
    Projection projection = Projection::Q;
};
// The inverse of projection_tensor_name: nullopt for a name that is not an adaptable matrix
// (token_embd.weight, a norm, a bias, a malformed layer number).
std::optional<ProjectionSite> parse_projection_tensor_name(std::string_view name);

// The base matrix (layer, p) adapts in `w` (W is n_out rows of n_in: rows x cols), or nullptr
// when the model has none: a projection its architecture lacks (Gate in phi3), a layer out of
// range, or Output when the model has no LM head or ties it to token_embd (llama.cpp refuses an
// "output.weight" pair for a tied model, since that tensor does not exist in its file).
const TensorView* projection_weight(const Weights& w, int64_t layer, Projection p);

struct LoraMatrix {
    int64_t layer = -1;  // -1 for Output
    Projection projection = Projection::Q;
    int64_t rank = 0, n_in = 0, n_out = 0;
    std::vector<float> a;  // rank x n_in, row-major (row i = A's i-th row)
    std::vector<float> b;  // n_out x rank, row-major
};

class LoraAdapter {
  public:
    LoraAdapter() = default;
    LoraAdapter(std::string arch, float alpha) : arch_(std::move(arch)), alpha_(alpha) {}

    // Reads an adapter file (F32, F16, BF16 or any type pocket can dequantize) and checks it
    // against `base`: same architecture, every pair complete, its base tensor present with
    // n_in x n_out matching. Tensors ending in "_norm.weight" are skipped, as llama.cpp does.
    // Throws pocket::Error (gguf::FormatError for a damaged file) naming the file and tensor.
    static LoraAdapter load(const std::filesystem::path& path, const Model& base);
    // The same from an opened file (tests parse in-memory images).
    static LoraAdapter load(const gguf::File& file, const Model& base);
    // Checks every pair against `base` (architecture, base matrix present, shapes, value counts);
    // throws pocket::Error naming the first that does not fit. For adapters built in memory.
    void check(const Model& base) const;
    // Writes the adapter in llama.cpp's layout with tensors in `type` (F32 or F16), plus
    // `metadata` string pairs (e.g. general.name, training.* provenance).
    void save(const std::filesystem::path& path, DType type = DType::F32,
              std::span<const std::pair<std::string, std::string>> metadata = {}) const;

    const std::string& arch() const { return arch_; }
    float alpha() const { return alpha_; }
    // The effective factor on B·A for a user scale (see the file comment).
    float scale(const LoraMatrix& m, float user_scale) const {
        return alpha_ != 0.0f ? user_scale * alpha_ / static_cast<float>(m.rank) : user_scale;
    }

    // The pair adapting (layer, p), or nullptr.
    const LoraMatrix* find(int64_t layer, Projection p) const;
    LoraMatrix* find(int64_t layer, Projection p);
    // Adds a zero pair (trainers fill it); throws if (layer, p) already has one.
    LoraMatrix& add(int64_t layer, Projection p, int64_t rank, int64_t n_in, int64_t n_out);
    std::span<LoraMatrix> matrices() { return matrices_; }
    std::span<const LoraMatrix> matrices() const { return matrices_; }

  private:
    std::string arch_;
    float alpha_ = 0.0f;
    std::vector<LoraMatrix> matrices_;
};

// An adapter in use, with its user scale (llama.cpp's --lora-scaled FILE SCALE).
struct AppliedLora {
    std::shared_ptr<const LoraAdapter> adapter;
    float scale = 1.0f;
};

// An adapter file and its user scale, as front ends take them (`--lora FILE`,
// `--lora-scaled FILE SCALE`), before the base model is loaded.
struct LoraFile {
    std::filesystem::path path;
    float scale = 1.0f;
};
// Loads each file against `base` (LoraAdapter::load) with its scale.
std::vector<AppliedLora> load_loras(std::span<const LoraFile> files, const Model& base);

// Writes the model file `base` with every adapted matrix replaced by W + s·B·A (computed in F32,
// stored as `merged_type`: F32, F16 or BF16; other tensors and all metadata copied unchanged).
// Quantize the result with `pocket quantize` afterwards. Works on the file rather than a loaded
// Model because a Model drops the vocabulary arrays once its tokenizer holds them. The output is
// written to a temporary name and renamed, so a failure leaves no partial file.
void merge_lora(const gguf::File& base, std::span<const AppliedLora> loras,
                const std::filesystem::path& out, DType merged_type = DType::F16);
void merge_lora(const std::filesystem::path& base, std::span<const AppliedLora> loras,
                const std::filesystem::path& out, DType merged_type = DType::F16);

}  // namespace pocket::model
