// Byte-level BPE (llama.cpp vocab type BPE, GGUF tokenizer.ggml.model "gpt2"): the text is cut into
// words by the pre-tokenizer's regexes, each word's bytes are written in GPT-2's byte alphabet, and
// adjacent symbols merge in the order of tokenizer.ggml.merges.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "bpe_merges.h"
#include "pocket/tokenizer/tokenizer.h"
#include "regex_split.h"

namespace pocket::tokenizer {

class BpeTokenizer final : public Tokenizer {
  public:
    // Throws pocket::Error for an unknown pre-tokenizer (tokenizer.ggml.pre).
    explicit BpeTokenizer(Vocab vocab);

    std::vector<TokenId> encode(std::string_view text, bool add_special, bool parse_special,
                                std::span<const TextRange> verbatim = {}) const override;

    // The words the pre-tokenizer cuts plain text into (raw bytes, not yet byte-level encoded).
    std::vector<std::string_view> pre_tokenize(std::string_view text) const;

  protected:
    std::string render_piece(TokenId id) const override;

  private:
    void encode_word(std::string_view word, std::vector<TokenId>& out) const;

    std::vector<Regex> regexes_;
    BpeMerges merges_;
};

// Renders a byte-level token text as the bytes it stands for, the way llama.cpp does (a code
// point outside GPT-2's alphabet becomes "[UNK_BYTE_0x<its UTF-8 in hex><text>]").
std::string byte_level_decode(std::string_view text);

}  // namespace pocket::tokenizer
