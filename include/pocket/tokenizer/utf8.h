// UTF-8 helpers shared by the tokenizers and the streaming detokenizer.
//
// Two notions of "character" coexist on purpose:
//  - lead_length() is the lenient count llama.cpp's tokenizers use to cut text into symbols: it
//    looks only at the lead byte and never fails (a stray continuation byte is a 1-byte symbol).
//  - decode()/is_valid()/sanitize() are strict UTF-8 (no overlong forms, no surrogates, nothing
//    above U+10FFFF), used wherever text is shown to a person.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace pocket::tokenizer::utf8 {

inline constexpr char32_t kReplacement = U'\uFFFD';
inline constexpr std::string_view kReplacementUtf8 = "\xEF\xBF\xBD";

// Sequence length announced by a lead byte, lenient: 0x00-0xBF -> 1, 0xC0-0xDF -> 2,
// 0xE0-0xEF -> 3, 0xF0-0xFF -> 4. Callers clamp to the bytes actually available.
size_t lead_length(uint8_t lead);

// How the bytes at the start of a string relate to strict UTF-8.
enum class Status {
    Complete,    // a whole valid sequence of `length` bytes
    Incomplete,  // the string ends inside a sequence that could still become valid
    Invalid,     // the first byte can never start a valid sequence here (length is 1)
};

struct Decoded {
    Status status = Status::Invalid;
    char32_t code_point = kReplacement;  // valid only when status == Complete
    size_t length = 1;                   // bytes consumed (Incomplete: bytes available so far)
};

// Strictly decodes the sequence starting at text[pos] (pos < text.size()).
Decoded decode(std::string_view text, size_t pos = 0);

bool is_valid(std::string_view text);

// Appends the UTF-8 encoding of a code point (surrogates and values above U+10FFFF become U+FFFD).
void append(std::string& out, char32_t code_point);
std::string encode(char32_t code_point);

// Replaces every byte that is not part of a valid sequence by U+FFFD (one per byte, which is how
// the llama.cpp references render invalid text), including an incomplete sequence at the end.
std::string sanitize(std::string_view text);

}  // namespace pocket::tokenizer::utf8
