// The SPM tokenizer against llama.cpp's own outputs: the tokenizer test vectors and every
// generation reference whose model has an SPM vocabulary.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "pocket/gguf/gguf.h"
#include "pocket/tokenizer/gguf_vocab.h"
#include "pocket/tokenizer/stream_decoder.h"
#include "pocket/tokenizer/tokenizer.h"
#include "pocket/tokenizer/utf8.h"
#include "support/test_support.h"

namespace pocket::tokenizer {
namespace {

using Ids = std::vector<TokenId>;

// Loaded once per file: the 32k-token vocabularies are used by many cases.
const Tokenizer& tokenizer_for(const std::string& relative_path) {
    static std::map<std::string, std::unique_ptr<Tokenizer>> cache;
    auto& slot = cache[relative_path];
    if (!slot) {
        const auto file = gguf::File::open(pocket::test::shared_path(relative_path));
        slot = load_tokenizer(file);
    }
    return *slot;
}

std::string from_hex(const std::string& hex) {
    std::string out;
    for (size_t i = 0; i + 1 < hex.size(); i += 2) {
        out += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
    }
    return out;
}

std::string to_hex(std::string_view bytes) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (const char c : bytes) {
        out += kHex[static_cast<uint8_t>(c) >> 4];
        out += kHex[static_cast<uint8_t>(c) & 15];
    }
    return out;
}

// ---------------------------------------------------------------------------------------------
// Tokenizer test vectors (.inp/.out), tokenized with add_special=false, parse_special=false.

struct ReferenceVectorSet {
    std::string name;
    std::string vocab;    // GGUF with the vocabulary, relative to the shared folder
    std::string vectors;  // .inp/.out prefix, relative to the shared folder
};

// Readable test names in gtest output instead of the struct's bytes.
void PrintTo(const ReferenceVectorSet& set, std::ostream* os) {
    *os << set.name;
}

class TokenizerVectors : public ::testing::TestWithParam<ReferenceVectorSet> {};

TEST_P(TokenizerVectors, MatchLlamaCpp) {
    const ReferenceVectorSet& set = GetParam();
    const Tokenizer& tok = tokenizer_for(set.vocab);
    const auto cases =
        pocket::test::read_tokenizer_vectors(pocket::test::shared_path(set.vectors + ".inp"),
                                             pocket::test::shared_path(set.vectors + ".out"));
    ASSERT_EQ(cases.size(), 46u);
    for (const auto& c : cases) {
        const Ids ids = tok.encode(c.text, false, false);
        EXPECT_EQ(ids, Ids(c.ids.begin(), c.ids.end())) << "text: '" << c.text << "'";
    }
}

// Detokenizing what we tokenized gives the text back, for every one of the 46 inputs (English,
// Chinese, Khmer, emoji, whitespace-only...): encode prepends one space and decode removes one,
// and characters without a token round-trip through their byte tokens. This does not hold with
// add_special=true (decode keeps the space after a dropped BOS), with parse_special=true (a space
// is added after every special token), for phi-3's whitespace-swallowing special tokens, for
// user-defined token text with ▁ in it, or for a vocabulary without byte tokens (<unk>).
TEST_P(TokenizerVectors, RoundTrip) {
    const ReferenceVectorSet& set = GetParam();
    const Tokenizer& tok = tokenizer_for(set.vocab);
    const auto cases =
        pocket::test::read_tokenizer_vectors(pocket::test::shared_path(set.vectors + ".inp"),
                                             pocket::test::shared_path(set.vectors + ".out"));
    for (const auto& c : cases) {
        EXPECT_EQ(tok.decode(tok.encode(c.text, false, false), false, false), c.text);
    }
}

INSTANTIATE_TEST_SUITE_P(
    Spm, TokenizerVectors,
    ::testing::Values(ReferenceVectorSet{"llama_spm", "tokenizers/ggml-vocab-llama-spm.gguf",
                                         "tokenizers/ggml-vocab-llama-spm.gguf"},
                      ReferenceVectorSet{"phi_3", "tokenizers/ggml-vocab-phi-3.gguf",
                                         "tokenizers/ggml-vocab-phi-3.gguf"},
                      ReferenceVectorSet{"baichuan", "tokenizers/ggml-vocab-baichuan.gguf",
                                         "reference/tokenize/ggml-vocab-baichuan.gguf"},
                      ReferenceVectorSet{"stories260K", "models/stories260K.gguf",
                                         "reference/tokenize/stories260K.gguf"},
                      ReferenceVectorSet{"tiny_phi3", "models/tiny/tiny-phi3.gguf",
                                         "reference/tokenize/tiny-phi3.gguf"},
                      ReferenceVectorSet{"tiny_gemma2", "models/tiny/tiny-gemma2.gguf",
                                         "reference/tokenize/tiny-gemma2.gguf"}),
    [](const ::testing::TestParamInfo<ReferenceVectorSet>& info) { return info.param.name; });

// ---------------------------------------------------------------------------------------------
// Generation references (reference/<model>.json) of models with an SPM vocabulary.

const std::vector<std::string> kSpmReferences = {
    "stories260K.json",         "stories260K.Q8_0.json",      "stories260K.Q4_0.json",
    "tiny-llama-spm.json",      "tiny-llama-spm.F16.json",    "tiny-llama-spm.BF16.json",
    "tiny-llama-spm.Q8_0.json", "tiny-llama-spm.Q4_0.json",   "tiny-llama-spm.Q4_1.json",
    "tiny-llama-spm.Q5_0.json", "tiny-llama-spm.Q5_1.json",   "tiny-llama-spm.Q2_K.json",
    "tiny-llama-spm.Q3_K.json", "tiny-llama-spm.Q4_K.json",   "tiny-llama-spm.Q5_K.json",
    "tiny-llama-spm.Q6_K.json", "tiny-llama-spm.IQ4_NL.json", "tiny-phi3.json",
    "tiny-gemma2.json"};

class GenerationReference : public ::testing::TestWithParam<std::string> {};

void check_case(const Tokenizer& tok, const nlohmann::json& c) {
    SCOPED_TRACE(c.at("name").get<std::string>());
    const std::string prompt = c.at("prompt").get<std::string>();
    ASSERT_EQ(to_hex(prompt), c.at("prompt_hex").get<std::string>());
    const Ids prompt_tokens = c.at("prompt_tokens").get<Ids>();
    const Ids generated_tokens = c.at("generated_tokens").get<Ids>();

    EXPECT_EQ(
        tok.encode(prompt, c.at("add_special").get<bool>(), c.at("parse_special").get<bool>()),
        prompt_tokens);

    const auto& pieces = c.at("prompt_pieces");
    ASSERT_EQ(pieces.size(), prompt_tokens.size());
    for (size_t i = 0; i < pieces.size(); ++i) {
        EXPECT_EQ(to_hex(tok.token_to_piece(pieces[i].at("id").get<TokenId>(), true)),
                  pieces[i].at("piece_hex").get<std::string>())
            << "prompt token " << i;
    }

    EXPECT_EQ(tok.decode(prompt_tokens, true, false),
              c.at("prompt_detokenized").get<std::string>());
    Ids all = prompt_tokens;
    all.insert(all.end(), generated_tokens.begin(), generated_tokens.end());
    // full_detokenized is stored as a JSON string, i.e. with invalid bytes already replaced.
    EXPECT_EQ(utf8::sanitize(tok.decode(all, true, false)),
              c.at("full_detokenized").get<std::string>());

    const auto& generated = c.at("generated");
    ASSERT_EQ(generated.size(), generated_tokens.size());
    std::string concatenated;
    StreamDecoder stream(tok);
    std::string streamed;
    for (size_t i = 0; i < generated.size(); ++i) {
        const TokenId id = generated[i].at("id").get<TokenId>();
        ASSERT_EQ(id, generated_tokens[i]);
        const std::string piece = tok.token_to_piece(id, false);
        EXPECT_EQ(to_hex(piece), generated[i].at("piece_hex").get<std::string>()) << "step " << i;
        EXPECT_EQ(tok.is_eog(id), generated[i].at("is_eog").get<bool>()) << "step " << i;
        concatenated += piece;
        streamed += stream.feed(id);
    }
    streamed += stream.flush();
    const std::string expected_bytes = from_hex(c.at("generated_text_hex").get<std::string>());
    EXPECT_EQ(concatenated, expected_bytes);
    EXPECT_EQ(utf8::is_valid(expected_bytes), c.at("generated_text_utf8_valid").get<bool>());
    if (c.at("generated_text_utf8_valid").get<bool>()) {
        EXPECT_EQ(streamed, expected_bytes);
    }
    // Invalid bytes become U+FFFD one per byte, which is how the reference renders generated_text.
    EXPECT_EQ(streamed, c.at("generated_text").get<std::string>());
}

TEST_P(GenerationReference, TokenizationMatchesLlamaCpp) {
    const auto ref = pocket::test::read_json(pocket::test::shared_path("reference/" + GetParam()));
    const auto& info = ref.at("model_info");
    const Tokenizer& tok = tokenizer_for(ref.at("provenance").at("model_file").get<std::string>());
    ASSERT_EQ(static_cast<int>(tok.vocab().kind()), info.at("vocab_type").get<int>());

    EXPECT_EQ(tok.n_vocab(), info.at("n_vocab").get<size_t>());
    EXPECT_EQ(tok.add_bos(), info.at("add_bos").get<bool>());
    EXPECT_EQ(tok.add_eos(), info.at("add_eos").get<bool>());
    EXPECT_EQ(tok.bos(), info.at("bos").get<TokenId>());
    EXPECT_EQ(tok.eos(), info.at("eos").get<TokenId>());
    EXPECT_EQ(tok.eot(), info.at("eot").get<TokenId>());
    EXPECT_EQ(tok.vocab().special().sep, info.at("sep").get<TokenId>());
    EXPECT_EQ(tok.pad(), info.at("pad").get<TokenId>());
    EXPECT_EQ(tok.linefeed(), info.at("nl").get<TokenId>());

    for (const auto& c : ref.at("cases")) check_case(tok, c);
    if (ref.contains("long_generation")) check_case(tok, ref.at("long_generation"));
}

std::string reference_test_name(const ::testing::TestParamInfo<std::string>& info) {
    std::string name = info.param.substr(0, info.param.size() - 5);
    for (char& ch : name) {
        if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
    }
    return name;
}

INSTANTIATE_TEST_SUITE_P(Spm, GenerationReference, ::testing::ValuesIn(kSpmReferences),
                         reference_test_name);

// Byte-level BPE models: llama-bpe (BOS added, ignore_merges, clean-up on decode) and qwen2 (no
// BOS, no clean-up).
const std::vector<std::string> kBpeReferences = {"tiny-llama-bpe.json", "tiny-qwen2.json"};

INSTANTIATE_TEST_SUITE_P(Bpe, GenerationReference, ::testing::ValuesIn(kBpeReferences),
                         reference_test_name);

// The embedding reference of the WordPiece model: [CLS] ... [SEP], the pieces and llama.cpp's
// detokenization of them.
TEST(EmbeddingReference, TinyBertTokenization) {
    const auto ref = pocket::test::read_json(pocket::test::shared_path("reference/tiny-bert.json"));
    const auto& info = ref.at("model_info");
    const Tokenizer& tok = tokenizer_for(ref.at("provenance").at("model_file").get<std::string>());
    ASSERT_EQ(static_cast<int>(tok.vocab().kind()), info.at("vocab_type").get<int>());
    EXPECT_EQ(tok.n_vocab(), info.at("n_vocab").get<size_t>());
    EXPECT_EQ(tok.add_bos(), info.at("add_bos").get<bool>());
    EXPECT_EQ(tok.bos(), info.at("bos").get<TokenId>());
    EXPECT_EQ(tok.eos(), info.at("eos").get<TokenId>());
    EXPECT_EQ(tok.vocab().special().sep, info.at("sep").get<TokenId>());
    EXPECT_EQ(tok.pad(), info.at("pad").get<TokenId>());
    EXPECT_EQ(tok.linefeed(), info.at("nl").get<TokenId>());
    ASSERT_EQ(ref.at("cases").size(), 4u);
    for (const auto& c : ref.at("cases")) {
        SCOPED_TRACE(c.at("name").get<std::string>());
        const Ids tokens = c.at("tokens").get<Ids>();
        EXPECT_EQ(tok.encode(c.at("prompt").get<std::string>(), c.at("add_special").get<bool>(),
                             c.at("parse_special").get<bool>()),
                  tokens);
        const auto& pieces = c.at("pieces");
        ASSERT_EQ(pieces.size(), tokens.size());
        for (size_t i = 0; i < pieces.size(); ++i) {
            EXPECT_EQ(pieces[i].at("id").get<TokenId>(), tokens[i]);
            EXPECT_EQ(to_hex(tok.token_to_piece(tokens[i], true)),
                      pieces[i].at("piece_hex").get<std::string>())
                << "token " << i;
        }
        EXPECT_EQ(tok.decode(tokens, true, false), c.at("detokenized").get<std::string>());
    }
}

// Every generation reference with an SPM or BPE vocabulary is in the lists above.
TEST(GenerationReferenceList, CoversEveryBpeReference) {
    size_t n_bpe = 0;
    for (const auto& entry :
         std::filesystem::directory_iterator(pocket::test::shared_path("reference"))) {
        const std::string name = entry.path().filename().string();
        if (entry.path().extension() != ".json" || name.find("perplexity") != std::string::npos) {
            continue;
        }
        const auto ref = pocket::test::read_json(entry.path());
        if (!ref.contains("model_info") || ref["model_info"].value("vocab_type", 0) != 2) continue;
        ++n_bpe;
        EXPECT_NE(std::find(kBpeReferences.begin(), kBpeReferences.end(), name),
                  kBpeReferences.end())
            << name;
    }
    EXPECT_EQ(n_bpe, kBpeReferences.size());
}

TEST(GenerationReferenceList, CoversEverySpmReference) {
    size_t n_spm = 0;
    for (const auto& entry :
         std::filesystem::directory_iterator(pocket::test::shared_path("reference"))) {
        const std::string name = entry.path().filename().string();
        if (entry.path().extension() != ".json" || name.find("perplexity") != std::string::npos) {
            continue;
        }
        const auto ref = pocket::test::read_json(entry.path());
        if (!ref.contains("model_info") || ref["model_info"].value("vocab_type", 0) != 1) continue;
        ++n_spm;
        EXPECT_NE(std::find(kSpmReferences.begin(), kSpmReferences.end(), name),
                  kSpmReferences.end())
            << name;
    }
    EXPECT_EQ(n_spm, kSpmReferences.size());
}

}  // namespace
}  // namespace pocket::tokenizer
