// Tool calls: format detection on every shared template, parsing hand-written model outputs of
// each format (whole and streamed at every byte boundary), call grammars (accepting a correct
// call, rejecting wrong ones, and agreeing with the parser), and rendering a tool conversation
// through real templates.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "pocket/core/error.h"
#include "pocket/generate/chat_template.h"
#include "pocket/generate/grammar.h"
#include "pocket/generate/tool_calls.h"
#include "support/test_support.h"

namespace pocket {
namespace {

using nlohmann::ordered_json;
using F = ToolCallFormat;

// ---------------------------------------------------------------- detection

TEST(ToolCalls, DetectsTheFormatOfEverySharedTemplate) {
    const std::map<std::string, F> expected = {
        {"CohereForAI-c4ai-command-r-plus-tool_use", F::None},  // "Action:" format, not listed
        {"CohereForAI-c4ai-command-r7b-12-2024-tool_use", F::CommandR7B},
        {"NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use", F::Hermes},
        {"NousResearch-Hermes-3-Llama-3.1-8B-tool_use", F::Hermes},
        {"Qwen-Qwen2.5-7B-Instruct", F::Hermes},
        {"deepseek-ai-DeepSeek-R1-Distill-Llama-8B", F::DeepSeekR1},
        {"deepseek-ai-DeepSeek-R1-Distill-Qwen-32B", F::DeepSeekR1},
        {"fireworks-ai-llama-3-firefunction-v2", F::Firefunction},
        {"google-gemma-2-2b-it", F::None},
        {"llama-cpp-deepseek-r1", F::DeepSeekR1},
        {"meetkai-functionary-medium-v3.1", F::FunctionaryV31},
        {"meetkai-functionary-medium-v3.2", F::FunctionaryV32},
        {"meta-llama-Llama-3.1-8B-Instruct", F::Llama3Json},
        {"meta-llama-Llama-3.2-3B-Instruct", F::Llama3Json},
        {"meta-llama-Llama-3.3-70B-Instruct", F::Llama3Json},
        {"microsoft-Phi-3.5-mini-instruct", F::None},
        {"mistralai-Mistral-Nemo-Instruct-2407", F::MistralNemo},
    };
    size_t seen = 0;
    for (const auto& entry : std::filesystem::directory_iterator(test::shared_path("templates"))) {
        if (entry.path().extension() != ".jinja") continue;
        std::string stem = entry.path().stem().string();
        auto it = expected.find(stem);
        ASSERT_NE(it, expected.end()) << "no expected format for " << stem;
        F got = detect_tool_call_format(test::read_file_bytes(entry.path()));
        EXPECT_EQ(tool_call_format_name(got), tool_call_format_name(it->second)) << stem;
        ++seen;
    }
    EXPECT_EQ(seen, expected.size());
}

TEST(ToolCalls, FormatNames) {
    EXPECT_EQ(tool_call_format_name(F::Hermes), "hermes");
    EXPECT_EQ(tool_call_format_name(F::FunctionaryV31), "functionary-v3.1");
    EXPECT_EQ(tool_call_format_name(F::None), "none");
    EXPECT_EQ(detect_tool_call_format("{{ messages }}"), F::None);
}

TEST(ToolCalls, Ids) {
    std::string id = make_tool_call_id(F::Hermes);
    ASSERT_EQ(id.size(), 29u);
    EXPECT_EQ(id.substr(0, 5), "call_");
    for (char c : id.substr(5)) EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c))) << id;
    EXPECT_NE(make_tool_call_id(F::Hermes), id);
    std::string nemo = make_tool_call_id(F::MistralNemo);
    ASSERT_EQ(nemo.size(), 9u);
    for (char c : nemo) EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c))) << nemo;
}

// ---------------------------------------------------------------- parsing

struct Expected {
    std::string name;
    std::string arguments;
};

struct Case {
    const char* label;
    F format;
    std::string output;
    std::string content;
    std::vector<Expected> calls;
    bool well_formed = true;  // every call-like text in it is a complete call
};

const std::string kZurich = "Z\xc3\xbcrich";                             // Zürich
const std::string kTokyo = "\xe6\x9d\xb1\xe4\xba\xac \xf0\x9f\x97\xbc";  // 東京 🗼

std::vector<Case> cases() {
    const std::string w1 = R"({"city": ")" + kZurich + R"("})";
    const std::string w2 = R"({"city": ")" + kTokyo + R"(", "unit": "c"})";
    const std::string t = R"({"tz": "UTC"})";
    return {
        // Hermes / Qwen 2.5
        {"hermes one",
         F::Hermes,
         "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": " + w1 + "}\n</tool_call>",
         "",
         {{"get_weather", w1}}},
        {"hermes two",
         F::Hermes,
         "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": " + w2 +
             "}\n</tool_call>\n<tool_call>\n{\"name\": \"get_time\", \"arguments\": " + t +
             "}\n</tool_call>",
         "",
         {{"get_weather", w2}, {"get_time", t}}},
        {"hermes content before",
         F::Hermes,
         "Let me check.\n<tool_call>\n{\"arguments\": " + t +
             ", \"name\": \"get_time\"}\n</tool_call>\n",
         "Let me check.",
         {{"get_time", t}}},
        {"hermes malformed",
         F::Hermes,
         "Hmm <tool_call>\n{\"name\": \"get_time\", \"arguments\": {tz: UTC}}\n</tool_call> ok",
         "Hmm <tool_call>\n{\"name\": \"get_time\", \"arguments\": {tz: UTC}}\n</tool_call> ok",
         {},
         false},
        {"hermes no name",
         F::Hermes,
         "<tool_call>{\"arguments\": {}}</tool_call>",
         "<tool_call>{\"arguments\": {}}</tool_call>",
         {},
         false},
        {"hermes unclosed at end",
         F::Hermes,
         "<tool_call>\n{\"name\": \"get_time\", \"arguments\": " + t + "}\n",
         "",
         {{"get_time", t}}},
        {"hermes cut off",
         F::Hermes,
         "Sure. <tool_call>\n{\"name\": \"get_time\", \"argu",
         "Sure. <tool_call>\n{\"name\": \"get_time\", \"argu",
         {},
         false},
        {"hermes string arguments",
         F::Hermes,
         "<tool_call>{\"name\": \"get_time\", \"arguments\": \"{\\\"tz\\\": \\\"UTC\\\"}\"}"
         "</tool_call>",
         "",
         {{"get_time", t}}},
        {"hermes plain text",
         F::Hermes,
         "No tools needed: 2 < 3 and {x} is fine.\n",
         "No tools needed: 2 < 3 and {x} is fine.\n",
         {}},
        // Llama 3.x
        {"llama3 one",
         F::Llama3Json,
         "{\"name\": \"get_weather\", \"parameters\": " + w1 + "}",
         "",
         {{"get_weather", w1}}},
        {"llama3 python tag",
         F::Llama3Json,
         "<|python_tag|>{\"type\": \"function\", \"name\": \"get_weather\", \"parameters\": " + w2 +
             "}",
         "",
         {{"get_weather", w2}}},
        {"llama3 two",
         F::Llama3Json,
         "{\"name\": \"get_weather\", \"parameters\": " + w1 +
             "}; {\"name\": \"get_time\", \"parameters\": " + t + "}",
         "",
         {{"get_weather", w1}, {"get_time", t}}},
        {"llama3 content before",
         F::Llama3Json,
         "I will look it up. {\"name\": \"get_time\", \"parameters\": " + t + "}",
         "I will look it up.",
         {{"get_time", t}}},
        {"llama3 plain json",
         F::Llama3Json,
         "Use {\"name\": \"Bob\"} as input.",
         "Use {\"name\": \"Bob\"} as input.",
         {}},
        {"llama3 malformed",
         F::Llama3Json,
         "{\"name\": \"get_time\", \"parameters\": {\"tz\": }}",
         "{\"name\": \"get_time\", \"parameters\": {\"tz\": }}",
         {},
         false},
        // Mistral Nemo
        {"nemo two",
         F::MistralNemo,
         "[TOOL_CALLS][{\"name\": \"get_weather\", \"arguments\": " + w2 +
             ", \"id\": \"abcDEF123\"}, {\"name\": \"get_time\", \"arguments\": " + t +
             ", \"id\": \"zzzzzzzz9\"}]",
         "",
         {{"get_weather", w2}, {"get_time", t}}},
        {"nemo content before",
         F::MistralNemo,
         "Checking [TOOL_CALLS] [{\"name\": \"get_time\", \"arguments\": " + t + "}]",
         "Checking",
         {{"get_time", t}}},
        {"nemo malformed",
         F::MistralNemo,
         "[TOOL_CALLS][{\"name\": \"get_time\", \"arguments\"}]",
         "[TOOL_CALLS][{\"name\": \"get_time\", \"arguments\"}]",
         {},
         false},
        // Functionary v3.1
        {"functionary 3.1 two",
         F::FunctionaryV31,
         "<function=get_weather>" + w1 + "</function>\n<function=get_time>" + t + "</function>",
         "",
         {{"get_weather", w1}, {"get_time", t}}},
        {"functionary 3.1 content before",
         F::FunctionaryV31,
         "One moment.<function=get_weather>" + w2 + "</function>",
         "One moment.",
         {{"get_weather", w2}}},
        {"functionary 3.1 python",
         F::FunctionaryV31,
         "<|python_tag|>print(1 + 1)",
         "",
         {{"python", R"x({"code":"print(1 + 1)"})x"}}},
        {"functionary 3.1 malformed",
         F::FunctionaryV31,
         "<function=get time>{}</function>",
         "<function=get time>{}</function>",
         {},
         false},
        // Functionary v3.2 (the prompt ends with ">>>")
        {"functionary 3.2 content", F::FunctionaryV32, "all\nHello there.", "Hello there.", {}},
        {"functionary 3.2 content then calls",
         F::FunctionaryV32,
         "all\nLet me check.>>>get_weather\n" + w1 + ">>>get_time\n" + t,
         "Let me check.",
         {{"get_weather", w1}, {"get_time", t}}},
        {"functionary 3.2 call first",
         F::FunctionaryV32,
         "get_weather\n" + w2,
         "",
         {{"get_weather", w2}}},
        {"functionary 3.2 malformed",
         F::FunctionaryV32,
         "all\nok>>>get_time\n{\"tz\" \"UTC\"}",
         "ok>>>get_time\n{\"tz\" \"UTC\"}",
         {},
         false},
        // Firefunction v2
        {"firefunction two",
         F::Firefunction,
         " functools[{\"name\": \"get_weather\", \"arguments\": " + w1 +
             "}, {\"name\": \"get_time\", \"arguments\": " + t + "}]",
         "",
         {{"get_weather", w1}, {"get_time", t}}},
        {"firefunction content before",
         F::Firefunction,
         "Sure! functools[{\"name\": \"get_weather\", \"arguments\": " + w2 + "}]",
         "Sure!",
         {{"get_weather", w2}}},
        {"firefunction malformed",
         F::Firefunction,
         "functools[{\"name\": 5, \"arguments\": {}}]",
         "functools[{\"name\": 5, \"arguments\": {}}]",
         {},
         false},
        // Command R7B
        {"command r7b two",
         F::CommandR7B,
         "<|START_THINKING|>I will check both.<|END_THINKING|><|START_ACTION|>[\n"
         "    {\"tool_call_id\": \"0\", \"tool_name\": \"get_weather\", \"parameters\": " +
             w2 +
             "},\n    {\"tool_call_id\": \"1\", \"tool_name\": \"get_time\", \"parameters\": " + t +
             "}\n]<|END_ACTION|>",
         "I will check both.",
         {{"get_weather", w2}, {"get_time", t}}},
        {"command r7b response",
         F::CommandR7B,
         "<|START_RESPONSE|>It is " + kZurich + " time.<|END_RESPONSE|>",
         "It is " + kZurich + " time.",
         {}},
        {"command r7b malformed",
         F::CommandR7B,
         "<|START_ACTION|>[{\"tool_name\": \"get_time\"}]<|END_ACTION|>",
         "<|START_ACTION|>[{\"tool_name\": \"get_time\"}]<|END_ACTION|>",
         {},
         false},
        // DeepSeek R1
        {"deepseek two",
         F::DeepSeekR1,
         "<think>\nNeed weather.\n</think>\n\n<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function"
         "<｜tool▁sep｜>get_weather\n```json\n" +
             w1 +
             "\n```<｜tool▁call▁end｜>\n<｜tool▁call▁begin｜>function<｜tool▁sep｜>get_time\n"
             "```json\n" +
             t + "\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>",
         "<think>\nNeed weather.\n</think>",
         {{"get_weather", w1}, {"get_time", t}}},
        {"deepseek variant marker",
         F::DeepSeekR1,
         "<｜tool_calls_begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n" +
             w2 + "\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>",
         "",
         {{"get_weather", w2}}},
        {"deepseek malformed",
         F::DeepSeekR1,
         "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_time\n```json\n"
         "{\"tz\": UTC}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>",
         "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_time\n```json\n"
         "{\"tz\": UTC}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>",
         {},
         false},
        // No format: everything is text
        {"none",
         F::None,
         "<tool_call>{\"name\": \"x\", \"arguments\": {}}</tool_call>",
         "<tool_call>{\"name\": \"x\", \"arguments\": {}}</tool_call>",
         {}},
    };
}

void expect_calls(const std::vector<ToolCall>& got, const std::vector<Expected>& want,
                  const std::string& label) {
    ASSERT_EQ(got.size(), want.size()) << label;
    for (size_t i = 0; i < want.size(); ++i) {
        EXPECT_EQ(got[i].name, want[i].name) << label << " call " << i;
        EXPECT_EQ(got[i].arguments, want[i].arguments) << label << " call " << i;
        EXPECT_FALSE(got[i].id.empty()) << label;
    }
}

TEST(ToolCalls, ParsesHandWrittenOutputs) {
    for (const Case& c : cases()) {
        ParsedToolCalls parsed = parse_tool_calls(c.format, c.output);
        EXPECT_EQ(parsed.content, c.content) << c.label;
        expect_calls(parsed.calls, c.calls, c.label);
    }
}

TEST(ToolCalls, KeepsIdsTheFormatCarries) {
    auto nemo = parse_tool_calls(F::MistralNemo, cases()[15].output);
    ASSERT_EQ(nemo.calls.size(), 2u);
    EXPECT_EQ(nemo.calls[0].id, "abcDEF123");
    EXPECT_EQ(nemo.calls[1].id, "zzzzzzzz9");
    auto nemo_no_id = parse_tool_calls(F::MistralNemo, cases()[16].output);
    ASSERT_EQ(nemo_no_id.calls.size(), 1u);
    EXPECT_EQ(nemo_no_id.calls[0].id.size(), 9u);
    auto hermes = parse_tool_calls(F::Hermes, cases()[1].output);
    ASSERT_EQ(hermes.calls.size(), 2u);
    EXPECT_EQ(hermes.calls[0].id.substr(0, 5), "call_");
    EXPECT_NE(hermes.calls[0].id, hermes.calls[1].id);
}

// ---------------------------------------------------------------- streaming

bool valid_utf8(std::string_view s) {
    for (size_t i = 0; i < s.size();) {
        auto c = static_cast<unsigned char>(s[i]);
        size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (n == 0 || i + n > s.size()) return false;
        for (size_t k = 1; k < n; ++k) {
            if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) return false;
        }
        i += n;
    }
    return true;
}

// Accumulates deltas the way an OpenAI client does, checking their shape on the way.
struct Collected {
    std::string content;
    std::vector<ToolCall> calls;

    void add(const ToolCallStreamParser::Delta& d, const std::string& label) {
        EXPECT_TRUE(valid_utf8(d.content)) << label;
        content += d.content;
        for (const ToolCallDelta& cd : d.calls) {
            EXPECT_TRUE(valid_utf8(cd.arguments)) << label;
            if (cd.index == calls.size()) {
                EXPECT_FALSE(cd.id.empty()) << label;
                EXPECT_FALSE(cd.name.empty()) << label;
                calls.push_back({cd.id, cd.name, cd.arguments});
            } else {
                ASSERT_EQ(cd.index + 1, calls.size()) << label << ": deltas go to the last call";
                EXPECT_TRUE(cd.id.empty() && cd.name.empty()) << label;
                calls.back().arguments += cd.arguments;
            }
        }
    }
};

Collected stream(F format, const std::vector<std::string_view>& pieces, bool stream_args,
                 const std::string& label) {
    ToolCallStreamParser parser(format, {.stream_arguments = stream_args});
    Collected got;
    for (std::string_view p : pieces) got.add(parser.feed(p), label);
    got.add(parser.finish(), label);
    return got;
}

void expect_same(const Collected& got, const Case& c, const std::string& label) {
    EXPECT_EQ(got.content, c.content) << label;
    expect_calls(got.calls, c.calls, label);
}

TEST(ToolCalls, StreamingMatchesWholeParseAtEveryByteBoundary) {
    for (const Case& c : cases()) {
        std::string_view text = c.output;
        for (bool stream_args : {false, true}) {
            // Streamed arguments cannot be taken back, so malformed calls are only compared
            // when calls go out whole (see tool_calls.h).
            if (stream_args && !c.well_formed) continue;
            std::string mode = stream_args ? " (streamed arguments)" : " (whole calls)";
            for (size_t i = 0; i <= text.size(); ++i) {
                std::string label = std::string(c.label) + mode + " split at " + std::to_string(i);
                expect_same(
                    stream(c.format, {text.substr(0, i), text.substr(i)}, stream_args, label), c,
                    label);
            }
            std::vector<std::string_view> bytes;
            for (size_t i = 0; i < text.size(); ++i) bytes.push_back(text.substr(i, 1));
            expect_same(stream(c.format, bytes, stream_args, c.label + mode + " bytewise"), c,
                        c.label + mode + " bytewise");
        }
    }
}

TEST(ToolCalls, StreamsArgumentsAsTheyAreGenerated) {
    ToolCallStreamParser parser(F::Hermes);
    auto d =
        parser.feed("Checking.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"ci");
    EXPECT_EQ(d.content, "Checking.");
    ASSERT_EQ(d.calls.size(), 1u);
    EXPECT_EQ(d.calls[0].index, 0u);
    EXPECT_EQ(d.calls[0].name, "get_weather");
    EXPECT_EQ(d.calls[0].arguments, "{\"ci");
    d = parser.feed("ty\": \"Bern\"}}\n</tool_call>");
    ASSERT_EQ(d.calls.size(), 1u);
    EXPECT_TRUE(d.calls[0].name.empty());
    EXPECT_EQ(d.calls[0].arguments, "ty\": \"Bern\"}");
    EXPECT_TRUE(parser.finish().empty());
    EXPECT_EQ(parser.n_calls(), 1u);

    // Held back: a possible start of the marker, and whitespace that may precede one.
    ToolCallStreamParser text_only(F::Hermes);
    EXPECT_EQ(text_only.feed("Hi <tool").content, "Hi");
    EXPECT_EQ(text_only.feed("box>").content, " <toolbox>");
    EXPECT_EQ(text_only.feed(" \n").content, "");
    EXPECT_EQ(text_only.finish().content, " \n");
}

// ---------------------------------------------------------------- grammars

const ordered_json& tools() {
    static const ordered_json t = ordered_json::parse(R"([
        {"type": "function", "function": {"name": "get_weather", "description": "Weather now",
         "parameters": {"type": "object",
                        "properties": {"city": {"type": "string"},
                                       "unit": {"enum": ["c", "f"]}},
                        "required": ["city"]}}},
        {"type": "function", "function": {"name": "get_time",
         "parameters": {"type": "object", "properties": {"tz": {"$ref": "#/$defs/zone"}},
                        "required": ["tz"], "$defs": {"zone": {"type": "string", "maxLength": 8}}}}},
        {"type": "retrieval"}
    ])");
    return t;
}

struct GrammarCase {
    F format;
    std::string good;  // one valid call of get_weather
    std::string two;   // two valid calls (only with parallel)
    std::vector<std::string> bad;
};

std::vector<GrammarCase> grammar_cases() {
    const std::string w = R"({"city":"Z\u00fcrich","unit":"c"})";
    const std::string t = R"({"tz":"UTC"})";
    return {
        {F::Hermes,
         "<tool_call>\n{\"name\":\"get_weather\",\"arguments\":" + w + "}\n</tool_call>",
         "<tool_call>\n{\"name\":\"get_weather\",\"arguments\":" + w +
             "}\n</tool_call>\n<tool_call>\n{\"name\":\"get_time\",\"arguments\":" + t +
             "}\n</tool_call>",
         {"<tool_call>\n{\"name\":\"get_weather\",\"arguments\":{\"unit\":\"c\"}}\n</"
          "tool_call>",
          "<tool_call>\n{\"name\":\"get_wind\",\"arguments\":{}}\n</tool_call>",
          "<tool_call>\n{\"name\":\"get_time\",\"arguments\":{\"tz\":\"Europe/Zurich\"}}\n"
          "</tool_call>",
          "Sure!"}},
        {F::Llama3Json,
         "{\"name\": \"get_weather\", \"parameters\": " + w + "}",
         "{\"name\":\"get_weather\",\"parameters\":" + w +
             "}\n{\"name\":\"get_time\",\"parameters\":" + t + "}",
         {"{\"name\":\"get_weather\",\"arguments\":" + w + "}",
          "{\"name\":\"get_weather\",\"parameters\":{\"city\":3}}"}},
        {F::MistralNemo,
         "[TOOL_CALLS][{\"name\":\"get_weather\",\"arguments\":" + w + "}]",
         "[TOOL_CALLS][{\"name\":\"get_weather\",\"arguments\":" + w +
             "}, {\"name\":\"get_time\",\"arguments\":" + t + "}]",
         {"[TOOL_CALLS][]", "[{\"name\":\"get_weather\",\"arguments\":" + w + "}]"}},
        {F::FunctionaryV31,
         "<function=get_weather>" + w + "</function>",
         "<function=get_weather>" + w + "</function><function=get_time>" + t + "</function>",
         {"<function=get_weather>{\"unit\":\"k\",\"city\":\"x\"}</function>",
          "<function=get_weather>" + w}},
        {F::FunctionaryV32,
         "get_weather\n" + w,
         "get_weather\n" + w + ">>>get_time\n" + t,
         {"all\nHello", ">>>get_weather\n" + w}},
        {F::Firefunction,
         " functools[{\"name\":\"get_weather\",\"arguments\":" + w + "}]",
         "functools[{\"name\":\"get_weather\",\"arguments\":" + w +
             "}, {\"name\":\"get_time\",\"arguments\":" + t + "}]",
         {"[{\"name\":\"get_weather\",\"arguments\":" + w + "}]"}},
        {F::CommandR7B,
         "<|START_ACTION|>[{\"tool_call_id\":\"0\",\"tool_name\":\"get_weather\","
         "\"parameters\":" +
             w + "}]<|END_ACTION|>",
         "<|START_ACTION|>[{\"tool_call_id\":\"0\",\"tool_name\":\"get_weather\","
         "\"parameters\":" +
             w + "},{\"tool_call_id\":\"1\",\"tool_name\":\"get_time\",\"parameters\":" + t +
             "}]<|END_ACTION|>",
         {"<|START_ACTION|>[{\"tool_name\":\"get_weather\",\"parameters\":" + w +
          "}]<|END_ACTION|>"}},
        {F::DeepSeekR1,
         "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```"
         "json\n" +
             w + "\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>",
         "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```"
         "json\n" +
             w +
             "\n```<｜tool▁call▁end｜>\n<｜tool▁call▁begin｜>function<｜tool▁sep｜>get_"
             "time\n"
             "```json\n" +
             t + "\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>",
         {"<｜tool▁calls▁begin｜><｜tool▁calls▁end｜>"}},
    };
}

TEST(ToolCalls, GrammarsAcceptValidCallsAndRejectOthers) {
    for (const GrammarCase& c : grammar_cases()) {
        std::string name(tool_call_format_name(c.format));
        Grammar one =
            Grammar::parse_gbnf(tool_call_grammar(c.format, tools(), std::nullopt, false));
        Grammar many =
            Grammar::parse_gbnf(tool_call_grammar(c.format, tools(), std::nullopt, true));
        Grammar named =
            Grammar::parse_gbnf(tool_call_grammar(c.format, tools(), "get_time", false));
        EXPECT_TRUE(grammar_matches(one, c.good)) << name;
        EXPECT_TRUE(grammar_matches(many, c.good)) << name;
        EXPECT_FALSE(grammar_matches(named, c.good)) << name << ": only get_time is allowed";
        EXPECT_FALSE(grammar_matches(one, c.two)) << name << ": one call without parallel";
        EXPECT_TRUE(grammar_matches(many, c.two)) << name;
        for (const std::string& bad : c.bad) EXPECT_FALSE(grammar_matches(many, bad)) << bad;

        // What the grammar forces is what the parser reads back.
        ParsedToolCalls parsed = parse_tool_calls(c.format, c.two);
        EXPECT_EQ(parsed.content, "") << name;
        ASSERT_EQ(parsed.calls.size(), 2u) << name;
        EXPECT_EQ(parsed.calls[0].name, "get_weather") << name;
        EXPECT_EQ(ordered_json::parse(parsed.calls[0].arguments)["city"], kZurich) << name;
        EXPECT_EQ(parsed.calls[1].arguments, R"({"tz":"UTC"})") << name;
    }
}

TEST(ToolCalls, GrammarErrors) {
    EXPECT_THROW(tool_call_grammar(F::None, tools(), std::nullopt, false), Error);
    EXPECT_THROW(tool_call_grammar(F::Hermes, tools(), "nope", false), Error);
    EXPECT_THROW(tool_call_grammar(F::Hermes, ordered_json::array(), std::nullopt, false), Error);
    ordered_json bad = ordered_json::parse(R"([{"type": "function", "function": {"name": "f",
        "parameters": {"type": "string", "pattern": "^a+$"}}}])");
    EXPECT_THROW(tool_call_grammar(F::Hermes, bad, std::nullopt, false), Error);
}

// ---------------------------------------------------------------- messages and templates

ordered_json conversation() {
    return ordered_json::parse(R"([
        {"role": "user", "content": "How warm is it?"},
        {"role": "assistant", "content": null, "tool_calls": [
            {"id": "call_abc", "type": "function",
             "function": {"name": "get_weather", "arguments": "{\"city\": \"Zürich\"}"}}]},
        {"role": "tool", "tool_call_id": "call_abc", "content": "{\"temp_c\": 21}"}
    ])");
}

TEST(ToolCalls, MessagesForTemplates) {
    ordered_json hermes = messages_for_template(F::Hermes, conversation());
    EXPECT_EQ(hermes[1]["content"], "");
    EXPECT_EQ(hermes[1]["tool_calls"][0]["function"]["arguments"],
              ordered_json::parse(R"({"city": "Zürich"})"));
    EXPECT_EQ(hermes[2]["name"], "get_weather");
    EXPECT_EQ(hermes[2]["tool_call_id"], "call_abc");
    EXPECT_TRUE(messages_for_template(F::DeepSeekR1, conversation())[1]["content"].is_null());

    ordered_json objects = conversation();
    objects[1]["tool_calls"][0]["function"]["arguments"] = {{"city", "Bern"}};
    ordered_json functionary = messages_for_template(F::FunctionaryV31, objects);
    EXPECT_EQ(functionary[1]["tool_calls"][0]["function"]["arguments"], R"({"city":"Bern"})");

    ordered_json nemo = messages_for_template(F::MistralNemo, conversation());
    std::string id = nemo[1]["tool_calls"][0]["id"];
    EXPECT_EQ(id.size(), 9u);
    EXPECT_EQ(nemo[2]["tool_call_id"], id);
    EXPECT_EQ(messages_for_template(F::MistralNemo, conversation())[1]["tool_calls"][0]["id"], id);

    EXPECT_THROW(messages_for_template(F::Hermes, ordered_json::object()), Error);
    EXPECT_EQ(tool_template_variables(F::Hermes, tools()), ordered_json::object());
    ordered_json fire = tool_template_variables(F::Firefunction, tools());
    EXPECT_NE(fire["functions"].get<std::string>().find("get_weather"), std::string::npos);
}

std::string render_with_tools(const std::string& stem) {
    ChatTemplate tmpl(test::read_file_bytes(test::shared_path("templates/" + stem + ".jinja")),
                      stem);
    tmpl.set_clock([] {
        std::tm t{};
        t.tm_year = 124;
        t.tm_mon = 6;
        t.tm_mday = 26;
        return t;
    });
    F format = detect_tool_call_format(tmpl.source());
    ChatTemplateInputs in;
    ordered_json one_tool = ordered_json::array({tools()[0]});
    in.messages = messages_for_template(format, conversation());
    in.tools = one_tool;
    in.extra = tool_template_variables(format, one_tool);
    in.bos_token = "<|begin_of_text|>";
    in.eos_token = "<|eot_id|>";
    return tmpl.render_text(in);
}

bool contains(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

TEST(ToolCalls, QwenTemplateRendersToolsCallAndResult) {
    std::string r = render_with_tools("Qwen-Qwen2.5-7B-Instruct");
    EXPECT_TRUE(contains(r,
                         "<tools>\n{\"type\": \"function\", \"function\": {\"name\": "
                         "\"get_weather\", \"description\": \"Weather now\""))
        << r;
    EXPECT_TRUE(contains(r,
                         "<|im_start|>assistant\n<tool_call>\n{\"name\": \"get_weather\", "
                         "\"arguments\": {\"city\": \"Zürich\"}}\n</tool_call><|im_end|>"))
        << r;
    EXPECT_TRUE(contains(r, "<tool_response>\n{\"temp_c\": 21}\n</tool_response>")) << r;
    EXPECT_TRUE(r.ends_with("<|im_start|>assistant\n")) << r;
}

TEST(ToolCalls, Llama31TemplateRendersToolsCallAndResult) {
    std::string r = render_with_tools("meta-llama-Llama-3.1-8B-Instruct");
    EXPECT_TRUE(contains(r, "\"name\": \"get_weather\"")) << r;
    EXPECT_TRUE(contains(r, "\"description\": \"Weather now\"")) << r;
    EXPECT_TRUE(contains(r,
                         "<|start_header_id|>assistant<|end_header_id|>\n\n{\"name\": "
                         "\"get_weather\", \"parameters\": {\"city\": \"Zürich\"}}<|eot_id|>"))
        << r;
    // Strings count as iterable in Jinja, so this template prints the result with tojson.
    EXPECT_TRUE(contains(r,
                         "<|start_header_id|>ipython<|end_header_id|>\n\n\"{\\\"temp_c\\\": "
                         "21}\"<|eot_id|>"))
        << r;
}

// Every template with a tool format takes the reshaped conversation and shows the call (only the
// call has "Zürich", only the result has "21").
TEST(ToolCalls, EveryToolTemplateRendersTheCall) {
    for (const auto& entry : std::filesystem::directory_iterator(test::shared_path("templates"))) {
        if (entry.path().extension() != ".jinja") continue;
        std::string stem = entry.path().stem().string();
        if (detect_tool_call_format(test::read_file_bytes(entry.path())) == F::None) continue;
        std::string r;
        try {
            r = render_with_tools(stem);
        } catch (const Error& e) {
            ADD_FAILURE() << stem << ": " << e.what();
            continue;
        }
        EXPECT_TRUE(contains(r, "get_weather")) << stem;
        EXPECT_TRUE(contains(r, "Zürich")) << stem;
        EXPECT_TRUE(contains(r, "21")) << stem;
    }
}

}  // namespace
}  // namespace pocket
