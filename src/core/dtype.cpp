#include "pocket/core/dtype.h"

#include <array>
#include <cctype>

#include "pocket/core/error.h"

namespace pocket {
namespace {

constexpr std::array kTraits = {
    DTypeTraits{DType::F32, "f32", 1, 4, true},
    DTypeTraits{DType::F16, "f16", 1, 2, true},
    DTypeTraits{DType::Q4_0, "q4_0", 32, 18, true},
    DTypeTraits{DType::Q4_1, "q4_1", 32, 20, true},
    DTypeTraits{DType::Q5_0, "q5_0", 32, 22, true},
    DTypeTraits{DType::Q5_1, "q5_1", 32, 24, true},
    DTypeTraits{DType::Q8_0, "q8_0", 32, 34, true},
    DTypeTraits{DType::Q8_1, "q8_1", 32, 36, false},
    DTypeTraits{DType::Q2_K, "q2_K", 256, 84, true},
    DTypeTraits{DType::Q3_K, "q3_K", 256, 110, true},
    DTypeTraits{DType::Q4_K, "q4_K", 256, 144, true},
    DTypeTraits{DType::Q5_K, "q5_K", 256, 176, true},
    DTypeTraits{DType::Q6_K, "q6_K", 256, 210, true},
    DTypeTraits{DType::Q8_K, "q8_K", 256, 292, false},
    DTypeTraits{DType::IQ2_XXS, "iq2_xxs", 256, 66, false},
    DTypeTraits{DType::IQ2_XS, "iq2_xs", 256, 74, false},
    DTypeTraits{DType::IQ3_XXS, "iq3_xxs", 256, 98, false},
    DTypeTraits{DType::IQ1_S, "iq1_s", 256, 50, false},
    DTypeTraits{DType::IQ4_NL, "iq4_nl", 32, 18, true},
    DTypeTraits{DType::IQ3_S, "iq3_s", 256, 110, false},
    DTypeTraits{DType::IQ2_S, "iq2_s", 256, 82, false},
    DTypeTraits{DType::IQ4_XS, "iq4_xs", 256, 136, true},
    DTypeTraits{DType::I8, "i8", 1, 1, false},
    DTypeTraits{DType::I16, "i16", 1, 2, false},
    DTypeTraits{DType::I32, "i32", 1, 4, false},
    DTypeTraits{DType::I64, "i64", 1, 8, false},
    DTypeTraits{DType::F64, "f64", 1, 8, false},
    DTypeTraits{DType::IQ1_M, "iq1_m", 256, 56, false},
    DTypeTraits{DType::BF16, "bf16", 1, 2, true},
    DTypeTraits{DType::TQ1_0, "tq1_0", 256, 54, false},
    DTypeTraits{DType::TQ2_0, "tq2_0", 256, 66, false},
    DTypeTraits{DType::MXFP4, "mxfp4", 32, 17, false},
};

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
        if (std::tolower(static_cast<unsigned char>(a[i])) !=
            std::tolower(static_cast<unsigned char>(b[i])))
            return false;
    }
    return true;
}

}  // namespace

std::optional<DTypeTraits> dtype_traits(uint32_t id) {
    for (const auto& t : kTraits) {
        if (static_cast<uint32_t>(t.type) == id) return t;
    }
    return std::nullopt;
}

const DTypeTraits& traits(DType type) {
    for (const auto& t : kTraits) {
        if (t.type == type) return t;
    }
    fail("unknown tensor type id ", static_cast<uint32_t>(type));
}

std::string_view dtype_name(DType type) {
    return traits(type).name;
}

std::optional<DType> dtype_from_name(std::string_view name) {
    for (const auto& t : kTraits) {
        if (iequals(t.name, name)) return t.type;
    }
    return std::nullopt;
}

std::optional<uint64_t> row_bytes(DType type, uint64_t n) {
    const auto& t = traits(type);
    if (n % t.block_size != 0) return std::nullopt;
    return n / t.block_size * t.block_bytes;
}

}  // namespace pocket
