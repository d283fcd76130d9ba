// The flat tables behind vocabulary loading: Vocab's text index, TextIndex with the batched merge
// lookups, and BpeMerges' open addressing. Each is checked against a plain std::map on many keys
// (enough to force collisions, wrap-around probing and growth), since a wrong probe would only
// show as a missing token in some rare vocabulary.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>
#include <vector>

#include "pocket/core/error.h"
#include "pocket/tokenizer/vocab.h"
#include "tokenizer/bpe_merges.h"
#include "tokenizer/text_index.h"

namespace pocket::tokenizer {
namespace {

// 50,000 distinct texts of 0-40 bytes (short ones, byte-level-looking ones, long ones).
std::vector<TokenData> random_tokens(size_t n, uint32_t seed) {
    std::mt19937 rng(seed);
    std::map<std::string, int> seen;
    std::vector<TokenData> tokens;
    while (tokens.size() < n) {
        std::string text(rng() % 41, '\0');
        for (char& c : text) c = static_cast<char>(rng() % 7 == 0 ? rng() % 256 : 'a' + rng() % 4);
        if (text.empty() || !seen.emplace(text, 0).second) continue;
        tokens.push_back({text, 0.0f, kAttrNormal});
    }
    return tokens;
}

VocabSpec spec_of(std::vector<TokenData> tokens) {
    VocabSpec spec;
    spec.origin = "index-test";
    spec.kind = VocabKind::Bpe;
    spec.tokens = std::move(tokens);
    return spec;
}

TEST(TextIndex, VocabAndTextIndexFindEveryTokenAndNothingElse) {
    const std::vector<TokenData> tokens = random_tokens(50000, 7);
    const Vocab vocab(spec_of(tokens));
    const TextIndex index(vocab.tokens());
    for (size_t id = 0; id < tokens.size(); ++id) {
        ASSERT_EQ(vocab.find(tokens[id].text), static_cast<TokenId>(id));
        ASSERT_EQ(index.find(tokens[id].text), static_cast<TokenId>(id));
    }
    const std::vector<TokenData> others = random_tokens(2000, 8);
    std::map<std::string, int> known;
    for (const auto& t : tokens) known.emplace(t.text, 0);
    for (const auto& t : others) {
        const TokenId want = known.count(t.text) ? vocab.find(t.text) : kNoToken;
        EXPECT_EQ(vocab.find(t.text), want);
        EXPECT_EQ(index.find(t.text), want);
    }
    EXPECT_EQ(vocab.find(""), kNoToken);
    // A copy keeps working (the index holds ids, not pointers).
    const Vocab copy = vocab;
    EXPECT_EQ(copy.find(tokens[123].text), 123);
}

TEST(TextIndex, VocabRefusesDuplicateTextsNamingBothIds) {
    std::vector<TokenData> tokens = random_tokens(1000, 9);
    tokens[700].text = tokens[42].text;
    try {
        const Vocab vocab(spec_of(tokens));
        ADD_FAILURE() << "duplicate texts were accepted";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("tokens 42 and 700 have the same text"),
                  std::string::npos)
            << e.what();
    }
}

TEST(TextIndex, LookupMergesMatchesOneByOneLookups) {
    const std::vector<TokenData> tokens = random_tokens(20000, 11);
    const Vocab vocab(spec_of(tokens));
    const TextIndex index(vocab.tokens());
    std::mt19937 rng(12);
    // Pairs of token texts, some of whose concatenations are tokens too, and some non-tokens.
    std::vector<std::pair<std::string, std::string>> merges;
    for (int i = 0; i < 70000; ++i) {  // over 65536: the two-thread path
        const std::string& a = tokens[rng() % tokens.size()].text;
        const std::string& b = tokens[rng() % tokens.size()].text;
        const size_t cut = a.empty() ? 0 : rng() % a.size();
        merges.emplace_back(i % 5 == 0 ? a.substr(0, cut) : a, i % 7 == 0 ? b + "!" : b);
    }
    const std::vector<MergeIds> ids = lookup_merges(index, merges);
    ASSERT_EQ(ids.size(), merges.size());
    for (size_t i = 0; i < merges.size(); ++i) {
        ASSERT_EQ(ids[i].left, vocab.find(merges[i].first)) << i;
        ASSERT_EQ(ids[i].right, vocab.find(merges[i].second)) << i;
        ASSERT_EQ(ids[i].result, vocab.find(merges[i].first + merges[i].second)) << i;
    }
}

TEST(BpeMergesTable, GrowsAndKeepsTheFirstRank) {
    BpeMerges merges;  // no reserve: grows by rehashing
    std::map<std::pair<TokenId, TokenId>, std::pair<int, TokenId>> expected;
    std::mt19937 rng(5);
    for (int rank = 0; rank < 100000; ++rank) {
        const auto l = static_cast<TokenId>(rng() % 3000), r = static_cast<TokenId>(rng() % 3000);
        const auto result = static_cast<TokenId>(rng() % 100000);
        merges.add(l, r, result, rank);
        expected.emplace(std::make_pair(l, r), std::make_pair(rank, result));  // first one stays
    }
    EXPECT_EQ(merges.size(), expected.size());
    // apply() on a two-symbol word merges exactly the listed pairs, into their first result.
    for (const auto& [pair, rank_result] : expected) {
        std::vector<TokenId> ids = {pair.first, pair.second};
        merges.apply(ids);
        ASSERT_EQ(ids, std::vector<TokenId>{rank_result.second});
    }
    std::vector<TokenId> unlisted = {3001, 3002};
    merges.apply(unlisted);
    EXPECT_EQ(unlisted, (std::vector<TokenId>{3001, 3002}));
    std::vector<TokenId> with_gap = {kNoToken, 5};
    merges.apply(with_gap);
    EXPECT_EQ(with_gap, (std::vector<TokenId>{kNoToken, 5}));
}

}  // namespace
}  // namespace pocket::tokenizer
