// tokenizer.json (byte-level BPE) -> tokenizer.ggml.* metadata, as llama.cpp's converter lays it
// out: every id in [0, n) gets a token (gaps are filled with "[PADi]" like its converter does).
#include <fstream>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "pocket/convert/convert.h"

namespace pocket::convert {
namespace {

using nlohmann::json;

// llama.cpp's token type codes.
constexpr int32_t kNormal = 1, kControl = 3, kUserDefined = 4, kUnused = 5;

std::string read_text(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail(path.string(), ": cannot open");
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

json parse_json(const std::string& text, const std::string& origin) {
    try {
        return json::parse(text);
    } catch (const json::exception& e) {
        fail(origin, ": invalid JSON: ", e.what());
    }
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

void add_bpe_vocab(gguf::Writer& writer, const std::filesystem::path& tokenizer_json,
                   const std::string& pre_tokenizer) {
    const std::string text = read_text(tokenizer_json);
    const json tok = parse_json(text, tokenizer_json.string());
    const json& model = tok.at("model");
    if (model.value("type", "") != "BPE") {
        fail(tokenizer_json.string(), ": only BPE tokenizers convert to GGUF so far");
    }

    std::map<int64_t, std::pair<std::string, int32_t>> by_id;
    for (const auto& [piece, id] : model.at("vocab").items())
        by_id[id.get<int64_t>()] = {piece, kNormal};
    for (const json& added : tok.value("added_tokens", json::array())) {
        by_id[added.at("id").get<int64_t>()] = {
            added.at("content").get<std::string>(),
            added.value("special", false) ? kControl : kUserDefined};
    }
    if (by_id.empty() || by_id.begin()->first < 0) fail(tokenizer_json.string(), ": bad token ids");
    const int64_t n = by_id.rbegin()->first + 1;
    gguf::Array tokens{gguf::ValueType::STRING, {}}, types{gguf::ValueType::INT32, {}};
    for (int64_t id = 0; id < n; ++id) {
        const auto it = by_id.find(id);
        tokens.items.emplace_back(it == by_id.end() ? cat("[PAD", id, "]") : it->second.first);
        types.items.emplace_back(it == by_id.end() ? kUnused : it->second.second);
    }
    gguf::Array merges{gguf::ValueType::STRING, {}};
    for (const json& m : model.at("merges")) {
        merges.items.emplace_back(m.is_string() ? m.get<std::string>()
                                                : m.at(0).get<std::string>() + " " +
                                                      m.at(1).get<std::string>());
    }

    writer.set("tokenizer.ggml.model", std::string("gpt2"));
    writer.set("tokenizer.ggml.pre",
               pre_tokenizer.empty() ? detect_pre_tokenizer(text) : pre_tokenizer);
    writer.set("tokenizer.ggml.tokens", std::move(tokens));
    writer.set("tokenizer.ggml.token_type", std::move(types));
    writer.set("tokenizer.ggml.merges", std::move(merges));

    // BOS/EOS by name from tokenizer_config.json; whether BOS is added from the post-processor.
    const auto config_path = tokenizer_json.parent_path() / "tokenizer_config.json";
    const json config = std::filesystem::exists(config_path)
                            ? parse_json(read_text(config_path), config_path.string())
                            : json::object();
    auto id_of = [&](const std::string& key) -> std::optional<uint32_t> {
        const json v = config.value(key, json());
        const std::string name = v.is_string()   ? v.get<std::string>()
                                 : v.is_object() ? v.value("content", "")
                                                 : "";
        for (const auto& [id, entry] : by_id) {
            if (!name.empty() && entry.first == name) return static_cast<uint32_t>(id);
        }
        return std::nullopt;
    };
    if (auto bos = id_of("bos_token")) writer.set("tokenizer.ggml.bos_token_id", *bos);
    if (auto eos = id_of("eos_token")) writer.set("tokenizer.ggml.eos_token_id", *eos);
    bool add_bos = false;
    const json post = tok.value("post_processor", json());
    const std::string post_text = post.dump();
    if (config.contains("add_bos_token") && config["add_bos_token"].is_boolean()) {
        add_bos = config["add_bos_token"].get<bool>();
    } else if (post_text.find("\"SpecialToken\"") != std::string::npos) {
        add_bos = true;  // a TemplateProcessing that puts a special token in front
    }
    writer.set("tokenizer.ggml.add_bos_token", add_bos);
    writer.set("tokenizer.ggml.add_eos_token", false);
}

}  // namespace pocket::convert
