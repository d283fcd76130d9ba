// Internal: validating a safetensors image, shared by File::open and File::parse.
#pragma once

#include <map>
#include <span>
#include <string>
#include <vector>

#include "pocket/safetensors/safetensors.h"

namespace pocket::safetensors::detail {

struct Parsed {
    std::string name;
    std::span<const std::byte> bytes;
    uint64_t data_offset = 0;
    std::map<std::string, std::string> metadata;
    std::vector<TensorInfo> tensors;  // sorted by begin
    std::map<std::string, size_t, std::less<>> index;
};

// Validates `out.bytes` completely and fills the rest of `out`; throws FormatError.
void parse_image(Parsed& out);

}  // namespace pocket::safetensors::detail
