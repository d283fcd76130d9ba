#include "wordpiece_tokenizer.h"

#include <algorithm>

#include "pocket/core/error.h"
#include "pocket/tokenizer/special_partition.h"
#include "pocket/tokenizer/utf8.h"
#include "unicode_props.h"

namespace pocket::tokenizer {

namespace {

constexpr std::string_view kWordStart = "\xE2\x96\x81";  // U+2581

std::string unescape_word_start(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (size_t pos = 0; pos < text.size();) {
        if (text.substr(pos, kWordStart.size()) == kWordStart) {
            out += ' ';
            pos += kWordStart.size();
        } else {
            out += text[pos++];
        }
    }
    return out;
}

}  // namespace

bool is_cjk_ideograph(char32_t cp) {
    // 0x2B920 rather than 0x2B820 follows Hugging Face's Rust code, which llama.cpp copies.
    return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
           (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0x2A700 && cp <= 0x2B73F) ||
           (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B920 && cp <= 0x2CEAF) ||
           (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

WordPieceTokenizer::WordPieceTokenizer(Vocab vocab) : Tokenizer(std::move(vocab)) {
    cache_pieces();
}

std::string WordPieceTokenizer::render_piece(TokenId id) const {
    const TokenData& data = vocab().token(id);
    if (data.attr & (kAttrUnknown | kAttrControl | kAttrUserDefined)) return data.text;
    if (data.attr & kAttrNormal) return unescape_word_start(data.text);
    return {};
}

std::vector<std::string> WordPieceTokenizer::split_words(std::string_view text) {
    std::vector<std::string> words(1);
    for (const char32_t original : unicode::decode_utf8(text)) {
        const char32_t cp = unicode::nfd_first(original);
        const uint32_t f = unicode::flags(cp);
        if (f & unicode::kWhitespace) {
            if (!words.back().empty()) words.emplace_back();
            continue;
        }
        if (cp == 0 || cp == utf8::kReplacement || (f & unicode::kControl)) continue;

        const std::string s = utf8::encode(unicode::to_lower(cp));
        if ((f & unicode::kPunctuation) || (cp < 0x7F && (f & unicode::kSymbol)) ||
            is_cjk_ideograph(cp)) {
            if (!words.back().empty()) words.emplace_back();
            words.back() = s;
            words.emplace_back();
        } else {
            words.back() += s;
        }
    }
    if (words.back().empty()) words.pop_back();
    return words;
}

void WordPieceTokenizer::encode_word(const std::string& word, std::vector<TokenId>& out) const {
    const Vocab& v = vocab();
    const std::string text = std::string(kWordStart) + word;
    const size_t n = text.size();
    const size_t first = out.size();
    // Greedy longest match from each position, byte by byte as llama.cpp does; a position no
    // vocabulary entry starts at makes the whole word unknown.
    for (size_t i = 0; i < n;) {
        bool matched = false;
        for (size_t j = std::min(n, i + v.max_token_length() + 1); j > i; --j) {
            const TokenId id = v.find(std::string_view(text).substr(i, j - i));
            if (id != kNoToken) {
                out.push_back(id);
                i = j;
                matched = true;
                break;
            }
        }
        if (!matched) {
            out.resize(first);
            break;
        }
    }
    if (out.size() == first) {
        if (v.special().unk == kNoToken) {
            fail(v.origin(), ": cannot tokenize the word '", word,
                 "': no vocabulary entries cover it and there is no unknown token");
        }
        out.push_back(v.special().unk);
    }
}

std::vector<TokenId> WordPieceTokenizer::encode(std::string_view text, bool add_special,
                                                bool parse_special,
                                                std::span<const TextRange> verbatim) const {
    const Vocab& v = vocab();
    std::vector<TokenId> out;
    if (add_special) {
        if (v.special().bos == kNoToken) fail(v.origin(), ": the vocabulary has no [CLS] token");
        out.push_back(v.special().bos);
    }
    for (const Fragment& fragment : partition_special_tokens(v, text, parse_special, verbatim)) {
        if (fragment.is_token()) {
            out.push_back(fragment.token);
            continue;
        }
        for (const std::string& word : split_words(fragment.text)) encode_word(word, out);
    }
    if (add_special) {
        if (v.special().sep == kNoToken) fail(v.origin(), ": the vocabulary has no [SEP] token");
        out.push_back(v.special().sep);
    }
    return out;
}

}  // namespace pocket::tokenizer
