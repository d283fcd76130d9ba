// Hyper-parameters of a transformer, read from GGUF metadata (`<arch>.*` keys).
#pragma once

#include <cstdint>
#include <string>

#include "pocket/model/arch.h"

namespace pocket::gguf {
class File;
}

namespace pocket::model {

// How an embedding model turns token states into one vector (GGUF <arch>.pooling_type).
enum class Pooling { None = 0, Mean = 1, Cls = 2, Last = 3, Rank = 4 };

struct HParams {
    std::string arch_name;
    int64_t n_vocab = 0;
    int64_t n_ctx_train = 0;
    int64_t n_embd = 0;
    int64_t n_layer = 0;
    int64_t n_ff = 0;
    int64_t n_head = 0;
    int64_t n_head_kv = 0;
    int64_t head_dim = 0;    // key/value length per head
    int64_t n_rot = 0;       // rotary dimensions per head (<= head_dim)
    float norm_eps = 1e-5f;  // RMSNorm / LayerNorm epsilon
    float rope_freq_base = 10000.0f;
    float rope_freq_scale = 1.0f;  // 1 / linear scaling factor
    float attn_softcap = 0.0f;     // scores -> c * tanh(scores / c) when > 0 (gemma2)
    float final_softcap = 0.0f;    // logits -> c * tanh(logits / c) when > 0 (gemma2)
    int64_t sliding_window = 0;    // positions a sliding-window layer sees (0 = unlimited)
    float attn_scale = 0.0f;       // factor on Q·K (or on Q, with ArchSpec::scale_q)
    Pooling pooling = Pooling::None;

    int64_t n_embd_q() const { return n_head * head_dim; }
    int64_t n_embd_kv() const { return n_head_kv * head_dim; }
    int64_t n_gqa() const { return n_head / n_head_kv; }
    bool is_sliding_layer(const ArchSpec& arch, int64_t layer) const;
};

// Reads and validates the hyper-parameters; `n_vocab` comes from `<arch>.vocab_size` or the
// token list. Throws pocket::Error naming the offending key.
HParams read_hparams(const gguf::File& file, const ArchSpec& arch);

}  // namespace pocket::model
