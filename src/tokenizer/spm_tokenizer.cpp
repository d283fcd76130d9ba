#include "spm_tokenizer.h"

#include <algorithm>
#include <queue>

#include "pocket/core/error.h"
#include "pocket/tokenizer/special_partition.h"
#include "pocket/tokenizer/utf8.h"

namespace pocket::tokenizer {

namespace {

constexpr std::string_view kSpaceMarker = "\xE2\x96\x81";  // U+2581 LOWER ONE EIGHTH BLOCK

std::string escape_spaces(std::string_view text) {
    std::string out;
    out.reserve(text.size() + text.size() / 2);
    for (const char c : text) {
        if (c == ' ') {
            out += kSpaceMarker;
        } else {
            out += c;
        }
    }
    return out;
}

std::string unescape_spaces(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (size_t pos = 0; pos < text.size();) {
        if (text.substr(pos, kSpaceMarker.size()) == kSpaceMarker) {
            out += ' ';
            pos += kSpaceMarker.size();
        } else {
            out += text[pos++];
        }
    }
    return out;
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

// The byte a "<0xXX>" token stands for, or -1 when the text has another form.
int parse_byte_token(std::string_view text) {
    if (text.size() != 6 || text.substr(0, 3) != "<0x" || text[5] != '>') return -1;
    const int hi = hex_value(text[3]);
    const int lo = hex_value(text[4]);
    return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

std::string byte_token_text(uint8_t byte) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    return {'<', '0', 'x', kHex[byte >> 4], kHex[byte & 15], '>'};
}

// A run of the input: one UTF-8 character at first, growing as its right neighbour merges in.
// Symbols form a doubly linked list; a merged-away symbol keeps length 0.
struct Symbol {
    int prev;
    int next;
    size_t begin;
    size_t length;
};

// A candidate merge of two adjacent symbols into the token `left+right`.
struct Bigram {
    int left;
    int right;
    float score;
    size_t length;  // bytes of the merged text; a mismatch later means the candidate is stale
};

// Highest score first; on equal scores the leftmost pair first.
struct LowerPriority {
    bool operator()(const Bigram& a, const Bigram& b) const {
        return a.score < b.score || (a.score == b.score && a.left > b.left);
    }
};

}  // namespace

SpmTokenizer::SpmTokenizer(Vocab vocab) : Tokenizer(std::move(vocab)) {
    const Vocab& v = this->vocab();
    for (size_t id = 0; id < v.size(); ++id) {
        const TokenData& data = v.token(static_cast<TokenId>(id));
        if ((data.attr & kAttrByte) && parse_byte_token(data.text) < 0) {
            fail(v.origin(), ": token ", id, " is a byte token but its text '", data.text,
                 "' is not of the form <0xXX>");
        }
    }
    // Byte fallback prefers "<0xXX>" and, like llama.cpp, accepts a token that is the raw byte.
    for (int byte = 0; byte < 256; ++byte) {
        TokenId id = v.find(byte_token_text(static_cast<uint8_t>(byte)));
        if (id == kNoToken) id = v.find(std::string(1, static_cast<char>(byte)));
        byte_tokens_[static_cast<size_t>(byte)] = id;
    }
    cache_pieces();
}

std::string SpmTokenizer::render_piece(TokenId id) const {
    const TokenData& data = vocab().token(id);
    if (data.attr & (kAttrUnknown | kAttrControl | kAttrUserDefined)) return data.text;
    if (data.attr & kAttrNormal) return unescape_spaces(data.text);
    if (data.attr & kAttrByte)
        return std::string(1, static_cast<char>(parse_byte_token(data.text)));
    return {};  // unused and undefined tokens render as nothing, as in llama.cpp
}

std::vector<TokenId> SpmTokenizer::encode(std::string_view text, bool add_special,
                                          bool parse_special,
                                          std::span<const TextRange> verbatim) const {
    const Vocab& v = vocab();
    const VocabFlags& flags = v.flags();
    std::vector<TokenId> out;

    if (add_special && flags.add_bos) {
        if (v.special().bos == kNoToken) fail(v.origin(), ": the vocabulary adds BOS but has none");
        out.push_back(v.special().bos);
    }

    // Every text fragment that starts the input or follows a special token gets the space prefix.
    bool after_special = true;
    for (const Fragment& fragment : partition_special_tokens(v, text, parse_special, verbatim)) {
        if (fragment.is_token()) {
            out.push_back(fragment.token);
            after_special = true;
            continue;
        }
        std::string piece = flags.add_space_prefix && after_special ? " " : "";
        piece += fragment.text;
        segment(escape_spaces(piece), out);
        after_special = false;
    }

    if (add_special && flags.add_eos) {
        if (v.special().eos == kNoToken) fail(v.origin(), ": the vocabulary adds EOS but has none");
        out.push_back(v.special().eos);
    }
    return out;
}

void SpmTokenizer::segment(std::string_view text, std::vector<TokenId>& out) const {
    if (text.empty()) return;
    const Vocab& v = vocab();

    std::vector<Symbol> symbols;
    for (size_t pos = 0; pos < text.size();) {
        const size_t length =
            std::min(utf8::lead_length(static_cast<uint8_t>(text[pos])), text.size() - pos);
        const int index = static_cast<int>(symbols.size());
        symbols.push_back({index - 1, pos + length == text.size() ? -1 : index + 1, pos, length});
        pos += length;
    }

    std::priority_queue<Bigram, std::vector<Bigram>, LowerPriority> queue;
    const auto try_add_bigram = [&](int left, int right) {
        if (left < 0 || right < 0) return;
        const Symbol& l = symbols[static_cast<size_t>(left)];
        const Symbol& r = symbols[static_cast<size_t>(right)];
        const std::string_view merged = text.substr(l.begin, l.length + r.length);
        const TokenId id = v.find(merged);
        if (id == kNoToken) return;
        queue.push({left, right, v.score(id), merged.size()});
    };

    for (int i = 1; i < static_cast<int>(symbols.size()); ++i) try_add_bigram(i - 1, i);

    while (!queue.empty()) {
        const Bigram bigram = queue.top();
        queue.pop();
        Symbol& left = symbols[static_cast<size_t>(bigram.left)];
        Symbol& right = symbols[static_cast<size_t>(bigram.right)];
        // Skip candidates whose symbols have changed since they were queued.
        if (left.length == 0 || right.length == 0 || left.length + right.length != bigram.length) {
            continue;
        }
        left.length += right.length;
        right.length = 0;
        left.next = right.next;
        if (right.next >= 0) symbols[static_cast<size_t>(right.next)].prev = bigram.left;

        try_add_bigram(left.prev, bigram.left);
        try_add_bigram(bigram.left, left.next);
    }

    // Every merged symbol is a token by construction; a single character may not be, and then
    // falls back to its bytes.
    for (int i = 0; i != -1; i = symbols[static_cast<size_t>(i)].next) {
        const Symbol& symbol = symbols[static_cast<size_t>(i)];
        const std::string_view piece = text.substr(symbol.begin, symbol.length);
        const TokenId id = v.find(piece);
        if (id != kNoToken) {
            out.push_back(id);
        } else {
            append_bytes(piece, out);
        }
    }
}

void SpmTokenizer::append_bytes(std::string_view bytes, std::vector<TokenId>& out) const {
    const bool all_bytes_known = std::all_of(bytes.begin(), bytes.end(), [&](char c) {
        return byte_tokens_[static_cast<uint8_t>(c)] != kNoToken;
    });
    if (all_bytes_known) {
        for (const char c : bytes) out.push_back(byte_tokens_[static_cast<uint8_t>(c)]);
        return;
    }
    // llama.cpp throws here. A vocabulary without byte tokens still has <unk> to say "a character
    // was here", which is what SentencePiece itself emits (one per character).
    const TokenId unk = vocab().special().unk;
    if (unk == kNoToken) {
        fail(vocab().origin(), ": cannot tokenize '", utf8::sanitize(bytes),
             "': the vocabulary has neither byte tokens for it nor an unknown token");
    }
    out.push_back(unk);
}

}  // namespace pocket::tokenizer
