// The safetensors writer: JSON header (padded with spaces to a multiple of 8 so the data section
// starts aligned), then the tensors packed in insertion order.
#include <cstring>
#include <fstream>
#include <limits>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "pocket/safetensors/safetensors.h"

namespace pocket::safetensors {

void Writer::set_metadata(std::string key, std::string value) {
    metadata_[std::move(key)] = std::move(value);
}

void Writer::add_tensor(std::string name, DType dtype, std::vector<uint64_t> shape,
                        std::vector<std::byte> data) {
    if (name.empty() || name == kMetadataKey)
        fail("safetensors writer: invalid tensor name '", name, "'");
    for (const auto& t : tensors_) {
        if (t.name == name) fail("safetensors writer: duplicate tensor '", name, "'");
    }
    uint64_t bytes = dtype_size(dtype);
    for (uint64_t d : shape) {
        if (d != 0 && bytes > std::numeric_limits<uint64_t>::max() / d) {
            fail("safetensors writer: tensor '", name, "' size overflows");
        }
        bytes *= d;
    }
    if (bytes != data.size()) {
        fail("safetensors writer: tensor '", name, "' has ", data.size(), " bytes, its ",
             dtype_name(dtype), " shape needs ", bytes);
    }
    tensors_.push_back({std::move(name), dtype, std::move(shape), std::move(data)});
}

std::vector<std::byte> Writer::to_bytes() const {
    nlohmann::ordered_json header = nlohmann::ordered_json::object();
    if (!metadata_.empty()) header[std::string(kMetadataKey)] = metadata_;
    uint64_t offset = 0;
    for (const auto& t : tensors_) {
        header[t.name] = {{"dtype", dtype_name(t.dtype)},
                          {"shape", t.shape},
                          {"data_offsets", {offset, offset + t.data.size()}}};
        offset += t.data.size();
    }
    std::string text = header.dump();
    text.append((8 - (8 + text.size()) % 8) % 8, ' ');

    std::vector<std::byte> out(8 + text.size());
    const uint64_t length = text.size();
    std::memcpy(out.data(), &length, 8);
    std::memcpy(out.data() + 8, text.data(), text.size());
    out.reserve(out.size() + offset);
    for (const auto& t : tensors_) out.insert(out.end(), t.data.begin(), t.data.end());
    return out;
}

void Writer::write(const std::filesystem::path& path) const {
    const auto bytes = to_bytes();
    const auto partial = std::filesystem::path(cat(path.string(), ".partial-", ::getpid()));
    {
        std::ofstream out(partial, std::ios::binary | std::ios::trunc);
        out.write(reinterpret_cast<const char*>(bytes.data()),
                  static_cast<std::streamsize>(bytes.size()));
        out.close();
        if (!out) {
            std::error_code ignored;
            std::filesystem::remove(partial, ignored);
            fail("cannot write ", path.string());
        }
    }
    std::filesystem::rename(partial, path);
}

}  // namespace pocket::safetensors
