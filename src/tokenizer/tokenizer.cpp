#include "pocket/tokenizer/tokenizer.h"

#include "bpe_tokenizer.h"
#include "pocket/core/error.h"
#include "spm_tokenizer.h"
#include "wordpiece_tokenizer.h"

namespace pocket::tokenizer {

namespace {

bool is_clean_punctuation(char c) {
    return c == '?' || c == '!' || c == '.' || c == ',';
}

// llama.cpp's three clean-up passes over detokenized text (clean_spaces vocabularies), each pass
// reading the previous pass's output.
std::string clean_up_spaces(std::string_view text) {
    if (text.empty()) return {};

    // 1: no space before ? ! . ,
    std::string pass1(1, text[0]);
    for (size_t i = 1; i < text.size(); ++i) {
        if (text[i - 1] == ' ' && is_clean_punctuation(text[i])) pass1.pop_back();
        pass1 += text[i];
    }

    // 2: " ' " becomes "'". The swallowed space after the apostrophe no longer counts as a space
    // for the next character (llama.cpp overwrites it with NUL in place).
    std::string& src = pass1;
    std::string pass2(1, src[0]);
    for (size_t i = 1; i < src.size(); ++i) {
        const char x = src[i];
        if (x == '\'' && i + 1 < src.size() && src[i - 1] == ' ' && src[i + 1] == ' ') {
            pass2.pop_back();
            src[++i] = '\0';
        }
        pass2 += x;
    }

    // 3: re-join the contractions 's 'm 're 've (but not 't 'd 'll).
    const std::string& t = pass2;
    std::string pass3(1, t[0]);
    for (size_t i = 1; i < t.size(); ++i) {
        const char x = t[i];
        if (t[i - 1] == ' ' && x == '\'' && i + 1 < t.size()) {
            const char x1 = t[i + 1];
            if (x1 == 's' || x1 == 'm') {
                pass3.pop_back();
            } else if (i + 2 < t.size()) {
                const char x2 = t[i + 2];
                if ((x1 == 'r' || x1 == 'v') && x2 == 'e') pass3.pop_back();
            }
        }
        pass3 += x;
    }
    return pass3;
}

}  // namespace

Tokenizer::Tokenizer(Vocab vocab) : vocab_(std::move(vocab)) {}

Tokenizer::~Tokenizer() = default;

void Tokenizer::cache_pieces() {
    pieces_.clear();
    pieces_.reserve(vocab_.size());
    for (size_t id = 0; id < vocab_.size(); ++id) {
        pieces_.push_back(render_piece(static_cast<TokenId>(id)));
    }
}

void Tokenizer::append_piece(std::string& out, TokenId id, bool special, int lstrip) const {
    const TokenData& data = vocab_.token(id);  // range check with a clear message
    if (!special && (data.attr & (kAttrUnknown | kAttrControl))) return;
    std::string_view piece = pieces_[static_cast<size_t>(id)];
    for (int i = 0; i < lstrip && !piece.empty() && piece.front() == ' '; ++i) {
        piece.remove_prefix(1);
    }
    out.append(piece);
}

std::string Tokenizer::token_to_piece(TokenId id, bool special) const {
    std::string piece;
    append_piece(piece, id, special, 0);
    return piece;
}

std::string Tokenizer::decode(std::span<const TokenId> ids, bool remove_special,
                              bool unparse_special) const {
    const VocabFlags& flags = vocab_.flags();
    const SpecialTokens& special = vocab_.special();

    // The space an SPM tokenizer put in front of the text is taken off again, except after a BOS
    // that is dropped here (llama.cpp keeps " Once" after <s> so that the text round-trips).
    bool remove_space = flags.add_space_prefix;
    if (remove_special && flags.add_bos && !ids.empty() && ids.front() == special.bos) {
        remove_space = false;
        ids = ids.subspan(1);
    }
    if (remove_special && flags.add_eos && !ids.empty() && ids.back() == special.eos) {
        ids = ids.first(ids.size() - 1);
    }

    std::string text;
    for (const TokenId id : ids) {
        append_piece(text, id, unparse_special, remove_space ? 1 : 0);
        remove_space = false;
    }
    if (flags.clean_spaces) text = clean_up_spaces(text);
    return text;
}

std::unique_ptr<Tokenizer> make_tokenizer(Vocab vocab) {
    switch (vocab.kind()) {
        case VocabKind::Spm:
            return std::make_unique<SpmTokenizer>(std::move(vocab));
        case VocabKind::Bpe:
            return std::make_unique<BpeTokenizer>(std::move(vocab));
        case VocabKind::WordPiece:
            return std::make_unique<WordPieceTokenizer>(std::move(vocab));
    }
    fail(vocab.origin(), ": unknown vocabulary kind ", static_cast<int>(vocab.kind()));
}

}  // namespace pocket::tokenizer
