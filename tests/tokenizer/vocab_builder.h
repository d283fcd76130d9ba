// Small hand-built SPM vocabularies for unit tests: <unk>, <s>, </s>, the 256 byte tokens, then
// whatever normal/special tokens a test adds. Expected results in the tests are worked out by hand
// from the SPM rules (highest-scoring adjacent pair merges first, leftmost on ties).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "pocket/tokenizer/tokenizer.h"
#include "pocket/tokenizer/vocab.h"

namespace pocket::tokenizer::test {

inline constexpr TokenId kUnk = 0;
inline constexpr TokenId kBos = 1;
inline constexpr TokenId kEos = 2;
inline constexpr TokenId byte_id(unsigned byte) {
    return 3 + static_cast<TokenId>(byte);
}
inline constexpr TokenId kFirstFree = 3 + 256;

struct SpmBuilder {
    VocabSpec spec;

    explicit SpmBuilder(bool with_byte_tokens = true) {
        spec.origin = "test-vocab";
        spec.kind = VocabKind::Spm;
        spec.special = default_special_tokens(VocabKind::Spm);
        spec.flags = default_flags(VocabKind::Spm);
        spec.tokens.push_back({"<unk>", 0.0f, kAttrUnknown});
        spec.tokens.push_back({"<s>", 0.0f, kAttrControl});
        spec.tokens.push_back({"</s>", 0.0f, kAttrControl});
        if (with_byte_tokens) {
            static constexpr char kHex[] = "0123456789ABCDEF";
            for (unsigned b = 0; b < 256; ++b) {
                spec.tokens.push_back(
                    {std::string{'<', '0', 'x', kHex[b >> 4], kHex[b & 15], '>'}, 0.0f, kAttrByte});
            }
        }
    }

    // Adds a token and returns its id.
    TokenId add(std::string text, float score = 0.0f, uint32_t attr = kAttrNormal) {
        spec.tokens.push_back({std::move(text), score, attr});
        return static_cast<TokenId>(spec.tokens.size() - 1);
    }

    std::unique_ptr<Tokenizer> build() const { return make_tokenizer(Vocab(spec)); }
};

// "\xE2\x96\x81", SentencePiece's visible space.
inline std::string sp(const std::string& rest = "") {
    return "\xE2\x96\x81" + rest;
}

}  // namespace pocket::tokenizer::test
