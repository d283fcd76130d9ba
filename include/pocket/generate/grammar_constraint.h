// Structured output: a SamplingConstraint that lets through only tokens that continue a Grammar.
//
// Speed comes from two shared structures:
//   - VocabularyIndex, built once per tokenizer: a byte trie of every token's text, laid out in
//     depth-first order. The mask for a parse state is one walk of that trie carrying the set of
//     grammar stacks along, so each trie node is visited at most once per state and a rejected
//     prefix skips its whole subtree (after `{` almost everything is pruned at the first byte).
//   - the grammar engine (stack interning, a cache of masks keyed by parse state, and memoized
//     transitions of interned stack sets on each code point, so a trie node usually costs one
//     table lookup), shared by every clone of a constraint: inside a JSON string the state after
//     each token is usually one seen before, so the mask is a cache hit.
// Clones copy only the parse state (a short vector of stack ids and a partial UTF-8 code point).
// The shared engine is guarded by a mutex, so clones may run on different threads.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "pocket/generate/grammar.h"
#include "pocket/generate/sampling_constraint.h"

namespace pocket::tokenizer {
class Tokenizer;
}

namespace pocket {

class VocabularyIndex {
  public:
    // Indexes every token that can appear in structured output: not control, not end of
    // generation, with a non-empty text. Costs a sort of the vocabulary (tens of ms for 150k).
    static std::shared_ptr<const VocabularyIndex> build(const tokenizer::Tokenizer& tokenizer);

    // One trie node per distinct token-text prefix, in depth-first order: the subtree of node i
    // is [i, subtree_end[i]), its children start at i + 1.
    struct Trie {
        std::vector<uint8_t> byte;          // the edge byte into the node
        std::vector<uint16_t> depth;        // 1 for children of the (implicit) root
        std::vector<uint32_t> subtree_end;  // first node after the subtree
        std::vector<uint32_t> token_begin;  // tokens[token_begin[i], token_begin[i+1]) end here
        std::vector<TokenId> tokens;
        size_t size() const { return byte.size(); }
    };

    size_t n_vocab() const { return pieces_.size(); }
    const Trie& trie() const { return trie_; }
    std::span<const TokenId> eog_tokens() const { return eog_; }
    bool is_eog(TokenId id) const;
    // The token's bytes; empty for tokens that structured output never allows.
    const std::string& piece(TokenId id) const { return pieces_[static_cast<size_t>(id)]; }
    size_t max_depth() const { return max_depth_; }

  private:
    Trie trie_;
    std::vector<std::string> pieces_;
    std::vector<TokenId> eog_;
    std::vector<uint8_t> eog_flag_;
    size_t max_depth_ = 0;
};

class GrammarEngine;  // the shared, growing part (grammar_constraint.cpp)

class GrammarConstraint final : public SamplingConstraint {
  public:
    GrammarConstraint(std::shared_ptr<const Grammar> grammar,
                      std::shared_ptr<const VocabularyIndex> vocab);
    ~GrammarConstraint() override;
    GrammarConstraint& operator=(const GrammarConstraint&) = delete;

    // Sets the logit of every token that cannot continue the grammar to -infinity. End-of-
    // generation tokens survive only where the grammar may end; ids past the indexed vocabulary
    // (padding rows of the output layer) never do.
    void apply(CandidateList& candidates) override;
    // Advances over the token's text. Throws pocket::Error for a token the grammar does not allow
    // here (the state is then unchanged).
    void accept(TokenId token) override;
    void reset() override;
    bool can_end() const override;
    std::unique_ptr<SamplingConstraint> clone() const override;

    // True when the grammar has matched completely and nothing more may follow: only an
    // end-of-generation token is allowed.
    bool finished() const;
    // The allowed tokens as a bit per token id (bit i of word i / 64), for tests and tools.
    std::vector<uint64_t> allowed_mask();

    // Copies share the grammar engine and copy the parse state, like clone().
    GrammarConstraint(const GrammarConstraint& other);

  private:
    std::shared_ptr<GrammarEngine> engine_;
    std::shared_ptr<const VocabularyIndex> vocab_;
    std::vector<uint32_t> stacks_;  // sorted ids of the live parse stacks
    uint32_t partial_cp_ = 0;       // a token may end inside a UTF-8 sequence: its bits so far,
    uint8_t partial_need_ = 0;      // and how many continuation bytes are still to come
    uint8_t partial_len_ = 0;
};

// The constraint for a grammar, indexing the tokenizer's vocabulary on the spot. Build the
// VocabularyIndex once and use the constructor when making many constraints for one tokenizer.
std::unique_ptr<SamplingConstraint> make_grammar_constraint(const tokenizer::Tokenizer& tokenizer,
                                                            const Grammar& grammar);

}  // namespace pocket
