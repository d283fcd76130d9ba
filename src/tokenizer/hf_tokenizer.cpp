#include "pocket/tokenizer/hf_tokenizer.h"
#include "pocket/core/read_file.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "bpe_merges.h"
#include "byte_level.h"
#include "hf_components.h"
#include "pocket/core/error.h"
#include "pocket/tokenizer/utf8.h"
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
            std::string out;
            for (const char32_t cp : unicode::decode_utf8(data.text)) {
                const int b = byte_level::code_point_to_byte(cp);
                if (b < 0) return data.text;
                out += static_cast<char>(b);
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
        for (int b = 0; b < 256; ++b) {
            if (p_.byte_tokens[static_cast<size_t>(b)] == id)
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

json parse_json(std::string_view text, std::string_view origin) {
    try {
        return json::parse(text);
    } catch (const json::exception& e) {
        fail(origin, ": not valid JSON: ", e.what());
    }
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

std::pair<std::string, std::string> parse_merge(const json& m, std::string_view origin) {
    if (m.is_array() && m.size() == 2) return {m[0].get<std::string>(), m[1].get<std::string>()};
    if (m.is_string()) {
        const std::string& s = m.get_ref<const std::string&>();
        const size_t space = s.find(' ', 1);
        if (space != std::string::npos) return {s.substr(0, space), s.substr(space + 1)};
    }
    fail(origin, ": a BPE merge must be \"left right\" or [left, right], not ", m.dump());
}

}  // namespace

std::unique_ptr<Tokenizer> parse_hf_tokenizer(std::string_view tokenizer_json,
                                              std::string_view config_json,
                                              std::string_view origin) {
    const json root = parse_json(tokenizer_json, origin);
    const json config = config_json.empty() ? json() : parse_json(config_json, origin);
    try {
        const json& model = root.at("model");
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
            p.max_input_chars_per_word = model.value("max_input_chars_per_word", size_t{100});
        } else {
            fail(origin, ": the tokenizer model '", type, "' is not supported by pocket (BPE and ",
                 "WordPiece are)");
        }

        // The vocabulary: model entries, then added tokens (which may reuse or extend ids).
        VocabSpec spec;
        spec.origin = std::string(origin);
        const json& vocab = model.at("vocab");
        if (!vocab.is_object()) fail(origin, ": model.vocab must be an object of token -> id");
        const json& added = root.value("added_tokens", json::array());
        int64_t max_id = -1;
        for (const auto& [text, id] : vocab.items()) max_id = std::max(max_id, id.get<int64_t>());
        for (const json& a : added) max_id = std::max(max_id, a.at("id").get<int64_t>());
        if (max_id < 0) fail(origin, ": the vocabulary is empty");
        spec.tokens.resize(static_cast<size_t>(max_id + 1), TokenData{"", 0.0f, kAttrUnused});
        for (const auto& [text, id] : vocab.items()) {
            const int64_t i = id.get<int64_t>();
            if (i < 0) fail(origin, ": token '", text, "' has a negative id");
            spec.tokens[static_cast<size_t>(i)] = {text, 0.0f, kAttrNormal};
        }
        for (const json& a : added) {
            AddedToken t;
            t.id = a.at("id").get<TokenId>();
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

        spec.kind = p.model == ModelKind::WordPiece ? VocabKind::WordPiece
                    : p.byte_level_pieces           ? VocabKind::Bpe
                                                    : VocabKind::Spm;
        spec.pre_tokenizer = "tokenizer.json";
        // Special tokens by the names tokenizer_config.json gives them; the model's unk_token and
        // the post-processor's first/last tokens where it names none.
        {
            std::unordered_map<std::string_view, TokenId> by_text;
            for (size_t i = 0; i < spec.tokens.size(); ++i) {
                by_text.emplace(spec.tokens[i].text, static_cast<TokenId>(i));
            }
            const auto id_of = [&](const std::string& text) {
                const auto it = by_text.find(text);
                return text.empty() || it == by_text.end() ? kNoToken : it->second;
            };
            spec.special.bos = id_of(config_token(config, "bos_token"));
            spec.special.eos = id_of(config_token(config, "eos_token"));
            spec.special.unk = id_of(config_token(config, "unk_token"));
            spec.special.pad = id_of(config_token(config, "pad_token"));
            spec.special.sep = id_of(config_token(config, "sep_token"));
            spec.special.mask = id_of(config_token(config, "mask_token"));
            if (spec.special.unk == kNoToken && model.value("unk_token", json()).is_string()) {
                spec.special.unk = id_of(model["unk_token"].get<std::string>());
            }
            if (spec.special.bos == kNoToken && !p.post.prefix.empty()) {
                spec.special.bos = p.post.prefix.front();
            }
        }
        spec.flags.add_bos = !p.post.prefix.empty();
        spec.flags.add_eos = !p.post.suffix.empty();
        Vocab v(std::move(spec));

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
            const json& merges = model.at("merges");
            p.merges.reserve(merges.size());
            std::string joined;
            int rank = 0;
            for (const json& m : merges) {
                const auto [left, right] = parse_merge(m, origin);
                joined = left + right;
                const TokenId l = v.find(left), r = v.find(right), result = v.find(joined);
                if (l == kNoToken || r == kNoToken || result == kNoToken) {
                    fail(origin, ": the merge '", left, " ", right,
                         "' names a token the vocabulary does not have");
                }
                p.merges.add(l, r, result, rank++);
            }
        }
        return std::make_unique<HfTokenizer>(std::move(v), std::move(p));
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
