#include "pocket/tokenizer/vocab.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <initializer_list>

#include "pocket/core/error.h"
#include "text_index.h"

namespace pocket::tokenizer {

std::string_view vocab_kind_name(VocabKind kind) {
    switch (kind) {
        case VocabKind::Spm:
            return "SPM";
        case VocabKind::Bpe:
            return "BPE";
        case VocabKind::WordPiece:
            return "WordPiece";
    }
    return "unknown";
}

uint32_t attr_from_token_type(int64_t type) {
    switch (static_cast<TokenType>(type)) {
        case TokenType::Unknown:
            return kAttrUnknown;
        case TokenType::Unused:
            return kAttrUnused;
        case TokenType::Normal:
            return kAttrNormal;
        case TokenType::Control:
            return kAttrControl;
        case TokenType::UserDefined:
            return kAttrUserDefined;
        case TokenType::Byte:
            return kAttrByte;
        case TokenType::Undefined:
            return kAttrUndefined;
    }
    return kAttrUndefined;
}

SpecialTokens default_special_tokens(VocabKind kind) {
    SpecialTokens s;
    switch (kind) {
        case VocabKind::Spm:
            s.bos = 1;
            s.eos = 2;
            s.unk = 0;
            break;
        case VocabKind::Bpe:
            s.bos = 11;
            s.eos = 11;
            break;
        case VocabKind::WordPiece:
            s.bos = 101;
            s.unk = 100;
            s.sep = 102;
            s.pad = 0;
            s.mask = 103;
            break;
    }
    return s;
}

VocabFlags default_flags(VocabKind kind) {
    VocabFlags f;
    switch (kind) {
        case VocabKind::Spm:
            f.add_space_prefix = true;
            f.add_bos = true;
            break;
        case VocabKind::Bpe:
            f.clean_spaces = true;
            break;
        case VocabKind::WordPiece:
            f.clean_spaces = true;
            f.add_bos = true;
            break;
    }
    return f;
}

Vocab::Vocab(VocabSpec spec)
    : kind_(spec.kind),
      origin_(std::move(spec.origin)),
      model_name_(std::move(spec.model_name)),
      pre_tokenizer_(std::move(spec.pre_tokenizer)),
      tokens_(std::move(spec.tokens)),
      merges_(std::move(spec.merges)),
      special_(spec.special),
      flags_(spec.flags) {
    if (tokens_.empty()) fail(origin_, ": the vocabulary has no tokens");
    if (tokens_.size() > static_cast<size_t>(INT32_MAX)) {
        fail(origin_, ": the vocabulary has ", tokens_.size(),
             " tokens, more than ids can address");
    }
    index_texts();
    validate_special_ids();
    // The same steps, in the same order, as llama.cpp's vocabulary loader: each one can change
    // token attributes that the next one looks at.
    find_linefeed();
    detect_special_tokens_by_text();
    collect_eog_tokens();
    collect_special_tokens();
    apply_model_specific_attributes();
}

const TokenData& Vocab::token(TokenId id) const {
    if (!contains(id))
        fail(origin_, ": token id ", id, " is out of range [0, ", tokens_.size(), ")");
    return tokens_[static_cast<size_t>(id)];
}

namespace {

uint32_t slot_tag(uint64_t slot) {
    return static_cast<uint32_t>(slot >> 32);
}

size_t slot_id(uint64_t slot) {
    return static_cast<size_t>(slot & 0xFFFFFFFFu) - 1;
}

}  // namespace

TokenId Vocab::find(std::string_view text) const {
    if (text_slots_.empty()) return kNoToken;
    const uint64_t h = hash_text(text);
    const auto tag = static_cast<uint32_t>(h >> 32);
    const size_t mask = text_slots_.size() - 1;
    for (size_t i = h & mask; text_slots_[i] != 0; i = (i + 1) & mask) {
        const uint64_t s = text_slots_[i];
        if (slot_tag(s) == tag && tokens_[slot_id(s)].text == text) {
            return static_cast<TokenId>(slot_id(s));
        }
    }
    return kNoToken;
}

bool Vocab::is_eog(TokenId id) const {
    return id != kNoToken && std::binary_search(eog_ids_.begin(), eog_ids_.end(), id);
}

void Vocab::index_texts() {
    size_t capacity = 16;
    while (capacity < 2 * tokens_.size()) capacity *= 2;
    text_slots_.assign(capacity, 0);
    const size_t mask = capacity - 1;
    for (size_t id = 0; id < tokens_.size(); ++id) {
        auto& text = tokens_[id].text;
        // llama.cpp gives empty entries a unique placeholder text rather than rejecting the file.
        if (text.empty()) text = cat("[EMPTY_", id, "]");
        max_token_length_ = std::max(max_token_length_, text.size());
        const uint64_t h = hash_text(text);
        const auto tag = static_cast<uint32_t>(h >> 32);
        size_t i = h & mask;
        for (; text_slots_[i] != 0; i = (i + 1) & mask) {
            const uint64_t s = text_slots_[i];
            if (slot_tag(s) == tag && tokens_[slot_id(s)].text == text) {
                fail(origin_, ": tokens ", slot_id(s), " and ", id, " have the same text '", text,
                     "'; a vocabulary needs unique token texts");
            }
        }
        text_slots_[i] = (uint64_t{tag} << 32) | (id + 1);
    }
}

void Vocab::validate_special_ids() const {
    const std::pair<const char*, TokenId> ids[] = {
        {"bos", special_.bos},         {"eos", special_.eos},         {"eot", special_.eot},
        {"eom", special_.eom},         {"unknown", special_.unk},     {"separator", special_.sep},
        {"padding", special_.pad},     {"mask", special_.mask},       {"fim_pre", special_.fim_pre},
        {"fim_suf", special_.fim_suf}, {"fim_mid", special_.fim_mid}, {"fim_pad", special_.fim_pad},
        {"fim_rep", special_.fim_rep}, {"fim_sep", special_.fim_sep},
    };
    for (const auto& [name, id] : ids) {
        if (id != kNoToken && !contains(id)) {
            fail(origin_, ": the ", name, " token id ", id, " is out of range (the vocabulary has ",
                 tokens_.size(), " tokens)");
        }
    }
}

void Vocab::find_linefeed() {
    switch (kind_) {
        case VocabKind::Spm: {
            TokenId id = find("<0x0A>");
            if (id == kNoToken) id = find("\n");
            special_.linefeed = id != kNoToken ? id : special_.pad;
            break;
        }
        case VocabKind::WordPiece:
            special_.linefeed = special_.pad;
            break;
        case VocabKind::Bpe:
            // "\n" in GPT-2's byte-level alphabet is U+010A.
            special_.linefeed = find("\xC4\x8A");
            break;
    }
}

void Vocab::detect_special_tokens_by_text() {
    // Files converted without these ids still name the tokens; llama.cpp recognises them by text
    // and forces them to be control tokens. llama.cpp walks a hash map and keeps the first match it
    // meets, which is unordered; when a vocabulary holds several candidates we take them in the
    // order listed here (e.g. phi-3: <|end|> before <|endoftext|>, as llama.cpp reports it).
    const auto detect = [&](TokenId& slot, std::initializer_list<std::string_view> texts) {
        if (slot != kNoToken) return;
        for (const std::string_view text : texts) {
            const TokenId id = find(text);
            if (id == kNoToken) continue;
            slot = id;
            tokens_[static_cast<size_t>(id)].attr |= kAttrControl;
            return;
        }
    };
    detect(special_.eot,
           {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<EOT>",
            "<\xEF\xBD\x9C"
            "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>"});
    detect(special_.eom, {"<|eom_id|>"});
    detect(special_.fim_pre, {"<|fim_prefix|>", "<fim-prefix>",
                              "<\xEF\xBD\x9C"
                              "fim\xE2\x96\x81"
                              "begin\xEF\xBD\x9C>",
                              "<PRE>"});
    detect(special_.fim_suf, {"<|fim_suffix|>", "<fim-suffix>",
                              "<\xEF\xBD\x9C"
                              "fim\xE2\x96\x81hole\xEF\xBD\x9C>",
                              "<SUF>"});
    detect(special_.fim_mid, {"<|fim_middle|>", "<fim-middle>",
                              "<\xEF\xBD\x9C"
                              "fim\xE2\x96\x81"
                              "end\xEF\xBD\x9C>",
                              "<MID>"});
    detect(special_.fim_pad, {"<|fim_pad|>", "<fim-pad>", "<PAD>"});
    detect(special_.fim_rep, {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>"});
    detect(special_.fim_sep, {"<|file_sep|>"});
}

void Vocab::collect_eog_tokens() {
    std::vector<TokenId> eog;
    for (const TokenId id : {special_.fim_pad, special_.fim_rep, special_.fim_sep}) {
        if (id != kNoToken) eog.push_back(id);
    }
    for (const std::string_view text : {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>",
                                        "<|endoftext|>", "<|eom_id|>", "<EOT>"}) {
        const TokenId id = find(text);
        if (id == kNoToken) continue;
        eog.push_back(id);
        tokens_[static_cast<size_t>(id)].attr |= kAttrControl;
    }
    for (const TokenId id : {special_.eos, special_.eot, special_.eom}) {
        if (id != kNoToken) eog.push_back(id);
    }
    std::sort(eog.begin(), eog.end());
    eog.erase(std::unique(eog.begin(), eog.end()), eog.end());
    eog_ids_ = std::move(eog);
}

void Vocab::collect_special_tokens() {
    special_by_length_.clear();
    for (size_t i = 0; i < tokens_.size(); ++i) {
        if (tokens_[i].attr & (kAttrControl | kAttrUserDefined | kAttrUnknown)) {
            special_by_length_.push_back(static_cast<TokenId>(i));
        }
    }
    // Longest first, so that a special token containing another one wins.
    std::stable_sort(special_by_length_.begin(), special_by_length_.end(),
                     [&](TokenId a, TokenId b) {
                         return tokens_[static_cast<size_t>(a)].text.size() >
                                tokens_[static_cast<size_t>(b)].text.size();
                     });
}

void Vocab::apply_model_specific_attributes() {
    // GGUF files carry no per-token strip attributes; llama.cpp sets them from the model and
    // pre-tokenizer names, and so must we to tokenize special-token text the same way.
    const auto set_attr = [&](std::string_view text, uint32_t attr, bool on) {
        const TokenId id = find(text);
        if (id == kNoToken) return;
        auto& a = tokens_[static_cast<size_t>(id)].attr;
        a = on ? (a | attr) : (a & ~attr);
    };
    const auto contains_any = [](std::string_view s, std::initializer_list<std::string_view> subs) {
        return std::any_of(subs.begin(), subs.end(),
                           [&](std::string_view sub) { return s.find(sub) != s.npos; });
    };

    std::string name = model_name_;
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });

    if (contains_any(pre_tokenizer_, {"jina-v2-de", "jina-v2-es", "jina-v2-code"})) {
        set_attr("<mask>", kAttrLStrip, true);
    } else if (contains_any(name, {"phi-3", "phi3"})) {
        // Phi-3 swallows whitespace after its special tokens (e.g. "<|user|>\nHello").
        for (const TokenId id : special_by_length_) {
            tokens_[static_cast<size_t>(id)].attr |= kAttrRStrip;
        }
        set_attr("</s>", kAttrRStrip, true);
        for (const std::string_view text : {"<unk>", "<s>", "<|endoftext|>"}) {
            set_attr(text, kAttrRStrip, false);
        }
    }
}

}  // namespace pocket::tokenizer
