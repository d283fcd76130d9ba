// Turning generated tokens into printable text one token at a time. A character may span several
// tokens (byte tokens <0xF0> <0x9F> <0x9A> <0x80> for one emoji), so bytes that could still
// become a valid UTF-8 character are held back until they do.
#pragma once

#include <string>
#include <string_view>

#include "pocket/tokenizer/tokenizer.h"

namespace pocket::tokenizer {

class StreamDecoder {
  public:
    // special: render control tokens as their text (token_to_piece's flag). The tokenizer must
    // outlive the decoder. Pieces are concatenated as they are (what llama-cli prints): no
    // leading-space removal.
    explicit StreamDecoder(const Tokenizer& tokenizer, bool special = false);

    // Adds a token's piece; returns the text that is complete now (valid UTF-8). Bytes that can
    // never be valid are returned as U+FFFD, one per byte.
    std::string feed(TokenId id);
    // The same for raw bytes.
    std::string feed_bytes(std::string_view bytes);
    // Returns what is still held, each byte of an unfinished sequence as U+FFFD, and resets.
    std::string flush();

    bool has_pending() const { return !pending_.empty(); }

  private:
    const Tokenizer* tokenizer_;
    bool special_;
    std::string pending_;  // at most 3 bytes: the start of a character that may still complete
};

}  // namespace pocket::tokenizer
