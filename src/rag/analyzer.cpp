// The lexical analyzer (see analyzer.h). Written by hand rather than with ICU: the only Unicode
// knowledge search needs is "which code points separate words" and simple case folding of the
// common alphabets, and this keeps the index identical on every machine.
#include "pocket/rag/analyzer.h"

#include <libstemmer.h>

#include <algorithm>
#include <array>
#include <memory>

#include "pocket/core/error.h"
#include "pocket/tokenizer/utf8.h"

namespace pocket::rag {
namespace {

// One decoded code point and its length in bytes; invalid sequences decode as U+FFFD of length 1
// (and separate words, so a stray byte never glues two words together).
struct Decoded {
    char32_t cp;
    size_t len;
};

Decoded decode(std::string_view s, size_t i) {
    const auto b0 = static_cast<unsigned char>(s[i]);
    if (b0 < 0x80) return {b0, 1};
    size_t len = 0;
    char32_t cp = 0;
    if ((b0 & 0xE0) == 0xC0) {
        len = 2;
        cp = b0 & 0x1F;
    } else if ((b0 & 0xF0) == 0xE0) {
        len = 3;
        cp = b0 & 0x0F;
    } else if ((b0 & 0xF8) == 0xF0) {
        len = 4;
        cp = b0 & 0x07;
    } else {
        return {0xFFFD, 1};
    }
    if (i + len > s.size()) return {0xFFFD, 1};
    for (size_t k = 1; k < len; ++k) {
        const auto b = static_cast<unsigned char>(s[i + k]);
        if ((b & 0xC0) != 0x80) return {0xFFFD, 1};
        cp = (cp << 6) | (b & 0x3F);
    }
    return {cp, len};
}

// Letters and digits of any script are word characters; ASCII and the Unicode punctuation,
// symbol and space blocks are not.
bool is_word_char(char32_t cp) {
    if (cp < 0x80) {
        return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z');
    }
    if (cp == 0xFFFD) return false;
    if (cp < 0xC0) return cp == 0xAA || cp == 0xB5 || cp == 0xBA;  // ª µ º; the rest is symbols
    if (cp == 0xD7 || cp == 0xF7) return false;                    // × ÷
    if (cp >= 0x2000 && cp <= 0x2BFF) return false;  // punctuation, super/subscripts, symbols
    if (cp >= 0x3000 && cp <= 0x303F) return false;  // CJK punctuation
    if (cp >= 0xFE30 && cp <= 0xFE6F) return false;  // compatibility forms
    if (cp >= 0xFF00 && cp <= 0xFF0F) return false;  // full-width punctuation
    if (cp >= 0xFF1A && cp <= 0xFF20) return false;
    if (cp >= 0xFFF0) return cp >= 0x10000 && !(cp >= 0x1F000 && cp <= 0x1FAFF);  // no emoji
    return true;
}

char32_t to_lower(char32_t cp) {
    if (cp < 0x80) return (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
    if (cp >= 0xC0 && cp <= 0xDE && cp != 0xD7) return cp + 32;  // Latin-1
    if (cp >= 0x100 && cp <= 0x17F && cp != 0x130 && cp != 0x131 && cp != 0x138 && cp != 0x149 &&
        cp != 0x17F) {  // Latin Extended-A
        const bool odd_lower = (cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17E);
        if (odd_lower) return (cp % 2 == 1) ? cp + 1 : cp;
        return (cp % 2 == 0) ? cp + 1 : cp;
    }
    if (cp >= 0x391 && cp <= 0x3AB && cp != 0x3A2) return cp + 32;  // Greek
    if (cp >= 0x410 && cp <= 0x42F) return cp + 32;                 // Cyrillic
    if (cp >= 0x400 && cp <= 0x40F) return cp + 80;
    return cp;
}

// Lucene's English stop words (the classic 33). Measured on SciFact train claims against no
// list at all; see docs/RAG.md.
constexpr std::array<std::string_view, 33> kStopWords = {
    "a",   "an",    "and",  "are",   "as",    "at",   "be",   "but", "by",  "for",  "if",
    "in",  "into",  "is",   "it",    "no",    "not",  "of",   "on",  "or",  "such", "that",
    "the", "their", "then", "there", "these", "they", "this", "to",  "was", "will", "with"};

struct StemmerDeleter {
    void operator()(sb_stemmer* s) const { sb_stemmer_delete(s); }
};

// Snowball stemmers keep per-call state, so each thread has its own.
sb_stemmer& stemmer() {
    thread_local std::unique_ptr<sb_stemmer, StemmerDeleter> s(sb_stemmer_new("english", nullptr));
    if (!s) fail("rag: the Snowball English stemmer could not be created (out of memory?)");
    return *s;
}

template <typename Emit>
void for_each_word(std::string_view text, Emit&& emit) {
    std::string word;
    size_t i = 0;
    while (i < text.size()) {
        auto d = decode(text, i);
        if (!is_word_char(d.cp)) {
            i += d.len;
            continue;
        }
        const size_t begin = i;
        word.clear();
        while (i < text.size()) {
            d = decode(text, i);
            if (!is_word_char(d.cp)) break;
            tokenizer::utf8::append(word, to_lower(d.cp));
            i += d.len;
        }
        emit(word, begin, i);
    }
}

}  // namespace

bool is_stop_word(std::string_view lower_word) {
    return std::find(kStopWords.begin(), kStopWords.end(), lower_word) != kStopWords.end();
}

std::vector<Term> split_words(std::string_view text) {
    std::vector<Term> out;
    for_each_word(text, [&](const std::string& w, size_t b, size_t e) {
        out.push_back({w, b, e});
    });
    return out;
}

std::vector<Term> analyze(std::string_view text) {
    std::vector<Term> out;
    auto& st = stemmer();
    for_each_word(text, [&](const std::string& w, size_t b, size_t e) {
        if (is_stop_word(w)) return;
        const sb_symbol* stem = sb_stemmer_stem(&st, reinterpret_cast<const sb_symbol*>(w.data()),
                                                static_cast<int>(w.size()));
        if (stem == nullptr) fail("rag: the stemmer ran out of memory");
        out.push_back({std::string(reinterpret_cast<const char*>(stem),
                                   static_cast<size_t>(sb_stemmer_length(&st))),
                       b, e});
    });
    return out;
}

}  // namespace pocket::rag
