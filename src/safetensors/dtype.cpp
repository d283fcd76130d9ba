// Element types of safetensors files: spelling, size and the matching pocket type.
#include <array>

#include "pocket/safetensors/safetensors.h"

namespace pocket::safetensors {
namespace {

struct Entry {
    DType type;
    std::string_view name;
    size_t size;
};

constexpr std::array kTypes = {
    Entry{DType::BOOL, "BOOL", 1},       Entry{DType::U8, "U8", 1},
    Entry{DType::I8, "I8", 1},           Entry{DType::F8_E5M2, "F8_E5M2", 1},
    Entry{DType::F8_E4M3, "F8_E4M3", 1}, Entry{DType::I16, "I16", 2},
    Entry{DType::U16, "U16", 2},         Entry{DType::F16, "F16", 2},
    Entry{DType::BF16, "BF16", 2},       Entry{DType::I32, "I32", 4},
    Entry{DType::U32, "U32", 4},         Entry{DType::F32, "F32", 4},
    Entry{DType::I64, "I64", 8},         Entry{DType::U64, "U64", 8},
    Entry{DType::F64, "F64", 8},
};

const Entry& entry(DType type) {
    for (const auto& e : kTypes) {
        if (e.type == type) return e;
    }
    fail("safetensors: invalid dtype value ", static_cast<int>(type));
}

}  // namespace

std::string_view dtype_name(DType type) {
    return entry(type).name;
}
size_t dtype_size(DType type) {
    return entry(type).size;
}

std::optional<DType> dtype_from_name(std::string_view name) {
    for (const auto& e : kTypes) {
        if (e.name == name) return e.type;
    }
    return std::nullopt;
}

std::optional<pocket::DType> to_pocket_dtype(DType type) {
    switch (type) {
        case DType::F32:
            return pocket::DType::F32;
        case DType::F16:
            return pocket::DType::F16;
        case DType::BF16:
            return pocket::DType::BF16;
        case DType::F64:
            return pocket::DType::F64;
        case DType::I8:
            return pocket::DType::I8;
        case DType::I16:
            return pocket::DType::I16;
        case DType::I32:
            return pocket::DType::I32;
        case DType::I64:
            return pocket::DType::I64;
        default:
            return std::nullopt;
    }
}

uint64_t TensorInfo::n_elements() const {
    uint64_t n = 1;
    for (uint64_t d : shape) n *= d;  // validated by the parser not to overflow
    return n;
}

}  // namespace pocket::safetensors
