// Internal: the result of validating a GGUF image, shared by the parser and pocket::gguf::File.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "pocket/gguf/gguf.h"

namespace pocket::gguf::detail {

struct Parsed {
    std::string name;
    std::span<const std::byte> bytes;

    uint32_t version = 0;
    uint64_t alignment = kDefaultAlignment;
    uint64_t data_offset = 0;

    std::vector<KeyValue> metadata;
    std::vector<uint64_t> kv_offsets;  // absolute offset of each entry's type field
    std::map<std::string, size_t, std::less<>> kv_index;
    std::vector<TensorInfo> tensors;
    std::map<std::string, size_t, std::less<>> tensor_index;
};

// Validates `out.bytes` completely and fills the rest of `out`; throws FormatError naming
// `out.name`, the absolute offset and the field.
void parse_image(Parsed& out, const ReadOptions& options);

}  // namespace pocket::gguf::detail
