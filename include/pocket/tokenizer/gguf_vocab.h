// Reading a vocabulary from GGUF metadata (the tokenizer.ggml.* keys llama.cpp writes).
#pragma once

#include "pocket/tokenizer/vocab.h"

namespace pocket::gguf {
class File;
}

namespace pocket::tokenizer {

// Reads tokenizer.ggml.model, .tokens, .scores, .token_type, the special token ids, the
// add_bos/add_eos/add_space_prefix/remove_extra_whitespaces flags, tokenizer.ggml.pre and
// general.name, starting from the kind's llama.cpp defaults. Throws pocket::Error for tokenizer
// models pocket does not support yet and for malformed metadata (missing or mistyped keys, arrays
// of different lengths, special ids out of range). An id of -1 / 0xFFFFFFFF means "none given".
VocabSpec read_vocab_spec(const gguf::File& file);

inline Vocab load_vocab(const gguf::File& file) {
    return Vocab(read_vocab_spec(file));
}

}  // namespace pocket::tokenizer
