// llama.cpp's byte-level BPE pre-tokenizers, selected by the GGUF key tokenizer.ggml.pre: the list
// of regexes each one runs (see split_isolated) and the vocabulary flags it implies.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pocket::tokenizer {

struct BpePreset {
    std::string_view name;             // llama.cpp's pre-tokenizer type, for messages
    std::vector<std::string> regexes;  // applied in order
    bool clean_spaces = true;          // decode: llama.cpp's clean-up of spaces before punctuation
    bool ignore_merges = false;        // a word that is a whole token skips the merges
    std::optional<bool> add_bos;       // set by the preset (a file's add_bos_token key still wins)
    bool no_bos = false;               // the preset has no BOS token at all (chatglm-bpe)
};

// The preset for a tokenizer.ggml.pre value ("" means llama.cpp's default). Throws pocket::Error
// for names pocket does not know, naming `origin`.
BpePreset bpe_preset(std::string_view pre, std::string_view origin);

}  // namespace pocket::tokenizer
