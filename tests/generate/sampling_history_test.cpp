#include "pocket/generate/sampling_history.h"

#include <gtest/gtest.h>

#include "pocket/core/error.h"

namespace pocket {
namespace {

TEST(RecentTokens, WindowForgetsOldest) {
    RecentTokens recent(3);
    for (TokenId t : {1, 2, 1, 3}) recent.push(t);
    // Window now holds 2, 1, 3: the first 1 fell out.
    EXPECT_EQ(recent.size(), 3u);
    EXPECT_EQ(recent.count(1), 1);
    EXPECT_EQ(recent.count(2), 1);
    EXPECT_EQ(recent.count(3), 1);
    recent.push(3);  // window 1, 3, 3
    EXPECT_EQ(recent.count(2), 0);
    EXPECT_EQ(recent.count(3), 2);
    recent.push(3);
    recent.push(3);  // window 3, 3, 3
    EXPECT_EQ(recent.count(1), 0);
    EXPECT_EQ(recent.count(3), 3);
    EXPECT_EQ(recent.count(1000), 0);
    EXPECT_EQ(recent.count(-1), 0);
}

TEST(RecentTokens, CountsSpanIndexedById) {
    RecentTokens recent(10);
    recent.push(4);
    recent.push(4);
    recent.push(0);
    ASSERT_GE(recent.counts().size(), 5u);
    EXPECT_EQ(recent.counts()[0], 1);
    EXPECT_EQ(recent.counts()[4], 2);
    EXPECT_EQ(recent.counts()[2], 0);
}

TEST(RecentTokens, ZeroWindowRecordsNothing) {
    RecentTokens recent(0);
    recent.push(5);
    EXPECT_EQ(recent.size(), 0u);
    EXPECT_EQ(recent.count(5), 0);
}

TEST(RecentTokens, NegativeWindowKeepsEverything) {
    RecentTokens recent(-1);
    for (int i = 0; i < 1000; ++i) recent.push(7);
    EXPECT_EQ(recent.size(), 1000u);
    EXPECT_EQ(recent.count(7), 1000);
}

TEST(RecentTokens, ClearAndBadIds) {
    RecentTokens recent(4);
    recent.push(1);
    recent.push(2);
    recent.clear();
    EXPECT_EQ(recent.size(), 0u);
    EXPECT_EQ(recent.count(1), 0);
    // After a clear the ring starts over: 4 pushes fit without forgetting.
    for (TokenId t : {9, 9, 9, 9}) recent.push(t);
    EXPECT_EQ(recent.count(9), 4);
    EXPECT_THROW(recent.push(-1), Error);
}

}  // namespace
}  // namespace pocket
