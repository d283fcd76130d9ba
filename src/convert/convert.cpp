// Hugging Face folder -> GGUF: picks the converter from config.json / the checkpoint contents.
#include <cstring>
#include <fstream>
#include <regex>
#include <sstream>

#include <nlohmann/json.hpp>

#include "pocket/convert/convert.h"
#include "pocket/core/fp16.h"
#include "pocket/embed/static_embedder.h"
#include "pocket/kernels/kernels.h"
#include "pocket/safetensors/safetensors.h"

namespace pocket::convert {
namespace {

namespace fs = std::filesystem;
namespace st = pocket::safetensors;
using nlohmann::json;

json read_json(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail(path.string(), ": cannot open");
    std::ostringstream text;
    text << in.rdbuf();
    try {
        return json::parse(text.str());
    } catch (const json::exception& e) {
        fail(path.string(), ": invalid JSON: ", e.what());
    }
}

// A tensor's elements as F32, whatever its stored float type.
std::vector<float> to_f32(const st::Checkpoint::Tensor& t) {
    const auto data = t.data();
    const size_t n = t.info->n_elements();
    std::vector<float> out(n);
    for (size_t i = 0; i < n; ++i) {
        const std::byte* p = data.data() + i * st::dtype_size(t.info->dtype);
        uint16_t h;
        switch (t.info->dtype) {
            case st::DType::F32:
                std::memcpy(&out[i], p, 4);
                break;
            case st::DType::F16:
                std::memcpy(&h, p, 2);
                out[i] = f16_to_f32(h);
                break;
            case st::DType::BF16:
                std::memcpy(&h, p, 2);
                out[i] = bf16_to_f32(h);
                break;
            default:
                fail("tensor '", t.info->name, "': dtype ", st::dtype_name(t.info->dtype),
                     " cannot be converted (F32, F16, BF16)");
        }
    }
    return out;
}

// Hugging Face keeps each head's rotary pairs as two halves (x[i], x[i + d/2]); GGUF llama expects
// them interleaved (x[2i], x[2i+1]). Row h*d + half*(d/2) + j moves to h*d + 2j + half.
std::vector<float> permute_rotary_rows(const std::vector<float>& w, int64_t rows, int64_t cols,
                                       int64_t n_head) {
    if (rows % n_head != 0 || (rows / n_head) % 2 != 0) fail("rotary rows do not split into heads");
    const int64_t d = rows / n_head, half = d / 2;
    std::vector<float> out(w.size());
    for (int64_t h = 0; h < n_head; ++h) {
        for (int64_t part = 0; part < 2; ++part) {
            for (int64_t j = 0; j < half; ++j) {
                const int64_t from = h * d + part * half + j, to = h * d + 2 * j + part;
                std::memcpy(&out[static_cast<size_t>(to * cols)],
                            &w[static_cast<size_t>(from * cols)],
                            static_cast<size_t>(cols) * sizeof(float));
            }
        }
    }
    return out;
}

std::vector<std::byte> encode(const std::vector<float>& values, DType type, int64_t cols,
                              const std::string& name) {
    const auto row = row_bytes(type, static_cast<uint64_t>(cols));
    if (!row)
        fail("tensor '", name, "': rows of ", cols, " do not split into ", dtype_name(type),
             " blocks");
    const size_t rows = values.size() / static_cast<size_t>(cols);
    std::vector<std::byte> out(rows * *row);
    const auto& ops = kernels::ops(type);
    for (size_t r = 0; r < rows; ++r) {
        ops.from_float_ref(values.data() + r * static_cast<size_t>(cols), out.data() + r * *row,
                           cols);
    }
    return out;
}

int64_t get_int(const json& config, const char* key, std::optional<int64_t> fallback = {}) {
    if (config.contains(key) && config[key].is_number_integer()) return config[key].get<int64_t>();
    if (fallback) return *fallback;
    fail("config.json: missing integer '", key, "'");
}

ConvertResult convert_llama(const fs::path& dir, const json& config, const fs::path& output,
                            const ConvertOptions& options) {
    const auto ckpt = st::Checkpoint::open(dir);
    const int64_t n_embd = get_int(config, "hidden_size");
    const int64_t n_layer = get_int(config, "num_hidden_layers");
    const int64_t n_head = get_int(config, "num_attention_heads");
    const int64_t n_head_kv = get_int(config, "num_key_value_heads", n_head);
    const int64_t head_dim = get_int(config, "head_dim", n_embd / n_head);
    if (config.contains("rope_scaling") && !config["rope_scaling"].is_null()) {
        fail("config.json: rope_scaling is not supported by the converter yet");
    }

    gguf::Writer writer;
    writer.set("general.architecture", std::string("llama"));
    writer.set("general.name", dir.filename().string());
    writer.set("llama.context_length",
               static_cast<uint32_t>(get_int(config, "max_position_embeddings", 2048)));
    writer.set("llama.embedding_length", static_cast<uint32_t>(n_embd));
    writer.set("llama.block_count", static_cast<uint32_t>(n_layer));
    writer.set("llama.feed_forward_length",
               static_cast<uint32_t>(get_int(config, "intermediate_size")));
    writer.set("llama.attention.head_count", static_cast<uint32_t>(n_head));
    writer.set("llama.attention.head_count_kv", static_cast<uint32_t>(n_head_kv));
    writer.set("llama.rope.dimension_count", static_cast<uint32_t>(head_dim));
    if (head_dim != n_embd / n_head) {
        writer.set("llama.attention.key_length", static_cast<uint32_t>(head_dim));
        writer.set("llama.attention.value_length", static_cast<uint32_t>(head_dim));
    }
    writer.set("llama.rope.freq_base", static_cast<float>(config.value("rope_theta", 10000.0)));
    writer.set("llama.attention.layer_norm_rms_epsilon",
               static_cast<float>(config.value("rms_norm_eps", 1e-6)));
    add_bpe_vocab(writer, dir / "tokenizer.json", options.pre_tokenizer);

    const std::regex layer_re(R"(model\.layers\.(\d+)\.(.+))");
    const std::map<std::string, std::string> layer_names = {
        {"input_layernorm.weight", "attn_norm.weight"},
        {"self_attn.q_proj.weight", "attn_q.weight"},
        {"self_attn.k_proj.weight", "attn_k.weight"},
        {"self_attn.v_proj.weight", "attn_v.weight"},
        {"self_attn.o_proj.weight", "attn_output.weight"},
        {"post_attention_layernorm.weight", "ffn_norm.weight"},
        {"mlp.gate_proj.weight", "ffn_gate.weight"},
        {"mlp.up_proj.weight", "ffn_up.weight"},
        {"mlp.down_proj.weight", "ffn_down.weight"},
    };
    ConvertResult result{"llama", 0};
    for (const auto& name : ckpt.names()) {
        std::string out_name;
        std::smatch m;
        if (name == "model.embed_tokens.weight")
            out_name = "token_embd.weight";
        else if (name == "model.norm.weight")
            out_name = "output_norm.weight";
        else if (name == "lm_head.weight")
            out_name = "output.weight";
        else if (name.find("rotary_emb.inv_freq") != std::string::npos)
            continue;  // recomputed
        else if (std::regex_match(name, m, layer_re) && layer_names.contains(m[2].str())) {
            out_name = cat("blk.", m[1].str(), ".", layer_names.at(m[2].str()));
        } else {
            fail(name, ": tensor not known to the llama converter");
        }
        const auto t = ckpt.at(name);
        auto values = to_f32(t);
        const auto& shape = t.info->shape;
        if (shape.empty() || shape.size() > 2) fail(name, ": expected a 1-D or 2-D tensor");
        const int64_t cols = static_cast<int64_t>(shape.back());
        const int64_t rows = shape.size() == 2 ? static_cast<int64_t>(shape[0]) : 1;
        if (out_name.ends_with("attn_q.weight"))
            values = permute_rotary_rows(values, rows, cols, n_head);
        if (out_name.ends_with("attn_k.weight"))
            values = permute_rotary_rows(values, rows, cols, n_head_kv);
        // token_embd and vectors: the type the rows need; llama.cpp keeps 1-D tensors in F32.
        const DType type = shape.size() == 1 ? DType::F32 : options.type;
        std::vector<uint64_t> ggml_shape(shape.rbegin(), shape.rend());
        writer.add_tensor(out_name, type, std::move(ggml_shape), encode(values, type, cols, name));
        ++result.n_tensors;
    }
    writer.write(output);
    return result;
}

}  // namespace

ConvertResult convert_hf_to_gguf(const fs::path& hf_dir, const fs::path& output,
                                 const ConvertOptions& options) {
    if (!fs::is_directory(hf_dir)) fail(hf_dir.string(), ": not a folder");
    const json config =
        fs::exists(hf_dir / "config.json") ? read_json(hf_dir / "config.json") : json::object();
    const std::string model_type = config.value("model_type", "");
    if (model_type == "model2vec" ||
        (model_type.empty() && fs::exists(hf_dir / "model.safetensors") &&
         st::File::open(hf_dir / "model.safetensors").find("embeddings"))) {
        embed::StaticEmbedder::open_hf(hf_dir)->write_gguf(output);
        return {"model2vec", 1};
    }
    if (model_type == "llama") return convert_llama(hf_dir, config, output, options);
    fail(hf_dir.string(), ": model_type '", model_type,
         "' is not supported by the converter (supported: llama, model2vec)");
}

}  // namespace pocket::convert
