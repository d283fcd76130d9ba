// Sampling runs once per generated token: after the first call it must not allocate. This file
// replaces the global operator new of the test_generate binary with a counting one (the count is
// only looked at here).
#include <atomic>
#include <cstdlib>
#include <limits>
#include <memory>
#include <new>
#include <vector>

#include <gtest/gtest.h>

#include "pocket/generate/sampling.h"

// The replacement operators below pair malloc with free on purpose. GCC does not see that the
// `new` expressions it inlines reach counted_malloc and warns at every free.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace {
std::atomic<long> g_allocations{0};

void* counted_malloc(std::size_t size) {
    g_allocations.fetch_add(1, std::memory_order_relaxed);
    return std::malloc(size == 0 ? 1 : size);
}
}  // namespace

// Every plain form is replaced together, so memory from any of them may be freed by any delete
// (sanitizers check that pairing). The over-aligned forms are left alone.
void* operator new(std::size_t size) {
    if (void* p = counted_malloc(size)) return p;
    throw std::bad_alloc();
}
void* operator new[](std::size_t size) {
    return operator new(size);
}
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
    return counted_malloc(size);
}
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
    return counted_malloc(size);
}
void operator delete(void* p) noexcept {
    std::free(p);
}
void operator delete[](void* p) noexcept {
    std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
    std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
    std::free(p);
}
void operator delete(void* p, const std::nothrow_t&) noexcept {
    std::free(p);
}
void operator delete[](void* p, const std::nothrow_t&) noexcept {
    std::free(p);
}

namespace pocket {
namespace {

TEST(Sampler, NoAllocationAfterFirstCall) {
    // The counter is live: one allocation counts as one.
    const long probe_before = g_allocations.load();
    void* probe = ::operator new(16);  // a direct call, which the compiler may not elide
    ASSERT_EQ(g_allocations.load() - probe_before, 1);
    ::operator delete(probe);

    std::vector<float> logits(32000);
    Rng fill(1);
    for (float& l : logits) l = static_cast<float>(fill.uniform01() * 10.0 - 5.0);

    SamplingParams p;  // default chain, plus every optional step
    p.seed = 3;
    p.repeat_penalty = 1.1f;
    p.frequency_penalty = 0.1f;
    p.presence_penalty = 0.1f;
    p.logit_bias = {{5, -std::numeric_limits<float>::infinity()}, {6, 0.5f}};
    Sampler sampler(p);
    sampler.add_constraint(std::make_unique<CallbackConstraint>([](CandidateList& candidates) {
        candidates.mutable_items()[7].logit = -std::numeric_limits<float>::infinity();
    }));
    for (int i = 0; i < 3; ++i) sampler.accept(sampler.sample(logits));

    const long before = g_allocations.load();
    for (int i = 0; i < 200; ++i) {
        logits[static_cast<size_t>(i)] += 0.5f;  // vary the input a little
        sampler.accept(sampler.sample(logits));
    }
    EXPECT_EQ(g_allocations.load() - before, 0);

    Sampler greedy(SamplingParams::greedy());
    greedy.sample(logits);
    const long before_greedy = g_allocations.load();
    for (int i = 0; i < 100; ++i) greedy.accept(greedy.sample(logits));
    EXPECT_EQ(g_allocations.load() - before_greedy, 0);
}

}  // namespace
}  // namespace pocket
