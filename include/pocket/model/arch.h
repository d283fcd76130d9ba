// Architectures as data: one table row per GGUF `general.architecture`, read by the single
// transformer forward pass. Adding a family means describing how it differs, not copying a
// forward pass.
#pragma once

#include <span>
#include <string_view>

namespace pocket::model {

enum class NormKind { Rms, Layer };
// Normal rotates adjacent pairs (x[2i], x[2i+1]) (llama); Neox rotates (x[i], x[i + n_rot/2]).
enum class RopeStyle { Normal, Neox, None };  // None: absolute position embeddings (bert)
enum class FfnKind {
    SwiGlu,   // down(silu(gate(x)) * up(x))
    GeluGlu,  // down(gelu(gate(x)) * up(x))  (gemma)
    Gelu,     // down(gelu(up(x) + b_up)) + b_down  (bert)
};
// Which layers attend only to the last `sliding_window` positions.
enum class SlidingWindow {
    None,
    All,         // every layer (phi3)
    EvenLayers,  // layers 0, 2, 4, ... (gemma2)
    FiveToOne,   // five local layers, then one global: layer i is global when (i + 1) % 6 == 0
                 // (gemma3)
};

struct ArchSpec {
    std::string_view name;  // value of general.architecture
    NormKind norm = NormKind::Rms;
    RopeStyle rope = RopeStyle::Normal;
    FfnKind ffn = FfnKind::SwiGlu;
    SlidingWindow sliding_window = SlidingWindow::None;
    bool qkv_bias = false;        // attn_q/k/v carry .bias tensors (qwen2)
    bool fused_qkv = false;       // one attn_qkv matrix with rows [q | k | v] (phi3)
    bool fused_gate_up = false;   // ffn_up holds rows [gate | up] (phi3)
    bool qk_norm = false;         // RMSNorm of each q/k head before rope (qwen3, gemma3)
    bool post_attn_norm = false;  // norm of the attention output before the residual (gemma2)
    bool post_ffn_norm = false;   // norm of the FFN output before the residual (gemma2)
    bool embed_scale = false;     // token embeddings multiplied by sqrt(n_embd) (gemma)
    // Q is multiplied by 1/sqrt(head_dim) after rope and the scores are not scaled again
    // (phi3, gemma2): the same math as scaling the scores, rounded differently.
    bool scale_q = false;
    bool output_tied_ok = true;  // output.weight may be absent (token_embd reused)
    // Encoder-style variations (bert).
    bool causal = true;               // false: every token of a sequence attends to all of it
    bool post_norm = false;           // norm after each residual add instead of before each block
    bool linear_biases = false;       // attention output and FFN matrices carry biases
    bool absolute_positions = false;  // position_embd table added to the token embeddings
    bool token_types = false;         // token_types row 0 added to the token embeddings
    bool embed_norm = false;          // token_embd_norm after the embedding sum
    bool lm_head = true;              // false: an embedding model, outputs are hidden states
    // Local (sliding-window) layers use this rope base instead of rope.freq_base, unscaled
    // (gemma3's 10000); 0 = same as global layers.
    float local_rope_base = 0.0f;
};

// The row for `name`, or nullptr when pocket does not know the architecture.
const ArchSpec* find_arch(std::string_view name);
std::span<const ArchSpec> known_archs();

}  // namespace pocket::model
