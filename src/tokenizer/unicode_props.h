// Unicode character properties and normalization forms the tokenizers need, backed by ICU
// (Debian libicu-dev). Kept behind this small interface so the rest of the tokenizer code does not
// depend on ICU's headers.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace pocket::tokenizer::unicode {

// Coarse general-category flags, one bit per major category, plus White_Space.
enum CategoryFlag : uint32_t {
    kLetter = 1u << 0,          // L*
    kNumber = 1u << 1,          // N*
    kMark = 1u << 2,            // M*
    kPunctuation = 1u << 3,     // P*
    kSymbol = 1u << 4,          // S*
    kSeparator = 1u << 5,       // Z*
    kControl = 1u << 6,         // Cc, Cf, Co, Cs (not Cn: unassigned code points have no flag)
    kWhitespace = 1u << 7,      // the Unicode White_Space property
    kNonspacingMark = 1u << 8,  // Mn
};

uint32_t flags(char32_t cp);
inline bool has(char32_t cp, uint32_t mask) {
    return (flags(cp) & mask) != 0;
}

// Simple (one code point to one code point) lower-case mapping.
char32_t to_lower(char32_t cp);

// The first code point of a character's canonical decomposition (the base letter of "é").
char32_t nfd_first(char32_t cp);

// Decodes UTF-8 into code points; each byte that is not part of a valid sequence becomes U+FFFD.
std::vector<char32_t> decode_utf8(std::string_view text);
std::string encode_utf8(const std::vector<char32_t>& cps);

enum class Form { NFC, NFD, NFKC, NFKD };
// Normalizes UTF-8 text (invalid bytes become U+FFFD first).
std::string normalize(std::string_view text, Form form);

}  // namespace pocket::tokenizer::unicode
