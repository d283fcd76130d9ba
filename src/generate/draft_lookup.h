// Prompt lookup drafting: when the last n tokens occurred earlier in the sequence (prompt or
// output), guess that what followed them then follows them again. Free to compute and right
// whenever the output copies from its context (summaries, edits, code, quoting).
// Internal to src/generate.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "pocket/core/token.h"

namespace pocket {

// For n from ngram_max down to ngram_min: finds the most recent earlier occurrence of the last n
// tokens of `sequence` and returns up to max_draft of the tokens that followed it (empty when no
// n-gram matches). Longer n-grams first, since a longer match predicts the continuation better.
std::vector<TokenId> lookup_draft(std::span<const TokenId> sequence, int32_t ngram_min,
                                  int32_t ngram_max, size_t max_draft);

}  // namespace pocket
