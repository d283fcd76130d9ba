// The model pool: load on first use, one load for concurrent callers, unload after keep-alive,
// stay under max_memory by unloading the least recently used idle model, embedding models.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "pocket/serve/model_pool.h"
#include "support/test_support.h"

namespace pocket::serve {
namespace {

using namespace std::chrono_literals;

ModelPoolOptions two_models() {
    ModelPoolOptions o;
    o.models = {{"stories", test::shared_path("models/stories260K.gguf")},
                {"qwen", test::shared_path("models/tiny/tiny-qwen2.gguf")},
                {"potion", test::shared_path("models/embed/potion-base-4M-int8")}};
    o.scheduler.n_slots = 2;
    o.scheduler.slot_ctx = 128;
    return o;
}

bool loaded(const ModelPool& pool, const std::string& name) {
    for (const auto& info : pool.list()) {
        if (info.entry.name == name) return info.loaded;
    }
    ADD_FAILURE() << "no model " << name;
    return false;
}

template <typename Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = 5s) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
        if (pred()) return true;
        std::this_thread::sleep_for(20ms);
    }
    return pred();
}

TEST(ModelPool, LoadsOnFirstUseAndOnceForConcurrentCallers) {
    ModelPool pool(two_models());
    EXPECT_FALSE(loaded(pool, "stories"));
    std::vector<std::shared_ptr<const LoadedModel>> got(4);
    std::vector<std::thread> threads;
    for (size_t i = 0; i < got.size(); ++i)
        threads.emplace_back([&, i] { got[i] = pool.acquire("stories"); });
    for (auto& t : threads) t.join();
    for (const auto& m : got) EXPECT_EQ(m.get(), got[0].get());
    EXPECT_TRUE(got[0]->is_generator());
    EXPECT_TRUE(loaded(pool, "stories"));
    EXPECT_FALSE(loaded(pool, "qwen"));
    EXPECT_EQ(pool.loaded_count(), 1u);
    EXPECT_THROW(pool.acquire("nope"), ModelNotFound);
}

TEST(ModelPool, UnloadsAfterKeepAliveOnceNothingHoldsIt) {
    ModelPoolOptions o = two_models();
    o.keep_alive = 200ms;
    ModelPool pool(o);
    auto m = pool.acquire("stories");
    std::this_thread::sleep_for(400ms);
    EXPECT_TRUE(loaded(pool, "stories")) << "unloaded while held";
    m.reset();
    EXPECT_TRUE(eventually([&] { return !loaded(pool, "stories"); }));
    // And loads again on the next use.
    EXPECT_TRUE(pool.acquire("stories")->is_generator());
}

TEST(ModelPool, AKeepAliveOfZeroUnloadsAtOnceAndNegativeNever) {
    ModelPool pool(two_models());
    pool.acquire("stories");
    pool.acquire("qwen");
    pool.touch("qwen", std::chrono::milliseconds(-1));
    pool.unload("stories");
    EXPECT_TRUE(eventually([&] { return !loaded(pool, "stories"); }));
    EXPECT_TRUE(loaded(pool, "qwen"));
}

TEST(ModelPool, StaysUnderMaxMemoryByUnloadingTheLeastRecentlyUsedIdleModel) {
    ModelPoolOptions o = two_models();
    o.keep_alive = std::chrono::milliseconds(-1);
    {
        ModelPool probe(o);
        const uint64_t stories = probe.acquire("stories")->memory_bytes();
        const uint64_t qwen = probe.acquire("qwen")->memory_bytes();
        o.max_memory = std::max(stories, qwen) + std::min(stories, qwen) / 2;
    }
    ModelPool pool(o);
    pool.acquire("stories");
    pool.acquire("qwen");  // stories is idle: it goes
    EXPECT_FALSE(loaded(pool, "stories"));
    EXPECT_TRUE(loaded(pool, "qwen"));
    // A model that is held cannot be unloaded to make room: the load is refused.
    auto held = pool.acquire("qwen");
    EXPECT_THROW(pool.acquire("stories"), OutOfModelMemory);
    held.reset();
    EXPECT_NO_THROW(pool.acquire("stories"));
    EXPECT_FALSE(loaded(pool, "qwen"));
}

TEST(ModelPool, EmbeddingModelsEmbedAndDoNotGenerate) {
    ModelPool pool(two_models());
    auto m = pool.acquire("potion");
    EXPECT_FALSE(m->is_generator());
    EXPECT_THROW(m->scheduler(), Error);
    const auto v = m->embedder().embed("hello world");
    EXPECT_EQ(v.size(), m->embedder().dim());
    EXPECT_GT(m->embedder().count_tokens("hello world"), 0u);
    // A language model embeds too (its last hidden state).
    auto lm = pool.acquire("stories");
    EXPECT_GT(lm->embedder().embed("Once upon a time").size(), 0u);
}

TEST(ModelPool, RefusesDuplicateNamesAndUnreadableFiles) {
    ModelPoolOptions o = two_models();
    o.models.push_back({"stories", test::shared_path("models/stories260K.gguf")});
    EXPECT_THROW(ModelPool{o}, Error);
    ModelPoolOptions bad;
    bad.models = {{"missing", "/nonexistent/model.gguf"}};
    EXPECT_THROW(ModelPool{bad}, Error);
}

}  // namespace
}  // namespace pocket::serve
