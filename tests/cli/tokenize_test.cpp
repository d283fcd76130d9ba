// `pocket tokenize` end to end: ids and pieces against the llama.cpp and Hugging Face references.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "support/test_support.h"

namespace pocket::test {
namespace {

using Ids = std::vector<int32_t>;

nlohmann::json reference_case(const std::string& file, const std::string& name) {
    const auto ref = read_json(shared_path("reference/" + file));
    for (const auto& c : ref["cases"]) {
        if (c["name"] == name) return c;
    }
    ADD_FAILURE() << "no case " << name << " in " << file;
    return {};
}

nlohmann::json run_json(const std::vector<std::string>& args) {
    const auto r = run_pocket(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return nlohmann::json::parse(r.out);
}

TEST(CliTokenize, GgufPromptWithBosMatchesLlamaCpp) {
    const auto c = reference_case("tiny-llama-bpe.json", "quick_brown_fox");
    ASSERT_TRUE(c["add_special"].get<bool>());
    const auto out =
        run_json({"tokenize", "-m", shared_path("models/tiny/tiny-llama-bpe.gguf").string(),
                  "--json", c["prompt"].get<std::string>()});
    EXPECT_EQ(out["ids"].get<Ids>(), c["prompt_tokens"].get<Ids>());
    ASSERT_EQ(out["piece_hex"].size(), c["prompt_pieces"].size());
    for (size_t i = 0; i < out["piece_hex"].size(); ++i) {
        EXPECT_EQ(out["piece_hex"][i], c["prompt_pieces"][i]["piece_hex"]) << i;
        EXPECT_EQ(out["pieces"][i], c["prompt_pieces"][i]["piece"]) << i;
    }
    EXPECT_EQ(out["n_tokens"].get<size_t>(), out["ids"].size());
}

TEST(CliTokenize, ChatPromptWithParsedSpecialTokens) {
    const auto c = reference_case("tiny-qwen2.json", "chat");
    ASSERT_FALSE(c["add_special"].get<bool>());
    ASSERT_TRUE(c["parse_special"].get<bool>());
    const auto out =
        run_json({"tokenize", "-m", shared_path("models/tiny/tiny-qwen2.gguf").string(), "--json",
                  "--no-special", "--parse-special", c["prompt"].get<std::string>()});
    EXPECT_EQ(out["ids"].get<Ids>(), c["prompt_tokens"].get<Ids>());
}

// Like llama-tokenize and Hugging Face tokenizers, special-token text is parsed by default;
// --no-parse-special tokenizes it as plain text.
TEST(CliTokenize, SpecialTokenTextIsParsedByDefault) {
    const auto c = reference_case("tiny-qwen2.json", "chat");
    const std::string model = shared_path("models/tiny/tiny-qwen2.gguf").string();
    const std::string prompt = c["prompt"].get<std::string>();
    const auto expected = c["prompt_tokens"].get<Ids>();
    EXPECT_EQ(
        run_json({"tokenize", "-m", model, "--json", "--no-special", prompt})["ids"].get<Ids>(),
        expected);
    const auto plain =
        run_json({"tokenize", "-m", model, "--json", "--no-special", "--no-parse-special", prompt});
    EXPECT_NE(plain["ids"].get<Ids>(), expected);
    EXPECT_GT(plain["ids"].size(), expected.size());  // "<|im_start|>" split into pieces
    // The pieces spell the text back.
    std::string joined;
    for (const auto& piece : plain["pieces"]) joined += piece.get<std::string>();
    EXPECT_EQ(joined, prompt);
    // --parse-special stays accepted (it is the default) and conflicts with its negation.
    EXPECT_EQ(run_pocket({"tokenize", "-m", model, "--parse-special", "--no-parse-special", "x"})
                  .exit_code,
              64);
}

TEST(CliTokenize, FileIsReadByteForByte) {
    const auto c = reference_case("tiny-bert.json", "python_code");  // has a newline inside
    ScratchDir dir;
    const std::string prompt = c["prompt"].get<std::string>();
    {
        std::ofstream f(dir / "prompt.txt", std::ios::binary);
        f << prompt;
    }
    const auto r = run_pocket({"tokenize", "-m", shared_path("models/tiny/tiny-bert.gguf").string(),
                               "--ids", "--file", (dir / "prompt.txt").string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    std::string expected;
    for (const auto& id : c["tokens"])
        expected += (expected.empty() ? "" : " ") + std::to_string(id.get<int>());
    EXPECT_EQ(r.out, expected + "\n");
}

TEST(CliTokenize, PlainOutputListsIdsAndPieces) {
    const auto r =
        run_pocket({"tokenize", "-m", shared_path("models/tiny/tiny-llama-bpe.gguf").string(),
                    "--no-special", "Hello world"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    // GPT-2 ids, as in tokenizers/ggml-vocab-gpt-2.gguf.out for "Hello world".
    EXPECT_EQ(r.out, "15496\t\"Hello\"\n995\t\" world\"\n");
}

TEST(CliTokenize, TokenizerJsonFollowsItsPostProcessor) {
    std::ifstream in(shared_path("tokenizers/hf/gemma3/vectors.jsonl"));
    std::string line;
    ASSERT_TRUE(std::getline(in, line));
    const auto without = nlohmann::json::parse(line);
    ASSERT_TRUE(std::getline(in, line));
    const auto with = nlohmann::json::parse(line);
    ASSERT_FALSE(without["add_special_tokens"].get<bool>());
    ASSERT_TRUE(with["add_special_tokens"].get<bool>());
    const std::string json = shared_path("tokenizers/hf/gemma3/tokenizer.json").string();
    const std::string text = with["text"].get<std::string>();
    EXPECT_EQ(run_json({"tokenize", "--tokenizer", json, "--json", text})["ids"].get<Ids>(),
              with["ids"].get<Ids>());
    EXPECT_EQ(run_json({"tokenize", "--tokenizer", json, "--json", "--no-special", text})["ids"]
                  .get<Ids>(),
              without["ids"].get<Ids>());
}

TEST(CliTokenize, UsageAndUnsupportedErrors) {
    const std::string model = shared_path("models/tiny/tiny-llama-bpe.gguf").string();
    EXPECT_EQ(run_pocket({"tokenize", "hi"}).exit_code, 64);
    EXPECT_EQ(run_pocket({"tokenize", "-m", model, "--tokenizer", "x.json", "hi"}).exit_code, 64);

    ScratchDir dir;
    {
        std::ofstream f(dir / "tokenizer.json");
        f << R"({"model": {"type": "Unigram", "vocab": [["a", 0.0]]}, "added_tokens": []})";
    }
    const auto r = run_pocket({"tokenize", "--tokenizer", (dir / "tokenizer.json").string(), "a"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("'Unigram'"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace pocket::test
