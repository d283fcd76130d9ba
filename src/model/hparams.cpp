#include "pocket/model/hparams.h"

#include <cmath>

#include "pocket/core/error.h"
#include "pocket/gguf/gguf.h"

namespace pocket::model {
namespace {

class KeyReader {
  public:
    KeyReader(const gguf::File& file, std::string_view arch) : file_(file), prefix_(arch) {}

    std::string key(std::string_view suffix) const { return cat(prefix_, ".", suffix); }

    int64_t required(std::string_view suffix, int64_t min, int64_t max) const {
        auto value = file_.get_int(key(suffix));
        if (!value) fail(file_.name(), ": missing metadata key '", key(suffix), "'");
        return checked(suffix, *value, min, max);
    }

    int64_t optional(std::string_view suffix, int64_t fallback, int64_t min, int64_t max) const {
        auto value = file_.get_int(key(suffix));
        return value ? checked(suffix, *value, min, max) : fallback;
    }

    float optional_float(std::string_view suffix, float fallback) const {
        auto value = file_.get_float(key(suffix));
        if (!value) return fallback;
        if (!std::isfinite(*value))
            fail(file_.name(), ": metadata '", key(suffix), "' is not finite");
        return static_cast<float>(*value);
    }

  private:
    int64_t checked(std::string_view suffix, int64_t value, int64_t min, int64_t max) const {
        if (value < min || value > max) {
            fail(file_.name(), ": metadata '", key(suffix), "' = ", value, " is outside [", min,
                 ", ", max, "]");
        }
        return value;
    }

    const gguf::File& file_;
    std::string prefix_;
};

// Generous upper bounds: they only exist to turn absurd values into errors, not to limit models.
constexpr int64_t kMaxDim = int64_t{1} << 20;
constexpr int64_t kMaxLayers = 4096;
constexpr int64_t kMaxHeads = 4096;
constexpr int64_t kMaxVocab = int64_t{1} << 24;
constexpr int64_t kMaxCtx = int64_t{1} << 24;

}  // namespace

HParams read_hparams(const gguf::File& file, const ArchSpec& arch) {
    KeyReader keys(file, arch.name);
    HParams hp;
    hp.arch_name = std::string(arch.name);
    hp.n_embd = keys.required("embedding_length", 1, kMaxDim);
    hp.n_layer = keys.required("block_count", 1, kMaxLayers);
    hp.n_ff = keys.required("feed_forward_length", 1, kMaxDim * 8);
    hp.n_head = keys.required("attention.head_count", 1, kMaxHeads);
    hp.n_head_kv = keys.optional("attention.head_count_kv", hp.n_head, 1, hp.n_head);
    if (hp.n_head % hp.n_head_kv != 0) {
        fail(file.name(), ": attention.head_count ", hp.n_head,
             " is not a multiple of head_count_kv ", hp.n_head_kv);
    }
    hp.n_ctx_train = keys.optional("context_length", 2048, 1, kMaxCtx);
    const int64_t default_head_dim = hp.n_embd % hp.n_head == 0 ? hp.n_embd / hp.n_head : 0;
    hp.head_dim = keys.optional("attention.key_length", default_head_dim, 1, kMaxDim);
    const int64_t value_length = keys.optional("attention.value_length", hp.head_dim, 1, kMaxDim);
    if (value_length != hp.head_dim) {
        fail(file.name(), ": attention.value_length ", value_length, " differs from key_length ",
             hp.head_dim, " (not supported)");
    }
    hp.n_rot = arch.rope == RopeStyle::None
                   ? 0
                   : keys.optional("rope.dimension_count", hp.head_dim, 0, hp.head_dim);
    if (auto causal = file.get_bool(keys.key("attention.causal"));
        causal && *causal != arch.causal) {
        fail(file.name(), ": ", keys.key("attention.causal"), " = ", *causal,
             " is not supported for ", arch.name);
    }
    hp.pooling = static_cast<Pooling>(keys.optional("pooling_type", arch.lm_head ? 0 : 1, 0, 4));
    if (hp.n_rot % 2 != 0) fail(file.name(), ": rope.dimension_count ", hp.n_rot, " is odd");

    const std::string eps_key = arch.norm == NormKind::Rms ? "attention.layer_norm_rms_epsilon"
                                                           : "attention.layer_norm_epsilon";
    hp.norm_eps = keys.optional_float(eps_key, -1.0f);
    if (!(hp.norm_eps > 0.0f)) fail(file.name(), ": missing or invalid '", keys.key(eps_key), "'");

    hp.rope_freq_base = keys.optional_float("rope.freq_base", 10000.0f);
    if (!(hp.rope_freq_base > 0.0f)) fail(file.name(), ": rope.freq_base must be positive");
    // A missing scaling type means linear, as llama.cpp reads it; the factor may also sit under
    // the older key rope.scale_linear.
    const auto scaling = file.get_string(keys.key("rope.scaling.type")).value_or("linear");
    if (scaling == "linear") {
        const float factor = keys.optional_float("rope.scaling.factor",
                                                 keys.optional_float("rope.scale_linear", 1.0f));
        if (!(factor > 0.0f)) fail(file.name(), ": rope scaling factor must be positive");
        hp.rope_freq_scale = 1.0f / factor;
    } else if (scaling != "none") {
        fail(file.name(), ": rope scaling type '", scaling, "' is not supported yet");
    }

    hp.attn_softcap = keys.optional_float("attn_logit_softcapping", 0.0f);
    hp.final_softcap = keys.optional_float("final_logit_softcapping", 0.0f);
    if (hp.attn_softcap < 0.0f || hp.final_softcap < 0.0f)
        fail(file.name(), ": negative soft-capping value");
    if (arch.sliding_window != SlidingWindow::None) {
        hp.sliding_window = keys.optional("attention.sliding_window", 0, 0, kMaxCtx);
    }
    // Gemma 2 27B (46 layers) scales queries by 1/sqrt(n_embd/n_head) instead of 1/sqrt(head_dim);
    // the model files do not say so, the layer count is how llama.cpp tells them apart.
    // Gemma 3 27B (62 layers) likewise.
    const bool gemma_27b =
        (arch.name == "gemma2" && hp.n_layer == 46) || (arch.name == "gemma3" && hp.n_layer == 62);
    hp.attn_scale =
        1.0f / std::sqrt(static_cast<float>(gemma_27b ? hp.n_embd / hp.n_head : hp.head_dim));

    if (auto vocab = file.get_int(keys.key("vocab_size"))) {
        hp.n_vocab = *vocab;
    } else if (const auto* tokens = file.get_array("tokenizer.ggml.tokens")) {
        hp.n_vocab = static_cast<int64_t>(tokens->items.size());
    } else if (const auto* embd = file.find_tensor("token_embd.weight");
               embd && embd->shape.size() == 2) {
        hp.n_vocab = static_cast<int64_t>(embd->shape[1]);
    }
    if (hp.n_vocab < 1 || hp.n_vocab > kMaxVocab) {
        fail(file.name(), ": vocabulary size ", hp.n_vocab, " is missing or out of range");
    }
    return hp;
}

bool HParams::is_sliding_layer(const ArchSpec& arch, int64_t layer) const {
    if (sliding_window <= 0) return false;
    switch (arch.sliding_window) {
        case SlidingWindow::None:
            return false;
        case SlidingWindow::All:
            return true;
        case SlidingWindow::EvenLayers:
            return layer % 2 == 0;
        case SlidingWindow::FiveToOne:
            return (layer + 1) % 6 != 0;
    }
    return false;
}

}  // namespace pocket::model
