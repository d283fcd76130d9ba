// Hugging Face folder -> GGUF: picks the converter from config.json / the checkpoint contents.
#include "pocket/convert/convert.h"
#include "pocket/core/read_file.h"

#include <cstring>
#include <memory>

#include <nlohmann/json.hpp>

#include "arch_plan.h"
#include "pocket/embed/static_embedder.h"
#include "pocket/safetensors/safetensors.h"
#include "tensor_data.h"

namespace pocket::convert {
namespace {

namespace fs = std::filesystem;
namespace st = pocket::safetensors;
using nlohmann::json;

json read_json(const fs::path& path) {
    const std::string text = read_file(path);
    try {
        return json::parse(text);
    } catch (const json::exception& e) {
        fail(path.string(), ": invalid JSON: ", e.what());
    }
}

json read_config(const fs::path& dir) {
    return fs::exists(dir / "config.json") ? read_json(dir / "config.json") : json::object();
}

// The GGUF type of a 2-D matrix: the requested one, else the stored float type.
DType matrix_type(const ConvertOptions& options, st::DType stored, uint64_t cols) {
    DType type = DType::F32;
    if (options.type)
        type = *options.type;
    else if (stored == st::DType::F16)
        type = DType::F16;
    else if (stored == st::DType::BF16)
        type = DType::BF16;
    return row_bytes(type, cols) ? type : DType::F16;
}

std::string folder_name(const fs::path& dir) {
    const fs::path clean = dir.lexically_normal();
    return clean.filename().empty() ? clean.parent_path().filename().string()
                                    : clean.filename().string();
}

}  // namespace

gguf::Writer build_gguf(const fs::path& hf_dir, const ConvertOptions& options,
                        ConvertResult* result) {
    if (!fs::is_directory(hf_dir)) fail(hf_dir.string(), ": not a folder");
    if (options.type && *options.type != DType::F32 && *options.type != DType::F16 &&
        *options.type != DType::BF16 && *options.type != DType::Q8_0)
        fail("convert: type ", dtype_name(*options.type),
             " is not supported (f32, f16, bf16, q8_0)");
    const json config = read_config(hf_dir);
    if (!config.contains("model_type")) fail((hf_dir / "config.json").string(), ": no model_type");
    const auto plan =
        std::make_shared<const detail::ArchPlan>(detail::ArchPlan::from_config(config));
    // Shared with the tensor producers, which run when the writer emits the data.
    const auto ckpt = std::make_shared<const st::Checkpoint>(st::Checkpoint::open(hf_dir));

    gguf::Writer writer;
    plan->write_metadata(writer, hf_dir);
    writer.set("general.name", folder_name(hf_dir));

    struct Planned {
        std::string hf_name;
        detail::TensorPlan plan;
    };
    std::vector<Planned> tensors;
    size_t embd_rows = 0;
    for (const auto& name : ckpt->names()) {
        auto mapped = plan->map(name);
        if (!mapped) continue;
        if (mapped->name == "token_embd.weight") embd_rows = ckpt->at(name).info->shape.at(0);
        tensors.push_back({name, std::move(*mapped)});
    }
    add_vocab(writer, hf_dir / "tokenizer.json", options.pre_tokenizer, embd_rows);

    for (const auto& [hf_name, tp] : tensors) {
        const auto t = ckpt->at(hf_name);
        const auto& shape = t.info->shape;
        if (shape.empty() || shape.size() > 2)
            fail(hf_name, ": expected a 1-D or 2-D tensor, shape has ", shape.size(),
                 " dimensions");
        const uint64_t cols = shape.back();
        const uint64_t rows = shape.size() == 2 ? shape[0] : 1;
        const DType type =
            shape.size() == 1 ? DType::F32 : matrix_type(options, t.info->dtype, cols);
        auto produce = [ckpt, plan, name = hf_name, transform = tp.transform, rows, cols,
                        type](std::span<std::byte> out) {
            auto values = detail::to_f32(ckpt->at(name));
            const auto r = static_cast<int64_t>(rows), c = static_cast<int64_t>(cols);
            switch (transform) {
                case detail::Transform::PermuteQ:
                    values = detail::permute_rotary_rows(values, r, c, plan->n_head());
                    break;
                case detail::Transform::PermuteK:
                    values = detail::permute_rotary_rows(values, r, c, plan->n_head_kv());
                    break;
                case detail::Transform::PlusOne:
                    for (float& v : values) v += 1.0f;
                    break;
                case detail::Transform::None:
                    break;
            }
            detail::encode_rows(values, type, c, out);
        };
        // ggml orders dimensions fastest first: [cols, rows].
        std::vector<uint64_t> ggml_shape(shape.rbegin(), shape.rend());
        writer.add_tensor(tp.name, type, std::move(ggml_shape), gguf::Writer::Producer(produce));
    }
    for (auto& [name, values] : plan->extra_tensors()) {
        std::vector<std::byte> bytes(values.size() * sizeof(float));
        std::memcpy(bytes.data(), values.data(), bytes.size());
        writer.add_tensor(name, DType::F32, {values.size()}, std::move(bytes));
    }
    if (result) *result = {plan->gguf_arch(), tensors.size()};
    return writer;
}

ConvertResult convert_hf_to_gguf(const fs::path& hf_dir, const fs::path& output,
                                 const ConvertOptions& options) {
    if (!fs::is_directory(hf_dir)) fail(hf_dir.string(), ": not a folder");
    const json config = read_config(hf_dir);
    const std::string model_type = config.value("model_type", "");
    if (model_type == "model2vec" ||
        (model_type.empty() && fs::exists(hf_dir / "model.safetensors") &&
         st::File::open(hf_dir / "model.safetensors").find("embeddings"))) {
        embed::StaticEmbedder::open_hf(hf_dir)->write_gguf(output);
        return {"model2vec", 1};
    }
    if (model_type.empty())
        fail(hf_dir.string(), ": config.json with a model_type is needed to convert this folder");
    ConvertResult result;
    build_gguf(hf_dir, options, &result).write(output);
    return result;
}

}  // namespace pocket::convert
