// pocket eval's multiple-choice scoring: the rule pinned on a hand-made task against an
// independent token-by-token computation, llama.cpp's HellaSwag score on stories260K, and the
// loaders on the real data files in ../shared/data/lm/.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <set>

#include "pocket/convert/hf_loader.h"
#include "pocket/core/read_file.h"
#include "pocket/eval/multiple_choice.h"
#include "pocket/model/context.h"
#include "pocket/model/model.h"
#include "pocket/tokenizer/tokenizer.h"
#include "support/test_support.h"

namespace pocket::eval {
namespace {

const model::Model& stories() {
    static const auto m = model::load_model(test::shared_path("models/stories260K.gguf").string());
    return *m;
}

// Independent path: each candidate on its own, one token per eval() call, log-softmax by hand.
double mean_logprob_one_by_one(model::Context& ctx, const std::vector<TokenId>& tokens,
                               size_t begin, size_t end) {
    ctx.kv().clear_all();
    double sum = 0;
    for (size_t k = 0; k + 1 < end; ++k) {
        const auto logits = ctx.eval(std::span(&tokens[k], 1));
        if (k + 1 < begin) continue;
        double z = 0;
        for (float l : logits) z += std::exp(static_cast<double>(l));
        sum += logits[tokens[k + 1]] - std::log(z);
    }
    return sum / static_cast<double>(end - begin);
}

TEST(MultipleChoice, HandMadeHellaswagTaskMatchesTokenByTokenScores) {
    const std::string text =
        "Park: Lily went to the park with her mom. She\n"
        "2\n"
        "ate the moon and the moon was green.\n"
        "sky sky sky tree.\n"
        "saw a big dog and they played together.\n"
        "was happy.\n";
    const auto questions = parse_hellaswag(text, "hand-made");
    ASSERT_EQ(questions.size(), 1u);
    const auto& tok = stories().tokenizer();

    // The rule, computed here from scratch: BOS + context + " " + ending; the tokens all four
    // share are not scored; the rest are averaged.
    std::vector<std::vector<TokenId>> seqs;
    for (const auto& e : questions[0].choices) {
        seqs.push_back(tok.encode(questions[0].context + " " + e, true, false));
    }
    ASSERT_EQ(seqs[0][0], tok.bos());
    size_t shared = 0;
    while (std::all_of(seqs.begin(), seqs.end(), [&](const auto& s) {
        return shared < s.size() && s[shared] == seqs[0][shared];
    })) {
        ++shared;
    }
    const auto context_tokens = tok.encode(questions[0].context, true, false);
    EXPECT_EQ(shared, context_tokens.size());  // the endings all start differently

    model::Context ref_ctx(stories(), {.n_ctx = 256});
    std::vector<double> expected;
    for (const auto& s : seqs) {
        expected.push_back(mean_logprob_one_by_one(ref_ctx, s, shared, s.size()));
    }
    const size_t best =
        static_cast<size_t>(std::max_element(expected.begin(), expected.end()) - expected.begin());

    const PreparedQuestion p = prepare_question(Task::hellaswag, questions[0], tok);
    EXPECT_EQ(p.shared, shared);
    for (size_t k = 0; k < 4; ++k) {
        EXPECT_EQ(p.candidates[k].tokens, seqs[k]);
        EXPECT_EQ(p.candidates[k].score_begin, shared);
        EXPECT_EQ(p.candidates[k].score_end, seqs[k].size());
    }

    model::Context ctx(stories(), {.n_ctx = 2048});
    const EvalResult r = evaluate(ctx, Task::hellaswag, questions);
    ASSERT_EQ(r.n(), 1u);
    for (size_t k = 0; k < 4; ++k) EXPECT_NEAR(r.questions[0].scores[k], expected[k], 2e-3) << k;
    EXPECT_EQ(r.questions[0].predicted, best);
    EXPECT_EQ(r.questions[0].correct, best == 2);
    EXPECT_EQ(r.n_correct, best == 2 ? 1u : 0u);
    // The gibberish ending must lose to the sensible one on a model trained on stories.
    EXPECT_GT(expected[2], expected[1]);
}

TEST(MultipleChoice, WinograndeScoresOnlyTheWordsAfterTheBlank) {
    Question q;
    q.context = "Tim gave the ball to Sam because ";
    q.after = " wanted to play with it in the garden.";
    q.choices = {"Tim", "Sam"};
    q.answer = 1;
    const auto& tok = stories().tokenizer();
    const PreparedQuestion p = prepare_question(Task::winogrande, q, tok);
    for (size_t k = 0; k < 2; ++k) {
        const auto full = tok.encode(q.context + q.choices[k] + q.after, true, false);
        const auto base = tok.encode(q.context + q.choices[k], true, false);
        EXPECT_EQ(p.candidates[k].tokens, full);
        EXPECT_EQ(p.candidates[k].score_begin, base.size());
        EXPECT_EQ(p.candidates[k].score_end, full.size() - 1);  // the final "." is not scored
    }
    model::Context ctx(stories(), {.n_ctx = 512});
    const auto r = evaluate(ctx, Task::winogrande, std::span(&q, 1));
    model::Context ref(stories(), {.n_ctx = 256});
    for (size_t k = 0; k < 2; ++k) {
        const Candidate& c = p.candidates[k];
        EXPECT_NEAR(r.questions[0].scores[k],
                    mean_logprob_one_by_one(ref, c.tokens, c.score_begin, c.score_end), 2e-3);
    }
}

// llama.cpp c392e50: `llama-perplexity -m stories260K.gguf -f hellaswag_val_full.txt
// --hellaswag --hellaswag-tasks 400 -c 2048` prints 24.00 (its 400 tasks are a seeded random
// draw, which select_questions reproduces).
TEST(MultipleChoice, HellaswagOnStories260KMatchesLlamaCpp) {
    const auto all =
        load_questions(Task::hellaswag, test::shared_path("data/lm/hellaswag_val_full.txt.bz2"));
    const auto picked = select_questions(Task::hellaswag, all.size(), 400);
    std::vector<Question> questions;
    for (size_t i : picked) questions.push_back(all[i]);
    model::Context ctx(stories(), {.n_ctx = 2048});
    size_t calls = 0;
    const auto t0 = std::chrono::steady_clock::now();
    const EvalResult r =
        evaluate(ctx, Task::hellaswag, questions,
                 {.progress = [&](const QuestionResult& q, size_t done, size_t, double) {
                     EXPECT_EQ(q.index + 1, done);
                     ++calls;
                     return true;
                 }});
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_EQ(calls, 400u);
    ASSERT_EQ(r.n(), 400u);
    std::printf("hellaswag 400 on stories260K: %.2f%% +/- %.2f%% (%.1f s)\n", 100.0 * r.accuracy(),
                100.0 * r.standard_error(), s);
    EXPECT_NEAR(100.0 * r.accuracy(), 24.00, 0.5);
}

TEST(MultipleChoice, SelectionFollowsLlamaCpp) {
    const auto h = select_questions(Task::hellaswag, 10042, 400);
    EXPECT_EQ(h.size(), 400u);
    EXPECT_EQ(std::set<size_t>(h.begin(), h.end()).size(), 400u);
    EXPECT_NE(h, select_questions(Task::hellaswag, 10042, 400, /*like_llama=*/false));
    const auto first = select_questions(Task::winogrande, 1267, 5, false);
    EXPECT_EQ(first, (std::vector<size_t>{0, 1, 2, 3, 4}));
    const auto w = select_questions(Task::winogrande, 1267, 100);
    EXPECT_EQ(std::set<size_t>(w.begin(), w.end()).size(), 100u);
    EXPECT_EQ(select_questions(Task::arc_easy, 3, 0).size(), 3u);
}

TEST(MultipleChoiceLoaders, ReadTheSharedFiles) {
    const auto hs =
        load_questions(Task::hellaswag, test::shared_path("data/lm/hellaswag_val_full.txt.bz2"));
    ASSERT_EQ(hs.size(), 10042u);
    EXPECT_EQ(hs[0].context, "Roof shingle removal: A man is sitting on a roof. he");
    EXPECT_EQ(hs[0].answer, 3u);
    EXPECT_EQ(hs[0].choices[0], "is using wrap to wrap a pair of skis.");
    EXPECT_EQ(hs[0].choices[3], "starts pulling up roofing on a roof.");
    EXPECT_EQ(hs[1].line, 7u);

    const auto ae =
        load_questions(Task::arc_easy, test::shared_path("data/lm/arc_easy_test.jsonl"));
    ASSERT_EQ(ae.size(), 2376u);
    EXPECT_EQ(ae[0].context,
              "Which statement best explains why photosynthesis is the foundation of most food "
              "webs?");
    EXPECT_EQ(ae[0].choices.size(), 4u);
    EXPECT_EQ(ae[0].choices[0], "Sunlight is the source of energy for nearly all ecosystems.");
    EXPECT_EQ(ae[0].answer, 0u);

    const auto ac =
        load_questions(Task::arc_challenge, test::shared_path("data/lm/arc_challenge_test.jsonl"));
    ASSERT_EQ(ac.size(), 1172u);
    EXPECT_EQ(ac[0].choices[2], "Planetary days will become shorter.");
    EXPECT_EQ(ac[0].answer, 2u);

    const auto wg =
        load_questions(Task::winogrande, test::shared_path("data/lm/winogrande_dev.jsonl"));
    ASSERT_EQ(wg.size(), 1267u);
    EXPECT_EQ(wg[0].context, "Sarah was a much better surgeon than Maria so ");
    EXPECT_EQ(wg[0].after, " always got the easier cases.");
    EXPECT_EQ(wg[0].choices, (std::vector<std::string>{"Sarah", "Maria"}));
    EXPECT_EQ(wg[0].answer, 1u);

    const auto tq = load_questions(Task::truthfulqa_mc1, test::shared_path("data/lm/truthfulqa"));
    ASSERT_EQ(tq.size(), 817u);
    EXPECT_EQ(tq[0].context,
              "What is the smallest country in the world that is at least one square mile in "
              "area?");
    EXPECT_EQ(tq[0].answer, 0u);
    EXPECT_EQ(tq[0].choices.size(), 4u);
    EXPECT_EQ(tq[0].choices[0],
              "Nauru is the smallest country in the world that is at least one square mile in "
              "area.");
}

template <typename Fn>
std::string data_error(Fn&& fn) {
    try {
        fn();
    } catch (const DataError& e) {
        return e.what();
    }
    return "(no DataError)";
}

TEST(MultipleChoiceLoaders, RejectMalformedInputNamingTheLine) {
    const std::string task = "ctx\n0\na\nb\nc\nd\n";
    EXPECT_EQ(parse_hellaswag(task + task, "x").size(), 2u);
    EXPECT_NE(data_error([&] { parse_hellaswag(task + "ctx\n1\n", "h.txt"); }).find("h.txt:7:"),
              std::string::npos);
    EXPECT_NE(data_error([&] {
                  parse_hellaswag(task + "ctx\n4\na\nb\nc\nd\n", "h");
              }).find("h:8: the label"),
              std::string::npos);
    EXPECT_NE(data_error([&] { parse_hellaswag("", "h"); }).find("no tasks"), std::string::npos);

    const std::string wg =
        R"({"sentence": "A _ b.", "option1": "x", "option2": "y", "answer": "1"})"
        "\n";
    EXPECT_EQ(parse_winogrande(wg, "w").size(), 1u);
    EXPECT_NE(data_error([&] {
                  parse_winogrande(wg + R"({"sentence": "no blank", "option1": "x", )"
                                        R"("option2": "y", "answer": "1"})",
                                   "w");
              }).find("w:2: the sentence has no '_'"),
              std::string::npos);
    EXPECT_NE(data_error([&] { parse_winogrande(wg + "{not json\n", "w"); }).find("w:2:"),
              std::string::npos);
    EXPECT_NE(data_error([&] {
                  parse_winogrande(R"({"sentence": "_", "option1": "x", "option2": "y", )"
                                   R"("answer": 3})",
                                   "w");
              }).find("w:1:"),
              std::string::npos);

    EXPECT_NE(data_error([&] {
                  parse_arc_easy(R"({"prompt": "q", "choices": ["a", "b"], "answer_idx": 2})", "a");
              }).find("a:1: 'answer_idx'"),
              std::string::npos);
    EXPECT_NE(data_error([&] {
                  parse_arc_challenge(R"({"question": "q", "options": [{"label": "A", )"
                                      R"("text": "a"}, {"label": "B", "text": "b"}], )"
                                      R"("answer": "Z"})",
                                      "c");
              }).find("c:1: answer 'Z'"),
              std::string::npos);
    EXPECT_NE(data_error([&] {
                  parse_truthfulqa_mc1(R"([{"question": "q", "mc1_targets": {"a": 1, "b": 1}}])",
                                       "t");
              }).find("t: record 1: mc1_targets must mark exactly one"),
              std::string::npos);
    EXPECT_NE(data_error([&] { parse_truthfulqa_mc1("[1,", "t"); }).find("not JSON"),
              std::string::npos);

    // A truncated .bz2 is an error, not a short file.
    const std::string bz = read_file(test::shared_path("data/lm/hellaswag_val_full.txt.bz2"));
    EXPECT_NE(data_error([&] {
                  bunzip2(std::string_view(bz).substr(0, bz.size() / 2), "hs.bz2");
              }).find("hs.bz2: truncated"),
              std::string::npos);
    EXPECT_THROW(parse_task("mmlu"), Error);
    EXPECT_EQ(parse_task("arc-challenge"), Task::arc_challenge);
    EXPECT_THROW(load_questions(Task::arc_easy, "/nonexistent/file.jsonl"), Error);
}

}  // namespace
}  // namespace pocket::eval
