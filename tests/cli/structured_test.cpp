// `pocket run` with structured output and speculative decoding, end to end.
#include <gtest/gtest.h>

#include <fstream>

#include "support/test_support.h"

namespace pocket::test {
namespace {

// JSON Schema lengths count characters, not bytes.
size_t code_points(const std::string& s) {
    size_t n = 0;
    for (const char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
    return n;
}

TEST(CliStructured, JsonSchemaOutputValidates) {
    ScratchDir dir;
    const std::string schema = (dir / "schema.json").string();
    std::ofstream(schema) << R"({"type": "object", "properties": {
        "name": {"type": "string", "maxLength": 12},
        "age": {"type": "integer"},
        "pet": {"enum": ["cat", "dog"]}},
        "required": ["name", "age", "pet"], "additionalProperties": false})";
    for (const char* seed : {"1", "2", "3"}) {
        const auto r = run_pocket({"run", "-m", shared_path("models/tiny/tiny-qwen2.gguf").string(),
                                   "-p", "Person:", "--json-schema", schema, "--temp", "1.5",
                                   "--seed", seed, "-n", "300", "-q"});
        ASSERT_EQ(r.exit_code, 0) << r.err;
        const auto doc = nlohmann::json::parse(r.out);  // throws (fails) on invalid JSON
        ASSERT_TRUE(doc.is_object()) << r.out;
        EXPECT_EQ(doc.size(), 3u) << r.out;
        EXPECT_LE(code_points(doc["name"].get<std::string>()), 12u) << r.out;
        EXPECT_TRUE(doc["age"].is_number_integer()) << r.out;
        EXPECT_TRUE(doc["pet"] == "cat" || doc["pet"] == "dog") << r.out;
    }
}

TEST(CliStructured, GrammarFileAndErrors) {
    ScratchDir dir;
    const std::string gbnf = (dir / "yesno.gbnf").string();
    std::ofstream(gbnf) << "root ::= (\"yes\" | \"no\") \"!\"\n";
    const auto r = run_pocket({"run", "-m", shared_path("models/stories260K.gguf").string(), "-p",
                               "Answer:", "--grammar", gbnf, "--temp", "1", "-n", "50", "-q"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_TRUE(r.out == "yes!\n" || r.out == "no!\n") << r.out;

    std::ofstream(gbnf) << "root ::= \"a\" missing\n";
    const auto bad = run_pocket({"run", "-m", shared_path("models/stories260K.gguf").string(), "-p",
                                 "x", "--grammar", gbnf});
    EXPECT_EQ(bad.exit_code, 1);
    EXPECT_NE(bad.err.find("missing"), std::string::npos) << bad.err;

    const auto both = run_pocket({"run", "-m", shared_path("models/stories260K.gguf").string(),
                                  "-p", "x", "--grammar", gbnf, "--json"});
    EXPECT_EQ(both.exit_code, 64);
}

TEST(CliSpeculative, GreedyOutputUnchanged) {
    const std::string model = shared_path("models/stories260K.gguf").string();
    const std::vector<std::string> base = {
        "run", "-m", model,    "-p", "Once upon a time, Lily saw a dog. Once upon a time",
        "-n",  "80", "--temp", "0",  "-q"};
    const auto plain = run_pocket(base);
    auto lookup_args = base;
    lookup_args.push_back("--lookup");
    auto draft_args = base;
    draft_args.insert(draft_args.end(),
                      {"--draft", shared_path("models/stories260K.Q8_0.gguf").string()});
    const auto lookup = run_pocket(lookup_args);
    const auto draft = run_pocket(draft_args);
    ASSERT_EQ(plain.exit_code, 0) << plain.err;
    ASSERT_EQ(lookup.exit_code, 0) << lookup.err;
    ASSERT_EQ(draft.exit_code, 0) << draft.err;
    EXPECT_EQ(lookup.out, plain.out);
    EXPECT_EQ(draft.out, plain.out);
}

}  // namespace
}  // namespace pocket::test
