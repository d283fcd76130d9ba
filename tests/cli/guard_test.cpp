// `pocket guard`: --jsonl keeps the input order and reports malformed lines by number in their
// place without losing the others; TEXT gives a readable or JSON verdict.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/test_support.h"

namespace pocket::test {
namespace {

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
}

class GuardCli : public ::testing::Test {
  protected:
    void SetUp() override {
        // A random-weight guard model: every text gets its own P(unsafe) from the logits, so the
        // order of the verdicts can be told apart.
        model_ = (dir_ / "guard.gguf").string();
        const auto synth = run_pocket({"synth", "--shape", "tiny", "--seed", "5", "-o", model_});
        ASSERT_EQ(synth.exit_code, 0) << synth.err;
    }

    nlohmann::json verdict_of(const std::string& text) {
        const auto r = run_pocket({"guard", "--guard", model_, "--json", text});
        EXPECT_EQ(r.exit_code, 0) << r.err;
        return nlohmann::json::parse(r.out);
    }

    ScratchDir dir_;
    std::string model_;
};

TEST_F(GuardCli, JsonlVerdictsComeInInputOrder) {
    const std::vector<std::string> texts = {"the first text", "a second, rather different one", "3",
                                            "and the fourth line of input"};
    const std::string path = (dir_ / "in.jsonl").string();
    {
        std::ofstream out(path);
        for (const auto& t : texts) out << nlohmann::json{{"text", t}}.dump() << "\n";
        out << nlohmann::json{{"prompt", "a question"}, {"response", "an answer"}}.dump() << "\n";
    }
    const auto r = run_pocket({"guard", "--guard", model_, "--jsonl", path});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto lines = lines_of(r.out);
    ASSERT_EQ(lines.size(), texts.size() + 1);
    std::vector<double> scores;
    for (size_t i = 0; i < texts.size(); ++i) {
        const auto got = nlohmann::json::parse(lines[i]);
        EXPECT_EQ(got, verdict_of(texts[i])) << "line " << i + 1;
        ASSERT_TRUE(got["score"].is_number());
        scores.push_back(got["score"].get<double>());
    }
    // The texts score differently, so matching each one checks the order.
    std::sort(scores.begin(), scores.end());
    EXPECT_EQ(std::unique(scores.begin(), scores.end()), scores.end());
    const auto pair = nlohmann::json::parse(lines.back());
    EXPECT_TRUE(pair.contains("safe") && pair.contains("score") && pair.contains("categories"));
    EXPECT_EQ(lines.back().rfind("{\"safe\":", 0), 0u) << lines.back();  // documented key order
}

TEST_F(GuardCli, MalformedLinesAreReportedByNumberAndTheRestStillChecked) {
    const std::string input =
        "{\"text\": \"one\"}\n"
        "this is not json\n"
        "\n"
        "{\"text\": \"two\"}\n"
        "[1, 2]\n"
        "{\"prompt\": 7}\n"
        "{\"response\": \"an answer without its prompt\"}\n"
        "{\"text\": \"three\"}\n";
    const auto r = run_pocket({"guard", "--guard", model_, "--jsonl", "-"}, input);
    EXPECT_EQ(r.exit_code, 65);
    const auto lines = lines_of(r.out);
    ASSERT_EQ(lines.size(), 7u) << r.out;  // the blank line is no record
    const std::vector<int> bad_lines = {2, 5, 6, 7};
    size_t bad = 0;
    for (const auto& line : lines) {
        const auto j = nlohmann::json::parse(line);
        if (j.contains("error")) {
            ASSERT_LT(bad, bad_lines.size());
            EXPECT_EQ(j["line"], bad_lines[bad]) << line;
            EXPECT_FALSE(j["error"].get<std::string>().empty());
            EXPECT_NE(r.err.find("-:" + std::to_string(bad_lines[bad]) + ":"), std::string::npos)
                << r.err;
            ++bad;
        }
    }
    EXPECT_EQ(bad, bad_lines.size());
    EXPECT_EQ(nlohmann::json::parse(lines[0]), verdict_of("one"));
    EXPECT_EQ(nlohmann::json::parse(lines[2]), verdict_of("two"));
    EXPECT_EQ(nlohmann::json::parse(lines[6]), verdict_of("three"));
}

TEST_F(GuardCli, TextVerdictAndUsage) {
    const auto r = run_pocket({"guard", "--guard", model_, "--threshold", "0", "some text"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out.rfind("UNSAFE (P(unsafe) ", 0), 0u) << r.out;  // threshold 0: all unsafe
    EXPECT_NE(r.out.find("llama-guard (guard.gguf)"), std::string::npos) << r.out;
    EXPECT_EQ(run_pocket({"guard", "--guard", model_}).exit_code, 64);
    EXPECT_EQ(run_pocket({"guard", "--threshold", "2", "x"}).exit_code, 64);
    const auto missing = run_pocket({"guard", "--guard", (dir_ / "none.gguf").string(), "x"});
    EXPECT_NE(missing.exit_code, 0);
    EXPECT_NE(missing.err.find("none.gguf"), std::string::npos) << missing.err;
    const auto no_file = run_pocket({"guard", "--jsonl", (dir_ / "none.jsonl").string()});
    EXPECT_EQ(no_file.exit_code, 1);
}

}  // namespace
}  // namespace pocket::test
