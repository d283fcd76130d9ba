// Loading a Hugging Face `tokenizer.json` (with the `tokenizer_config.json` next to it, when there
// is one) into a pocket Tokenizer that encodes and decodes the way the `tokenizers` library does.
//
// Supported: models BPE (byte-level, or SentencePiece-style with byte_fallback) and WordPiece;
// normalizers Sequence, NFC/NFD/NFKC/NFKD, Lowercase, Prepend, Replace, Strip, BertNormalizer;
// pre-tokenizers Sequence, Split, ByteLevel, Digits, Metaspace, BertPreTokenizer, Whitespace,
// WhitespaceSplit; post-processors TemplateProcessing, BertProcessing, RobertaProcessing,
// ByteLevel, Sequence; decoders ByteLevel, Replace, ByteFallback, Fuse, Strip, Metaspace,
// WordPiece, Sequence. Anything else throws pocket::Error naming the component.
//
// Semantics of the Tokenizer interface for these tokenizers:
//  - encode(text, add_special, parse_special): added tokens are cut out of the raw text first
//    (leftmost, longest); special added tokens only when parse_special (Hugging Face always
//    matches them, i.e. parse_special=true is its behaviour). add_special applies the
//    post-processor (e.g. <bos> in front), like add_special_tokens=True.
//  - decode(ids, remove_special, unparse_special): the decoder chain, then
//    clean_up_tokenization_spaces when tokenizer_config.json asks for it. unparse_special=false
//    leaves special tokens out (skip_special_tokens=True); remove_special drops the tokens the
//    post-processor adds at either end.
#pragma once

#include <filesystem>
#include <memory>
#include <string_view>

#include "pocket/tokenizer/tokenizer.h"

namespace pocket::tokenizer {

// Reads `tokenizer_json` and, if it exists, tokenizer_config.json in the same folder.
std::unique_ptr<Tokenizer> load_hf_tokenizer(const std::filesystem::path& tokenizer_json);

// The same from the files' contents. `config_json` may be empty (no tokenizer_config.json).
// `origin` names the source in error messages.
std::unique_ptr<Tokenizer> parse_hf_tokenizer(std::string_view tokenizer_json,
                                              std::string_view config_json,
                                              std::string_view origin);

}  // namespace pocket::tokenizer
