// WordPiece (llama.cpp vocab type WPM, GGUF tokenizer.ggml.model "bert"): the text is lower-cased,
// stripped of accents and cut into words at whitespace, punctuation and CJK characters; each word
// is covered greedily by the longest vocabulary entries. GGUF stores a word-initial piece as
// "\u2581piece" and a continuation without BERT's "##".
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "pocket/tokenizer/tokenizer.h"

namespace pocket::tokenizer {

class WordPieceTokenizer final : public Tokenizer {
  public:
    explicit WordPieceTokenizer(Vocab vocab);

    std::vector<TokenId> encode(std::string_view text, bool add_special, bool parse_special,
                                std::span<const TextRange> verbatim = {}) const override;

    // llama.cpp's BERT pre-processing: NFD base letters, lower case, control characters dropped,
    // split at whitespace and around punctuation, ASCII symbols and CJK ideographs.
    static std::vector<std::string> split_words(std::string_view text);

  protected:
    std::string render_piece(TokenId id) const override;

  private:
    void encode_word(const std::string& word, std::vector<TokenId>& out) const;
};

// BERT's CJK ideograph blocks (as Hugging Face's BertPreTokenizer / llama.cpp define them).
bool is_cjk_ideograph(char32_t cp);

}  // namespace pocket::tokenizer
