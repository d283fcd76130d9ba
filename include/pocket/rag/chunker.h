// Splits an extracted document into chunks of at most `max_tokens` tokens for retrieval.
//
// Rules, in order of strength:
//  - a chunk never crosses a heading or a PDF page start (so each chunk has one heading path and
//    one page);
//  - within a section, a chunk ends preferably at a paragraph end, then at a sentence end, then at
//    a line end, and only then between two words (a break is taken only when the chunk is at least
//    half full, so chunks stay large);
//  - consecutive chunks of one section share about `overlap_tokens` tokens (whole words, starting
//    at a sentence start when one falls in that window), so text near a break is found from both
//    sides.
// A chunk's text is exactly text[byte_begin, byte_end) of the extracted text (whitespace at its
// ends excluded). Tokens are counted by a caller-supplied function (the embedder's tokenizer) or
// by count_words_and_punct(); pieces are counted one word at a time and summed, which is what a
// whitespace-splitting tokenizer gives for the whole text.
#pragma once

#include <cstdint>
#include <functional>
#include <string_view>
#include <vector>

#include "pocket/rag/extract.h"
#include "pocket/rag/store.h"

namespace pocket::rag {

struct ChunkOptions {
    int max_tokens = 256;     // default: fits a 512-token embedder with room, ~1 KB of English
    int overlap_tokens = 32;  // default: an eighth of a chunk, about a sentence
};

using TokenCounter = std::function<size_t(std::string_view)>;

// The fallback token count: runs of letters/digits count one each, every other non-space
// character counts one ("don't stop." -> 5).
size_t count_words_and_punct(std::string_view text);

// The chunks of `doc` (document_id and id left 0; ordinal, text, heading path "A > B", page,
// byte offsets and n_tokens filled). `count` defaults to count_words_and_punct. Throws
// pocket::Error when the options are invalid (max_tokens < 1, overlap outside [0, max_tokens)).
std::vector<ChunkInfo> chunk_document(const ExtractedText& doc, const ChunkOptions& options,
                                      const TokenCounter& count = {});

}  // namespace pocket::rag
