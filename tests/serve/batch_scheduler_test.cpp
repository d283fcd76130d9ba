// Continuous batching: every request served in a shared batch produces what it produces alone,
// shared prompt prefixes are evaluated once, cancelled requests free their slots at once, and the
// queue and context limits hold.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "pocket/model/model.h"
#include "pocket/serve/batch_scheduler.h"
#include "pocket/tokenizer/tokenizer.h"
#include "support/test_support.h"

namespace pocket::serve {
namespace {

using namespace std::chrono_literals;

const model::Model& stories() {
    static const auto m = model::Model::load(test::shared_path("models/stories260K.gguf"));
    return *m;
}

GenerateOptions greedy(int64_t max_tokens) {
    GenerateOptions o;
    o.sampling = SamplingParams::greedy();
    o.max_tokens = max_tokens;
    o.ignore_eos = true;
    return o;
}

std::vector<TokenId> encode(const std::string& text) {
    return stories().tokenizer().encode(text, /*add_special=*/true, /*parse_special=*/false);
}

const std::vector<std::string>& prompts() {
    static const std::vector<std::string> p = {"Once upon a time, there was a little girl",
                                               "The cat sat on the mat and",
                                               "Tom and his dog went to the park.",
                                               "One day, a big bird flew",
                                               "Lily liked to play with her red ball",
                                               "The sun was hot, so the boy",
                                               "Mom said, \"Do not touch the stove!\"",
                                               "There was a tree with many apples.",
                                               "Ben had a toy car that",
                                               "The fish swam in the blue",
                                               "A small frog lived near a pond.",
                                               "Sue wanted to bake a cake",
                                               "The old man had a long beard",
                                               "It was raining, and the kids",
                                               "Max found a shiny stone",
                                               "Anna and Ben were best friends."};
    return p;
}

// What Session::generate produces for the prompt on a context of its own.
GenerateResult alone(const std::vector<TokenId>& prompt, const GenerateOptions& options) {
    model::Context ctx(stories(), {.n_ctx = 512});
    Session session(ctx);
    return session.generate(std::span<const TokenId>(prompt), options);
}

// Reads a stream to its end, checking that the events add up to the result.
GenerateResult drain(GenerationStream& stream) {
    std::string text;
    int64_t tokens = 0;
    while (auto event = stream.next()) {
        text += event->text;
        tokens += event->tokens;
    }
    GenerateResult r = stream.result();
    EXPECT_EQ(text, r.text);
    EXPECT_EQ(tokens, r.completion_tokens);
    return r;
}

TEST(BatchScheduler, EveryRequestMatchesTheSameRequestServedAlone) {
    BatchScheduler scheduler(stories(), {.n_slots = 6, .slot_ctx = 256});
    const GenerateOptions options = greedy(40);
    std::vector<std::shared_ptr<GenerationStream>> streams;
    for (const auto& p : prompts()) streams.push_back(scheduler.submit(encode(p), options));
    for (size_t i = 0; i < prompts().size(); ++i) {
        const GenerateResult got = drain(*streams[i]);
        const GenerateResult want = alone(encode(prompts()[i]), options);
        EXPECT_EQ(got.tokens, want.tokens) << prompts()[i];
        EXPECT_EQ(got.text, want.text) << prompts()[i];
        EXPECT_EQ(got.finish, FinishReason::Length);
    }
    const SchedulerStats stats = scheduler.stats();
    EXPECT_EQ(stats.generated_tokens, 40 * static_cast<int64_t>(prompts().size()));
    // Batching: far fewer forward passes than tokens.
    EXPECT_LT(stats.steps, stats.generated_tokens / 3);
}

TEST(BatchScheduler, SamplingWithASeedIsReproducibleInABatch) {
    BatchScheduler scheduler(stories(), {.n_slots = 4, .slot_ctx = 256});
    GenerateOptions options = greedy(30);
    options.sampling = SamplingParams{};
    options.sampling.temperature = 0.9f;
    options.sampling.seed = 1234;
    std::vector<std::shared_ptr<GenerationStream>> streams;
    for (size_t i = 0; i < 4; ++i)
        streams.push_back(scheduler.submit(encode(prompts()[i]), options));
    for (size_t i = 0; i < 4; ++i) {
        const GenerateResult got = drain(*streams[i]);
        EXPECT_EQ(got.tokens, alone(encode(prompts()[i]), options).tokens) << prompts()[i];
    }
}

TEST(BatchScheduler, ASharedPrefixIsEvaluatedOnceForRequestsArrivingTogether) {
    std::string system = "You are a helpful storyteller. ";
    for (int i = 0; i < 12; ++i) system += "The children played in the garden every day. ";
    const auto shared = encode(system);
    ASSERT_GT(shared.size(), 100u);
    BatchScheduler scheduler(stories(), {.n_slots = 8, .slot_ctx = 512});
    const GenerateOptions options = greedy(12);
    std::vector<std::vector<TokenId>> requests;
    int64_t suffixes = 0;
    for (size_t i = 0; i < 8; ++i) {
        requests.push_back(encode(system + prompts()[i]));
        suffixes += static_cast<int64_t>(requests.back().size() - shared.size());
    }
    std::vector<std::shared_ptr<GenerationStream>> streams;
    for (const auto& r : requests) streams.push_back(scheduler.submit(r, options));
    for (size_t i = 0; i < requests.size(); ++i) {
        const GenerateResult got = drain(*streams[i]);
        EXPECT_EQ(got.tokens, alone(requests[i], options).tokens) << i;
    }
    const SchedulerStats stats = scheduler.stats();
    // Each request evaluates its own suffix (plus at most a token where the prompts' shared
    // tokenization ends); the shared prefix once.
    EXPECT_LE(stats.evaluated_tokens, static_cast<int64_t>(shared.size()) + suffixes + 8 * 2);
    EXPECT_GE(stats.cached_tokens, 7 * static_cast<int64_t>(shared.size() - 2));

    // A later conversation turn reuses the cache as well.
    const auto before = scheduler.stats().evaluated_tokens;
    auto next = requests[3];
    next.insert(next.end(), streams[3]->result().tokens.begin(), streams[3]->result().tokens.end());
    const auto more = encode(" Then they went home.");
    next.insert(next.end(), more.begin() + 1, more.end());  // without BOS
    const GenerateResult turn = drain(*scheduler.submit(next, options));
    EXPECT_EQ(turn.tokens, alone(next, options).tokens);
    EXPECT_LE(scheduler.stats().evaluated_tokens - before, static_cast<int64_t>(more.size()) + 1);
}

TEST(BatchScheduler, ACancelledStreamFreesItsSlotAtOnce) {
    BatchScheduler scheduler(stories(), {.n_slots = 2, .slot_ctx = 512});
    auto long_run = scheduler.submit(encode(prompts()[0]), greedy(400));
    auto other = scheduler.submit(encode(prompts()[1]), greedy(20));
    auto first = long_run->next();
    ASSERT_TRUE(first.has_value());
    long_run->cancel();
    std::string text = first->text;
    while (auto event = long_run->next()) text += event->text;
    const GenerateResult r = long_run->result();
    EXPECT_EQ(text, r.text);
    EXPECT_EQ(r.finish, FinishReason::Cancelled);
    EXPECT_LT(r.completion_tokens, 400);
    // The freed slot takes a queued request; the other one is unaffected.
    auto third = scheduler.submit(encode(prompts()[2]), greedy(20));
    EXPECT_EQ(drain(*third).tokens, alone(encode(prompts()[2]), greedy(20)).tokens);
    EXPECT_EQ(drain(*other).tokens, alone(encode(prompts()[1]), greedy(20)).tokens);
    for (int i = 0; i < 200 && !scheduler.idle(); ++i) std::this_thread::sleep_for(5ms);
    EXPECT_TRUE(scheduler.idle());
    EXPECT_EQ(scheduler.stats().slots_busy, 0);
}

TEST(BatchScheduler, AQueuedRequestCancelledBeforeItStartsNeverRuns) {
    BatchScheduler scheduler(stories(), {.n_slots = 1, .slot_ctx = 512});
    auto first = scheduler.submit(encode(prompts()[0]), greedy(100));
    auto queued = scheduler.submit(encode(prompts()[1]), greedy(100));
    queued->cancel();
    const GenerateResult r = drain(*queued);
    EXPECT_EQ(r.finish, FinishReason::Cancelled);
    EXPECT_EQ(r.completion_tokens, 0);
    EXPECT_EQ(drain(*first).completion_tokens, 100);
}

TEST(BatchScheduler, AFullQueueRefusesNewRequests) {
    BatchScheduler scheduler(stories(), {.n_slots = 1, .slot_ctx = 512, .max_queue = 2});
    std::vector<std::shared_ptr<GenerationStream>> streams;
    bool refused = false;
    for (int i = 0; i < 6 && !refused; ++i) {
        try {
            streams.push_back(scheduler.submit(encode(prompts()[0]), greedy(200)));
        } catch (const QueueFull&) {
            refused = true;
        }
    }
    EXPECT_TRUE(refused);
    // One for the free slot and two waiting, whether or not the scheduler thread has taken the
    // first from the queue yet.
    EXPECT_EQ(streams.size(), 3u);
    for (auto& s : streams) s->cancel();
    for (auto& s : streams) EXPECT_EQ(drain(*s).finish, FinishReason::Cancelled);
}

TEST(BatchScheduler, APromptLongerThanASlotIsRefusedWithItsSizes) {
    BatchScheduler scheduler(stories(), {.n_slots = 2, .slot_ctx = 32});
    std::vector<TokenId> prompt(32, 100);
    try {
        scheduler.submit(prompt, greedy(1));
        FAIL() << "no exception";
    } catch (const ContextLengthExceeded& e) {
        EXPECT_EQ(e.prompt_tokens(), 32);
        EXPECT_EQ(e.slot_ctx(), 32);
    }
    EXPECT_THROW(scheduler.submit({}, greedy(1)), Error);
    EXPECT_THROW(scheduler.submit({1, 999999}, greedy(1)), Error);
}

TEST(BatchScheduler, GenerationsStopAtTheSlotContext) {
    BatchScheduler scheduler(stories(), {.n_slots = 3, .slot_ctx = 48});
    std::vector<std::shared_ptr<GenerationStream>> streams;
    for (size_t i = 0; i < 5; ++i)
        streams.push_back(scheduler.submit(encode(prompts()[i]), greedy(-1)));
    for (size_t i = 0; i < 5; ++i) {
        const GenerateResult r = drain(*streams[i]);
        EXPECT_EQ(r.finish, FinishReason::Length);
        EXPECT_EQ(r.prompt_tokens + r.completion_tokens, 48) << i;
    }
}

TEST(BatchScheduler, StopStringsAndLogprobsWorkInABatch) {
    BatchScheduler scheduler(stories(), {.n_slots = 3, .slot_ctx = 256});
    GenerateOptions options = greedy(60);
    options.top_logprobs = 3;
    const GenerateResult want = alone(encode(prompts()[0]), options);
    ASSERT_GT(want.text.size(), 10u);
    options.stop = {want.text.substr(want.text.size() / 2, 4)};
    const GenerateResult want_stopped = alone(encode(prompts()[0]), options);
    auto a = scheduler.submit(encode(prompts()[0]), options);
    auto b = scheduler.submit(encode(prompts()[1]), greedy(60));
    const GenerateResult got = drain(*a);
    drain(*b);
    EXPECT_EQ(got.finish, FinishReason::Stop);
    EXPECT_EQ(got.text, want_stopped.text);
    ASSERT_EQ(got.logprobs.size(), want_stopped.logprobs.size());
    for (size_t i = 0; i < got.logprobs.size(); ++i) {
        EXPECT_EQ(got.logprobs[i].token, want_stopped.logprobs[i].token);
        // Batches of other shapes sum in another order: equal up to rounding.
        EXPECT_NEAR(got.logprobs[i].logprob, want_stopped.logprobs[i].logprob, 1e-2);
        EXPECT_EQ(got.logprobs[i].top.size(), 3u);
    }
}

}  // namespace
}  // namespace pocket::serve
