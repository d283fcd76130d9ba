// The hand-written JSON reader that loads tokenizer.json (src/tokenizer/json_reader.h) and the
// loader on hostile files: it must accept exactly the JSON nlohmann accepts (up to its nesting
// limit), decode strings the same way, and turn every malformed or ill-typed file into a
// pocket::Error that names the problem, never another exception or a crash.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "pocket/core/error.h"
#include "pocket/tokenizer/hf_tokenizer.h"
#include "tokenizer/json_reader.h"

namespace pocket::tokenizer {
namespace {

// Whole-document check: JsonReader accepts `text` as one value followed only by whitespace.
bool reader_accepts(const std::string& text) {
    try {
        JsonReader reader(text, "t.json");
        reader.raw_value();
        reader.expect_end();
        return true;
    } catch (const Error&) {
        return false;
    }
}

std::string decode_string(const std::string& json_string) {
    JsonReader reader(json_string, "t.json");
    std::string scratch;
    return std::string(reader.string(scratch, "a string"));
}

TEST(JsonReader, DecodesStringsLikeNlohmann) {
    for (const std::string s : {R"("plain")", R"("")", R"("tab\there")", R"("\"\\\/\b\f\n\r\t")",
                                R"("\u00e9\u20AC")", R"("\ud83d\ude00 smile")", R"("\u0000x")",
                                "\"\xC4\xA0the\"", "\"\xE2\x96\x81\xF0\x9F\x98\x80\""}) {
        EXPECT_EQ(decode_string(s), nlohmann::json::parse(s).get<std::string>()) << s;
    }
}

TEST(JsonReader, RejectsWhatIsNotJson) {
    for (const std::string s : {"",
                                "{",
                                "[1,]",
                                "{\"a\":1,}",
                                "{\"a\" 1}",
                                "{a:1}",
                                "01",
                                "1.",
                                "-",
                                "1e",
                                "tru",
                                "nul",
                                "\"abc",
                                "\"\\x\"",
                                "\"\\u12\"",
                                "\"\\ud800\"",
                                "\"\\udc00\"",
                                "\"\\ud800\\u0041\"",
                                "\"a\nb\"",
                                "\"\xC0\x80\"",
                                "\"\xED\xA0\x80\"",
                                "\"\xF4\x90\x80\x80\"",
                                "\"\xE2\x96\"",
                                "\"\xFF\"",
                                "[1] x",
                                "{} {}",
                                "[\"a\" \"b\"]"}) {
        EXPECT_FALSE(reader_accepts(s)) << s;
        EXPECT_FALSE(nlohmann::json::accept(s)) << s;  // the two agree
    }
}

TEST(JsonReader, RefusesDeepNestingWithAnError) {
    const std::string deep = std::string(100000, '[') + std::string(100000, ']');
    try {
        JsonReader reader(deep, "deep.json");
        reader.raw_value();
        ADD_FAILURE() << "100000 nested arrays were accepted";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("nested more than"), std::string::npos) << e.what();
    }
    const std::string ok =
        std::string(JsonReader::kMaxDepth, '[') + std::string(JsonReader::kMaxDepth, ']');
    EXPECT_TRUE(reader_accepts(ok));
}

TEST(JsonReader, ErrorsNameTheOriginAndPosition) {
    try {
        JsonReader reader("{\n  \"a\": tru\n}", "file.json");
        reader.raw_value();
        ADD_FAILURE();
    } catch (const Error& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find("file.json"), std::string::npos) << what;
        EXPECT_NE(what.find("line 2"), std::string::npos) << what;
        EXPECT_NE(what.find("not valid JSON"), std::string::npos) << what;
    }
}

// Random byte edits of a valid document: both parsers must agree on every one.
TEST(JsonReader, AgreesWithNlohmannOnMutatedDocuments) {
    const std::string base =
        R"({"model": {"vocab": {"a": 0, "b\u0062": 1, "\u00e9": 2}, "merges": ["a b", ["b", "a"]],)"
        R"( "x": [1.5e3, -0, true, false, null, {"k": "v\n"}]}, "added_tokens": []})";
    ASSERT_TRUE(reader_accepts(base));
    std::mt19937 rng(1234);
    const std::string alphabet = "{}[]\",:\\ u0123456789abcdefEe.-+tnrl\x80\xC3\xA9\xFF\n";
    int disagreements = 0;
    for (int trial = 0; trial < 20000; ++trial) {
        std::string s = base;
        const int edits = 1 + static_cast<int>(rng() % 3);
        for (int e = 0; e < edits; ++e) {
            const size_t pos = rng() % s.size();
            switch (rng() % 3) {
                case 0:
                    s[pos] = alphabet[rng() % alphabet.size()];
                    break;
                case 1:
                    s.erase(pos, 1);
                    break;
                default:
                    s.insert(pos, 1, alphabet[rng() % alphabet.size()]);
            }
        }
        if (reader_accepts(s) != nlohmann::json::accept(s)) {
            if (++disagreements <= 5) ADD_FAILURE() << "disagree on: " << s;
        }
    }
    EXPECT_EQ(disagreements, 0);
}

// ----- the loader on hostile tokenizer.json files

const std::string kModel =
    R"("model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]})";

std::string load_error(const std::string& json) {
    try {
        parse_hf_tokenizer(json, "", "hostile.json");
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

TEST(HfTokenizerJsonHostile, EveryTruncationIsAnError) {
    const std::string full = "{" + kModel + R"(, "added_tokens": [{"id": 3, "content": "<s>",)" +
                             R"( "special": true}], "normalizer": null})";
    ASSERT_NO_THROW(parse_hf_tokenizer(full, "", "ok.json"));
    for (size_t n = 0; n < full.size(); ++n) {
        // Only a prefix that is itself a whole document could load, and none of these is.
        EXPECT_NE(load_error(full.substr(0, n)), "") << n;
    }
}

TEST(HfTokenizerJsonHostile, WrongTypesAreNamed) {
    const auto expect = [](const std::string& json, const std::string& needle) {
        const std::string what = load_error(json);
        EXPECT_NE(what.find(needle), std::string::npos) << json << " -> " << what;
    };
    expect(R"({"model": {"type": "BPE", "vocab": [], "merges": []}})", "model.vocab");
    expect(R"({"model": {"type": "BPE", "merges": []}})", "no vocab");
    expect(R"({"model": {"type": "BPE", "vocab": {"a": 0}}})", "no merges");
    expect(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": {}}})", "model.merges");
    expect(R"({"model": {"type": "BPE", "vocab": {"a": "0"}, "merges": []}})",
           "token id must be an integer");
    expect(R"({"model": {"type": "BPE", "vocab": {"a": 0.5}, "merges": []}})",
           "token id must be an integer");
    expect(R"({"model": {"type": "BPE", "vocab": {"a": -1}, "merges": []}})", "negative id");
    expect(R"({"model": {"type": "BPE", "vocab": {"a": 4000000000}, "merges": []}})",
           "accepts ids below");
    // A sparse id would make a table of millions of placeholder tokens (2 GB for 16,777,215;
    // found by fuzz_tokenizer_json): ids stay below 2 x entries + 65,536.
    expect(R"({"model": {"type": "BPE", "vocab": {"a": 65540, "b": 0}, "merges": []}})",
           "with 2 entries pocket accepts ids below 65540");
    EXPECT_NO_THROW(parse_hf_tokenizer(
        R"({"model": {"type": "BPE", "vocab": {"a": 65539, "b": 0}, "merges": []}})", "",
        "gap.json"));
    expect(R"({"model": {"type": "BPE", "vocab": {"a": 1e400}, "merges": []}})",
           "must be an integer");
    expect(R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": [["a"]]}})",
           "BPE merge");
    expect(R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": [["a", "b", "c"]]}})",
           "BPE merge");
    expect(R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": ["ab"]}})",
           "BPE merge");
    expect(R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": [7]}})",
           "a merge must be a string");
    expect(R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": ["a b"]}})",
           "names a token the vocabulary does not have");
    expect("{" + kModel + R"(, "added_tokens": [{"id": -5, "content": "<s>"}]})",
           "an added token's id must be an integer from 0");
    expect("{" + kModel + R"(, "added_tokens": [{"id": 1e300, "content": "<s>"}]})",
           "an added token's id must be an integer from 0");
    expect("{" + kModel + R"(, "added_tokens": {"id": 5}})", "added_tokens must be an array");
    expect("{" + kModel + R"(, "added_tokens": [{"id": "5", "content": "<s>"}]})",
           "an added token's id must be an integer");
    // Post-processor ids are emitted by encode() as they are: floats (a conversion with undefined
    // behaviour in nlohmann's get<int>(), found by fuzz_tokenizer_json) and ids past the
    // vocabulary are refused.
    const std::string post = R"(, "post_processor": {"type": "TemplateProcessing", "single": [)"
                             R"({"SpecialToken": {"id": "<s>"}}, {"Sequence": {"id": "A"}}],)"
                             R"( "special_tokens": {"<s>": {"id": "<s>", "ids": [)";
    expect("{" + kModel + post + "6.6e125]}}}}", "special token id must be an integer");
    expect("{" + kModel + post + "3]}}}}", "bos token id 3 is out of range");
    expect("{" + kModel +
               R"(, "post_processor": {"type": "TemplateProcessing", "single": [)"
               R"({"Sequence": {"id": "A"}}, {"SpecialToken": {"id": "</s>"}}],)"
               R"( "special_tokens": {"</s>": {"id": "</s>", "ids": [3]}}}})",
           "post-processor adds token id 3, which is not in");
    expect("{" + kModel + R"(, "post_processor": {"type": "BertProcessing", "cls": ["a", 0.5],)" +
               R"( "sep": ["b", 1]}})",
           "cls id must be an integer");
    expect(
        R"({"model": {"type": "WordPiece", "vocab": {"a": 0}, "max_input_chars_per_word": 1e30}})",
        "max_input_chars_per_word must be an integer");
    expect(R"([1, 2])", "must be an object");
    expect(R"({"version": "1.0"})", "no \"model\"");
    expect("{" + kModel + "} trailing", "not valid JSON");
}

TEST(HfTokenizerJsonHostile, InvalidUtf8AndDeepNestingAreErrors) {
    const auto expect = [](const std::string& json, const std::string& needle) {
        const std::string what = load_error(json);
        EXPECT_NE(what.find(needle), std::string::npos) << what;
    };
    expect("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\xC3\": 0}, \"merges\": []}}",
           "invalid UTF-8");
    expect(R"({"model": {"type": "BPE", "vocab": {"\udc00": 0}, "merges": []}})", "surrogate");
    expect(
        "{" + kModel + ", \"normalizer\": " + std::string(5000, '[') + std::string(5000, ']') + "}",
        "nested more than");
    expect("{" + kModel + ", \"pre_tokenizer\": " + std::string(100000, '{'), "not valid JSON");
}

TEST(HfTokenizerJsonHostile, RandomByteEditsNeverEscapeAsOtherExceptions) {
    const std::string base = "{" + kModel +
                             R"(, "added_tokens": [{"id": 3, "content": "<s>", "special": true}],)"
                             R"( "pre_tokenizer": {"type": "ByteLevel"}, "decoder": null})";
    std::mt19937 rng(99);
    for (int trial = 0; trial < 3000; ++trial) {
        std::string s = base;
        s[rng() % s.size()] = static_cast<char>(rng() % 256);
        try {
            parse_hf_tokenizer(s, "", "edit.json");
        } catch (const Error&) {
            // expected for most edits
        } catch (const std::exception& e) {
            ADD_FAILURE() << "a " << typeid(e).name() << " escaped: " << e.what() << " on " << s;
        }
    }
}

TEST(HfTokenizerJson, EscapedTextsAndBothMergeFormsLoadAlike) {
    // "a\u0062" is "ab"; merges as "left right" strings or [left, right] arrays mean the same.
    const std::string as_strings =
        R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "a\u0062": 2, "\u00e9": 3},)"
        R"( "merges": ["a b"]}})";
    const std::string as_arrays =
        R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2, "\u00e9": 3},)"
        R"( "merges": [["a", "b"]]}})";
    for (const std::string& json : {as_strings, as_arrays}) {
        const auto tok = parse_hf_tokenizer(json, "", "unit.json");
        EXPECT_EQ(tok->encode("ab\xC3\xA9"
                              "ba",
                              false, false),
                  (std::vector<TokenId>{2, 3, 1, 0}));
        EXPECT_EQ(tok->vocab().text(2), "ab");
    }
}

TEST(HfTokenizerJson, ConfigTokensAndMalformedConfig) {
    const std::string json =
        "{" + kModel + R"(, "added_tokens": [{"id": 3, "content": "<s>", "special": true}]})";
    const auto tok = parse_hf_tokenizer(
        json, R"({"chat_template": "{{ x }}", "bos_token": {"content": "<s>"}, "eos_token": "b"})",
        "unit.json");
    EXPECT_EQ(tok->vocab().special().bos, 3);
    EXPECT_EQ(tok->vocab().special().eos, 1);
    EXPECT_THROW(parse_hf_tokenizer(json, R"({"bos_token": )", "unit.json"), Error);
    EXPECT_NO_THROW(parse_hf_tokenizer(json, "[1, 2]", "unit.json"));  // not an object: ignored
}

}  // namespace
}  // namespace pocket::tokenizer
