// tokenizer.json -> tokenizer.ggml.*: the GGUF vocabulary, read back by pocket's GGUF tokenizer
// (llama.cpp's algorithms: SentencePiece merging by score, WordPiece, byte-level BPE), must
// tokenize the shared corpus like the Hugging Face tokenizer.json does (pocket's tokenizer.json
// loader, itself checked against Hugging Face's ids in tests/tokenizer). For the
// SentencePiece-style files this checks the converter's scores (minus merge rank) and types.
#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "pocket/convert/convert.h"
#include "pocket/gguf/gguf.h"
#include "pocket/tokenizer/hf_tokenizer.h"
#include "pocket/tokenizer/tokenizer.h"
#include "support/test_support.h"

namespace fs = std::filesystem;
using pocket::test::shared_path;

namespace {

std::vector<std::string> corpus() {
    std::vector<std::string> texts;
    std::ifstream in(shared_path("tokenizers/hf/corpus.jsonl"));
    for (std::string line; std::getline(in, line);) {
        if (!line.empty()) texts.push_back(nlohmann::json::parse(line).at("text"));
    }
    return texts;
}

std::unique_ptr<pocket::tokenizer::Tokenizer> gguf_tokenizer(const fs::path& tokenizer_json,
                                                             pocket::gguf::File* keep) {
    pocket::gguf::Writer writer;
    writer.set("general.architecture", std::string("llama"));
    pocket::convert::add_vocab(writer, tokenizer_json, "");
    *keep = pocket::gguf::File::parse(writer.to_bytes(), tokenizer_json.string());
    return pocket::tokenizer::load_tokenizer(*keep);
}

// Returns how many corpus strings tokenize identically; prints the first differences.
size_t compare(const fs::path& tokenizer_json, bool add_special, size_t* total) {
    pocket::gguf::File file = pocket::gguf::File::parse(pocket::gguf::Writer().to_bytes(), "empty");
    const auto from_gguf = gguf_tokenizer(tokenizer_json, &file);
    const auto from_json = pocket::tokenizer::load_hf_tokenizer(tokenizer_json);
    size_t same = 0, shown = 0;
    const auto texts = corpus();
    for (const auto& text : texts) {
        const auto a = from_gguf->encode(text, add_special, false);
        const auto b = from_json->encode(text, add_special, false);
        if (a == b) {
            ++same;
        } else if (shown++ < 3) {
            std::printf("  differs: %s\n    gguf:",
                        nlohmann::json(text).dump().substr(0, 80).c_str());
            for (auto id : a) std::printf(" %d", id);
            std::printf("\n    json:");
            for (auto id : b) std::printf(" %d", id);
            std::printf("\n");
        }
    }
    *total = texts.size();
    std::printf("[ measured ] %s: %zu of %zu corpus strings tokenize identically\n",
                tokenizer_json.parent_path().filename().c_str(), same, texts.size());
    return same;
}

}  // namespace

TEST(ConvertVocab, SentencePieceStyleLlama2MatchesTokenizerJson) {
    size_t total = 0;
    const size_t same = compare(shared_path("tokenizers/hf/llama2/tokenizer.json"), true, &total);
    EXPECT_GE(same, total * 95 / 100);
}

TEST(ConvertVocab, SentencePieceStyleGemma3MatchesTokenizerJson) {
    size_t total = 0;
    const size_t same = compare(shared_path("tokenizers/hf/gemma3/tokenizer.json"), true, &total);
    EXPECT_GE(same, total * 95 / 100);
}

TEST(ConvertVocab, WordPieceMatchesTokenizerJson) {
    // Without the special tokens: this Model2Vec file's post-processor still names bge's ids for
    // [CLS]/[SEP] (101/102) although its own vocabulary has them at 2/3; the GGUF takes the ids
    // from the vocabulary (checked below), as llama.cpp's converter does.
    size_t total = 0;
    const auto path = shared_path("models/embed/potion-base-4M-int8/tokenizer.json");
    const size_t same = compare(path, false, &total);
    pocket::gguf::File file = pocket::gguf::File::parse(pocket::gguf::Writer().to_bytes(), "empty");
    const auto tok = gguf_tokenizer(path, &file);
    EXPECT_EQ(file.get_string("tokenizer.ggml.model"), "bert");
    EXPECT_EQ(file.get_int("tokenizer.ggml.cls_token_id"), 2);
    EXPECT_EQ(file.get_int("tokenizer.ggml.seperator_token_id"), 3);
    EXPECT_EQ(tok->encode("Hello world", true, false), (std::vector<int32_t>{2, 6598, 1094, 3}));
    // The rest differ in accent stripping / Hangul decomposition of the BertNormalizer, which
    // llama.cpp's WordPiece (and the GGUF tokenizer) does differently: a tokenizer-layer matter.
    EXPECT_GE(same, total * 90 / 100);
}

// The few differences are Qwen's NFC normalizer, which llama.cpp's byte-level BPE (and so the
// GGUF tokenizer) does not apply.
TEST(ConvertVocab, ByteLevelBpeMatchesTokenizerJson) {
    size_t total = 0;
    const size_t same = compare(shared_path("tokenizers/hf/qwen3/tokenizer.json"), true, &total);
    EXPECT_GE(same, total * 95 / 100);
}
