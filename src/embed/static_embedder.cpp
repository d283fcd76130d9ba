// Static (Model2Vec) embedders: loading from a Hugging Face folder or our GGUF, pooling, and
// writing the GGUF form.
#include "pocket/embed/static_embedder.h"
#include "pocket/core/read_file.h"

#include <cmath>
#include <cstring>

#include <nlohmann/json.hpp>

#include "pocket/core/fp16.h"
#include "pocket/gguf/gguf.h"
#include "pocket/safetensors/safetensors.h"
#include "pocket/tokenizer/hf_tokenizer.h"

namespace pocket::embed {
namespace {

namespace fs = std::filesystem;
namespace st = pocket::safetensors;

template <typename T>
T load(const std::byte* p) {
    T v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

// The table as floats, whatever its stored element type.
std::vector<float> table_to_float(st::DType dtype, std::span<const std::byte> data,
                                  const std::string& where) {
    const size_t size = st::dtype_size(dtype);
    const size_t n = data.size() / size;
    std::vector<float> out(n);
    for (size_t i = 0; i < n; ++i) {
        const std::byte* p = data.data() + i * size;
        switch (dtype) {
            case st::DType::I8:
                out[i] = static_cast<float>(load<int8_t>(p));
                break;
            case st::DType::F16:
                out[i] = f16_to_f32(load<uint16_t>(p));
                break;
            case st::DType::BF16:
                out[i] = bf16_to_f32(load<uint16_t>(p));
                break;
            case st::DType::F32:
                out[i] = load<float>(p);
                break;
            case st::DType::F64:
                out[i] = static_cast<float>(load<double>(p));
                break;
            default:
                fail(where, ": embedding table of dtype ", st::dtype_name(dtype),
                     " is not supported (I8, F16, BF16, F32, F64)");
        }
    }
    return out;
}

}  // namespace

StaticEmbedder::StaticEmbedder(std::string tokenizer_json, std::vector<float> table, size_t dim,
                               bool normalize, std::string origin)
    : tokenizer_json_(std::move(tokenizer_json)),
      table_(std::move(table)),
      dim_(dim),
      normalize_(normalize) {
    tokenizer_ = tokenizer::parse_hf_tokenizer(tokenizer_json_, "", origin);
    if (dim_ == 0 || table_.size() % dim_ != 0) fail(origin, ": embedding table has a bad shape");
    if (tokenizer_->n_vocab() > n_vocab()) {
        fail(origin, ": the tokenizer has ", tokenizer_->n_vocab(), " tokens but the table only ",
             n_vocab(), " rows");
    }
    // The tokenizer's unknown token carries no meaning, so it is left out of the mean.
    const auto json = nlohmann::json::parse(tokenizer_json_);
    const auto unk = json.at("model").value("unk_token", nlohmann::json());
    if (unk.is_string()) unk_ = tokenizer_->vocab().find(unk.get<std::string>());
}

std::unique_ptr<StaticEmbedder> StaticEmbedder::open_hf(const fs::path& folder) {
    const auto weights = st::File::open(folder / "model.safetensors");
    const st::TensorInfo* table = weights.find("embeddings");
    if (!table) fail(weights.name(), ": no tensor 'embeddings' (not a Model2Vec model?)");
    if (table->shape.size() != 2 || table->shape[0] == 0 || table->shape[1] == 0) {
        fail(weights.name(), ": tensor 'embeddings' must be a non-empty 2-D [n_vocab, dim] table");
    }
    bool normalize = true;
    if (fs::exists(folder / "config.json")) {
        try {
            const auto config = nlohmann::json::parse(read_file(folder / "config.json"));
            if (config.contains("normalize")) normalize = config.at("normalize").get<bool>();
        } catch (const nlohmann::json::exception& e) {
            fail((folder / "config.json").string(), ": ", e.what());
        }
    }
    auto floats = table_to_float(table->dtype, weights.data(*table), weights.name());
    const auto tokenizer_path = folder / "tokenizer.json";
    return std::unique_ptr<StaticEmbedder>(new StaticEmbedder(
        read_file(tokenizer_path), std::move(floats), static_cast<size_t>(table->shape[1]),
        normalize, tokenizer_path.string()));
}

std::unique_ptr<StaticEmbedder> StaticEmbedder::from_gguf(const gguf::File& file) {
    const auto tokenizer_json = file.get_string(kHfTokenizerKey);
    if (!tokenizer_json) fail(file.name(), ": no ", kHfTokenizerKey, " key");
    const gguf::TensorInfo* table = file.find_tensor(kStaticTableTensor);
    if (!table || table->shape.size() != 2) {
        fail(file.name(), ": no 2-D tensor '", kStaticTableTensor, "'");
    }
    const auto data = file.tensor_data(*table);
    std::vector<float> floats(table->n_elements());
    if (table->type == DType::F32) {
        std::memcpy(floats.data(), data.data(), floats.size() * sizeof(float));
    } else if (table->type == DType::I8) {
        for (size_t i = 0; i < floats.size(); ++i) {
            floats[i] = static_cast<float>(static_cast<int8_t>(data[i]));
        }
    } else {
        fail(file.name(), ": tensor '", kStaticTableTensor, "' must be F32 or I8");
    }
    const bool normalize = file.get_bool(cat(kStaticArch, ".normalize")).value_or(true);
    auto embedder = std::unique_ptr<StaticEmbedder>(
        new StaticEmbedder(*tokenizer_json, std::move(floats), static_cast<size_t>(table->shape[0]),
                           normalize, file.name()));
    if (auto max = file.get_uint(cat(kStaticArch, ".max_tokens"))) {
        embedder->max_tokens_ = static_cast<size_t>(*max);
    }
    return embedder;
}

std::span<const float> StaticEmbedder::row(TokenId id) const {
    if (id < 0 || static_cast<size_t>(id) >= n_vocab()) fail("token id ", id, " out of range");
    return std::span<const float>(table_).subspan(static_cast<size_t>(id) * dim_, dim_);
}

std::vector<TokenId> StaticEmbedder::pooled_tokens(std::string_view text) const {
    // No special tokens added; added tokens in the text match as Hugging Face always does.
    auto ids = tokenizer_->encode(text, /*add_special=*/false, /*parse_special=*/true);
    std::erase(ids, unk_);
    if (ids.size() > max_tokens_) ids.resize(max_tokens_);
    return ids;
}

std::vector<float> StaticEmbedder::embed(std::string_view text) const {
    const auto ids = pooled_tokens(text);
    std::vector<double> sum(dim_, 0.0);
    for (const auto id : ids) {
        const auto r = row(id);
        for (size_t j = 0; j < dim_; ++j) sum[j] += r[j];
    }
    std::vector<float> out(dim_, 0.0f);
    if (ids.empty()) return out;
    double scale = 1.0 / static_cast<double>(ids.size());
    if (normalize_) {
        double norm2 = 0.0;
        for (double v : sum) norm2 += v * v;
        // The mean's scale cancels when normalising; a zero sum stays zero.
        scale = norm2 > 0.0 ? 1.0 / std::sqrt(norm2) : 0.0;
    }
    for (size_t j = 0; j < dim_; ++j) out[j] = static_cast<float>(sum[j] * scale);
    return out;
}

void StaticEmbedder::write_gguf(const fs::path& path) const {
    gguf::Writer writer;
    writer.set("general.architecture", std::string(kStaticArch));
    writer.set(cat(kStaticArch, ".embedding_length"), static_cast<uint32_t>(dim_));
    writer.set(cat(kStaticArch, ".normalize"), normalize_);
    writer.set(cat(kStaticArch, ".max_tokens"), static_cast<uint32_t>(max_tokens_));
    writer.set(std::string(kHfTokenizerKey), tokenizer_json_);

    // Int8 tables (Model2Vec's quantized models) stay int8: every value is a whole number.
    bool whole_int8 = true;
    for (float v : table_) {
        whole_int8 = whole_int8 && v == std::nearbyint(v) && v >= -128.0f && v <= 127.0f;
    }
    std::vector<std::byte> bytes;
    if (whole_int8) {
        bytes.resize(table_.size());
        for (size_t i = 0; i < table_.size(); ++i) {
            bytes[i] = static_cast<std::byte>(static_cast<int8_t>(table_[i]));
        }
    } else {
        bytes.resize(table_.size() * sizeof(float));
        std::memcpy(bytes.data(), table_.data(), bytes.size());
    }
    writer.add_tensor(std::string(kStaticTableTensor), whole_int8 ? DType::I8 : DType::F32,
                      {dim_, n_vocab()}, std::move(bytes));
    writer.write(path);
}

}  // namespace pocket::embed
