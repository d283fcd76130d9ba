// Architectures as data: one table row per GGUF `general.architecture`, read by the single
// transformer forward pass. Adding a family means describing how it differs, not copying a
// forward pass.
#pragma once

#include <span>
#include <string_view>

namespace pocket::model {

enum class NormKind { Rms, Layer };
// Normal rotates adjacent pairs (x[2i], x[2i+1]) (llama); Neox rotates (x[i], x[i + d/2]).
enum class RopeStyle { Normal, Neox };
enum class FfnKind {
    SwiGlu,  // down(silu(gate(x)) * up(x))
};

struct ArchSpec {
    std::string_view name;  // value of general.architecture
    NormKind norm = NormKind::Rms;
    RopeStyle rope = RopeStyle::Normal;
    FfnKind ffn = FfnKind::SwiGlu;
    bool causal = true;
    // Each of these names a variation some families have; the forward pass checks the flag.
    bool qkv_bias = false;       // attn_q/k/v carry .bias tensors
    bool output_tied_ok = true;  // output.weight may be absent (token_embd reused)
};

// The row for `name`, or nullptr when pocket does not know the architecture.
const ArchSpec* find_arch(std::string_view name);
std::span<const ArchSpec> known_archs();

}  // namespace pocket::model
