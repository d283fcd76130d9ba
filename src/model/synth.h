// Random-weight models of real shapes, for tests and benchmarks: the tensors, metadata and
// tokenizer of a published model's architecture, with weights drawn from a seeded generator.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pocket/core/dtype.h"
#include "pocket/quant/scheme.h"

namespace pocket::gguf {
class Writer;
}

namespace pocket::model {

struct SynthShape {
    std::string_view name;
    std::string_view description;
    int64_t n_vocab, n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff, n_ctx_train;
    float rope_freq_base, norm_eps;
    bool tied_output;
    // Llama 3.1-style rope scaling, written as a rope_freqs tensor (factor 0 = none).
    float llama3_rope_factor = 0.0f, llama3_low_freq_factor = 1.0f, llama3_high_freq_factor = 4.0f;
    int64_t llama3_original_ctx = 8192;
    // "llama", "qwen3" (Q/K norms) or "gemma3" (GELU-gated FFN, Q/K norms, post-norms, local
    // attention layers).
    std::string_view arch = "llama";
    int64_t sliding_window = 0;  // gemma3: the local layers' window
};

std::span<const SynthShape> synth_shapes();
const SynthShape* find_synth_shape(std::string_view name);

struct SynthOptions {
    quant::Scheme scheme = *quant::parse_scheme("f16");  // types of the 2-D weights
    uint64_t seed = 42;
    // Writes the tokenizer.ggml.* keys in place of the synthetic vocabulary, with at least
    // `min_tokens` tokens (e.g. a real tokenizer.json through convert::add_vocab, so constrained
    // generation can be tested on a full 128k vocabulary); the model's vocabulary size follows
    // the token list it wrote. Empty: the synthetic vocabulary of the shape's size.
    std::function<void(gguf::Writer& writer, int64_t min_tokens)> vocabulary;
};

struct SynthResult {
    uint64_t file_bytes = 0;
    uint64_t n_params = 0;
    // Tensors whose type differs from the scheme's base type (a mix's choice, or a fallback for
    // rows that do not split into the base type's blocks), as llama.cpp's quantizer decides.
    std::vector<std::pair<std::string, DType>> other_types;
};

// Writes the model to `path` (streamed; memory use stays small whatever the model size).
SynthResult write_synth_model(const SynthShape& shape, const SynthOptions& options,
                              const std::filesystem::path& path);

// A random-weight llama of a chosen (usually smaller) shape carrying `teacher`'s vocabulary: every
// tokenizer.* key of the teacher is copied, so the two models' logits index the same tokens (a
// student for knowledge distillation). Dimensions left 0 take the teacher's values (head_dim:
// n_embd / n_head when n_embd or n_head is given, else the teacher's; n_head_kv: the teacher's
// when it divides n_head, else n_head); norm epsilon, rope base,
// training context and whether the output is tied to the embedding are the teacher's. The
// student is always the llama architecture, whatever the teacher's: only the vocabulary is shared.
struct LikeShape {
    int64_t n_layer = 0, n_embd = 0, n_head = 0, n_head_kv = 0, n_ff = 0, head_dim = 0;
};
SynthResult write_synth_like(const std::filesystem::path& teacher, const LikeShape& like,
                             SynthOptions options, const std::filesystem::path& path);

// The synthetic SentencePiece vocabulary the models carry: <unk>, <s>, </s>, 256 byte tokens,
// then printable pieces with descending scores, `n_vocab` tokens in all.
struct SynthVocab {
    std::vector<std::string> tokens;
    std::vector<float> scores;
    std::vector<int32_t> types;
};
SynthVocab make_synth_vocab(int64_t n_vocab);

// Per-dimension-pair frequency divisors of Llama 3.1-style rope scaling (the rope_freqs tensor);
// empty when the shape has none.
std::vector<float> llama3_rope_factors(const SynthShape& shape);

}  // namespace pocket::model
