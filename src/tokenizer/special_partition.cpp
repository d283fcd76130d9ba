#include "pocket/tokenizer/special_partition.h"

namespace pocket::tokenizer {

namespace {

// What C's isspace() accepts in the "C" locale, which is where llama.cpp runs it.
bool is_ascii_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

// Cuts one plain-text fragment at every leftmost non-overlapping occurrence of `special`.
// `offset` is where `text` starts in the whole input, to compare with the verbatim ranges.
void split_fragment(std::string_view text, size_t offset, std::span<const TextRange> verbatim,
                    TokenId id, std::string_view special, uint32_t attr,
                    std::vector<Fragment>& out) {
    size_t pos = 0;
    size_t search = 0;
    for (;;) {
        const size_t match = text.find(special, search);
        if (match == std::string_view::npos) break;
        if (overlaps_any(verbatim, offset + match, offset + match + special.size())) {
            search = match + 1;  // user text that merely looks like the token
            continue;
        }

        std::string_view left = text.substr(pos, match - pos);
        if (attr & kAttrLStrip) {
            while (!left.empty() && is_ascii_space(left.back())) left.remove_suffix(1);
        }
        if (!left.empty()) out.push_back({kNoToken, left});
        out.push_back({id, {}});

        pos = match + special.size();
        if (attr & kAttrRStrip) {
            while (pos < text.size() && is_ascii_space(text[pos])) ++pos;
        }
        search = pos;
    }
    if (pos < text.size()) out.push_back({kNoToken, text.substr(pos)});
}

}  // namespace

std::vector<Fragment> partition_special_tokens(const Vocab& vocab, std::string_view text,
                                               bool parse_special,
                                               std::span<const TextRange> verbatim) {
    std::vector<Fragment> fragments;
    if (text.empty()) return fragments;
    fragments.push_back({kNoToken, text});

    std::vector<Fragment> next;
    for (const TokenId id : vocab.special_tokens_by_length()) {
        const TokenData& data = vocab.token(id);
        // Without parse_special, control and unknown tokens are ordinary text; user-defined
        // tokens are still cut out first, as Hugging Face tokenizers do.
        if (!parse_special && (data.attr & (kAttrControl | kAttrUnknown))) continue;

        next.clear();
        bool changed = false;
        for (const Fragment& fragment : fragments) {
            if (fragment.is_token() || fragment.text.find(data.text) == std::string_view::npos) {
                next.push_back(fragment);
                continue;
            }
            const auto offset = static_cast<size_t>(fragment.text.data() - text.data());
            split_fragment(fragment.text, offset, verbatim, id, data.text, data.attr, next);
            changed = true;
        }
        if (changed) fragments.swap(next);
    }
    return fragments;
}

}  // namespace pocket::tokenizer
