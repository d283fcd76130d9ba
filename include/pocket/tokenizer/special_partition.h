// Cutting special-token text out of the input before the tokenizer algorithm runs, shared by all
// tokenizer kinds (llama.cpp's tokenizer_st_partition).
#pragma once

#include <span>
#include <string_view>
#include <vector>

#include "pocket/core/text_range.h"
#include "pocket/tokenizer/vocab.h"

namespace pocket::tokenizer {

// Either a run of plain text (token == kNoToken) or one special token.
struct Fragment {
    TokenId token = kNoToken;
    std::string_view text;  // plain text; a view into the partitioned input
    bool is_token() const { return token != kNoToken; }
};

// Splits `text` on every occurrence of the vocabulary's special tokens, longest token first, each
// token cutting all plain-text fragments left so far at their leftmost non-overlapping matches.
// User-defined tokens are always matched; control and unknown tokens only when parse_special.
// A token with the LSTRIP/RSTRIP attribute swallows ASCII whitespace before/after it.
// Empty text gives no fragments. The views point into `text`, which must outlive them.
// A match that overlaps a `verbatim` range (byte offsets into `text`) is not a token: it stays
// plain text.
std::vector<Fragment> partition_special_tokens(const Vocab& vocab, std::string_view text,
                                               bool parse_special,
                                               std::span<const TextRange> verbatim = {});

}  // namespace pocket::tokenizer
