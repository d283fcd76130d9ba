// VocabularyIndex::build: the token-text trie the grammar constraint walks.
#include <algorithm>
#include <numeric>

#include "pocket/core/error.h"
#include "pocket/generate/grammar_constraint.h"
#include "pocket/tokenizer/tokenizer.h"

namespace pocket {

bool VocabularyIndex::is_eog(TokenId id) const {
    return id >= 0 && static_cast<size_t>(id) < eog_flag_.size() &&
           eog_flag_[static_cast<size_t>(id)] != 0;
}

std::shared_ptr<const VocabularyIndex> VocabularyIndex::build(
    const tokenizer::Tokenizer& tokenizer) {
    auto index = std::make_shared<VocabularyIndex>();
    const size_t n = tokenizer.n_vocab();
    index->pieces_.resize(n);
    index->eog_flag_.assign(n, 0);
    std::vector<TokenId> ids;
    for (size_t i = 0; i < n; ++i) {
        const auto id = static_cast<TokenId>(i);
        if (tokenizer.is_eog(id)) {
            index->eog_.push_back(id);
            index->eog_flag_[i] = 1;
            continue;
        }
        // Control tokens would inject chat-template structure into the output; they render as
        // "" with special=false, and empty tokens would let a model stall forever.
        if (tokenizer.is_control(id)) continue;
        std::string piece = tokenizer.token_to_piece(id, false);
        if (piece.empty()) continue;
        if (piece.size() > UINT16_MAX) fail("vocabulary index: token ", id, " is too long");
        index->pieces_[i] = std::move(piece);
        ids.push_back(id);
    }
    const auto& pieces = index->pieces_;
    std::sort(ids.begin(), ids.end(), [&](TokenId a, TokenId b) {
        const std::string& pa = pieces[static_cast<size_t>(a)];
        const std::string& pb = pieces[static_cast<size_t>(b)];
        return pa != pb ? pa < pb : a < b;
    });

    // Sorted texts give the trie in depth-first order directly: each text shares a prefix with
    // the one before it, closes the nodes below that prefix and opens new ones.
    Trie& t = index->trie_;
    std::vector<uint32_t> path;  // node index at each depth - 1
    std::string_view prev;
    for (TokenId id : ids) {
        std::string_view text = pieces[static_cast<size_t>(id)];
        size_t common = 0;
        while (common < path.size() && common < text.size() && prev[common] == text[common]) {
            ++common;
        }
        while (path.size() > common) {
            t.subtree_end[path.back()] = static_cast<uint32_t>(t.byte.size());
            path.pop_back();
        }
        for (size_t d = common; d < text.size(); ++d) {
            path.push_back(static_cast<uint32_t>(t.byte.size()));
            t.byte.push_back(static_cast<uint8_t>(text[d]));
            t.depth.push_back(static_cast<uint16_t>(d + 1));
            t.subtree_end.push_back(0);
            t.token_begin.push_back(static_cast<uint32_t>(t.tokens.size()));
        }
        t.tokens.push_back(id);
        index->max_depth_ = std::max(index->max_depth_, text.size());
        prev = text;
    }
    while (!path.empty()) {
        t.subtree_end[path.back()] = static_cast<uint32_t>(t.byte.size());
        path.pop_back();
    }
    t.token_begin.push_back(static_cast<uint32_t>(t.tokens.size()));
    return index;
}

}  // namespace pocket
