// Converting Hugging Face checkpoints to GGUF.
//
//  - Model2Vec static embedders (model.safetensors with "embeddings" + tokenizer.json): the
//    table and the tokenizer, readable by pocket::embed (see StaticEmbedder::write_gguf).
//  - Transformers (config.json "model_type"): llama, qwen2, qwen3, phi3, gemma2, gemma3 (text
//    model), bert. Hyper-parameters become `<arch>.*` keys, tensors get llama.cpp's names and
//    layouts (llama's Q/K rows re-ordered from Hugging Face's rotary halves to interleaved pairs;
//    Gemma's norms stored as 1 + w because Hugging Face Gemma multiplies by (1 + w)), and
//    tokenizer.json becomes tokenizer.ggml.* keys: byte-level BPE -> "gpt2", SentencePiece-style
//    BPE with byte fallback -> "llama" (scores and token types), WordPiece -> "bert".
// Anything the converter cannot represent faithfully (rope scaling, other activations, ...)
// throws pocket::Error naming the config.json field.
#pragma once

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>

#include "pocket/core/dtype.h"
#include "pocket/gguf/gguf.h"

namespace pocket::convert {

struct ConvertOptions {
    // Type of the 2-D weight matrices (F32, F16, BF16 or Q8_0); nullopt keeps each matrix's
    // stored float type. Norms, biases and other vectors are always F32; matrices whose rows do
    // not split into Q8_0 blocks fall back to F16 (as llama.cpp's converter does).
    std::optional<DType> type;
    // llama.cpp pre-tokenizer name for byte-level BPE; empty = detected from tokenizer.json.
    std::string pre_tokenizer;
};

struct ConvertResult {
    std::string kind;  // "model2vec" or the GGUF architecture ("llama", "qwen2", ...)
    size_t n_tensors = 0;
};

// Converts the folder `hf_dir` and writes `output`. Throws pocket::Error naming what is missing
// or unsupported.
ConvertResult convert_hf_to_gguf(const std::filesystem::path& hf_dir,
                                 const std::filesystem::path& output,
                                 const ConvertOptions& options = {});

// The GGUF of a transformer checkpoint folder (not Model2Vec) as a writer: metadata now, tensor
// data encoded from the memory-mapped safetensors only when the writer emits it (so writing a
// large model needs about one tensor of extra memory). `result`, when given, is filled in.
gguf::Writer build_gguf(const std::filesystem::path& hf_dir, const ConvertOptions& options = {},
                        ConvertResult* result = nullptr);

// tokenizer.json as tokenizer.ggml.* keys, picking the form from its model section (see above).
// The token list is padded with unused "[PADi]" tokens to at least `min_tokens` entries (the
// embedding table's rows, which may exceed the tokenizer's ids).
void add_vocab(gguf::Writer& writer, const std::filesystem::path& tokenizer_json,
               const std::string& pre_tokenizer, size_t min_tokens = 0);

// tokenizer.json (byte-level BPE) as tokenizer.ggml.* keys on `writer`: model "gpt2", the tokens
// by id, token types (normal, control for special added tokens, user-defined for the others),
// merges, the pre-tokenizer name and BOS/EOS from tokenizer_config.json / the post-processor.
void add_bpe_vocab(gguf::Writer& writer, const std::filesystem::path& tokenizer_json,
                   const std::string& pre_tokenizer, size_t min_tokens = 0);

// llama.cpp's pre-tokenizer name for a byte-level tokenizer.json, from its pre_tokenizer section
// ("llama-bpe", "smollm", "qwen2", "gpt-2"); throws when it is not recognised.
std::string detect_pre_tokenizer(const std::string& tokenizer_json_text);

}  // namespace pocket::convert
