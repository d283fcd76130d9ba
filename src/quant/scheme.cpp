#include "pocket/quant/scheme.h"

#include <array>
#include <cctype>

namespace pocket::quant {
namespace {

struct Named {
    std::string_view name;
    DType base;
    bool k_mix;
    uint32_t file_type;
};

// general.file_type values are llama.cpp's llama_ftype numbers.
constexpr std::array kSchemes = {
    Named{"f32", DType::F32, false, 0},     Named{"f16", DType::F16, false, 1},
    Named{"bf16", DType::BF16, false, 32},  Named{"q8_0", DType::Q8_0, false, 7},
    Named{"q4_0", DType::Q4_0, false, 2},   Named{"q4_1", DType::Q4_1, false, 3},
    Named{"q5_0", DType::Q5_0, false, 8},   Named{"q5_1", DType::Q5_1, false, 9},
    Named{"q2_k", DType::Q2_K, false, 10},  Named{"q3_k", DType::Q3_K, false, 12},
    Named{"q4_k", DType::Q4_K, false, 15},  Named{"q5_k", DType::Q5_K, false, 17},
    Named{"q6_k", DType::Q6_K, false, 18},  Named{"iq4_nl", DType::IQ4_NL, false, 25},
    Named{"q4_k_m", DType::Q4_K, true, 15}, Named{"q5_k_m", DType::Q5_K, true, 17},
};

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
        if (std::tolower(static_cast<unsigned char>(a[i])) !=
            std::tolower(static_cast<unsigned char>(b[i]))) {
            return false;
        }
    }
    return true;
}

// llama-quantize gives these layers more bits in the _M mixes: the first and last eighth, and every
// third layer in between.
bool use_more_bits(int64_t layer, int64_t n_layer) {
    return layer < n_layer / 8 || layer >= 7 * n_layer / 8 || (layer - n_layer / 8) % 3 == 2;
}

}  // namespace

std::optional<Scheme> parse_scheme(std::string_view name) {
    for (const auto& s : kSchemes) {
        if (iequals(s.name, name)) return Scheme{std::string(s.name), s.base, s.k_mix, s.file_type};
    }
    return std::nullopt;
}

DType fallback_type(DType wanted, int64_t row_length) {
    auto fits = [&](DType t) { return row_length % traits(t).block_size == 0; };
    if (fits(wanted)) return wanted;
    DType next = DType::F16;
    switch (wanted) {
        case DType::Q2_K:
        case DType::Q3_K:
            next = DType::IQ4_NL;
            break;
        case DType::Q4_K:
            next = DType::Q5_0;
            break;
        case DType::Q5_K:
            next = DType::Q5_1;
            break;
        case DType::Q6_K:
            next = DType::Q8_0;
            break;
        default:
            break;
    }
    return fits(next) ? next : DType::F16;
}

DType choose_type(const Scheme& scheme, TensorRole role, int64_t layer, int64_t n_layer,
                  int64_t row_length, bool output_tied) {
    DType type = scheme.base;
    if (scheme.k_mix) {
        const bool is_output =
            role == TensorRole::Output || (output_tied && role == TensorRole::TokenEmbedding);
        if (is_output) {
            type = DType::Q6_K;
        } else if ((role == TensorRole::AttnV || role == TensorRole::FfnDown) &&
                   use_more_bits(layer, n_layer)) {
            type = DType::Q6_K;
        }
    }
    return fallback_type(type, row_length);
}

}  // namespace pocket::quant
