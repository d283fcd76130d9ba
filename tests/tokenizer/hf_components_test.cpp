// Unit checks of the tokenizer.json building blocks, with expected results worked out by hand from
// the Hugging Face `tokenizers` documentation of each behaviour.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "pocket/core/error.h"
#include "pocket/tokenizer/hf_tokenizer.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/hf_components.h"
#include "tokenizer/regex_split.h"

namespace pocket::tokenizer {
namespace {

using Strings = std::vector<std::string>;

TEST(HfSplit, Behaviours) {
    // "a-b--c" split at each "-" (the examples of tokenizers' SplitDelimiterBehavior docs).
    const std::string text = "a-b--c";
    const std::vector<std::pair<size_t, size_t>> dashes = {{1, 2}, {3, 4}, {4, 5}};
    using B = hf::SplitBehavior;
    EXPECT_EQ(hf::split_by_matches(text, dashes, B::Removed, false), (Strings{"a", "b", "c"}));
    EXPECT_EQ(hf::split_by_matches(text, dashes, B::Isolated, false),
              (Strings{"a", "-", "b", "-", "-", "c"}));
    EXPECT_EQ(hf::split_by_matches(text, dashes, B::MergedWithPrevious, false),
              (Strings{"a-", "b-", "-", "c"}));
    EXPECT_EQ(hf::split_by_matches(text, dashes, B::MergedWithNext, false),
              (Strings{"a", "-b", "-", "-c"}));
    EXPECT_EQ(hf::split_by_matches(text, dashes, B::Contiguous, false),
              (Strings{"a", "-", "b", "--", "c"}));
    EXPECT_EQ(hf::split_by_matches(text, dashes, B::Removed, true), (Strings{"-", "-", "-"}));
}

TEST(Regex, DollarMatchesOnlyAtTheEnd) {
    const Regex r("\\s+$");
    EXPECT_EQ(r.find_all("a \n"), (std::vector<std::pair<size_t, size_t>>{{1, 3}}));
    EXPECT_TRUE(Regex("\\s+$").find_all("a \nb").empty());
}

TEST(Regex, UnicodeClassesAndLookahead) {
    // \s+(?!\S) leaves the last space for the word after it.
    const Regex r(" ?\\p{L}+|\\s+(?!\\S)|\\s+");
    EXPECT_EQ(r.find_all("a   b"),
              (std::vector<std::pair<size_t, size_t>>{{0, 1}, {1, 3}, {3, 5}}));
    // U+00E9 is a letter (2 bytes), U+3000 ideographic space is whitespace (3 bytes).
    EXPECT_EQ(r.find_all("\xC3\xA9\xE3\x80\x80"),
              (std::vector<std::pair<size_t, size_t>>{{0, 2}, {2, 5}}));
    EXPECT_THROW(Regex("(unclosed"), Error);
}

TEST(ByteLevel, Gpt2Alphabet) {
    // Printable bytes stand for themselves; space (0x20) is the 33rd non-printable byte: U+0120.
    EXPECT_EQ(byte_level::encode("a"), "a");
    EXPECT_EQ(byte_level::encode(" "), "\xC4\xA0");
    EXPECT_EQ(byte_level::encode("\n"), "\xC4\x8A");  // U+010A
    EXPECT_EQ(byte_level::code_point_to_byte(0x120), 0x20);
    EXPECT_EQ(byte_level::code_point_to_byte(0x41), 0x41);
    EXPECT_EQ(byte_level::code_point_to_byte(0x3000), -1);
}

TEST(HfComponents, CleanUpTokenization) {
    EXPECT_EQ(hf::clean_up_tokenization("Hello , world ! it 's ok . I do n't"),
              "Hello, world! it's ok. I don't");
}

TEST(HfTokenizerJson, RejectsUnsupportedComponentsByName) {
    const auto expect_error = [](const std::string& json, const std::string& needle) {
        try {
            parse_hf_tokenizer(json, "", "unit.json");
            ADD_FAILURE() << "expected an error containing " << needle;
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
        }
    };
    const std::string model =
        R"("model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]})";
    expect_error("{" + model + R"(, "normalizer": {"type": "Precompiled"}})",
                 "normalizer 'Precompiled'");
    expect_error("{" + model + R"(, "pre_tokenizer": {"type": "UnicodeScripts"}})",
                 "pre-tokenizer 'UnicodeScripts'");
    expect_error("{" + model + R"(, "decoder": {"type": "CTC"}})", "decoder 'CTC'");
    expect_error("{" + model + R"(, "post_processor": {"type": "Weird"}})",
                 "post-processor 'Weird'");
    expect_error(R"({"model": {"type": "WordLevel", "vocab": {}}})", "model 'WordLevel'");
    expect_error("not json", "not valid JSON");

    // A minimal working one: "ab" merges into token 2; "c" has no token and no unk_token.
    const auto tok = parse_hf_tokenizer("{" + model + "}", "", "unit.json");
    EXPECT_EQ(tok->encode("ab", true, true), (std::vector<TokenId>{2}));
    EXPECT_EQ(tok->encode("ba", true, true), (std::vector<TokenId>{1, 0}));
    EXPECT_THROW(tok->encode("c", true, true), Error);
}

}  // namespace
}  // namespace pocket::tokenizer
