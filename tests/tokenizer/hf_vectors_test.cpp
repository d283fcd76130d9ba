// tokenizer.json loading against the Hugging Face reference vectors
// (tokenizers/hf/*/vectors.jsonl): ids for both settings of add_special_tokens, the reference
// decoding, and decode(encode(text)) == text wherever the reference itself round-trips.
#include <gtest/gtest.h>

#include <ctime>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "pocket/tokenizer/hf_tokenizer.h"
#include "pocket/tokenizer/vocab.h"
#include "support/test_support.h"

namespace pocket::tokenizer {
namespace {

using Ids = std::vector<TokenId>;

const Tokenizer& hf_tokenizer(const std::string& name) {
    static std::map<std::string, std::unique_ptr<Tokenizer>> cache;
    auto& slot = cache[name];
    if (!slot) {
        slot = load_hf_tokenizer(
            pocket::test::shared_path("tokenizers/hf/" + name + "/tokenizer.json"));
    }
    return *slot;
}

std::vector<nlohmann::json> read_vectors(const std::string& name) {
    std::ifstream in(pocket::test::shared_path("tokenizers/hf/" + name + "/vectors.jsonl"));
    std::vector<nlohmann::json> lines;
    for (std::string line; std::getline(in, line);) {
        if (!line.empty()) lines.push_back(nlohmann::json::parse(line));
    }
    return lines;
}

class HfVectors : public ::testing::TestWithParam<std::string> {};

TEST_P(HfVectors, EncodeMatchesReference) {
    const Tokenizer& tok = hf_tokenizer(GetParam());
    const auto lines = read_vectors(GetParam());
    ASSERT_EQ(lines.size(), 738u);
    size_t failures = 0;
    for (const auto& line : lines) {
        const std::string text = line.at("text").get<std::string>();
        const bool add_special = line.at("add_special_tokens").get<bool>();
        // Where the JavaScript generator is known to differ from Rust `tokenizers`, the Rust ids.
        const Ids expected =
            line.contains("js_port_divergence")
                ? line["js_port_divergence"].at("ids_with_rust_semantics").get<Ids>()
                : line.at("ids").get<Ids>();
        const Ids ids = tok.encode(text, add_special, true);
        EXPECT_EQ(ids, expected) << "id " << line.at("id") << " add_special " << add_special
                                 << " text: '" << text << "'";
        failures += ids != expected;
    }
    EXPECT_EQ(failures, 0u);
}

TEST_P(HfVectors, DecodeMatchesReference) {
    const Tokenizer& tok = hf_tokenizer(GetParam());
    size_t failures = 0;
    for (const auto& line : read_vectors(GetParam())) {
        if (line.contains("js_port_divergence")) continue;  // decoded from the JS ids
        const Ids ids = line.at("ids").get<Ids>();
        const std::string decoded = tok.decode(ids, false, true);
        EXPECT_EQ(decoded, line.at("decoded").get<std::string>()) << "id " << line.at("id");
        failures += decoded != line.at("decoded").get<std::string>();
    }
    EXPECT_EQ(failures, 0u);
}

// decode(encode(text)) == text for every string whose reference decoding is the text itself.
TEST_P(HfVectors, RoundTripWhereReferenceDoes) {
    const Tokenizer& tok = hf_tokenizer(GetParam());
    size_t checked = 0;
    for (const auto& line : read_vectors(GetParam())) {
        if (line.at("add_special_tokens").get<bool>()) continue;
        const std::string text = line.at("text").get<std::string>();
        if (line.at("decoded").get<std::string>() != text) continue;
        EXPECT_EQ(tok.decode(tok.encode(text, false, true), false, true), text)
            << "id " << line.at("id");
        ++checked;
    }
    EXPECT_GT(checked, 300u);
}

INSTANTIATE_TEST_SUITE_P(Hf, HfVectors,
                         ::testing::Values("llama3", "qwen3", "gemma3", "llama2", "smollm2"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                             return info.param;
                         });

// Gemma 3's tokenizer.json is 33 MB (262k tokens, 515k merges); loading it must stay quick. CPU
// time rather than wall time, so that a busy machine does not fail the test (about 1.3 s here).
// Loads the 33 MB Gemma 3 tokenizer.json; the time is printed for information only (timings are
// never asserted: the machines running tests are shared and noisy).
TEST(HfLoading, Gemma3Loads) {
    const std::clock_t start = std::clock();
    const auto tok =
        load_hf_tokenizer(pocket::test::shared_path("tokenizers/hf/gemma3/tokenizer.json"));
    const double seconds = static_cast<double>(std::clock() - start) / CLOCKS_PER_SEC;
    EXPECT_EQ(tok->n_vocab(), 262145u);
    std::cout << "gemma3 tokenizer.json loaded in " << seconds << " s of CPU time\n";
}

}  // namespace
}  // namespace pocket::tokenizer

namespace pocket::tokenizer {
namespace {

// llama.cpp's vector pairs whose vocabulary file is not shipped, checked with a tokenizer.json of
// the same tokenizer (hf/README.md: llama3 = llama-bpe, qwen3's BPE = qwen2 and deepseek-r1-qwen,
// 46/46 identical ids each): once through the tokenizer.json pipeline, and once through the GGUF
// byte-level BPE path with llama.cpp's pre-tokenizer of that name, on a vocabulary built here from
// the tokenizer.json's model.vocab, merges and added tokens.
struct BorrowedVocab {
    std::string vectors;  // llama.cpp vector name (tokenizers/ggml-vocab-<name>.gguf.inp/.out)
    std::string hf;       // tokenizers/hf/<hf>/tokenizer.json
};

void PrintTo(const BorrowedVocab& b, std::ostream* os) {
    *os << b.vectors;
}

std::unique_ptr<Tokenizer> gguf_style_tokenizer(const std::string& hf, const std::string& pre) {
    const auto root = pocket::test::read_json(
        pocket::test::shared_path("tokenizers/hf/" + hf + "/tokenizer.json"));
    VocabSpec spec;
    spec.origin = hf + " as GGUF";
    spec.kind = VocabKind::Bpe;
    spec.pre_tokenizer = pre;
    size_t n = 0;
    for (const auto& [text, id] : root["model"]["vocab"].items())
        n = std::max<size_t>(n, id.get<size_t>() + 1);
    for (const auto& a : root["added_tokens"]) n = std::max<size_t>(n, a["id"].get<size_t>() + 1);
    spec.tokens.resize(n, TokenData{"", 0.0f, kAttrUnused});
    for (const auto& [text, id] : root["model"]["vocab"].items()) {
        spec.tokens[id.get<size_t>()] = {text, 0.0f, kAttrNormal};
    }
    for (const auto& a : root["added_tokens"]) {
        spec.tokens[a["id"].get<size_t>()] = {
            a["content"].get<std::string>(), 0.0f,
            a["special"].get<bool>() ? kAttrControl : kAttrUserDefined};
    }
    for (const auto& m : root["model"]["merges"]) {
        if (m.is_array()) {
            spec.merges.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
        } else {
            const std::string s = m.get<std::string>();
            const size_t space = s.find(' ', 1);
            spec.merges.emplace_back(s.substr(0, space), s.substr(space + 1));
        }
    }
    spec.flags = default_flags(VocabKind::Bpe);
    spec.flags.ignore_merges = pre == "llama-bpe";
    return make_tokenizer(Vocab(std::move(spec)));
}

class BorrowedVocabVectors : public ::testing::TestWithParam<BorrowedVocab> {};

TEST_P(BorrowedVocabVectors, MatchThroughTokenizerJsonAndGgufPath) {
    const BorrowedVocab& b = GetParam();
    const std::string prefix = "tokenizers/ggml-vocab-" + b.vectors + ".gguf";
    const auto cases = pocket::test::read_tokenizer_vectors(
        pocket::test::shared_path(prefix + ".inp"), pocket::test::shared_path(prefix + ".out"));
    ASSERT_EQ(cases.size(), 46u);
    const auto hf =
        load_hf_tokenizer(pocket::test::shared_path("tokenizers/hf/" + b.hf + "/tokenizer.json"));
    const auto gguf = gguf_style_tokenizer(b.hf, b.vectors);
    for (const auto& c : cases) {
        const Ids expected(c.ids.begin(), c.ids.end());
        EXPECT_EQ(hf->encode(c.text, false, false), expected)
            << "tokenizer.json, text: '" << c.text << "'";
        EXPECT_EQ(gguf->encode(c.text, false, false), expected)
            << "GGUF path, text: '" << c.text << "'";
    }
}

INSTANTIATE_TEST_SUITE_P(Hf, BorrowedVocabVectors,
                         ::testing::Values(BorrowedVocab{"llama-bpe", "llama3"},
                                           BorrowedVocab{"qwen2", "qwen3"},
                                           BorrowedVocab{"deepseek-r1-qwen", "qwen3"}),
                         [](const ::testing::TestParamInfo<BorrowedVocab>& info) {
                             std::string name = info.param.vectors;
                             for (char& ch : name) {
                                 if (ch == '-') ch = '_';
                             }
                             return name;
                         });

}  // namespace
}  // namespace pocket::tokenizer
