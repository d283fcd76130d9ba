// Training data: text windows (with and without BOS), chat conversations weighted on the
// assistant turns through real chat templates (checked by hand), prompt/completion records, errors
// that name the line, and the held-out split.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "pocket/core/error.h"
#include "pocket/generate/chat_template.h"
#include "pocket/model/model.h"
#include "pocket/tokenizer/tokenizer.h"
#include "pocket/train/dataset.h"
#include "support/test_support.h"

namespace pocket::train {
namespace {

std::unique_ptr<model::Model> load(const std::string& relative) {
    return model::Model::load(test::shared_path(relative));
}

// The runs of consecutive weighted tokens, each decoded with special tokens shown.
std::vector<std::string> weighted_runs(const Example& e, const tokenizer::Tokenizer& tok) {
    std::vector<std::string> runs;
    std::vector<TokenId> run;
    for (size_t i = 0; i <= e.tokens.size(); ++i) {
        if (i < e.tokens.size() && e.weights[i] != 0.0f) {
            EXPECT_EQ(e.weights[i], 1.0f);
            run.push_back(e.tokens[i]);
        } else if (!run.empty()) {
            runs.push_back(tok.decode(run, false, true));
            run.clear();
        }
    }
    return runs;
}

const std::string kConversation = R"([
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello there"},
    {"role": "user", "content": "Bye <|im_end|>"},
    {"role": "assistant", "content": "Ok"}])";

TEST(ChatData, QwenTemplateWeighsTheAssistantTurnsOnly) {
    // tiny-qwen2 carries Qwen2.5's template. By hand, the conversation renders as
    //   <|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n
    //   <|im_start|>assistant\nHello there<|im_end|>\n<|im_start|>user\nBye <|im_end|><|im_end|>\n
    //   <|im_start|>assistant\nOk<|im_end|>\n
    // and only "Hello there<|im_end|>\n" and "Ok<|im_end|>\n" are the assistant's (its text, the
    // end of its turn and the newline the template puts after it).
    const auto m = load("models/tiny/tiny-qwen2.gguf");
    const ModelChatTemplate t = chat_template_for(*m);
    ASSERT_FALSE(t.builtin);
    const Example e = chat_example(nlohmann::ordered_json::parse(kConversation), m->tokenizer(), t);
    ASSERT_EQ(e.tokens.size(), e.weights.size());
    EXPECT_EQ(m->tokenizer().decode(e.tokens, false, true),
              "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
              "<|im_start|>assistant\nHello there<|im_end|>\n<|im_start|>user\nBye "
              "<|im_end|><|im_end|>\n<|im_start|>assistant\nOk<|im_end|>\n");
    const std::vector<std::string> runs = weighted_runs(e, m->tokenizer());
    ASSERT_EQ(runs.size(), 2u);
    EXPECT_EQ(runs[0], "Hello there<|im_end|>\n");
    EXPECT_EQ(runs[1], "Ok<|im_end|>\n");
    // The user's "<|im_end|>" is text, not the control token (the template's provenance).
    const TokenId im_end = m->tokenizer().encode("<|im_end|>", false, true).at(0);
    int64_t control_ends = 0;
    for (const TokenId id : e.tokens) control_ends += id == im_end;
    EXPECT_EQ(control_ends, 5);
}

TEST(ChatData, Llama3TemplateWithBosWeighsTheAssistantTurnsOnly) {
    // tiny-llama-bpe carries Llama 3.2's template, which starts with bos_token and closes a turn
    // with <|eot_id|> (no newline after it).
    const auto m = load("models/tiny/tiny-llama-bpe.gguf");
    const ModelChatTemplate t = chat_template_for(*m);
    const Example e = chat_example(nlohmann::ordered_json::parse(kConversation), m->tokenizer(), t);
    EXPECT_EQ(e.tokens.front(), m->tokenizer().bos());
    EXPECT_NE(e.tokens.at(1), m->tokenizer().bos());  // not doubled by the tokenizer
    const std::vector<std::string> runs = weighted_runs(e, m->tokenizer());
    ASSERT_EQ(runs.size(), 2u);
    EXPECT_EQ(runs[0], "Hello there<|eot_id|>");
    EXPECT_EQ(runs[1], "Ok<|eot_id|>");
    const std::string all = m->tokenizer().decode(e.tokens, false, true);
    EXPECT_NE(all.find("<|start_header_id|>assistant<|end_header_id|>\n\nHello there<|eot_id|>"),
              std::string::npos)
        << all;
}

TEST(ChatData, BadLinesAreErrorsNamingTheLine) {
    const auto m = load("models/tiny/tiny-qwen2.gguf");
    const ModelChatTemplate t = chat_template_for(*m);
    const DatasetOptions o{.format = DataFormat::Chat, .ctx = 64, .chat_template = &t};
    const std::string good = R"({"messages": [{"role": "user", "content": "a"}, )"
                             R"({"role": "assistant", "content": "b"}]})";
    const auto error_of = [&](const std::string& content) {
        try {
            (void)parse_dataset(content, "data.jsonl", m->tokenizer(), o);
        } catch (const Error& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    EXPECT_EQ(
        parse_dataset(good + "\n\n" + good + "\n", "data.jsonl", m->tokenizer(), o).examples.size(),
        2u);
    EXPECT_NE(
        error_of(good + "\n" + good + "\n{\"messages\": [}\n").find("data.jsonl:3: invalid JSON"),
        std::string::npos);
    EXPECT_NE(error_of(good + "\n{\"text\": \"x\"}").find("data.jsonl:2:"), std::string::npos);
    EXPECT_NE(error_of(R"({"messages": [{"role": "user", "content": "a"}]})")
                  .find("data.jsonl:1: the conversation has no assistant message"),
              std::string::npos);
    EXPECT_NE(error_of(R"({"messages": [{"content": "a"}]})").find("data.jsonl:1: message 0"),
              std::string::npos);
    EXPECT_NE(error_of("").find("no records"), std::string::npos);
    DatasetOptions no_template = o;
    no_template.chat_template = nullptr;
    EXPECT_THROW((void)parse_dataset(good, "x", m->tokenizer(), no_template), Error);
}

TEST(CompletionData, WeighsTheCompletionAndEos) {
    const auto m = load("models/stories260K.gguf");
    const tokenizer::Tokenizer& tok = m->tokenizer();
    const DatasetOptions o{.format = DataFormat::Completion, .ctx = 256};
    const Dataset d =
        parse_dataset(R"({"prompt": "Once upon a time", "completion": " there was a cat."})"
                      "\n"
                      R"({"prompt": "Lily said", "completion": " hello"})",
                      "c.jsonl", tok, o);
    ASSERT_EQ(d.examples.size(), 2u);
    const Example& e = d.examples[0];
    EXPECT_EQ(e.tokens.front(), tok.bos());
    EXPECT_EQ(e.tokens.back(), tok.eos());
    const std::vector<std::string> runs = weighted_runs(e, tok);
    ASSERT_EQ(runs.size(), 1u);
    EXPECT_EQ(runs[0], "there was a cat.</s>");  // decoded alone: SPM drops the first space
    EXPECT_EQ(tok.decode(e.tokens, false, true), "<s> Once upon a time there was a cat.</s>");

    EXPECT_THROW((void)parse_dataset(R"({"prompt": "a"})", "c.jsonl", tok, o), Error);
    try {
        (void)parse_dataset(
            "{\"prompt\": \"a\", \"completion\": \"b\"}\n{\"prompt\": 1, "
            "\"completion\": \"b\"}",
            "c.jsonl", tok, o);
        ADD_FAILURE() << "no error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("c.jsonl:2: \"prompt\" must be a string"),
                  std::string::npos)
            << e.what();
    }
}

TEST(CompletionData, LongRecordsAreCutAndEmptyOnesCounted) {
    const auto m = load("models/stories260K.gguf");
    const DatasetOptions o{.format = DataFormat::Completion, .ctx = 8};
    // The first record's completion lies past 9 tokens: nothing to learn, not kept.
    const Dataset d = parse_dataset(
        R"({"prompt": "Once upon a time there was a little girl named Lily who", "completion": " ran"})"
        "\n"
        R"({"prompt": "Hi", "completion": " there was a big red ball in the park and the sun"})",
        "c.jsonl", m->tokenizer(), o);
    EXPECT_EQ(d.n_empty, 1);
    EXPECT_EQ(d.n_truncated, 2);
    ASSERT_EQ(d.examples.size(), 1u);
    EXPECT_EQ(d.examples[0].tokens.size(), 9u);
    EXPECT_EQ(d.examples[0].n_inputs(), 8);
}

TEST(TextData, WindowsStartWithBosAndCoverEveryTokenOnce) {
    const auto m = load("models/stories260K.gguf");
    const tokenizer::Tokenizer& tok = m->tokenizer();
    ASSERT_TRUE(tok.add_bos());
    const std::string text =
        "Once upon a time, there was a little girl named Lily. She loved to play outside in the "
        "sun. One day, she saw a big red ball in the park.";
    const std::vector<TokenId> all = tok.encode(text, false, false);
    const Dataset d = parse_dataset(text, "t.txt", tok, {.format = DataFormat::Text, .ctx = 10});
    ASSERT_EQ(d.examples.size(), (all.size() + 9) / 10);
    std::vector<TokenId> targets;
    for (const Example& e : d.examples) {
        EXPECT_EQ(e.tokens.front(), tok.bos());
        EXPECT_LE(e.tokens.size(), 11u);
        EXPECT_EQ(e.weights[0], 0.0f);
        for (size_t i = 1; i < e.tokens.size(); ++i) {
            EXPECT_EQ(e.weights[i], 1.0f);
            targets.push_back(e.tokens[i]);
        }
    }
    EXPECT_EQ(targets, all);
    EXPECT_DOUBLE_EQ(d.total_weight(), static_cast<double>(all.size()));
}

TEST(TextData, WithoutBosWindowsOverlapByOneToken) {
    const auto m = load("models/tiny/tiny-qwen2.gguf");
    const tokenizer::Tokenizer& tok = m->tokenizer();
    ASSERT_FALSE(tok.add_bos());
    const std::string text = "one two three four five six seven eight nine ten eleven twelve";
    const std::vector<TokenId> all = tok.encode(text, false, false);
    const Dataset d = parse_dataset(text, "t.txt", tok, {.format = DataFormat::Text, .ctx = 4});
    ASSERT_EQ(d.examples.size(), (all.size() - 1 + 3) / 4);
    std::vector<TokenId> seen{all.front()};
    for (const Example& e : d.examples) {
        EXPECT_EQ(e.tokens.front(), seen.back());  // the previous window's last token
        seen.insert(seen.end(), e.tokens.begin() + 1, e.tokens.end());
    }
    EXPECT_EQ(seen, all);
}

TEST(TextData, HeldOutSplitTakesTheTail) {
    const auto m = load("models/stories260K.gguf");
    std::string text;
    for (int i = 0; i < 20; ++i) text += "The cat sat on the mat and looked at the sun. ";
    Dataset d = parse_dataset(text, "t.txt", m->tokenizer(), {.ctx = 16});
    const size_t n = d.examples.size();
    ASSERT_GE(n, 10u);
    const Example last = d.examples.back();
    const Dataset val = split_validation(d, 0.2);
    EXPECT_EQ(val.examples.size(), static_cast<size_t>(std::llround(0.2 * n)));
    EXPECT_EQ(d.examples.size() + val.examples.size(), n);
    EXPECT_EQ(val.examples.back().tokens, last.tokens);
    EXPECT_TRUE(split_validation(d, 0.0).examples.empty());
    EXPECT_THROW((void)split_validation(d, 1.0), Error);
    Dataset two;
    two.examples.resize(1);
    EXPECT_THROW((void)split_validation(two, 0.5), Error);  // nothing would be left
}

TEST(DataFormatNames, ParseAndPrint) {
    for (const DataFormat f : {DataFormat::Text, DataFormat::Chat, DataFormat::Completion})
        EXPECT_EQ(parse_data_format(data_format_name(f)), f);
    EXPECT_THROW((void)parse_data_format("csv"), Error);
}

}  // namespace
}  // namespace pocket::train
