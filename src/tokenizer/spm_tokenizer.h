// SentencePiece-style tokenizer (llama.cpp vocab type SPM): spaces become U+2581, the text is cut
// into UTF-8 characters, and adjacent symbols are merged greedily by the score of the token they
// form; symbols that are not tokens fall back to <0xXX> byte tokens.
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "pocket/tokenizer/tokenizer.h"

namespace pocket::tokenizer {

class SpmTokenizer final : public Tokenizer {
  public:
    // Throws pocket::Error when a byte token's text is not of the form <0xXX>.
    explicit SpmTokenizer(Vocab vocab);

    std::vector<TokenId> encode(std::string_view text, bool add_special, bool parse_special,
                                std::span<const TextRange> verbatim = {}) const override;

  protected:
    std::string render_piece(TokenId id) const override;

  private:
    // Tokenizes one plain-text fragment whose spaces are already escaped.
    void segment(std::string_view text, std::vector<TokenId>& out) const;
    void append_bytes(std::string_view bytes, std::vector<TokenId>& out) const;

    std::array<TokenId, 256> byte_tokens_{};  // kNoToken where the vocabulary has none
};

}  // namespace pocket::tokenizer
