// Prompt lookup: the most recent earlier occurrence of the longest matching n-gram wins.
#include <gtest/gtest.h>

#include <vector>

#include "generate/draft_lookup.h"

namespace pocket {
namespace {

TEST(LookupDraft, ProposesWhatFollowedTheMostRecentOccurrence) {
    const std::vector<TokenId> seq = {1, 2, 3, 9, 1, 2, 3, 7, 8, 5, 1, 2, 3};
    // "1 2 3" occurred at 4 (followed by 7 8 5 ...) and at 0; the later one wins.
    EXPECT_EQ(lookup_draft(seq, 2, 3, 3), (std::vector<TokenId>{7, 8, 5}));
    EXPECT_EQ(lookup_draft(seq, 2, 3, 10), (std::vector<TokenId>{7, 8, 5, 1, 2, 3}));
}

TEST(LookupDraft, LongerNgramsFirst) {
    // "4 5" last occurred followed by 6, but "3 4 5" occurred followed by 7.
    const std::vector<TokenId> seq = {3, 4, 5, 7, 0, 4, 5, 6, 3, 4, 5};
    EXPECT_EQ(lookup_draft(seq, 2, 3, 1), (std::vector<TokenId>{7}));
    EXPECT_EQ(lookup_draft(seq, 2, 2, 1), (std::vector<TokenId>{6}));
}

TEST(LookupDraft, NothingWithoutAMatch) {
    const std::vector<TokenId> seq = {1, 2, 3, 4};
    EXPECT_TRUE(lookup_draft(seq, 1, 3, 4).empty());
    EXPECT_TRUE(lookup_draft(std::vector<TokenId>{}, 1, 3, 4).empty());
    EXPECT_TRUE(lookup_draft(seq, 1, 3, 0).empty());
}

TEST(LookupDraft, OverlappingRepeats) {
    const std::vector<TokenId> seq = {5, 5, 5};
    EXPECT_EQ(lookup_draft(seq, 2, 2, 4), (std::vector<TokenId>{5}));
}

}  // namespace
}  // namespace pocket
