#include "pocket/tokenizer/hf_tokenizer.h"
#include "pocket/core/read_file.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <deque>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "bpe_merges.h"
#include "byte_level.h"
#include "hf_components.h"
#include "json_reader.h"
#include "load_phases.h"
#include "pocket/core/error.h"
#include "pocket/tokenizer/utf8.h"
#include "text_index.h"
#include "unicode_props.h"

namespace pocket::tokenizer {

namespace {

using nlohmann::json;

struct AddedToken {
    TokenId id = kNoToken;
    std::string content;
    bool special = false;
    bool lstrip = false;
    bool rstrip = false;
    bool single_word = false;
};

enum class ModelKind { Bpe, WordPiece };

// Everything of a tokenizer.json except the vocabulary itself.
struct Pipeline {
    ModelKind model = ModelKind::Bpe;
    // BPE
    BpeMerges merges;
    bool byte_fallback = false;
    bool fuse_unk = false;
    bool ignore_merges = false;
    std::array<TokenId, 256> byte_tokens{};
    // WordPiece
    std::string continuing_prefix = "##";
    size_t max_input_chars_per_word = 100;
    TokenId unk = kNoToken;

    std::unique_ptr<hf::Normalizer> normalizer;
    std::unique_ptr<hf::PreTokenizer> pre_tokenizer;
    std::unique_ptr<hf::Decoder> decoder;
    hf::PostProcessor post;
    std::vector<AddedToken> added;                               // sorted longest content first
    std::array<std::vector<uint32_t>, 256> added_by_first_byte;  // indices into `added`, in order
    bool clean_up_spaces = false;
    bool byte_level_pieces = false;  // token texts are in GPT-2's byte alphabet
};

// The byte a byte-fallback token's text "<0xHH>" (upper-case hex, as the loader looks them up)
// names, or -1 for any other text.
int byte_token_value(std::string_view text) {
    if (text.size() != 6 || text.substr(0, 3) != "<0x" || text[5] != '>') return -1;
    const auto hex = [](char c) {
        return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    };
    const int hi = hex(text[3]), lo = hex(text[4]);
    return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

bool is_word_byte(char c) {
    const auto u = static_cast<unsigned char>(c);
    return std::isalnum(u) || c == '_' || u >= 0x80;
}

class HfTokenizer final : public Tokenizer {
  public:
    HfTokenizer(Vocab vocab, Pipeline pipeline)
        : Tokenizer(std::move(vocab)), p_(std::move(pipeline)) {
        cache_pieces();
    }

    std::vector<TokenId> encode(std::string_view text, bool add_special, bool parse_special,
                                std::span<const TextRange> verbatim = {}) const override {
        std::vector<TokenId> out;
        if (add_special) out = p_.post.prefix;
        size_t pos = 0;
        bool first = true;
        while (pos <= text.size()) {
            const Match m = find_added(text, pos, parse_special, verbatim);
            encode_segment(text.substr(pos, m.begin - pos), first, out);
            first = false;
            if (m.token == nullptr) break;
            out.push_back(m.token->id);
            pos = m.end;
        }
        if (add_special) out.insert(out.end(), p_.post.suffix.begin(), p_.post.suffix.end());
        return out;
    }

    std::string decode(std::span<const TokenId> ids, bool remove_special,
                       bool unparse_special) const override {
        if (remove_special) {
            const auto& pre = p_.post.prefix;
            const auto& suf = p_.post.suffix;
            if (!pre.empty() && ids.size() >= pre.size() &&
                std::equal(pre.begin(), pre.end(), ids.begin())) {
                ids = ids.subspan(pre.size());
            }
            if (!suf.empty() && ids.size() >= suf.size() &&
                std::equal(suf.begin(), suf.end(), ids.end() - static_cast<long>(suf.size()))) {
                ids = ids.first(ids.size() - suf.size());
            }
        }
        std::vector<std::string> tokens;
        tokens.reserve(ids.size());
        for (const TokenId id : ids) {
            const TokenData& data = vocab().token(id);
            if (!unparse_special && (data.attr & kAttrControl)) continue;
            tokens.push_back(data.text);
        }
        std::string text;
        if (p_.decoder) {
            p_.decoder->decode(tokens);
            for (const std::string& t : tokens) text += t;
        } else {
            for (size_t i = 0; i < tokens.size(); ++i) text += (i ? " " : "") + tokens[i];
        }
        if (p_.clean_up_spaces) text = hf::clean_up_tokenization(std::move(text));
        return text;
    }

  protected:
    std::string render_piece(TokenId id) const override {
        const TokenData& data = vocab().token(id);
        if (data.attr & (kAttrControl | kAttrUserDefined)) return data.text;
        if (p_.byte_level_pieces) {
            // Called for every token at load time, so decode in place rather than into a
            // vector of code points; invalid UTF-8 keeps the text as it is.
            std::string out;
            const std::string_view t = data.text;
            for (size_t pos = 0; pos < t.size();) {
                const utf8::Decoded d = utf8::decode(t, pos);
                if (d.status != utf8::Status::Complete) return data.text;
                const int b = byte_level::code_point_to_byte(d.code_point);
                if (b < 0) return data.text;
                out += static_cast<char>(b);
                pos += d.length;
            }
            return out;
        }
        if (p_.model == ModelKind::WordPiece) {
            if (data.text.rfind(p_.continuing_prefix, 0) == 0) {
                return data.text.substr(p_.continuing_prefix.size());
            }
            return " " + data.text;
        }
        // SentencePiece-style: <0xXX> byte tokens and U+2581 for spaces.
        if (const int b = byte_token_value(data.text);
            b >= 0 && p_.byte_tokens[static_cast<size_t>(b)] == id) {
            return std::string(1, static_cast<char>(b));
        }
        std::string out;
        const std::string_view t = data.text;
        for (size_t i = 0; i < t.size();) {
            if (t.substr(i, 3) == "\xE2\x96\x81") {
                out += ' ';
                i += 3;
            } else {
                out += t[i++];
            }
        }
        return out;
    }

  private:
    struct Match {
        size_t begin;
        size_t end;
        const AddedToken* token;
    };

    // The leftmost, longest added token at or after `pos` (Hugging Face's added-vocabulary
    // matching); {text.size(), text.size(), nullptr} when there is none.
    Match find_added(std::string_view text, size_t pos, bool parse_special,
                     std::span<const TextRange> verbatim) const {
        for (size_t i = pos; i < text.size(); ++i) {
            for (const uint32_t index : p_.added_by_first_byte[static_cast<uint8_t>(text[i])]) {
                const AddedToken& t = p_.added[index];
                if (t.special && !parse_special) continue;
                if (text.compare(i, t.content.size(), t.content) != 0) continue;
                size_t end = i + t.content.size();
                if (overlaps_any(verbatim, i, end)) continue;
                if (t.single_word && ((i > 0 && is_word_byte(text[i - 1])) ||
                                      (end < text.size() && is_word_byte(text[end])))) {
                    continue;
                }
                size_t begin = i;
                if (t.lstrip) {
                    while (begin > pos && is_space(text[begin - 1])) --begin;
                }
                if (t.rstrip) {
                    while (end < text.size() && is_space(text[end])) ++end;
                }
                return {begin, end, &t};  // longest first, so the first hit is the longest
            }
        }
        return {text.size(), text.size(), nullptr};
    }

    void encode_segment(std::string_view segment, bool first, std::vector<TokenId>& out) const {
        if (segment.empty()) return;
        std::string normalized(segment);
        if (p_.normalizer) p_.normalizer->normalize(normalized);
        std::vector<std::string> pieces{std::move(normalized)};
        if (p_.pre_tokenizer) p_.pre_tokenizer->pre_tokenize(pieces, first);
        for (const std::string& piece : pieces) {
            if (piece.empty()) continue;
            if (p_.model == ModelKind::Bpe) {
                encode_bpe(piece, out);
            } else {
                encode_wordpiece(piece, out);
            }
        }
    }

    void encode_bpe(const std::string& word, std::vector<TokenId>& out) const {
        const Vocab& v = vocab();
        if (p_.ignore_merges) {
            const TokenId whole = v.find(word);
            if (whole != kNoToken) {
                out.push_back(whole);
                return;
            }
        }
        std::vector<TokenId> ids;
        const std::string_view w = word;
        for (size_t pos = 0; pos < w.size();) {
            const size_t length =
                std::min(utf8::lead_length(static_cast<uint8_t>(w[pos])), w.size() - pos);
            const std::string_view ch = w.substr(pos, length);
            pos += length;
            const TokenId id = v.find(ch);
            if (id != kNoToken) {
                ids.push_back(id);
                continue;
            }
            if (p_.byte_fallback && std::all_of(ch.begin(), ch.end(), [&](char c) {
                    return p_.byte_tokens[static_cast<uint8_t>(c)] != kNoToken;
                })) {
                for (const char c : ch) ids.push_back(p_.byte_tokens[static_cast<uint8_t>(c)]);
                continue;
            }
            if (p_.unk == kNoToken) {
                fail(v.origin(), ": cannot tokenize '", utf8::sanitize(ch),
                     "': it is not in the vocabulary and the BPE model has no unk_token");
            }
            if (p_.fuse_unk && !ids.empty() && ids.back() == p_.unk) continue;
            ids.push_back(p_.unk);
        }
        p_.merges.apply(ids);
        out.insert(out.end(), ids.begin(), ids.end());
    }

    void encode_wordpiece(const std::string& word, std::vector<TokenId>& out) const {
        const Vocab& v = vocab();
        std::vector<size_t> bounds;  // byte offset of every character, plus the end
        for (size_t pos = 0; pos < word.size();) {
            bounds.push_back(pos);
            pos += std::min(utf8::lead_length(static_cast<uint8_t>(word[pos])), word.size() - pos);
        }
        const size_t n_chars = bounds.size();
        bounds.push_back(word.size());
        if (n_chars > p_.max_input_chars_per_word) {
            out.push_back(unk_or_fail(word));
            return;
        }
        std::vector<TokenId> pieces;
        std::string candidate;
        for (size_t start = 0; start < n_chars;) {
            TokenId found = kNoToken;
            size_t end = n_chars;
            for (; end > start; --end) {
                candidate = start > 0 ? p_.continuing_prefix : std::string();
                candidate.append(word, bounds[start], bounds[end] - bounds[start]);
                found = v.find(candidate);
                if (found != kNoToken) break;
            }
            if (found == kNoToken) {
                out.push_back(unk_or_fail(word));
                return;
            }
            pieces.push_back(found);
            start = end;
        }
        out.insert(out.end(), pieces.begin(), pieces.end());
    }

    TokenId unk_or_fail(std::string_view word) const {
        if (p_.unk == kNoToken) {
            fail(vocab().origin(), ": cannot tokenize the word '", utf8::sanitize(word),
                 "' and the WordPiece model has no unk_token");
        }
        return p_.unk;
    }

    Pipeline p_;
};

// What one pass over tokenizer.json yields. The vocabulary and the merges (hundreds of thousands
// of strings) are read straight from the text by JsonReader; every other member is small and is
// parsed into nlohmann::json from its raw text. A member given twice counts once, the last time,
// as with a DOM.
struct ScannedTokenizer {
    json root = json::object();   // top-level members except "model"
    json model = json::object();  // the model's members except "vocab" and "merges"
    bool has_model = false;
    bool has_vocab = false;
    bool has_merges = false;
    // Texts point into the JSON text, or into `decoded` for strings that had escapes.
    std::vector<std::pair<std::string_view, int64_t>> vocab;
    std::vector<std::pair<std::string_view, std::string_view>> merges;
    std::deque<std::string> decoded;
};

json parse_small(JsonReader& reader, std::string_view origin) {
    const size_t offset = reader.offset();
    const std::string_view raw = reader.raw_value();
    try {
        return json::parse(raw);
    } catch (const json::exception& e) {
        // JsonReader accepted it, so this is nlohmann refusing something JsonReader allows.
        fail(origin, ": byte ", offset, ": not valid JSON: ", e.what());
    }
}

// A string that must outlive the scratch buffer it may have been decoded into.
std::string_view keep(ScannedTokenizer& out, std::string_view s, const std::string& scratch) {
    if (s.data() != scratch.data()) return s;  // a slice of the JSON text
    return out.decoded.emplace_back(s);
}

void scan_vocab(JsonReader& reader, ScannedTokenizer& out) {
    out.has_vocab = true;
    out.vocab.clear();
    reader.begin_object("model.vocab (token -> id)");
    std::string scratch;
    std::string_view text;
    bool first = true;
    while (reader.next_member(first, scratch, text)) {
        const std::string_view kept = keep(out, text, scratch);
        out.vocab.emplace_back(kept, reader.integer("a token id"));
    }
}

void scan_merges(JsonReader& reader, ScannedTokenizer& out, std::string_view origin) {
    out.has_merges = true;
    out.merges.clear();
    reader.begin_array("model.merges");
    std::string scratch;
    bool first = true;
    while (reader.next_item(first)) {
        if (reader.peek() == '[') {
            // ["left", "right"]
            reader.begin_array("a merge");
            bool item_first = true;
            std::string_view parts[2];
            for (std::string_view& part : parts) {
                if (!reader.next_item(item_first)) {
                    reader.error("a BPE merge must be \"left right\" or [left, right]");
                }
                part = keep(out, reader.string(scratch, "a merge's token"), scratch);
            }
            if (reader.next_item(item_first)) {
                reader.error("a BPE merge must be \"left right\" or [left, right]");
            }
            out.merges.emplace_back(parts[0], parts[1]);
        } else {
            // "left right": split at the first space after the first byte.
            const std::string_view m = keep(out, reader.string(scratch, "a merge"), scratch);
            const size_t space = m.find(' ', 1);
            if (space == std::string_view::npos) {
                fail(origin, ": a BPE merge must be \"left right\" or [left, right], not \"",
                     utf8::sanitize(m), "\"");
            }
            out.merges.emplace_back(m.substr(0, space), m.substr(space + 1));
        }
    }
}

ScannedTokenizer scan_tokenizer_json(std::string_view text, std::string_view origin) {
    JsonReader reader(text, origin);
    ScannedTokenizer out;
    if (reader.peek() != '{') {
        reader.raw_value();  // a syntax error is reported as such
        reader.expect_end();
        reader.error("a tokenizer.json must be an object");
    }
    reader.begin_object("a tokenizer.json");
    std::string scratch;
    std::string_view key;
    bool first = true;
    while (reader.next_member(first, scratch, key)) {
        if (key != "model") {
            const std::string name(key);
            out.root[name] = parse_small(reader, origin);
            continue;
        }
        out.has_model = true;
        out.model = json::object();
        out.has_vocab = out.has_merges = false;
        out.vocab.clear();
        out.merges.clear();
        reader.begin_object("model");
        bool model_first = true;
        std::string_view model_key;
        std::string model_scratch;
        while (reader.next_member(model_first, model_scratch, model_key)) {
            if (model_key == "vocab" && reader.peek() == '{') {
                scan_vocab(reader, out);
            } else if (model_key == "merges" && reader.peek() == '[') {
                scan_merges(reader, out, origin);
            } else {
                const std::string name(model_key);
                if (name == "vocab") out.has_vocab = false;
                if (name == "merges") out.has_merges = false;
                out.model[name] = parse_small(reader, origin);
            }
        }
    }
    reader.expect_end();
    return out;
}

// The members of tokenizer_config.json pocket reads; the rest (which can be a megabyte of chat
// templates and added-token tables) is only checked, not built into a DOM.
json scan_config_json(std::string_view text, std::string_view origin) {
    JsonReader reader(text, origin);
    if (reader.peek() != '{') {
        reader.raw_value();
        reader.expect_end();
        return json();  // not an object: nothing to read, as before
    }
    json config = json::object();
    reader.begin_object("tokenizer_config.json");
    std::string scratch;
    std::string_view key;
    bool first = true;
    while (reader.next_member(first, scratch, key)) {
        static constexpr std::string_view kWanted[] = {"bos_token",
                                                       "eos_token",
                                                       "unk_token",
                                                       "pad_token",
                                                       "sep_token",
                                                       "mask_token",
                                                       "clean_up_tokenization_spaces"};
        if (std::find(std::begin(kWanted), std::end(kWanted), key) != std::end(kWanted)) {
            const std::string name(key);
            config[name] = parse_small(reader, origin);
        } else {
            reader.raw_value();
        }
    }
    reader.expect_end();
    return config;
}

// A token named in tokenizer_config.json: a string or {"content": ...}.
std::string config_token(const json& config, const char* key) {
    if (!config.is_object() || !config.contains(key)) return {};
    const json& v = config[key];
    if (v.is_string()) return v.get<std::string>();
    if (v.is_object() && v.contains("content") && v["content"].is_string()) {
        return v["content"].get<std::string>();
    }
    return {};
}

bool uses_byte_level(const json& j) {
    if (j.is_object()) {
        if (j.value("type", std::string()) == "ByteLevel") return true;
        for (const auto& [key, value] : j.items()) {
            if (uses_byte_level(value)) return true;
        }
    } else if (j.is_array()) {
        for (const json& item : j) {
            if (uses_byte_level(item)) return true;
        }
    }
    return false;
}

// Token ids of every merge "left right -> left+right", in rank order; a merge naming a text that
// is not a token is an error in a tokenizer.json.
void resolve_merges(const Vocab& v,
                    const std::vector<std::pair<std::string_view, std::string_view>>& merges,
                    BpeMerges& out, std::string_view origin, LoadPhases* phases) {
    const TextIndex index(v.tokens());
    mark_phase(phases, "merges: index");
    const std::vector<MergeIds> ids = lookup_merges(index, merges);
    const size_t n = merges.size();
    mark_phase(phases, "merges: lookup");
    out.reserve(n);
    for (size_t i = 0; i < n; ++i) {
        const MergeIds& m = ids[i];
        if (m.left == kNoToken || m.right == kNoToken || m.result == kNoToken) {
            fail(origin, ": the merge '", utf8::sanitize(merges[i].first), " ",
                 utf8::sanitize(merges[i].second), "' names a token the vocabulary does not have");
        }
        out.add(m.left, m.right, m.result, static_cast<int>(i));
    }
}

}  // namespace

std::unique_ptr<Tokenizer> parse_hf_tokenizer(std::string_view tokenizer_json,
                                              std::string_view config_json,
                                              std::string_view origin) {
    return parse_hf_tokenizer_timed(tokenizer_json, config_json, origin, nullptr);
}

std::unique_ptr<Tokenizer> parse_hf_tokenizer_timed(std::string_view tokenizer_json,
                                                    std::string_view config_json,
                                                    std::string_view origin, LoadPhases* phases) {
    const ScannedTokenizer scanned = scan_tokenizer_json(tokenizer_json, origin);
    const json config = config_json.empty() ? json() : scan_config_json(config_json, origin);
    mark_phase(phases, "json");
    const json& root = scanned.root;
    try {
        if (!scanned.has_model) fail(origin, ": the tokenizer.json has no \"model\"");
        const json& model = scanned.model;
        const std::string type = model.value("type", std::string());
        Pipeline p;
        if (type == "BPE") {
            p.model = ModelKind::Bpe;
            if (!model.value("dropout", json()).is_null()) {
                fail(origin, ": BPE dropout is not supported (tokenization would be random)");
            }
            for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
                const json v = model.value(key, json());
                if (v.is_string() && !v.get<std::string>().empty()) {
                    fail(origin, ": the BPE model's ", key, " is not supported by pocket");
                }
            }
            p.byte_fallback = model.value("byte_fallback", false);
            p.fuse_unk = model.value("fuse_unk", false);
            p.ignore_merges = model.value("ignore_merges", false);
        } else if (type == "WordPiece") {
            p.model = ModelKind::WordPiece;
            p.continuing_prefix = model.value("continuing_subword_prefix", std::string("##"));
            p.max_input_chars_per_word =
                model.contains("max_input_chars_per_word")
                    ? static_cast<size_t>(hf::token_id_of(model["max_input_chars_per_word"],
                                                          "max_input_chars_per_word"))
                    : size_t{100};
        } else {
            fail(origin, ": the tokenizer model '", type, "' is not supported by pocket (BPE and ",
                 "WordPiece are)");
        }

        // The vocabulary: model entries, then added tokens (which may reuse or extend ids).
        VocabSpec spec;
        spec.origin = std::string(origin);
        if (!scanned.has_vocab) {
            fail(origin, model.contains("vocab") ? ": model.vocab must be an object of token -> id"
                                                 : ": the model has no vocab");
        }
        const json& added = root.value("added_tokens", json::array());
        if (!added.is_array()) fail(origin, ": added_tokens must be an array");
        // Ids index a table (and every unused id still costs a placeholder token and piece), so
        // a hostile id must not make it huge: ids may leave gaps, but stay below twice the number
        // of entries plus 65,536 (real vocabularies are dense; Gemma 3: 262,144 ids, all used).
        const int64_t kMaxTokens = std::min<int64_t>(
            int64_t{1} << 24,
            2 * static_cast<int64_t>(scanned.vocab.size() + added.size()) + 65536);
        const auto check_id = [&](int64_t id, std::string_view text) {
            if (id < 0) fail(origin, ": token '", utf8::sanitize(text), "' has a negative id");
            if (id >= kMaxTokens) {
                fail(origin, ": token '", utf8::sanitize(text), "' has the id ", id, "; with ",
                     scanned.vocab.size() + added.size(), " entries pocket accepts ids below ",
                     kMaxTokens);
            }
        };
        int64_t max_id = -1;
        for (const auto& [text, id] : scanned.vocab) {
            check_id(id, text);
            max_id = std::max(max_id, id);
        }
        for (const json& a : added) {
            const int64_t id = hf::token_id_of(a.at("id"), "an added token's id");
            check_id(id, a.at("content").get<std::string>());
            max_id = std::max(max_id, id);
        }
        if (max_id < 0) fail(origin, ": the vocabulary is empty");
        spec.tokens.resize(static_cast<size_t>(max_id + 1), TokenData{"", 0.0f, kAttrUnused});
        for (const auto& [text, id] : scanned.vocab) {
            TokenData& t = spec.tokens[static_cast<size_t>(id)];
            t.text.assign(text);
            t.attr = kAttrNormal;
        }
        for (const json& a : added) {
            AddedToken t;
            t.id = hf::token_id_of(a.at("id"), "an added token's id");
            t.content = a.at("content").get<std::string>();
            t.special = a.value("special", false);
            t.lstrip = a.value("lstrip", false);
            t.rstrip = a.value("rstrip", false);
            t.single_word = a.value("single_word", false);
            if (t.content.empty()) continue;
            spec.tokens[static_cast<size_t>(t.id)] = {t.content, 0.0f,
                                                      t.special ? kAttrControl : kAttrUserDefined};
            p.added.push_back(std::move(t));
        }
        std::stable_sort(p.added.begin(), p.added.end(),
                         [](const AddedToken& a, const AddedToken& b) {
                             return a.content.size() > b.content.size();
                         });

        for (size_t i = 0; i < p.added.size(); ++i) {
            p.added_by_first_byte[static_cast<uint8_t>(p.added[i].content[0])].push_back(
                static_cast<uint32_t>(i));
        }

        mark_phase(phases, "vocab table");
        p.normalizer = hf::make_normalizer(root.value("normalizer", json()));
        p.pre_tokenizer = hf::make_pre_tokenizer(root.value("pre_tokenizer", json()));
        p.decoder = hf::make_decoder(root.value("decoder", json()));
        p.post = hf::make_post_processor(root.value("post_processor", json()));
        p.byte_level_pieces =
            p.model == ModelKind::Bpe && (uses_byte_level(root.value("pre_tokenizer", json())) ||
                                          uses_byte_level(root.value("decoder", json())));
        if (config.is_object()) {
            const json v = config.value("clean_up_tokenization_spaces", json(true));
            p.clean_up_spaces = v.is_boolean() && v.get<bool>();
        }

        mark_phase(phases, "pipeline");
        spec.kind = p.model == ModelKind::WordPiece ? VocabKind::WordPiece
                    : p.byte_level_pieces           ? VocabKind::Bpe
                                                    : VocabKind::Spm;
        spec.pre_tokenizer = "tokenizer.json";
        // Special tokens by the names tokenizer_config.json gives them; the model's unk_token and
        // the post-processor's first/last tokens where it names none. A handful of names, so one
        // pass over the table (the lowest id with that text) instead of an index of all of it.
        {
            std::string names[7] = {config_token(config, "bos_token"),
                                    config_token(config, "eos_token"),
                                    config_token(config, "unk_token"),
                                    config_token(config, "pad_token"),
                                    config_token(config, "sep_token"),
                                    config_token(config, "mask_token"),
                                    model.value("unk_token", json()).is_string()
                                        ? model["unk_token"].get<std::string>()
                                        : std::string()};
            TokenId ids[7];
            std::fill(std::begin(ids), std::end(ids), kNoToken);
            for (size_t i = 0; i < spec.tokens.size(); ++i) {
                const std::string& text = spec.tokens[i].text;
                for (size_t k = 0; k < 7; ++k) {
                    if (ids[k] == kNoToken && !names[k].empty() && text == names[k]) {
                        ids[k] = static_cast<TokenId>(i);
                    }
                }
            }
            spec.special.bos = ids[0];
            spec.special.eos = ids[1];
            spec.special.unk = ids[2];
            spec.special.pad = ids[3];
            spec.special.sep = ids[4];
            spec.special.mask = ids[5];
            if (spec.special.unk == kNoToken) spec.special.unk = ids[6];
            if (spec.special.bos == kNoToken && !p.post.prefix.empty()) {
                spec.special.bos = p.post.prefix.front();
            }
        }
        spec.flags.add_bos = !p.post.prefix.empty();
        spec.flags.add_eos = !p.post.suffix.empty();
        mark_phase(phases, "special tokens");
        Vocab v(std::move(spec));
        mark_phase(phases, "vocab index");

        // encode() emits these ids as they are, so they must name tokens.
        for (const auto* ids : {&p.post.prefix, &p.post.suffix}) {
            for (const TokenId id : *ids) {
                if (!v.contains(id)) {
                    fail(origin, ": the post-processor adds token id ", id,
                         ", which is not in the vocabulary (", v.size(), " tokens)");
                }
            }
        }
        const json unk = model.value("unk_token", json());
        if (unk.is_string()) {
            p.unk = v.find(unk.get<std::string>());
            if (p.unk == kNoToken)
                fail(origin, ": the unk_token '", unk.get<std::string>(), "' is not a token");
        }
        p.byte_tokens.fill(kNoToken);
        if (p.byte_fallback) {
            static constexpr char kHex[] = "0123456789ABCDEF";
            for (int b = 0; b < 256; ++b) {
                p.byte_tokens[static_cast<size_t>(b)] =
                    v.find(std::string{'<', '0', 'x', kHex[b >> 4], kHex[b & 15], '>'});
            }
        }
        if (p.model == ModelKind::Bpe) {
            if (!scanned.has_merges) {
                fail(origin, model.contains("merges") ? ": model.merges must be an array"
                                                      : ": the BPE model has no merges");
            }
            resolve_merges(v, scanned.merges, p.merges, origin, phases);
        }
        mark_phase(phases, "merges: table");
        auto tokenizer = std::make_unique<HfTokenizer>(std::move(v), std::move(p));
        mark_phase(phases, "pieces");
        return tokenizer;
    } catch (const json::exception& e) {
        fail(origin, ": unexpected tokenizer.json structure: ", e.what());
    }
}

std::unique_ptr<Tokenizer> load_hf_tokenizer(const std::filesystem::path& tokenizer_json) {
    const std::string text = read_file(tokenizer_json);
    const std::filesystem::path config_path =
        tokenizer_json.parent_path() / "tokenizer_config.json";
    const std::string config =
        std::filesystem::exists(config_path) ? read_file(config_path) : std::string();
    return parse_hf_tokenizer(text, config, tokenizer_json.string());
}

}  // namespace pocket::tokenizer
