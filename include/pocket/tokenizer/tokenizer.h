// The tokenizer interface every vocabulary kind implements, with llama.cpp's semantics:
// encode = llama_tokenize, token_to_piece = llama_token_to_piece, decode = llama_detokenize.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pocket/core/text_range.h"
#include "pocket/tokenizer/vocab.h"

namespace pocket::gguf {
class File;
}

namespace pocket::tokenizer {

class Tokenizer {
  public:
    virtual ~Tokenizer();
    Tokenizer(const Tokenizer&) = delete;
    Tokenizer& operator=(const Tokenizer&) = delete;

    // Text to token ids. add_special: add BOS/EOS as the vocabulary asks (flags().add_bos/eos).
    // parse_special: match control-token text such as "<|im_start|>" as that token (user-defined
    // tokens are matched either way). verbatim: byte ranges of `text` where no special token may
    // be matched (a rendered chat prompt's user-supplied parts: typing "<|im_end|>" must not end
    // a turn); text there is tokenized as ordinary text, in the same fragments as elsewhere.
    virtual std::vector<TokenId> encode(std::string_view text, bool add_special, bool parse_special,
                                        std::span<const TextRange> verbatim = {}) const = 0;

    // The bytes a token stands for (may be part of a UTF-8 sequence, e.g. byte tokens <0xE2>).
    // With special=false, control and unknown tokens render as "". Throws for ids out of range.
    std::string token_to_piece(TokenId id, bool special) const;

    // Token ids to text: the pieces concatenated, minus what llama_detokenize removes.
    // remove_special: drop a leading BOS (when the vocabulary adds BOS) and a trailing EOS (when it
    // adds EOS). unparse_special: render control/unknown tokens as their text instead of "".
    // Vocabularies with add_space_prefix drop one leading space of the first piece unless the
    // first token was a BOS that remove_special dropped; clean_spaces vocabularies also remove the
    // space before ?!., and in front of 's 'm 're 've, and around a lone '.
    // Tokenizers loaded from tokenizer.json override this with Hugging Face's decoding.
    virtual std::string decode(std::span<const TokenId> ids, bool remove_special,
                               bool unparse_special) const;

    const Vocab& vocab() const { return vocab_; }
    size_t n_vocab() const { return vocab_.size(); }
    TokenId bos() const { return vocab_.special().bos; }
    TokenId eos() const { return vocab_.special().eos; }
    TokenId eot() const { return vocab_.special().eot; }
    TokenId unk() const { return vocab_.special().unk; }
    TokenId pad() const { return vocab_.special().pad; }
    TokenId linefeed() const { return vocab_.special().linefeed; }
    bool add_bos() const { return vocab_.flags().add_bos; }
    bool add_eos() const { return vocab_.flags().add_eos; }
    bool is_eog(TokenId id) const { return vocab_.is_eog(id); }
    bool is_control(TokenId id) const { return vocab_.has_attr(id, kAttrControl); }

  protected:
    explicit Tokenizer(Vocab vocab);

    // The piece of a token as llama.cpp renders it with special=true. Implementations call
    // cache_pieces() at the end of their constructor, which calls this once per token.
    virtual std::string render_piece(TokenId id) const = 0;
    void cache_pieces();

  private:
    // Appends a token's piece, skipping up to `lstrip` leading spaces.
    void append_piece(std::string& out, TokenId id, bool special, int lstrip) const;

    Vocab vocab_;
    std::vector<std::string> pieces_;
};

// The tokenizer for a vocabulary: SPM, byte-level BPE or WordPiece. Throws pocket::Error.
std::unique_ptr<Tokenizer> make_tokenizer(Vocab vocab);

// Reads the vocabulary from GGUF metadata (tokenizer.ggml.*) and builds its tokenizer.
std::unique_ptr<Tokenizer> load_tokenizer(const gguf::File& file);

}  // namespace pocket::tokenizer
