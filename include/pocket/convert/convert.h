// Converting Hugging Face checkpoints to GGUF.
//
//  - Model2Vec static embedders (model.safetensors with "embeddings" + tokenizer.json): the
//    table and the tokenizer, readable by pocket::embed (see StaticEmbedder::write_gguf).
//  - The llama family (config.json "model_type": "llama"): llama.* hyper-parameters, tensors
//    renamed to llama.cpp's names (model.layers.N.self_attn.q_proj.weight -> blk.N.attn_q.weight,
//    ...), Q and K rows permuted from Hugging Face's rotary layout (each head's two halves) to
//    GGUF llama's interleaved pairs, and the byte-level BPE tokenizer.json as tokenizer.ggml.*.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "pocket/core/dtype.h"
#include "pocket/gguf/gguf.h"

namespace pocket::convert {

struct ConvertOptions {
    // Type of the 2-D weight matrices (F32, F16, BF16 or Q8_0); norms and other vectors stay F32.
    DType type = DType::F16;
    // llama.cpp pre-tokenizer name; empty = detected from tokenizer.json.
    std::string pre_tokenizer;
};

struct ConvertResult {
    std::string kind;  // "model2vec" or "llama"
    size_t n_tensors = 0;
};

// Converts the folder `hf_dir` and writes `output`. Throws pocket::Error naming what is missing
// or unsupported.
ConvertResult convert_hf_to_gguf(const std::filesystem::path& hf_dir,
                                 const std::filesystem::path& output,
                                 const ConvertOptions& options = {});

// tokenizer.json (byte-level BPE) as tokenizer.ggml.* keys on `writer`: model "gpt2", the tokens
// by id, token types (normal, control for special added tokens, user-defined for the others),
// merges, the pre-tokenizer name and BOS/EOS from tokenizer_config.json / the post-processor.
void add_bpe_vocab(gguf::Writer& writer, const std::filesystem::path& tokenizer_json,
                   const std::string& pre_tokenizer);

// llama.cpp's pre-tokenizer name for a byte-level tokenizer.json, from its pre_tokenizer section
// ("llama-bpe", "smollm", "qwen2", "gpt-2"); throws when it is not recognised.
std::string detect_pre_tokenizer(const std::string& tokenizer_json_text);

}  // namespace pocket::convert
