// GPT-2's byte-level alphabet: every byte is shown as a printable code point (bytes that are
// printable Latin-1 map to themselves, the others to U+0100 and up, in byte order), so that a
// byte-level BPE vocabulary is a list of printable strings.
#pragma once

#include <string>
#include <string_view>

namespace pocket::tokenizer::byte_level {

// The UTF-8 text of one byte's printable code point.
const std::string& byte_to_text(uint8_t byte);

// Every byte of `bytes` as its printable code point.
std::string encode(std::string_view bytes);

// The byte a code point stands for, or -1 when the code point is not in the alphabet.
int code_point_to_byte(char32_t cp);

}  // namespace pocket::tokenizer::byte_level
