// Greedy decoding with speculation gives the very tokens decoding without it gives, whatever the
// drafter (the same model, a quantised copy, prompt lookup) and however the generation ends.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "pocket/core/error.h"
#include "pocket/tokenizer/tokenizer.h"
#include "speculative/spec_test_support.h"

namespace pocket::test {
namespace {

using model::Context;
using model::Model;

// A prompt that repeats itself, so prompt lookup has something to find.
const char* const kPrompt =
    "Once upon a time, there was a little girl named Lily. She loved to play outside. "
    "One day, Lily saw a big red ball. Once upon a time, there was a little girl named";

struct Outcome {
    std::vector<TokenId> tokens;
    std::string text;
    FinishReason finish;
    std::vector<TokenLogprob> logprobs;
    SpeculativeStats stats;
};

Outcome generate(const Model& target, const GenerateOptions& options,
                 const char* prompt = kPrompt) {
    Context ctx(target, {.n_ctx = 256});
    Session session(ctx);
    const GenerateResult r = session.generate(prompt, options);
    // What the KV cache holds must be what the session says it holds.
    EXPECT_EQ(ctx.kv().length(0), static_cast<int64_t>(session.cached_tokens().size()));
    return {r.tokens, r.text, r.finish, r.logprobs, r.speculative};
}

GenerateOptions greedy(int64_t max_tokens) {
    GenerateOptions o;
    o.sampling = SamplingParams::greedy();
    o.max_tokens = max_tokens;
    return o;
}

void expect_same(const Outcome& plain, const Outcome& spec) {
    EXPECT_EQ(plain.tokens, spec.tokens);
    EXPECT_EQ(plain.text, spec.text);
    EXPECT_EQ(plain.finish, spec.finish);
    ASSERT_EQ(plain.logprobs.size(), spec.logprobs.size());
    for (size_t i = 0; i < plain.logprobs.size(); ++i) {
        EXPECT_EQ(plain.logprobs[i].token, spec.logprobs[i].token);
        // Batched evaluation rounds differently from one-token evaluation (about 1e-3 here).
        EXPECT_NEAR(plain.logprobs[i].logprob, spec.logprobs[i].logprob, 1e-2);
    }
}

class GreedyIdentity : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        target_ = load_shared_model("models/stories260K.gguf").release();
        same_ = load_shared_model("models/stories260K.gguf").release();
        q8_ = load_shared_model("models/stories260K.Q8_0.gguf").release();
        q4_ = load_shared_model("models/stories260K.Q4_0.gguf").release();
    }
    static void TearDownTestSuite() {
        delete target_;
        delete same_;
        delete q8_;
        delete q4_;
    }
    static Model* target_;
    static Model* same_;
    static Model* q8_;
    static Model* q4_;
};
Model* GreedyIdentity::target_ = nullptr;
Model* GreedyIdentity::same_ = nullptr;
Model* GreedyIdentity::q8_ = nullptr;
Model* GreedyIdentity::q4_ = nullptr;

TEST_F(GreedyIdentity, PromptLookup) {
    const Outcome plain = generate(*target_, greedy(120));
    GenerateOptions o = greedy(120);
    o.speculative.prompt_lookup = true;
    const Outcome spec = generate(*target_, o);
    expect_same(plain, spec);
    EXPECT_GT(spec.stats.drafted, 0);
    EXPECT_GT(spec.stats.accepted, 0);
    EXPECT_LE(spec.stats.accepted, spec.stats.drafted);
}

TEST_F(GreedyIdentity, DraftModels) {
    const Outcome plain = generate(*target_, greedy(120));
    const Model* drafts[] = {same_, q8_, q4_};
    for (size_t d = 0; d < 3; ++d) {
        const Model* draft_model = drafts[d];
        for (const int32_t max_draft : {1, 4, 8}) {
            Context draft(*draft_model, {.n_ctx = 256});
            GenerateOptions o = greedy(120);
            o.speculative.draft = &draft;
            o.speculative.max_draft = max_draft;
            const Outcome spec = generate(*target_, o);
            SCOPED_TRACE(testing::Message() << "draft " << d << " max " << max_draft);
            expect_same(plain, spec);
            EXPECT_GT(spec.stats.steps, 0);
            if (draft_model == same_) {
                EXPECT_EQ(spec.stats.accepted, spec.stats.drafted);
            }
        }
    }
}

TEST_F(GreedyIdentity, DraftModelTogetherWithLookupAndLogprobs) {
    GenerateOptions o = greedy(80);
    o.top_logprobs = 3;
    const Outcome plain = generate(*target_, o);
    Context draft(*q4_, {.n_ctx = 256});
    o.speculative.draft = &draft;
    o.speculative.prompt_lookup = true;
    expect_same(plain, generate(*target_, o));
}

TEST_F(GreedyIdentity, StopsExactlyAsWithoutSpeculation) {
    // A stop string inside a run of accepted drafts, a small max_tokens, the context's end.
    const Outcome full = generate(*target_, greedy(60));
    ASSERT_GT(full.text.size(), 40u);
    GenerateOptions stop = greedy(60);
    stop.stop = {full.text.substr(30, 5)};
    for (int64_t max_tokens : {1, 2, 3, 7}) {
        GenerateOptions o = greedy(max_tokens);
        const Outcome plain = generate(*target_, o);
        o.speculative.prompt_lookup = true;
        Context draft(*same_, {.n_ctx = 256});
        o.speculative.draft = &draft;
        expect_same(plain, generate(*target_, o));
    }
    const Outcome plain = generate(*target_, stop);
    EXPECT_EQ(plain.finish, FinishReason::Stop);
    GenerateOptions o = stop;
    Context draft(*same_, {.n_ctx = 256});
    o.speculative.draft = &draft;
    expect_same(plain, generate(*target_, o));
    o.speculative.draft = nullptr;
    o.speculative.prompt_lookup = true;
    expect_same(plain, generate(*target_, o));
}

TEST_F(GreedyIdentity, RunsToTheEndOfTheContext) {
    auto run = [&](bool speculate) {
        Context ctx(*target_, {.n_ctx = 64});
        Context draft(*q8_, {.n_ctx = 64});
        Session session(ctx);
        GenerateOptions o = greedy(-1);
        o.ignore_eos = true;
        if (speculate) o.speculative.draft = &draft;
        const GenerateResult r = session.generate("Once upon a time", o);
        EXPECT_EQ(r.finish, FinishReason::Length);
        EXPECT_EQ(ctx.kv().length(0), static_cast<int64_t>(session.cached_tokens().size()));
        return r.tokens;
    };
    EXPECT_EQ(run(false), run(true));
}

TEST_F(GreedyIdentity, SecondTurnReusesThePrefix) {
    Context ctx(*target_, {.n_ctx = 256});
    Context draft(*q4_, {.n_ctx = 256});
    Session session(ctx);
    GenerateOptions o = greedy(30);
    o.speculative.draft = &draft;
    o.speculative.prompt_lookup = true;
    const GenerateResult first = session.generate(kPrompt, o);
    const GenerateResult second = session.generate(std::string(kPrompt) + first.text + " The", o);
    EXPECT_GT(second.reused_tokens, 0);
    GenerateOptions with_logprobs = greedy(30);
    with_logprobs.top_logprobs = 2;
    const Outcome plain =
        generate(*target_, with_logprobs, (std::string(kPrompt) + first.text + " The").c_str());
    // The reused prefix was evaluated in other batches than a fresh run evaluates it, which
    // changes the last bits of the logits; a greedy pick may then differ only at a near-tie of
    // the plain run's two best tokens (as the reference tests accept for llama.cpp itself).
    ASSERT_EQ(plain.tokens.size(), second.tokens.size());
    for (size_t i = 0; i < plain.tokens.size(); ++i) {
        if (plain.tokens[i] == second.tokens[i]) continue;
        const TokenLogprob& step = plain.logprobs[i];
        ASSERT_EQ(step.top.size(), 2u);
        EXPECT_EQ(step.top[1].token, second.tokens[i]) << "step " << i;
        EXPECT_LT(step.top[0].logprob - step.top[1].logprob, 1e-2f) << "step " << i;
        break;  // after a divergence the two continuations are different texts
    }
}

TEST(SpeculativeVocabulary, DraftWithAnotherVocabularyIsRefused) {
    const auto target = load_shared_model("models/stories260K.gguf");
    const auto other = load_shared_model("models/tiny/tiny-qwen2.gguf");
    Context ctx(*target, {.n_ctx = 64});
    Context draft(*other, {.n_ctx = 64});
    Session session(ctx);
    GenerateOptions o = greedy(5);
    o.speculative.draft = &draft;
    try {
        session.generate("Once upon a time", o);
        FAIL() << "expected a vocabulary error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("vocabulary"), std::string::npos) << e.what();
    }
}

TEST(SpeculativeTinyModel, GreedyIdentityWithQuantisedDraft) {
    const auto target = load_shared_model("models/tiny/tiny-llama-spm.gguf");
    const auto q8 = load_shared_model("models/tiny/tiny-llama-spm.Q8_0.gguf");
    GenerateOptions o = greedy(40);
    o.ignore_eos = true;
    const Outcome plain = generate(*target, o, "hello world hello world hello");
    Context draft(*q8, {.n_ctx = 256});
    o.speculative.draft = &draft;
    expect_same(plain, generate(*target, o, "hello world hello world hello"));
    o.speculative.draft = nullptr;
    o.speculative.prompt_lookup = true;
    expect_same(plain, generate(*target, o, "hello world hello world hello"));
}

}  // namespace
}  // namespace pocket::test
