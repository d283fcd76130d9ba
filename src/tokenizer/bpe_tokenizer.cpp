#include "bpe_tokenizer.h"

#include <algorithm>

#include "bpe_presets.h"
#include "byte_level.h"
#include "pocket/core/error.h"
#include "pocket/tokenizer/special_partition.h"
#include "pocket/tokenizer/utf8.h"
#include "text_index.h"

namespace pocket::tokenizer {

std::string byte_level_decode(std::string_view text) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    out.reserve(text.size());
    for (size_t pos = 0; pos < text.size();) {
        const utf8::Decoded d = utf8::decode(text, pos);
        const size_t length = d.status == utf8::Status::Complete ? d.length : 1;
        const int byte =
            d.status == utf8::Status::Complete ? byte_level::code_point_to_byte(d.code_point) : -1;
        if (byte >= 0) {
            out += static_cast<char>(byte);
        } else {
            out += "[UNK_BYTE_0x";
            for (size_t i = pos; i < pos + length; ++i) {
                out += kHex[static_cast<uint8_t>(text[i]) >> 4];
                out += kHex[static_cast<uint8_t>(text[i]) & 15];
            }
            out.append(text);
            out += ']';
        }
        pos += length;
    }
    return out;
}

BpeTokenizer::BpeTokenizer(Vocab vocab) : Tokenizer(std::move(vocab)) {
    const Vocab& v = this->vocab();
    const BpePreset preset = bpe_preset(v.pre_tokenizer(), v.origin());
    for (const std::string& pattern : preset.regexes) regexes_.emplace_back(pattern);

    const auto& merges = v.merges();
    const std::vector<MergeIds> ids = lookup_merges(TextIndex(v.tokens()), merges);
    merges_.reserve(merges.size());
    for (size_t rank = 0; rank < merges.size(); ++rank) {
        const MergeIds& m = ids[rank];
        // A merge whose parts or result are not tokens could never produce a token.
        if (m.left == kNoToken || m.right == kNoToken || m.result == kNoToken) continue;
        merges_.add(m.left, m.right, m.result, static_cast<int>(rank));
    }
    cache_pieces();
}

std::string BpeTokenizer::render_piece(TokenId id) const {
    const TokenData& data = vocab().token(id);
    if (data.attr & (kAttrUnknown | kAttrControl | kAttrUserDefined)) return data.text;
    if (data.attr & kAttrNormal) return byte_level_decode(data.text);
    return {};  // llama.cpp renders other token types (unused, byte, undefined) as nothing
}

std::vector<std::string_view> BpeTokenizer::pre_tokenize(std::string_view text) const {
    std::vector<std::string_view> words;
    if (text.empty()) return words;
    words.push_back(text);
    for (const Regex& regex : regexes_) split_isolated(regex, words);
    return words;
}

void BpeTokenizer::encode_word(std::string_view word, std::vector<TokenId>& out) const {
    const Vocab& v = vocab();
    const std::string encoded = byte_level::encode(word);
    if (v.flags().ignore_merges) {
        const TokenId whole = v.find(encoded);
        if (whole != kNoToken) {
            out.push_back(whole);
            return;
        }
    }
    // One symbol per UTF-8 character of the byte-level text.
    std::vector<TokenId> ids;
    std::vector<std::string_view> texts;
    const std::string_view e = encoded;
    for (size_t pos = 0; pos < e.size();) {
        const size_t length =
            std::min(utf8::lead_length(static_cast<uint8_t>(e[pos])), e.size() - pos);
        texts.push_back(e.substr(pos, length));
        ids.push_back(v.find(texts.back()));
        pos += length;
    }
    const bool all_known = std::find(ids.begin(), ids.end(), kNoToken) == ids.end();
    merges_.apply(ids);
    if (all_known) {
        out.insert(out.end(), ids.begin(), ids.end());
        return;
    }
    // A character without a token: llama.cpp looks its single bytes up and drops what is not
    // there. Only unmergeable characters can be unknown, so they are still in `texts` order.
    size_t t = 0;
    for (const TokenId id : ids) {
        if (id != kNoToken) {
            out.push_back(id);
            // Skip the characters this token covers.
            size_t covered = 0;
            const size_t length = v.text(id).size();
            while (covered < length && t < texts.size()) covered += texts[t++].size();
            continue;
        }
        for (const char c : texts[t]) {
            const TokenId byte = v.find(std::string_view(&c, 1));
            if (byte != kNoToken) out.push_back(byte);
        }
        ++t;
    }
}

std::vector<TokenId> BpeTokenizer::encode(std::string_view text, bool add_special,
                                          bool parse_special,
                                          std::span<const TextRange> verbatim) const {
    const Vocab& v = vocab();
    std::vector<TokenId> out;
    if (add_special && v.flags().add_bos) {
        if (v.special().bos == kNoToken) fail(v.origin(), ": the vocabulary adds BOS but has none");
        out.push_back(v.special().bos);
    }
    for (const Fragment& fragment : partition_special_tokens(v, text, parse_special, verbatim)) {
        if (fragment.is_token()) {
            out.push_back(fragment.token);
            continue;
        }
        for (const std::string_view word : pre_tokenize(fragment.text)) encode_word(word, out);
    }
    if (add_special && v.flags().add_eos) {
        if (v.special().eos == kNoToken) fail(v.origin(), ": the vocabulary adds EOS but has none");
        out.push_back(v.special().eos);
    }
    return out;
}

}  // namespace pocket::tokenizer
