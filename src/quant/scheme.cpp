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

// general.file_type values are llama.cpp's llama_ftype numbers. Q2_K, Q3_K, Q4_K and Q5_K are
// llama-quantize's aliases of Q2_K, Q3_K_M, Q4_K_M and Q5_K_M (same file_type); pocket synth keeps
// them pure (k_mix false), pocket quantize applies the mix of the file_type unless --pure.
constexpr std::array kSchemes = {
    Named{"f32", DType::F32, false, 0},        Named{"f16", DType::F16, false, 1},
    Named{"bf16", DType::BF16, false, 32},     Named{"q8_0", DType::Q8_0, false, 7},
    Named{"q4_0", DType::Q4_0, false, 2},      Named{"q4_1", DType::Q4_1, false, 3},
    Named{"q5_0", DType::Q5_0, false, 8},      Named{"q5_1", DType::Q5_1, false, 9},
    Named{"q2_k", DType::Q2_K, false, 10},     Named{"q3_k", DType::Q3_K, false, 12},
    Named{"q4_k", DType::Q4_K, false, 15},     Named{"q5_k", DType::Q5_K, false, 17},
    Named{"q6_k", DType::Q6_K, false, 18},     Named{"iq4_nl", DType::IQ4_NL, false, 25},
    Named{"iq4_xs", DType::IQ4_XS, false, 30}, Named{"q3_k_s", DType::Q3_K, true, 11},
    Named{"q3_k_m", DType::Q3_K, true, 12},    Named{"q3_k_l", DType::Q3_K, true, 13},
    Named{"q4_k_s", DType::Q4_K, true, 14},    Named{"q4_k_m", DType::Q4_K, true, 15},
    Named{"q5_k_s", DType::Q5_K, true, 16},    Named{"q5_k_m", DType::Q5_K, true, 17},
};

constexpr std::array<std::string_view, kSchemes.size()> kNames = [] {
    std::array<std::string_view, kSchemes.size()> names{};
    for (size_t i = 0; i < kSchemes.size(); ++i) names[i] = kSchemes[i].name;
    return names;
}();

// Which tensors of a role a rule covers (all of llama_tensor_get_type's layer conditions for the
// ftypes pocket writes).
enum class Layers {
    All,
    MoreBits,        // use_more_bits(i, n): first and last eighth, every third in between
    FirstEighth,     // i < n / 8
    FirstSixteenth,  // i < n / 16
    FirstTwo,        // i < 2 (Q3_K_M attn_v)
    FirstFour,       // i < 4 (Q4_K_S attn_v)
    Gqa4,            // all, when n_head / n_head_kv >= 4
};

struct MixRule {
    uint32_t file_type;
    TensorRole role;
    Layers layers;
    DType type;
};

// llama.cpp src/llama-quant.cpp (c392e50), llama_tensor_get_type, the branches for these ftypes
// without an importance matrix and for non-Falcon, non-MoE models. Rules of one (ftype, role) are
// tried in order; the first whose layer condition holds wins, none keeps the base type. The
// output head rule (Q6_K for every quantized ftype except Q8_0) is applied in mix_type.
constexpr std::array kRules = {
    // Q2_K: attn_v Q4_K with GQA >= 4 else Q3_K; ffn_down Q3_K; attn_output Q3_K.
    MixRule{10, TensorRole::AttnV, Layers::Gqa4, DType::Q4_K},
    MixRule{10, TensorRole::AttnV, Layers::All, DType::Q3_K},
    MixRule{10, TensorRole::FfnDown, Layers::All, DType::Q3_K},
    MixRule{10, TensorRole::AttnOutput, Layers::All, DType::Q3_K},
    // Q3_K_S (11): only the output rule.
    // Q3_K_M: attn_v Q5_K for the first two, else Q4_K; ffn_down Q5_K below n/16 else Q4_K
    // ("arch != FALCON || use_more_bits" is always true here); attn_output Q4_K.
    MixRule{12, TensorRole::AttnV, Layers::FirstTwo, DType::Q5_K},
    MixRule{12, TensorRole::AttnV, Layers::All, DType::Q4_K},
    MixRule{12, TensorRole::FfnDown, Layers::FirstSixteenth, DType::Q5_K},
    MixRule{12, TensorRole::FfnDown, Layers::All, DType::Q4_K},
    MixRule{12, TensorRole::AttnOutput, Layers::All, DType::Q4_K},
    // Q3_K_L: attn_v, ffn_down and attn_output Q5_K.
    MixRule{13, TensorRole::AttnV, Layers::All, DType::Q5_K},
    MixRule{13, TensorRole::FfnDown, Layers::All, DType::Q5_K},
    MixRule{13, TensorRole::AttnOutput, Layers::All, DType::Q5_K},
    // Q4_K_S: attn_v Q5_K for the first four; ffn_down Q5_K in the first eighth.
    MixRule{14, TensorRole::AttnV, Layers::FirstFour, DType::Q5_K},
    MixRule{14, TensorRole::FfnDown, Layers::FirstEighth, DType::Q5_K},
    // Q4_K_M and Q5_K_M: attn_v and ffn_down Q6_K where use_more_bits.
    MixRule{15, TensorRole::AttnV, Layers::MoreBits, DType::Q6_K},
    MixRule{15, TensorRole::FfnDown, Layers::MoreBits, DType::Q6_K},
    // Q5_K_S (16): only the output rule.
    MixRule{17, TensorRole::AttnV, Layers::MoreBits, DType::Q6_K},
    MixRule{17, TensorRole::FfnDown, Layers::MoreBits, DType::Q6_K},
    // IQ4_NL and IQ4_XS: attn_v Q5_K with GQA >= 4; ffn_down Q5_K in the first eighth.
    MixRule{25, TensorRole::AttnV, Layers::Gqa4, DType::Q5_K},
    MixRule{25, TensorRole::FfnDown, Layers::FirstEighth, DType::Q5_K},
    MixRule{30, TensorRole::AttnV, Layers::Gqa4, DType::Q5_K},
    MixRule{30, TensorRole::FfnDown, Layers::FirstEighth, DType::Q5_K},
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

bool covers(Layers layers, const TensorPlace& p) {
    switch (layers) {
        case Layers::All:
            return true;
        case Layers::MoreBits:
            return use_more_bits(p.layer, p.n_layer);
        case Layers::FirstEighth:
            return p.layer < p.n_layer / 8;
        case Layers::FirstSixteenth:
            return p.layer < p.n_layer / 16;
        case Layers::FirstTwo:
            return p.layer < 2;
        case Layers::FirstFour:
            return p.layer < 4;
        case Layers::Gqa4:
            return p.n_gqa >= 4;
    }
    return false;
}

bool is_quantized(DType t) {
    return t != DType::F32 && t != DType::F16 && t != DType::BF16;
}

}  // namespace

std::optional<Scheme> parse_scheme(std::string_view name) {
    for (const auto& s : kSchemes) {
        if (iequals(s.name, name)) return Scheme{std::string(s.name), s.base, s.k_mix, s.file_type};
    }
    return std::nullopt;
}

std::span<const std::string_view> scheme_names() {
    return kNames;
}

DType fallback_type(DType wanted, int64_t row_length) {
    auto fits = [&](DType t) { return row_length % traits(t).block_size == 0; };
    if (fits(wanted)) return wanted;
    DType next = DType::F16;
    switch (wanted) {
        case DType::Q2_K:
        case DType::Q3_K:
        case DType::IQ4_XS:
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

DType mix_type(const Scheme& scheme, const TensorPlace& place) {
    const DType base = scheme.base;
    if (!is_quantized(base)) return base;
    const bool is_output = place.role == TensorRole::Output ||
                           (place.output_tied && place.role == TensorRole::TokenEmbedding);
    if (is_output) {
        // The head is the most sensitive matrix: Q6_K, or Q8_0 when the rows do not split into the
        // base type's blocks; a Q8_0 scheme keeps Q8_0.
        if (place.row_length % traits(base).block_size != 0) return DType::Q8_0;
        return base == DType::Q8_0 ? DType::Q8_0 : DType::Q6_K;
    }
    for (const auto& rule : kRules) {
        if (rule.file_type == scheme.file_type && rule.role == place.role &&
            covers(rule.layers, place)) {
            return rule.type;
        }
    }
    return base;
}

DType choose_type(const Scheme& scheme, TensorRole role, int64_t layer, int64_t n_layer,
                  int64_t row_length, bool output_tied) {
    const TensorPlace place{.role = role,
                            .layer = layer,
                            .n_layer = n_layer,
                            .row_length = row_length,
                            .output_tied = output_tied};
    return fallback_type(scheme.k_mix ? mix_type(scheme, place) : scheme.base, row_length);
}

}  // namespace pocket::quant
