// The generation loop: reference continuations, finish reasons, stop strings across token
// boundaries, prefix reuse, logprobs, cancellation and the context limit.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <thread>

#include "generate/stop_strings.h"
#include "pocket/generate/session.h"
#include "pocket/model/model.h"
#include "pocket/tokenizer/tokenizer.h"
#include "support/test_support.h"

namespace pocket {
namespace {

const model::Model& stories() {
    static const auto m = model::Model::load(test::shared_path("models/stories260K.gguf"));
    return *m;
}

GenerateOptions greedy(int64_t max_tokens) {
    GenerateOptions o;
    o.sampling = SamplingParams::greedy();
    o.max_tokens = max_tokens;
    o.ignore_eos = true;  // the references do not stop at EOG
    return o;
}

TEST(Session, GreedyContinuationsMatchTheReference) {
    const auto ref = test::read_json(test::shared_path("reference/stories260K.json"));
    model::Context ctx(stories(), {.n_ctx = 256});
    Session session(ctx);
    int checked = 0;
    for (const auto& c : ref["cases"]) {
        if (!c["add_special"].get<bool>() || c["parse_special"].get<bool>()) continue;
        std::vector<TokenId> want;
        for (const auto& g : c["generated"]) want.push_back(g["id"].get<TokenId>());
        const GenerateResult r = session.generate(c["prompt"].get<std::string>(),
                                                  greedy(static_cast<int64_t>(want.size())));
        EXPECT_EQ(r.tokens, want) << c["name"];
        EXPECT_EQ(r.finish, FinishReason::Length);
        EXPECT_EQ(r.completion_tokens, static_cast<int64_t>(want.size()));
        EXPECT_EQ(r.text, c["generated_text"].get<std::string>()) << c["name"];
        ++checked;
    }
    EXPECT_GE(checked, 2);
}

TEST(Session, StreamedPiecesAddUpToTheText) {
    model::Context ctx(stories(), {.n_ctx = 128});
    Session session(ctx);
    std::string streamed;
    int calls = 0;
    const auto r = session.generate("Once upon a time", greedy(40), [&](std::string_view piece) {
        streamed += piece;
        ++calls;
        return true;
    });
    EXPECT_EQ(streamed, r.text);
    EXPECT_GT(calls, 10);
}

TEST(Session, StopStringEndsTheOutputAndIsNotEmitted) {
    model::Context ctx(stories(), {.n_ctx = 256});
    Session session(ctx);
    const auto full = session.generate("Once upon a time", greedy(60));
    ASSERT_GT(full.text.size(), 40u);
    // A stop string that starts inside one token and ends inside another.
    const std::string stop = full.text.substr(21, 7);
    GenerateOptions o = greedy(60);
    o.stop = {"never appears", stop};
    std::string streamed;
    const auto r = session.generate("Once upon a time", o, [&](std::string_view p) {
        streamed += p;
        return true;
    });
    EXPECT_EQ(r.finish, FinishReason::Stop);
    EXPECT_EQ(r.stop_string, stop);
    EXPECT_EQ(r.text, full.text.substr(0, full.text.find(stop)));
    EXPECT_EQ(streamed, r.text);
    EXPECT_LT(r.completion_tokens, full.completion_tokens);
}

TEST(Session, FinishReasons) {
    model::Context ctx(stories(), {.n_ctx = 64});
    Session session(ctx);
    auto r = session.generate("Once upon a time", greedy(5));
    EXPECT_EQ(r.finish, FinishReason::Length);
    EXPECT_EQ(r.completion_tokens, 5);

    // The callback asks to stop.
    int pieces = 0;
    r = session.generate("Once upon a time", greedy(50),
                         [&](std::string_view) { return ++pieces < 3; });
    EXPECT_EQ(r.finish, FinishReason::Cancelled);
    EXPECT_EQ(pieces, 3);

    // The context fills: prompt + generated never exceeds n_ctx evaluated positions.
    r = session.generate("Once upon a time", greedy(-1));
    EXPECT_EQ(r.finish, FinishReason::Length);
    EXPECT_EQ(static_cast<int64_t>(session.cached_tokens().size()), ctx.n_ctx());
    EXPECT_EQ(r.prompt_tokens + r.completion_tokens, ctx.n_ctx() + 1);

    // End of generation: greedy from a prompt that leads to EOS quickly is not guaranteed on a
    // tiny model, so force it: ban everything but EOS.
    GenerateOptions o = greedy(10);
    o.ignore_eos = false;
    const TokenId eos = stories().tokenizer().eos();
    o.sampling.logit_bias.clear();
    for (TokenId t = 0; t < static_cast<TokenId>(stories().tokenizer().n_vocab()); ++t) {
        if (t != eos) o.sampling.logit_bias.push_back({t, -INFINITY});
    }
    r = session.generate("Once upon a time", o);
    EXPECT_EQ(r.finish, FinishReason::Eos);
    EXPECT_EQ(r.completion_tokens, 0);
    EXPECT_TRUE(r.text.empty());
}

TEST(Session, PromptTooLongIsAClearError) {
    model::Context ctx(stories(), {.n_ctx = 8});
    Session session(ctx);
    EXPECT_THROW(session.generate("Once upon a time there was a little girl", greedy(4)), Error);
    EXPECT_THROW(session.generate(std::span<const TokenId>{}, greedy(4)), Error);
    const TokenId bad[] = {1, 100000};
    EXPECT_THROW(session.generate(std::span<const TokenId>(bad), greedy(4)), Error);
}

TEST(Session, PrefixReuseEvaluatesOnlyNewTokensAndChangesNothing) {
    model::Context ctx(stories(), {.n_ctx = 256});
    Session session(ctx);
    const auto first = session.generate("Once upon a time", greedy(20));
    EXPECT_EQ(first.reused_tokens, 0);
    // Continue the conversation: the new prompt starts with everything the sequence holds.
    std::vector<TokenId> next(session.cached_tokens().begin(), session.cached_tokens().end());
    const size_t held = next.size();
    const auto more = stories().tokenizer().encode(" The end.", false, false);
    next.insert(next.end(), more.begin(), more.end());
    const auto reused = session.generate(std::span<const TokenId>(next), greedy(20));
    EXPECT_EQ(reused.reused_tokens, static_cast<int64_t>(held));

    model::Context fresh_ctx(stories(), {.n_ctx = 256});
    Session fresh(fresh_ctx);
    const auto expected = fresh.generate(std::span<const TokenId>(next), greedy(20));
    EXPECT_EQ(reused.tokens, expected.tokens);

    // A prompt that diverges early truncates the sequence and still matches a fresh run.
    const auto other = session.generate("Once upon a hill", greedy(20));
    model::Context other_ctx(stories(), {.n_ctx = 256});
    EXPECT_EQ(other.tokens, Session(other_ctx).generate("Once upon a hill", greedy(20)).tokens);
    EXPECT_LT(other.reused_tokens, other.prompt_tokens);
}

TEST(Session, ForksShareThePromptAndDivergeIndependently) {
    model::Context ctx(stories(), {.n_ctx = 512});
    Session root(ctx, 0);
    const auto prompt = stories().tokenizer().encode("Once upon a time, there was", true, false);
    root.generate(std::span<const TokenId>(prompt), greedy(0));
    EXPECT_EQ(root.cached_tokens().size(), prompt.size());
    GenerateOptions sampled = greedy(30);
    sampled.sampling = SamplingParams{};
    sampled.sampling.temperature = 1.0f;
    std::vector<std::vector<TokenId>> outputs;
    for (model::SeqId seq = 1; seq <= 3; ++seq) {
        Session fork(root, seq);
        sampled.sampling.seed = static_cast<uint64_t>(seq);
        const auto r = fork.generate(std::span<const TokenId>(prompt), sampled);
        EXPECT_EQ(r.reused_tokens, static_cast<int64_t>(prompt.size()) - 1);
        outputs.push_back(r.tokens);
        // The same seed from a fresh context gives the same tokens: sharing changed nothing.
        model::Context fresh_ctx(stories(), {.n_ctx = 512});
        Session fresh(fresh_ctx);
        EXPECT_EQ(fresh.generate(std::span<const TokenId>(prompt), sampled).tokens, r.tokens);
    }
    EXPECT_NE(outputs[0], outputs[1]);
    EXPECT_THROW(Session(root, 0), Error);
}

TEST(Session, LogprobsAreTheModelsLogSoftmax) {
    model::Context ctx(stories(), {.n_ctx = 128});
    Session session(ctx);
    GenerateOptions o = greedy(8);
    o.top_logprobs = 5;
    const auto r = session.generate("Once upon a time", o);
    ASSERT_EQ(r.logprobs.size(), r.tokens.size());
    for (size_t i = 0; i < r.logprobs.size(); ++i) {
        const TokenLogprob& lp = r.logprobs[i];
        EXPECT_EQ(lp.token, r.tokens[i]);
        ASSERT_EQ(lp.top.size(), 5u);
        EXPECT_EQ(lp.top[0].token, lp.token);  // greedy picks the most likely token
        EXPECT_FLOAT_EQ(lp.top[0].logprob, lp.logprob);
        double mass = 0;
        for (size_t k = 0; k < lp.top.size(); ++k) {
            if (k > 0) {
                EXPECT_GE(lp.top[k - 1].logprob, lp.top[k].logprob);
            }
            EXPECT_LE(lp.top[k].logprob, 0.0f);
            mass += std::exp(lp.top[k].logprob);
        }
        EXPECT_LE(mass, 1.0 + 1e-5);
        EXPECT_GT(mass, 0.0);
    }
    // Independent check of one step: the first token's logprob from the prompt's logits.
    model::Context ctx2(stories(), {.n_ctx = 128});
    const auto ids = stories().tokenizer().encode("Once upon a time", true, false);
    const auto logits = ctx2.eval(ids);
    double z = 0;
    for (const float l : logits) z += std::exp(static_cast<double>(l));
    EXPECT_NEAR(r.logprobs[0].logprob, logits[static_cast<size_t>(r.tokens[0])] - std::log(z),
                1e-4);
    EXPECT_THROW(
        {
            GenerateOptions too_many = greedy(2);
            too_many.top_logprobs = 21;
            session.generate("Once", too_many);
        },
        Error);
}

TEST(Session, CancelFromAnotherThread) {
    model::Context ctx(stories(), {.n_ctx = 4096});
    Session session(ctx);
    std::atomic<int> pieces{0};
    std::thread canceller([&] {
        while (pieces.load() < 5) std::this_thread::yield();
        session.cancel();
    });
    const auto r = session.generate("Once upon a time", greedy(-1), [&](std::string_view) {
        ++pieces;
        return true;
    });
    canceller.join();
    EXPECT_EQ(r.finish, FinishReason::Cancelled);
    EXPECT_LT(r.completion_tokens, 2000);
    // The next generation is not affected by the old request.
    EXPECT_EQ(session.generate("Once upon a time", greedy(3)).finish, FinishReason::Length);
}

TEST(StopStrings, HoldsBackOnlyWhatCouldStillMatch) {
    StopStrings s({"</answer>", "STOP"});
    EXPECT_EQ(s.feed("hello <"), "hello ");
    EXPECT_EQ(s.feed("/ans"), "");
    EXPECT_EQ(s.feed("x"), "</ansx");
    EXPECT_EQ(s.feed("ST"), "");
    EXPECT_EQ(s.feed("OP and more"), "");
    EXPECT_TRUE(s.matched());
    EXPECT_EQ(s.matched_string(), "STOP");
    EXPECT_EQ(s.feed("after"), "");

    StopStrings t({"ab"});
    EXPECT_EQ(t.feed("xa"), "x");
    EXPECT_EQ(t.flush(), "a");
    StopStrings none({});
    EXPECT_EQ(none.feed("abc"), "abc");
    StopStrings earliest({"world", "lo w"});
    EXPECT_EQ(earliest.feed("hello world"), "hel");
    EXPECT_EQ(earliest.matched_string(), "lo w");
}

}  // namespace
}  // namespace pocket
