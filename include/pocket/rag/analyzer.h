// The lexical analyzer: how text becomes search terms, for the FTS5 index and for queries alike
// (it is registered as FTS5's "pocket" tokenizer, so both sides can never drift apart).
//
// Terms are maximal runs of letters and digits (UTF-8 aware: non-ASCII letters count as letters,
// Unicode punctuation and spaces separate), lower-cased, with a short English stop-word list
// removed and Snowball's English stemmer applied.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace pocket::rag {

struct Term {
    std::string term;  // lower-cased and stemmed: what is indexed and matched
    size_t begin = 0;  // byte offsets of the surface word in the analysed text
    size_t end = 0;
};

// Bumped whenever analyze() changes its output: a store indexed by another version is re-built.
inline constexpr int kAnalyzerVersion = 1;

// The search terms of text, in order (stop words dropped).
std::vector<Term> analyze(std::string_view text);

// The lower-cased words of text without stemming or stop words (the plain baseline analyzer).
std::vector<Term> split_words(std::string_view text);

bool is_stop_word(std::string_view lower_word);

}  // namespace pocket::rag
