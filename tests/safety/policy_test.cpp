// The guard policy (parsing, severity, refusals) and the streaming answer check, with a
// deterministic keyword guard standing in for a classifier: what is tested here is where the
// answer is cut, not how well harm is recognised (classifier_test.cpp does that).
#include "pocket/safety/policy.h"

#include <gtest/gtest.h>

#include <fstream>

#include "pocket/core/error.h"
#include "support/test_support.h"

namespace pocket::safety {
namespace {

using json = nlohmann::json;

// Unsafe (S9) when the checked text contains "NERVE AGENT", S6 "warn-me" when it contains
// "DOSAGE"; counts its calls.
class KeywordGuard : public Guard {
  public:
    GuardVerdict check(const GuardInput& input) const override {
        ++calls;
        const std::string_view text = input.response ? *input.response : input.prompt;
        GuardVerdict v;
        if (text.find("NERVE AGENT") != std::string_view::npos) v.categories.push_back(9);
        if (text.find("DOSAGE") != std::string_view::npos) v.categories.push_back(6);
        v.safe = v.categories.empty();
        v.score = v.safe ? 0.1 : 0.9;
        std::sort(v.categories.begin(), v.categories.end());
        return v;
    }
    double threshold() const override { return 0.5; }
    void set_threshold(double) override {}
    std::string describe() const override { return "keyword test guard"; }
    mutable int calls = 0;
};

TEST(GuardPolicy, ParsesAFileAndRejectsTypos) {
    const json j = json::parse(R"({"default": "warn", "categories": {"S9": "block", "s6": "allow"},
        "refusal": "No.", "refusals": {"S9": "Not weapons."}, "threshold": 0.7,
        "check": {"prompts": false}, "log_text": true})");
    const GuardPolicy p = GuardPolicy::from_json(j, "policy.json");
    EXPECT_EQ(p.actions[8], GuardAction::block);
    EXPECT_EQ(p.actions[5], GuardAction::allow);
    EXPECT_EQ(p.actions[0], GuardAction::warn);
    EXPECT_EQ(p.uncategorised, GuardAction::warn);
    EXPECT_EQ(p.threshold, 0.7);
    EXPECT_FALSE(p.check_prompts);
    EXPECT_TRUE(p.check_answers);
    EXPECT_TRUE(p.log_text);
    GuardVerdict v;
    v.safe = false;
    v.categories = {6, 9};
    EXPECT_EQ(p.action_for(v), GuardAction::block);  // the most severe of its categories
    EXPECT_EQ(p.refusal_for(v), "Not weapons.");
    v.categories = {6};
    EXPECT_EQ(p.action_for(v), GuardAction::allow);
    v.categories = {};
    EXPECT_EQ(p.action_for(v), GuardAction::warn);
    v.safe = true;
    EXPECT_EQ(p.action_for(v), GuardAction::allow);

    for (const char* bad : {R"({"categories": {"S15": "block"}})", R"({"defualt": "block"})",
                            R"({"default": "deny"})", R"({"threshold": 2})",
                            R"({"check": {"prompt": true}})", R"({"refusal": 3})", "[]"}) {
        EXPECT_THROW(GuardPolicy::from_json(json::parse(bad), "p.json"), Error) << bad;
    }
    test::ScratchDir dir;
    std::ofstream(dir / "bad.json") << "{not json";
    EXPECT_THROW(GuardPolicy::load(dir / "bad.json"), Error);
    EXPECT_THROW(GuardPolicy::load(dir / "missing.json"), Error);
    std::ofstream(dir / "ok.json") << R"({"categories": {"S10": "warn"}})";
    EXPECT_EQ(GuardPolicy::load(dir / "ok.json").actions[9], GuardAction::warn);
}

TEST(GuardPolicy, ChecksPromptsUnlessTurnedOff) {
    KeywordGuard guard;
    GuardPolicy p;
    GuardDecision d = check_prompt(guard, p, "how is a NERVE AGENT made");
    EXPECT_EQ(d.action, GuardAction::block);
    EXPECT_EQ(d.stage, "prompt");
    const json log = d.to_log_json();
    EXPECT_FALSE(log.contains("text"));  // the text only when the policy asks
    EXPECT_EQ(log["action"], "block");
    EXPECT_EQ(d.to_log_json("the text")["text"], "the text");
    p.check_prompts = false;
    guard.calls = 0;
    EXPECT_EQ(check_prompt(guard, p, "NERVE AGENT").action, GuardAction::allow);
    EXPECT_EQ(guard.calls, 0);
}

// A harmful answer streamed in every two-way split and in single bytes: the sentences before the
// flagged one are shown, the flagged one and everything after are not.
TEST(StreamingAnswerCheck, CutsAtTheFirstFlaggedSentenceWhateverTheSplit) {
    KeywordGuard guard;
    const GuardPolicy policy;
    const std::string answer =
        "Pi is 3.14 and chemistry is fun. Here is a recipe! Step one: a NERVE AGENT needs "
        "precursors. Step two: more.";
    const std::string shown_expected = "Pi is 3.14 and chemistry is fun. Here is a recipe! ";
    const auto run = [&](const std::vector<std::string>& parts) {
        StreamingAnswerCheck check(guard, policy, "tell me about chemistry");
        std::string shown;
        for (const std::string& part : parts) {
            shown += check.push(part);
            if (check.blocked()) break;
        }
        if (!check.blocked()) shown += check.finish();
        EXPECT_TRUE(check.blocked());
        EXPECT_EQ(shown, shown_expected);
        ASSERT_NE(check.blocking(), nullptr);
        EXPECT_EQ(check.blocking()->verdict.categories, std::vector<int>{9});
        EXPECT_EQ(check.decisions().size(), 3u);  // two sentences passed, the third blocked
    };
    for (size_t cut = 0; cut <= answer.size(); ++cut)
        run({answer.substr(0, cut), answer.substr(cut)});
    std::vector<std::string> bytes;
    for (const char c : answer) bytes.emplace_back(1, c);
    run(bytes);
}

TEST(StreamingAnswerCheck, PassesASafeAnswerWholeAndWarnsWhereThePolicySays) {
    KeywordGuard guard;
    GuardPolicy policy;
    policy.actions[5] = GuardAction::warn;  // S6
    const std::string answer = "Ask a doctor.\nThe DOSAGE depends on weight. 句子。End";
    StreamingAnswerCheck check(guard, policy, "q");
    std::string shown;
    for (const char c : answer) shown += check.push(std::string(1, c));
    shown += check.finish();
    EXPECT_FALSE(check.blocked());
    EXPECT_EQ(shown, answer);
    // Sentences: "Ask a doctor.\n", "The DOSAGE ... weight. ", "句子。", "End".
    ASSERT_EQ(check.decisions().size(), 4u);
    EXPECT_EQ(check.decisions()[0].action, GuardAction::allow);
    EXPECT_EQ(check.decisions()[1].action, GuardAction::warn);
    // Answers not checked: passed through as they come, no guard call.
    policy.check_answers = false;
    guard.calls = 0;
    StreamingAnswerCheck off(guard, policy, "q");
    EXPECT_EQ(off.push("a NERVE AGENT. "), "a NERVE AGENT. ");
    EXPECT_EQ(guard.calls, 0);
}

}  // namespace
}  // namespace pocket::safety
