// tokenizer.json -> tokenizer.ggml.* metadata, laid out as llama.cpp's converter does: every id in
// [0, n) gets a token (gaps, and rows of a padded embedding table, become "[PADi]", unused).
//  - byte-level BPE -> "gpt2": tokens, types, merges, pre-tokenizer name;
//  - SentencePiece-style BPE (byte_fallback, "▁" for spaces) -> "llama": tokens, scores, types;
//  - WordPiece -> "bert": tokens in llama.cpp's phantom-space form, types, special ids.
#include <algorithm>
#include <functional>
#include <map>
#include <regex>
#include <tuple>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "pocket/convert/convert.h"
#include "pocket/core/read_file.h"

namespace pocket::convert {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// llama.cpp's token type codes.
constexpr int32_t kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6;

json parse_json(const std::string& text, const std::string& origin) {
    try {
        return json::parse(text);
    } catch (const json::exception& e) {
        fail(origin, ": invalid JSON: ", e.what());
    }
}

struct Entry {
    std::string text;
    int32_t type = kNormal;
};

// tokenizer.json (and tokenizer_config.json next to it) parsed once, tokens by id.
struct HfVocab {
    fs::path path;
    std::string text;
    json tok, config;
    std::map<int64_t, Entry> by_id;
    std::unordered_map<std::string, int64_t> id_by_text;

    explicit HfVocab(const fs::path& tokenizer_json) : path(tokenizer_json) {
        text = read_file(path);
        tok = parse_json(text, path.string());
        if (!tok.contains("model") || !tok["model"].is_object())
            fail(path.string(), ": no model section");
        const auto config_path = path.parent_path() / "tokenizer_config.json";
        config = fs::exists(config_path) ? parse_json(read_file(config_path), config_path.string())
                                         : json::object();
        const json& vocab = model().at("vocab");
        if (!vocab.is_object()) fail(path.string(), ": model.vocab is not an object of ids");
        for (const auto& [piece, id] : vocab.items()) by_id[id.get<int64_t>()] = {piece, kNormal};
        for (const json& added : tok.value("added_tokens", json::array())) {
            by_id[added.at("id").get<int64_t>()] = {
                added.at("content").get<std::string>(),
                added.value("special", false) ? kControl : kUserDefined};
        }
        if (by_id.empty() || by_id.begin()->first < 0) fail(path.string(), ": bad token ids");
        for (const auto& [id, e] : by_id) id_by_text.emplace(e.text, id);
    }

    const json& model() const { return tok.at("model"); }
    int64_t n_tokens(size_t min_tokens) const {
        return std::max<int64_t>(by_id.rbegin()->first + 1, static_cast<int64_t>(min_tokens));
    }

    std::optional<uint32_t> find(const std::string& piece) const {
        const auto it = id_by_text.find(piece);
        if (piece.empty() || it == id_by_text.end()) return std::nullopt;
        return static_cast<uint32_t>(it->second);
    }
    // A special token named in tokenizer_config.json ("bos_token": "<s>" or {"content": ...}).
    std::optional<uint32_t> config_token(const std::string& key) const {
        const json v = config.value(key, json());
        return find(v.is_string()   ? v.get<std::string>()
                    : v.is_object() ? v.value("content", "")
                                    : "");
    }

    // Whether BOS is added: tokenizer_config.json's flag, else a post-processor that puts a
    // special token in front.
    bool adds_bos() const {
        if (config.contains("add_bos_token") && config["add_bos_token"].is_boolean())
            return config["add_bos_token"].get<bool>();
        const json post = tok.value("post_processor", json());
        if (post.is_object() && post.contains("single") && post["single"].is_array() &&
            !post["single"].empty())
            return post["single"][0].contains("SpecialToken");
        return post.dump().find("\"SpecialToken\"") != std::string::npos;
    }
    bool adds_eos() const {
        return config.contains("add_eos_token") && config["add_eos_token"].is_boolean() &&
               config["add_eos_token"].get<bool>();
    }

    // Token texts and types by id, padded to `min_tokens`.
    void add_tokens(gguf::Writer& writer, size_t min_tokens,
                    const std::function<std::string(const std::string&)>& rename = {}) const {
        const int64_t n = n_tokens(min_tokens);
        gguf::Array tokens{gguf::ValueType::STRING, {}}, types{gguf::ValueType::INT32, {}};
        tokens.items.reserve(static_cast<size_t>(n));
        types.items.reserve(static_cast<size_t>(n));
        for (int64_t id = 0; id < n; ++id) {
            const auto it = by_id.find(id);
            if (it == by_id.end()) {
                tokens.items.emplace_back(cat("[PAD", id, "]"));
                types.items.emplace_back(kUnused);
            } else {
                tokens.items.emplace_back(rename ? rename(it->second.text) : it->second.text);
                types.items.emplace_back(it->second.type);
            }
        }
        writer.set("tokenizer.ggml.tokens", std::move(tokens));
        writer.set("tokenizer.ggml.token_type", std::move(types));
    }

    void add_special_ids(gguf::Writer& writer) const {
        const std::pair<const char*, const char*> keys[] = {
            {"bos_token", "tokenizer.ggml.bos_token_id"},
            {"eos_token", "tokenizer.ggml.eos_token_id"},
            {"unk_token", "tokenizer.ggml.unknown_token_id"},
            {"pad_token", "tokenizer.ggml.padding_token_id"},
        };
        for (const auto& [name, key] : keys) {
            if (auto id = config_token(name)) writer.set(key, *id);
        }
        if (const auto* tmpl =
                config.contains("chat_template") && config["chat_template"].is_string()
                    ? &config["chat_template"]
                    : nullptr)
            writer.set("tokenizer.chat_template", tmpl->get<std::string>());
    }

    std::string merge_text(const json& m) const {
        return m.is_string() ? m.get<std::string>()
                             : m.at(0).get<std::string>() + " " + m.at(1).get<std::string>();
    }
};

// Whether the normalizer / pre-tokenizer put "▁" in front of the text (SentencePiece's
// add_dummy_prefix): a Prepend normalizer or a Metaspace pre-tokenizer that prepends.
bool adds_space_prefix(const json& tok) {
    const std::string norm = tok.value("normalizer", json()).dump();
    if (norm.find("\"Prepend\"") != std::string::npos) return true;
    const json pre = tok.value("pre_tokenizer", json());
    const std::string pre_text = pre.dump();
    if (pre_text.find("\"Metaspace\"") != std::string::npos) {
        return pre_text.find("\"prepend_scheme\":\"never\"") == std::string::npos &&
               pre_text.find("\"add_prefix_space\":false") == std::string::npos;
    }
    return false;
}

}  // namespace

std::string detect_pre_tokenizer(const std::string& tokenizer_json_text) {
    const json tok = parse_json(tokenizer_json_text, "tokenizer.json");
    const std::string pre = tok.value("pre_tokenizer", json()).dump();
    if (pre.find("\\\\p{N}{1,3}") != std::string::npos &&
        pre.find("(?i:'s|'t|'re|'ve|'m|'ll|'d)") != std::string::npos) {
        return "llama-bpe";
    }
    if (pre.find("\"Digits\"") != std::string::npos &&
        pre.find("\"individual_digits\":true") != std::string::npos &&
        pre.find("\"ByteLevel\"") != std::string::npos) {
        return "smollm";
    }
    if (pre.find("\\\\p{N}|") != std::string::npos ||
        pre.find("\\\\p{N}| ?") != std::string::npos) {
        return "qwen2";
    }
    if (pre.find("\"ByteLevel\"") != std::string::npos &&
        pre.find("\"Split\"") == std::string::npos) {
        return "gpt-2";
    }
    fail("tokenizer.json: unrecognised pre-tokenizer ", pre.substr(0, 200),
         " (give the llama.cpp pre-tokenizer name explicitly)");
}

namespace {

void write_bpe(gguf::Writer& writer, const HfVocab& v, const std::string& pre_tokenizer,
               size_t min_tokens) {
    const fs::path& tokenizer_json = v.path;
    if (v.model().value("type", "") != "BPE")
        fail(tokenizer_json.string(), ": model.type is not BPE");
    gguf::Array merges{gguf::ValueType::STRING, {}};
    for (const json& m : v.model().at("merges")) merges.items.emplace_back(v.merge_text(m));

    writer.set("tokenizer.ggml.model", std::string("gpt2"));
    writer.set("tokenizer.ggml.pre",
               pre_tokenizer.empty() ? detect_pre_tokenizer(v.text) : pre_tokenizer);
    v.add_tokens(writer, min_tokens);
    writer.set("tokenizer.ggml.merges", std::move(merges));
    if (auto bos = v.config_token("bos_token")) writer.set("tokenizer.ggml.bos_token_id", *bos);
    if (auto eos = v.config_token("eos_token")) writer.set("tokenizer.ggml.eos_token_id", *eos);
    writer.set("tokenizer.ggml.add_bos_token", v.adds_bos());
    writer.set("tokenizer.ggml.add_eos_token", false);
}

void write_spm(gguf::Writer& writer, HfVocab& v, size_t min_tokens) {
    const fs::path& tokenizer_json = v.path;
    const json& model = v.model();
    if (model.value("type", "") != "BPE" || !model.value("byte_fallback", false))
        fail(tokenizer_json.string(), ": model is not a SentencePiece-style BPE (byte_fallback)");
    // Byte pieces and the unknown piece get their SentencePiece types.
    static const std::regex byte_re("<0x[0-9A-Fa-f]{2}>");
    for (auto& [id, e] : v.by_id) {
        if (e.type == kNormal && std::regex_match(e.text, byte_re)) e.type = kByte;
    }
    const std::string unk_name =
        model.value("unk_token", json()).is_string() ? model["unk_token"].get<std::string>() : "";
    if (auto unk = v.find(unk_name)) v.by_id[*unk].type = kUnknown;

    // Scores: llama.cpp's SentencePiece tokenizer repeatedly merges the adjacent pair whose
    // concatenation has the highest score; Hugging Face's BPE applies the merge of lowest rank.
    // Scoring each token by minus the rank of the first merge that produces it makes the two
    // agree. Tokens no merge produces (single characters, bytes, added tokens) rank after all.
    const json& merges = model.at("merges");
    const int64_t n = v.n_tokens(min_tokens);
    std::vector<float> scores(static_cast<size_t>(n), 0.0f);
    std::vector<bool> scored(static_cast<size_t>(n), false);
    for (size_t rank = 0; rank < merges.size(); ++rank) {
        std::string merged = v.merge_text(merges[rank]);
        const size_t space = merged.find(' ', 1);
        if (space == std::string::npos)
            fail(tokenizer_json.string(), ": merge ", rank, " has no space");
        merged.erase(space, 1);
        if (auto id = v.find(merged); id && !scored[*id]) {
            scores[*id] = -static_cast<float>(rank);
            scored[*id] = true;
        }
    }
    for (const auto& [id, e] : v.by_id) {
        if (!scored[static_cast<size_t>(id)] && e.type == kNormal)
            scores[static_cast<size_t>(id)] =
                -static_cast<float>(merges.size() + static_cast<size_t>(id));
    }
    gguf::Array score_array{gguf::ValueType::FLOAT32, {}};
    for (float s : scores) score_array.items.emplace_back(s);

    writer.set("tokenizer.ggml.model", std::string("llama"));
    v.add_tokens(writer, min_tokens);
    writer.set("tokenizer.ggml.scores", std::move(score_array));
    v.add_special_ids(writer);
    if (!v.config_token("unk_token")) {
        if (auto unk = v.find(unk_name)) writer.set("tokenizer.ggml.unknown_token_id", *unk);
    }
    writer.set("tokenizer.ggml.add_bos_token", v.adds_bos());
    writer.set("tokenizer.ggml.add_eos_token", v.adds_eos());
    writer.set("tokenizer.ggml.add_space_prefix", adds_space_prefix(v.tok));
}

void write_wordpiece(gguf::Writer& writer, const HfVocab& v, size_t min_tokens) {
    const fs::path& tokenizer_json = v.path;
    const json& model = v.model();
    if (model.value("type", "") != "WordPiece")
        fail(tokenizer_json.string(), ": model.type is not WordPiece");
    const std::string prefix = model.value("continuing_subword_prefix", "##");
    writer.set("tokenizer.ggml.model", std::string("bert"));
    writer.set("tokenizer.ggml.pre", std::string("default"));
    // llama.cpp's WordPiece vocabulary marks word starts instead of continuations: "##ing" ->
    // "ing", "hello" -> "▁hello", bracketed specials unchanged.
    v.add_tokens(writer, min_tokens, [&](const std::string& t) -> std::string {
        if (t.size() >= 2 && t.front() == '[' && t.back() == ']') return t;
        if (t.starts_with(prefix)) return t.substr(prefix.size());
        return "\xE2\x96\x81" + t;
    });
    auto special = [&](const char* config_key, const char* fallback) {
        if (auto id = v.config_token(config_key)) return id;
        return v.find(fallback);
    };
    const std::string unk_name = model.value("unk_token", "[UNK]");
    const std::tuple<const char*, const char*, const char*> keys[] = {
        {"unk_token", unk_name.c_str(), "tokenizer.ggml.unknown_token_id"},
        {"sep_token", "[SEP]", "tokenizer.ggml.seperator_token_id"},  // sic, llama.cpp's key
        {"pad_token", "[PAD]", "tokenizer.ggml.padding_token_id"},
        {"cls_token", "[CLS]", "tokenizer.ggml.cls_token_id"},
        {"mask_token", "[MASK]", "tokenizer.ggml.mask_token_id"},
    };
    for (const auto& [config_key, fallback, key] : keys) {
        if (auto id = special(config_key, fallback)) writer.set(key, *id);
    }
}

}  // namespace

void add_bpe_vocab(gguf::Writer& writer, const fs::path& tokenizer_json,
                   const std::string& pre_tokenizer, size_t min_tokens) {
    write_bpe(writer, HfVocab(tokenizer_json), pre_tokenizer, min_tokens);
}

void add_vocab(gguf::Writer& writer, const fs::path& tokenizer_json,
               const std::string& pre_tokenizer, size_t min_tokens) {
    if (!fs::exists(tokenizer_json))
        fail(tokenizer_json.string(),
             ": missing (the converter reads Hugging Face tokenizer.json files only, not "
             "SentencePiece tokenizer.model)");
    HfVocab v(tokenizer_json);
    const std::string type = v.model().value("type", "");
    if (type == "WordPiece") return write_wordpiece(writer, v, min_tokens);
    if (type == "BPE" && v.model().value("byte_fallback", false))
        return write_spm(writer, v, min_tokens);
    if (type == "BPE") return write_bpe(writer, v, pre_tokenizer, min_tokens);
    fail(tokenizer_json.string(), ": model.type '", type,
         "' is not supported by the converter (BPE, WordPiece)");
}

}  // namespace pocket::convert
