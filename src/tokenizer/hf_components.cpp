#include "hf_components.h"

#include <algorithm>

#include "byte_level.h"
#include "pocket/core/error.h"
#include "pocket/tokenizer/utf8.h"
#include "unicode_props.h"
#include "wordpiece_tokenizer.h"

namespace pocket::tokenizer::hf {

using nlohmann::json;

namespace {

constexpr std::string_view kGpt2Pattern =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

std::string type_of(const json& j) {
    if (!j.is_object() || !j.contains("type") || !j["type"].is_string()) {
        fail("tokenizer.json: a component has no \"type\": ", j.dump().substr(0, 200));
    }
    return j["type"].get<std::string>();
}

[[noreturn]] void unsupported(std::string_view kind, const std::string& type) {
    fail("tokenizer.json: the ", kind, " '", type, "' is not supported by pocket");
}

void replace_all(std::string& text, std::string_view from, std::string_view to) {
    if (from.empty()) return;
    std::string out;
    size_t pos = 0;
    for (;;) {
        const size_t hit = text.find(from, pos);
        if (hit == std::string::npos) break;
        out.append(text, pos, hit - pos);
        out.append(to);
        pos = hit + from.size();
    }
    if (pos == 0) return;
    out.append(text, pos, std::string::npos);
    text = std::move(out);
}

// A Split/Replace "pattern": {"String": literal} or {"Regex": pattern}.
struct Pattern {
    std::string literal;
    std::unique_ptr<Regex> regex;

    explicit Pattern(const json& j) {
        if (j.contains("String")) {
            literal = j["String"].get<std::string>();
        } else if (j.contains("Regex")) {
            regex = std::make_unique<Regex>(j["Regex"].get<std::string>());
        } else {
            fail("tokenizer.json: a pattern must be {\"String\": ...} or {\"Regex\": ...}, not ",
                 j.dump());
        }
    }

    std::vector<std::pair<size_t, size_t>> find_all(std::string_view text) const {
        if (regex) return regex->find_all(text);
        std::vector<std::pair<size_t, size_t>> matches;
        if (literal.empty()) return matches;
        for (size_t pos = text.find(literal); pos != std::string_view::npos;
             pos = text.find(literal, pos + literal.size())) {
            matches.emplace_back(pos, pos + literal.size());
        }
        return matches;
    }
};

// ----- normalizers

class SequenceNormalizer final : public Normalizer {
  public:
    std::vector<std::unique_ptr<Normalizer>> steps;
    void normalize(std::string& text) const override {
        for (const auto& step : steps) step->normalize(text);
    }
};

class UnicodeNormalizer final : public Normalizer {
  public:
    explicit UnicodeNormalizer(unicode::Form form) : form_(form) {}
    void normalize(std::string& text) const override { text = unicode::normalize(text, form_); }

  private:
    unicode::Form form_;
};

void lowercase(std::string& text) {
    std::vector<char32_t> cps = unicode::decode_utf8(text);
    for (char32_t& cp : cps) cp = unicode::to_lower(cp);
    text = unicode::encode_utf8(cps);
}

class LowercaseNormalizer final : public Normalizer {
  public:
    void normalize(std::string& text) const override { lowercase(text); }
};

class PrependNormalizer final : public Normalizer {
  public:
    explicit PrependNormalizer(std::string prefix) : prefix_(std::move(prefix)) {}
    void normalize(std::string& text) const override {
        if (!text.empty()) text.insert(0, prefix_);
    }

  private:
    std::string prefix_;
};

class ReplaceNormalizer final : public Normalizer {
  public:
    ReplaceNormalizer(const json& pattern, std::string content)
        : pattern_(pattern), content_(std::move(content)) {}
    void normalize(std::string& text) const override {
        const auto matches = pattern_.find_all(text);
        if (matches.empty()) return;
        std::string out;
        size_t last = 0;
        for (const auto& [begin, end] : matches) {
            out.append(text, last, begin - last);
            out += content_;
            last = end;
        }
        out.append(text, last, std::string::npos);
        text = std::move(out);
    }

  private:
    Pattern pattern_;
    std::string content_;
};

class StripNormalizer final : public Normalizer {
  public:
    StripNormalizer(bool left, bool right) : left_(left), right_(right) {}
    void normalize(std::string& text) const override {
        std::vector<char32_t> cps = unicode::decode_utf8(text);
        size_t b = 0, e = cps.size();
        if (left_) {
            while (b < e && unicode::has(cps[b], unicode::kWhitespace)) ++b;
        }
        if (right_) {
            while (e > b && unicode::has(cps[e - 1], unicode::kWhitespace)) --e;
        }
        text = unicode::encode_utf8(std::vector<char32_t>(cps.begin() + b, cps.begin() + e));
    }

  private:
    bool left_, right_;
};

// BERT's normalizer: clean control characters, pad CJK ideographs with spaces, strip accents
// (NFD, then drop nonspacing marks) and lower-case.
class BertNormalizer final : public Normalizer {
  public:
    explicit BertNormalizer(const json& j) {
        clean_text_ = j.value("clean_text", true);
        handle_chinese_chars_ = j.value("handle_chinese_chars", true);
        lowercase_ = j.value("lowercase", true);
        const json& strip = j.contains("strip_accents") ? j["strip_accents"] : json();
        strip_accents_ = strip.is_boolean() ? strip.get<bool>() : lowercase_;
    }

    void normalize(std::string& text) const override {
        std::vector<char32_t> out;
        for (const char32_t cp : unicode::decode_utf8(text)) {
            if (clean_text_) {
                if (cp == 0 || cp == 0xFFFD) continue;
                const bool is_tab_or_newline = cp == '\t' || cp == '\n' || cp == '\r';
                const uint32_t f = unicode::flags(cp);
                if (!is_tab_or_newline && (f & unicode::kControl) && !(f & unicode::kWhitespace)) {
                    continue;
                }
                if (is_tab_or_newline || (f & unicode::kWhitespace)) {
                    out.push_back(' ');
                    continue;
                }
            }
            if (handle_chinese_chars_ && is_cjk_ideograph(cp)) {
                out.push_back(' ');
                out.push_back(cp);
                out.push_back(' ');
                continue;
            }
            out.push_back(cp);
        }
        text = unicode::encode_utf8(out);
        if (strip_accents_) {
            std::vector<char32_t> kept;
            for (const char32_t cp :
                 unicode::decode_utf8(unicode::normalize(text, unicode::Form::NFD))) {
                if (!unicode::has(cp, unicode::kNonspacingMark)) kept.push_back(cp);
            }
            text = unicode::encode_utf8(kept);
        }
        if (lowercase_) lowercase(text);
    }

  private:
    bool clean_text_, handle_chinese_chars_, strip_accents_, lowercase_;
};

// ----- pre-tokenizers

class SequencePreTokenizer final : public PreTokenizer {
  public:
    std::vector<std::unique_ptr<PreTokenizer>> steps;
    void pre_tokenize(std::vector<std::string>& pieces, bool first) const override {
        for (const auto& step : steps) step->pre_tokenize(pieces, first);
    }
};

SplitBehavior parse_behavior(const std::string& name) {
    if (name == "Removed") return SplitBehavior::Removed;
    if (name == "Isolated") return SplitBehavior::Isolated;
    if (name == "MergedWithPrevious") return SplitBehavior::MergedWithPrevious;
    if (name == "MergedWithNext") return SplitBehavior::MergedWithNext;
    if (name == "Contiguous") return SplitBehavior::Contiguous;
    unsupported("split behavior", name);
}

// Applies a split to every piece.
template <typename FindAll>
void split_pieces(std::vector<std::string>& pieces, const FindAll& find_all, SplitBehavior behavior,
                  bool invert) {
    std::vector<std::string> out;
    out.reserve(pieces.size());
    for (const std::string& piece : pieces) {
        for (std::string& part : split_by_matches(piece, find_all(piece), behavior, invert)) {
            out.push_back(std::move(part));
        }
    }
    pieces = std::move(out);
}

class SplitPreTokenizer final : public PreTokenizer {
  public:
    explicit SplitPreTokenizer(const json& j)
        : pattern_(j.at("pattern")),
          behavior_(parse_behavior(j.at("behavior").get<std::string>())),
          invert_(j.value("invert", false)) {}
    void pre_tokenize(std::vector<std::string>& pieces, bool) const override {
        split_pieces(
            pieces, [&](std::string_view s) { return pattern_.find_all(s); }, behavior_, invert_);
    }

  private:
    Pattern pattern_;
    SplitBehavior behavior_;
    bool invert_;
};

class ByteLevelPreTokenizer final : public PreTokenizer {
  public:
    explicit ByteLevelPreTokenizer(const json& j)
        : add_prefix_space_(j.value("add_prefix_space", true)),
          use_regex_(j.value("use_regex", true)),
          regex_(std::string(kGpt2Pattern)) {}
    void pre_tokenize(std::vector<std::string>& pieces, bool) const override {
        if (add_prefix_space_) {
            for (std::string& piece : pieces) {
                if (!piece.empty() && piece.front() != ' ') piece.insert(0, " ");
            }
        }
        if (use_regex_) {
            split_pieces(
                pieces, [&](std::string_view s) { return regex_.find_all(s); },
                SplitBehavior::Isolated, false);
        }
        for (std::string& piece : pieces) piece = byte_level::encode(piece);
    }

  private:
    bool add_prefix_space_;
    bool use_regex_;
    Regex regex_;
};

class DigitsPreTokenizer final : public PreTokenizer {
  public:
    explicit DigitsPreTokenizer(const json& j)
        : individual_(j.value("individual_digits", false)), regex_("\\p{N}") {}
    void pre_tokenize(std::vector<std::string>& pieces, bool) const override {
        split_pieces(
            pieces, [&](std::string_view s) { return regex_.find_all(s); },
            individual_ ? SplitBehavior::Isolated : SplitBehavior::Contiguous, false);
    }

  private:
    bool individual_;
    Regex regex_;
};

class MetaspacePreTokenizer final : public PreTokenizer {
  public:
    explicit MetaspacePreTokenizer(const json& j)
        : replacement_(j.value("replacement", std::string("\xE2\x96\x81"))),
          split_(j.value("split", true)) {
        if (j.contains("prepend_scheme")) {
            scheme_ = j["prepend_scheme"].get<std::string>();
        } else {
            scheme_ = j.value("add_prefix_space", true) ? "always" : "never";
        }
        if (scheme_ != "always" && scheme_ != "first" && scheme_ != "never") {
            unsupported("Metaspace prepend_scheme", scheme_);
        }
    }
    void pre_tokenize(std::vector<std::string>& pieces, bool first) const override {
        for (std::string& piece : pieces) {
            replace_all(piece, " ", replacement_);
            const bool prepend = scheme_ == "always" || (scheme_ == "first" && first);
            if (prepend && !piece.empty() && piece.rfind(replacement_, 0) != 0) {
                piece.insert(0, replacement_);
            }
            first = false;
        }
        if (split_) {
            split_pieces(
                pieces,
                [&](std::string_view s) {
                    std::vector<std::pair<size_t, size_t>> m;
                    for (size_t pos = s.find(replacement_); pos != std::string_view::npos;
                         pos = s.find(replacement_, pos + replacement_.size())) {
                        m.emplace_back(pos, pos + replacement_.size());
                    }
                    return m;
                },
                SplitBehavior::MergedWithNext, false);
        }
    }

  private:
    std::string replacement_;
    std::string scheme_;
    bool split_;
};

bool is_bert_punctuation(char32_t cp) {
    return (cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) ||
           (cp >= 123 && cp <= 126) || unicode::has(cp, unicode::kPunctuation);
}

// Splits at whitespace (dropped) and around each punctuation character (kept alone).
class BertPreTokenizer final : public PreTokenizer {
  public:
    void pre_tokenize(std::vector<std::string>& pieces, bool) const override {
        std::vector<std::string> out;
        for (const std::string& piece : pieces) {
            std::vector<char32_t> word;
            const auto flush = [&] {
                if (!word.empty()) out.push_back(unicode::encode_utf8(word));
                word.clear();
            };
            for (const char32_t cp : unicode::decode_utf8(piece)) {
                if (unicode::has(cp, unicode::kWhitespace)) {
                    flush();
                } else if (is_bert_punctuation(cp)) {
                    flush();
                    out.push_back(utf8::encode(cp));
                } else {
                    word.push_back(cp);
                }
            }
            flush();
        }
        pieces = std::move(out);
    }
};

class RegexPreTokenizer final : public PreTokenizer {
  public:
    RegexPreTokenizer(std::string pattern, SplitBehavior behavior, bool invert)
        : regex_(std::move(pattern)), behavior_(behavior), invert_(invert) {}
    void pre_tokenize(std::vector<std::string>& pieces, bool) const override {
        split_pieces(
            pieces, [&](std::string_view s) { return regex_.find_all(s); }, behavior_, invert_);
    }

  private:
    Regex regex_;
    SplitBehavior behavior_;
    bool invert_;
};

// ----- decoders

class SequenceDecoder final : public Decoder {
  public:
    std::vector<std::unique_ptr<Decoder>> steps;
    void decode(std::vector<std::string>& tokens) const override {
        for (const auto& step : steps) step->decode(tokens);
    }
};

// Each token's characters back to bytes; a token with a character outside the alphabet keeps its
// own UTF-8 bytes (Hugging Face's rule). The result is joined into one token.
class ByteLevelDecoder final : public Decoder {
  public:
    void decode(std::vector<std::string>& tokens) const override {
        std::string bytes;
        for (const std::string& token : tokens) {
            std::string mapped;
            bool ok = true;
            for (const char32_t cp : unicode::decode_utf8(token)) {
                const int b = byte_level::code_point_to_byte(cp);
                if (b < 0) {
                    ok = false;
                    break;
                }
                mapped += static_cast<char>(b);
            }
            bytes += ok ? mapped : token;
        }
        tokens.assign(1, utf8::sanitize(bytes));
    }
};

class ReplaceDecoder final : public Decoder {
  public:
    ReplaceDecoder(const json& pattern, std::string content)
        : pattern_(pattern), content_(std::move(content)) {
        if (pattern_.regex) unsupported("decoder", "Replace with a Regex pattern");
    }
    void decode(std::vector<std::string>& tokens) const override {
        for (std::string& t : tokens) replace_all(t, pattern_.literal, content_);
    }

  private:
    Pattern pattern_;
    std::string content_;
};

int byte_token_value(std::string_view t) {
    if (t.size() != 6 || t.substr(0, 3) != "<0x" || t[5] != '>') return -1;
    const auto hex = [](char c) {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        return -1;
    };
    const int hi = hex(t[3]), lo = hex(t[4]);
    return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

// Runs of <0xXX> tokens become the text their bytes spell; bytes that are not valid UTF-8 become
// one U+FFFD per byte token (the Rust library's rule).
class ByteFallbackDecoder final : public Decoder {
  public:
    void decode(std::vector<std::string>& tokens) const override {
        std::vector<std::string> out;
        std::string pending;
        size_t pending_tokens = 0;
        const auto flush = [&] {
            if (pending_tokens == 0) return;
            if (utf8::is_valid(pending)) {
                out.push_back(pending);
            } else {
                for (size_t i = 0; i < pending_tokens; ++i)
                    out.emplace_back(utf8::kReplacementUtf8);
            }
            pending.clear();
            pending_tokens = 0;
        };
        for (std::string& t : tokens) {
            const int b = byte_token_value(t);
            if (b >= 0) {
                pending += static_cast<char>(b);
                ++pending_tokens;
            } else {
                flush();
                out.push_back(std::move(t));
            }
        }
        flush();
        tokens = std::move(out);
    }
};

class FuseDecoder final : public Decoder {
  public:
    void decode(std::vector<std::string>& tokens) const override {
        std::string all;
        for (const std::string& t : tokens) all += t;
        tokens.assign(1, std::move(all));
    }
};

// Removes up to `start` leading and `stop` trailing copies of `content` from every token.
class StripDecoder final : public Decoder {
  public:
    explicit StripDecoder(const json& j)
        : content_(j.value("content", std::string(" "))),
          start_(j.value("start", 0)),
          stop_(j.value("stop", 0)) {}
    void decode(std::vector<std::string>& tokens) const override {
        for (std::string& t : tokens) {
            for (int i = 0; i < start_ && t.rfind(content_, 0) == 0; ++i)
                t.erase(0, content_.size());
            for (int i = 0; i < stop_ && t.size() >= content_.size() &&
                            t.compare(t.size() - content_.size(), content_.size(), content_) == 0;
                 ++i) {
                t.resize(t.size() - content_.size());
            }
        }
    }

  private:
    std::string content_;
    int start_, stop_;
};

class MetaspaceDecoder final : public Decoder {
  public:
    explicit MetaspaceDecoder(const json& j)
        : replacement_(j.value("replacement", std::string("\xE2\x96\x81"))) {
        const std::string scheme = j.contains("prepend_scheme")
                                       ? j["prepend_scheme"].get<std::string>()
                                       : (j.value("add_prefix_space", true) ? "always" : "never");
        strip_first_ = scheme != "never";
    }
    void decode(std::vector<std::string>& tokens) const override {
        for (size_t i = 0; i < tokens.size(); ++i) {
            replace_all(tokens[i], replacement_, " ");
            if (i == 0 && strip_first_ && !tokens[i].empty() && tokens[i][0] == ' ') {
                tokens[i].erase(0, 1);
            }
        }
    }

  private:
    std::string replacement_;
    bool strip_first_;
};

class WordPieceDecoder final : public Decoder {
  public:
    explicit WordPieceDecoder(const json& j)
        : prefix_(j.value("prefix", std::string("##"))), cleanup_(j.value("cleanup", true)) {}
    void decode(std::vector<std::string>& tokens) const override {
        for (size_t i = 0; i < tokens.size(); ++i) {
            std::string& t = tokens[i];
            if (t.rfind(prefix_, 0) == 0) {
                t.erase(0, prefix_.size());
            } else if (i != 0) {
                t.insert(0, " ");
            }
            if (cleanup_) t = clean_up_tokenization(std::move(t));
        }
    }

  private:
    std::string prefix_;
    bool cleanup_;
};

}  // namespace

std::vector<std::string> split_by_matches(std::string_view text,
                                          const std::vector<std::pair<size_t, size_t>>& matches,
                                          SplitBehavior behavior, bool invert) {
    // Tile the text into (span, is_match) parts first.
    struct Part {
        size_t begin, end;
        bool match;
    };
    std::vector<Part> parts;
    size_t last = 0;
    for (const auto& [b, e] : matches) {
        if (b > last) parts.push_back({last, b, invert});
        parts.push_back({b, e, !invert});
        last = e;
    }
    if (last < text.size()) parts.push_back({last, text.size(), invert});

    std::vector<std::string> out;
    const auto slice = [&](const Part& p) {
        return std::string(text.substr(p.begin, p.end - p.begin));
    };
    switch (behavior) {
        case SplitBehavior::Removed:
            for (const Part& p : parts) {
                if (!p.match) out.push_back(slice(p));
            }
            break;
        case SplitBehavior::Isolated:
            for (const Part& p : parts) out.push_back(slice(p));
            break;
        case SplitBehavior::MergedWithPrevious: {
            bool previous_open = false;
            for (const Part& p : parts) {
                if (p.match && previous_open) {
                    out.back() += slice(p);
                    previous_open = false;
                } else {
                    out.push_back(slice(p));
                    previous_open = !p.match;
                }
            }
            break;
        }
        case SplitBehavior::MergedWithNext: {
            // Mirror image of MergedWithPrevious: a delimiter joins the text after it unless that
            // is another delimiter ("the-final--countdown" -> the, -final, -, -countdown).
            bool next_is_match = false;
            for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
                if (it->match && !next_is_match && !out.empty()) {
                    out.back().insert(0, slice(*it));
                } else {
                    out.push_back(slice(*it));
                }
                next_is_match = it->match;
            }
            std::reverse(out.begin(), out.end());
            break;
        }
        case SplitBehavior::Contiguous: {
            bool previous_match = false;
            for (const Part& p : parts) {
                if (p.match && previous_match) {
                    out.back() += slice(p);
                } else {
                    out.push_back(slice(p));
                }
                previous_match = p.match;
            }
            break;
        }
    }
    return out;
}

std::unique_ptr<Normalizer> make_normalizer(const json& j) {
    if (j.is_null()) return nullptr;
    const std::string type = type_of(j);
    if (type == "Sequence") {
        auto seq = std::make_unique<SequenceNormalizer>();
        for (const json& step : j.at("normalizers")) {
            if (auto n = make_normalizer(step)) seq->steps.push_back(std::move(n));
        }
        return seq;
    }
    if (type == "NFC") return std::make_unique<UnicodeNormalizer>(unicode::Form::NFC);
    if (type == "NFD") return std::make_unique<UnicodeNormalizer>(unicode::Form::NFD);
    if (type == "NFKC") return std::make_unique<UnicodeNormalizer>(unicode::Form::NFKC);
    if (type == "NFKD") return std::make_unique<UnicodeNormalizer>(unicode::Form::NFKD);
    if (type == "Lowercase") return std::make_unique<LowercaseNormalizer>();
    if (type == "Prepend")
        return std::make_unique<PrependNormalizer>(j.at("prepend").get<std::string>());
    if (type == "Replace") {
        return std::make_unique<ReplaceNormalizer>(j.at("pattern"),
                                                   j.at("content").get<std::string>());
    }
    if (type == "Strip") {
        return std::make_unique<StripNormalizer>(j.value("strip_left", true),
                                                 j.value("strip_right", true));
    }
    if (type == "BertNormalizer") return std::make_unique<BertNormalizer>(j);
    unsupported("normalizer", type);
}

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const json& j) {
    if (j.is_null()) return nullptr;
    const std::string type = type_of(j);
    if (type == "Sequence") {
        auto seq = std::make_unique<SequencePreTokenizer>();
        for (const json& step : j.at("pretokenizers")) {
            if (auto p = make_pre_tokenizer(step)) seq->steps.push_back(std::move(p));
        }
        return seq;
    }
    if (type == "Split") return std::make_unique<SplitPreTokenizer>(j);
    if (type == "ByteLevel") return std::make_unique<ByteLevelPreTokenizer>(j);
    if (type == "Digits") return std::make_unique<DigitsPreTokenizer>(j);
    if (type == "Metaspace") return std::make_unique<MetaspacePreTokenizer>(j);
    if (type == "BertPreTokenizer") return std::make_unique<BertPreTokenizer>();
    if (type == "Whitespace") {
        return std::make_unique<RegexPreTokenizer>("\\w+|[^\\w\\s]+", SplitBehavior::Removed, true);
    }
    if (type == "WhitespaceSplit") {
        return std::make_unique<RegexPreTokenizer>("\\s+", SplitBehavior::Removed, false);
    }
    unsupported("pre-tokenizer", type);
}

std::unique_ptr<Decoder> make_decoder(const json& j) {
    if (j.is_null()) return nullptr;
    const std::string type = type_of(j);
    if (type == "Sequence") {
        auto seq = std::make_unique<SequenceDecoder>();
        for (const json& step : j.at("decoders")) {
            if (auto d = make_decoder(step)) seq->steps.push_back(std::move(d));
        }
        return seq;
    }
    if (type == "ByteLevel") return std::make_unique<ByteLevelDecoder>();
    if (type == "Replace") {
        return std::make_unique<ReplaceDecoder>(j.at("pattern"),
                                                j.at("content").get<std::string>());
    }
    if (type == "ByteFallback") return std::make_unique<ByteFallbackDecoder>();
    if (type == "Fuse") return std::make_unique<FuseDecoder>();
    if (type == "Strip") return std::make_unique<StripDecoder>(j);
    if (type == "Metaspace") return std::make_unique<MetaspaceDecoder>(j);
    if (type == "WordPiece") return std::make_unique<WordPieceDecoder>(j);
    unsupported("decoder", type);
}

PostProcessor make_post_processor(const json& j) {
    PostProcessor p;
    if (j.is_null()) return p;
    const std::string type = type_of(j);
    if (type == "ByteLevel") return p;  // only adjusts offsets
    if (type == "Sequence") {
        for (const json& step : j.at("processors")) {
            PostProcessor s = make_post_processor(step);
            p.prefix.insert(p.prefix.end(), s.prefix.begin(), s.prefix.end());
            p.suffix.insert(p.suffix.begin(), s.suffix.begin(), s.suffix.end());
        }
        return p;
    }
    if (type == "BertProcessing" || type == "RobertaProcessing") {
        p.prefix.push_back(token_id_of(j.at("cls").at(1), "the post-processor's cls id"));
        p.suffix.push_back(token_id_of(j.at("sep").at(1), "the post-processor's sep id"));
        return p;
    }
    if (type == "TemplateProcessing") {
        const json& specials = j.at("special_tokens");
        bool seen_sequence = false;
        for (const json& item : j.at("single")) {
            if (item.contains("Sequence")) {
                if (seen_sequence)
                    fail("tokenizer.json: TemplateProcessing lists the sequence twice");
                seen_sequence = true;
                continue;
            }
            if (!item.contains("SpecialToken")) {
                fail("tokenizer.json: unknown TemplateProcessing item ", item.dump());
            }
            const std::string name = item["SpecialToken"].at("id").get<std::string>();
            if (!specials.contains(name)) {
                fail("tokenizer.json: TemplateProcessing uses '", name,
                     "', which is not in its special_tokens");
            }
            for (const json& id : specials[name].at("ids")) {
                (seen_sequence ? p.suffix : p.prefix)
                    .push_back(token_id_of(id, "a TemplateProcessing special token id"));
            }
        }
        return p;
    }
    unsupported("post-processor", type);
}

int32_t token_id_of(const json& j, std::string_view what) {
    if (j.is_number_unsigned()) {
        if (j.get<uint64_t>() <= static_cast<uint64_t>(INT32_MAX)) {
            return static_cast<int32_t>(j.get<uint64_t>());
        }
    } else if (j.is_number_integer()) {
        const auto v = j.get<int64_t>();
        if (v >= 0 && v <= INT32_MAX) return static_cast<int32_t>(v);
    }
    fail("tokenizer.json: ", what, " must be an integer from 0 to ", INT32_MAX, ", not ",
         j.dump().substr(0, 100));
}

std::string clean_up_tokenization(std::string text) {
    static const std::pair<std::string_view, std::string_view> kRules[] = {
        {" .", "."},     {" ?", "?"},   {" !", "!"},   {" ,", ","},     {" ' ", "'"},
        {" n't", "n't"}, {" 'm", "'m"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"},
    };
    for (const auto& [from, to] : kRules) replace_all(text, from, to);
    return text;
}

}  // namespace pocket::tokenizer::hf
