// The vocabulary: token texts, scores and attributes, special-token ids and the flags that steer
// tokenization. Loaders (GGUF today, tokenizer.json later) fill a VocabSpec with what the file
// says; Vocab validates it and derives what llama.cpp derives at load time (text-detected special
// tokens, the end-of-generation set, the special-token match order, model-specific attributes).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "pocket/core/token.h"

namespace pocket::tokenizer {

using pocket::kNoToken;
using pocket::TokenId;

// Tokenizer algorithm families, numbered like llama.cpp's llama_vocab_type.
enum class VocabKind : int {
    Spm = 1,        // SentencePiece BPE with byte fallback (GGUF tokenizer.ggml.model "llama")
    Bpe = 2,        // byte-level BPE ("gpt2")
    WordPiece = 3,  // BERT ("bert")
};
std::string_view vocab_kind_name(VocabKind kind);

// Token types as stored in GGUF `tokenizer.ggml.token_type` (llama_token_type).
enum class TokenType : int32_t {
    Undefined = 0,
    Normal = 1,
    Unknown = 2,
    Control = 3,
    UserDefined = 4,
    Unused = 5,
    Byte = 6,
};

// Per-token attribute bits (llama_token_attr); a token may carry several.
enum TokenAttr : uint32_t {
    kAttrUndefined = 0,
    kAttrUnknown = 1u << 0,
    kAttrUnused = 1u << 1,
    kAttrNormal = 1u << 2,
    kAttrControl = 1u << 3,
    kAttrUserDefined = 1u << 4,
    kAttrByte = 1u << 5,
    kAttrNormalized = 1u << 6,
    kAttrLStrip = 1u << 7,  // swallow whitespace before the token when it is matched in text
    kAttrRStrip = 1u << 8,  // swallow whitespace after it
    kAttrSingleWord = 1u << 9,
};

// The attribute a GGUF token type maps to (unknown type codes map to kAttrUndefined).
uint32_t attr_from_token_type(int64_t type);

struct TokenData {
    std::string text;
    float score = 0.0f;
    uint32_t attr = kAttrNormal;
};

struct SpecialTokens {
    TokenId bos = kNoToken;
    TokenId eos = kNoToken;
    TokenId eot = kNoToken;  // end of turn
    TokenId eom = kNoToken;  // end of message
    TokenId unk = kNoToken;
    TokenId sep = kNoToken;
    TokenId pad = kNoToken;
    TokenId mask = kNoToken;
    TokenId fim_pre = kNoToken;
    TokenId fim_suf = kNoToken;
    TokenId fim_mid = kNoToken;
    TokenId fim_pad = kNoToken;
    TokenId fim_rep = kNoToken;
    TokenId fim_sep = kNoToken;
    TokenId linefeed = kNoToken;  // derived by Vocab, not read from files
};

struct VocabFlags {
    bool add_bos = false;
    bool add_eos = false;
    bool add_space_prefix = false;  // SPM: prepend ' ' to text (and after special tokens)
    bool remove_extra_whitespaces = false;
    bool clean_spaces = false;   // decode: drop the space before ?!., and re-join contractions
    bool ignore_merges = false;  // BPE (llama-bpe): whole-word vocabulary hits skip the merges
};

// The defaults llama.cpp assumes for a vocabulary kind before reading the file's own keys.
SpecialTokens default_special_tokens(VocabKind kind);
VocabFlags default_flags(VocabKind kind);

// What a loader reads from a file. `special` holds ids the way the file (or the kind's defaults)
// gives them; ids that are left kNoToken may still be found by text (eot, eom, fim_*).
struct VocabSpec {
    std::string origin;  // where it came from (file name), for error messages
    VocabKind kind = VocabKind::Spm;
    std::string model_name;     // general.name: llama.cpp keys some attributes on it (phi-3)
    std::string pre_tokenizer;  // tokenizer.ggml.pre
    std::vector<TokenData> tokens;
    // BPE merges, highest priority first: the pair of token texts whose concatenation is a token.
    std::vector<std::pair<std::string, std::string>> merges;
    SpecialTokens special;
    VocabFlags flags;
};

class Vocab {
  public:
    // Validates and indexes; throws pocket::Error (naming spec.origin) when the vocabulary is
    // empty, a special id is out of range or two tokens have the same text. Empty token texts are
    // renamed "[EMPTY_<id>]" like llama.cpp does.
    explicit Vocab(VocabSpec spec);

    VocabKind kind() const { return kind_; }
    const std::string& origin() const { return origin_; }
    const std::string& model_name() const { return model_name_; }
    const std::string& pre_tokenizer() const { return pre_tokenizer_; }

    size_t size() const { return tokens_.size(); }
    bool contains(TokenId id) const { return id >= 0 && static_cast<size_t>(id) < tokens_.size(); }
    const TokenData& token(TokenId id) const;  // throws pocket::Error for ids out of range
    const std::string& text(TokenId id) const { return token(id).text; }
    float score(TokenId id) const { return token(id).score; }
    uint32_t attr(TokenId id) const { return token(id).attr; }
    bool has_attr(TokenId id, uint32_t mask) const { return (token(id).attr & mask) != 0; }
    const std::vector<TokenData>& tokens() const { return tokens_; }
    const std::vector<std::pair<std::string, std::string>>& merges() const { return merges_; }
    size_t max_token_length() const { return max_token_length_; }  // bytes

    TokenId find(std::string_view text) const;  // kNoToken when no token has exactly this text

    const SpecialTokens& special() const { return special_; }
    const VocabFlags& flags() const { return flags_; }

    // End-of-generation tokens: eos, eot, eom, fim pad/rep/sep and tokens whose text names an end
    // of turn (<|eot_id|>, <|im_end|>, <|end|>, <end_of_turn>, <|endoftext|>, <|eom_id|>, <EOT>).
    bool is_eog(TokenId id) const;
    const std::vector<TokenId>& eog_ids() const { return eog_ids_; }  // ascending

    // Control, user-defined and unknown tokens, longest text first (ties by id): the order in which
    // special-token text is cut out of the input.
    const std::vector<TokenId>& special_tokens_by_length() const { return special_by_length_; }

  private:
    void index_texts();
    void validate_special_ids() const;
    void detect_special_tokens_by_text();
    void collect_eog_tokens();
    void collect_special_tokens();
    void apply_model_specific_attributes();
    void find_linefeed();

    VocabKind kind_;
    std::string origin_;
    std::string model_name_;
    std::string pre_tokenizer_;
    std::vector<TokenData> tokens_;
    std::vector<std::pair<std::string, std::string>> merges_;
    size_t max_token_length_ = 0;
    SpecialTokens special_;
    VocabFlags flags_;
    // Token ids by text, without a second copy of every text: open addressing (at most half
    // full) over slots holding the text hash's upper half and id + 1 (0 = empty), checked against
    // tokens_. A map of strings cost most of a large vocabulary's load (Gemma 3: 262k tokens).
    std::vector<uint64_t> text_slots_;
    std::vector<TokenId> eog_ids_;
    std::vector<TokenId> special_by_length_;
};

}  // namespace pocket::tokenizer
