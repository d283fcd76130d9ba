#include "pocket/model/arch.h"

#include <array>

namespace pocket::model {
namespace {

constexpr std::array kArchs = {
    ArchSpec{.name = "llama"},
    ArchSpec{.name = "qwen2", .rope = RopeStyle::Neox, .qkv_bias = true},
    ArchSpec{.name = "phi3",
             .rope = RopeStyle::Neox,
             .sliding_window = SlidingWindow::All,
             .fused_qkv = true,
             .fused_gate_up = true,
             .scale_q = true},
    ArchSpec{.name = "gemma2",
             .rope = RopeStyle::Neox,
             .ffn = FfnKind::GeluGlu,
             .sliding_window = SlidingWindow::EvenLayers,
             .post_attn_norm = true,
             .post_ffn_norm = true,
             .embed_scale = true,
             .scale_q = true},
    ArchSpec{.name = "qwen3", .rope = RopeStyle::Neox, .qk_norm = true},
    ArchSpec{.name = "gemma3",
             .rope = RopeStyle::Neox,
             .ffn = FfnKind::GeluGlu,
             .sliding_window = SlidingWindow::FiveToOne,
             .qk_norm = true,
             .post_attn_norm = true,
             .post_ffn_norm = true,
             .embed_scale = true,
             .scale_q = true,
             .local_rope_base = 10000.0f},
    ArchSpec{.name = "bert",
             .norm = NormKind::Layer,
             .rope = RopeStyle::None,
             .ffn = FfnKind::Gelu,
             .qkv_bias = true,
             .causal = false,
             .post_norm = true,
             .linear_biases = true,
             .absolute_positions = true,
             .token_types = true,
             .embed_norm = true,
             .lm_head = false},
};

}  // namespace

const ArchSpec* find_arch(std::string_view name) {
    for (const auto& arch : kArchs) {
        if (arch.name == name) return &arch;
    }
    return nullptr;
}

std::span<const ArchSpec> known_archs() {
    return kArchs;
}

}  // namespace pocket::model
