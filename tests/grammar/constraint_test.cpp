// GrammarConstraint on small hand-made vocabularies: masks, multi-element tokens, partial UTF-8,
// end-of-generation handling, clones, and the trie walk against token-by-token checks.
#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "pocket/core/error.h"
#include "pocket/generate/grammar.h"
#include "pocket/generate/grammar_constraint.h"
#include "pocket/generate/sampling.h"
#include "tokenizer/vocab_builder.h"

namespace pocket {
namespace {

using tokenizer::test::byte_id;
using tokenizer::test::kEos;
using tokenizer::test::SpmBuilder;

struct Fixture {
    SpmBuilder b;
    std::unique_ptr<tokenizer::Tokenizer> tok;
    std::shared_ptr<const VocabularyIndex> index;

    void build() {
        tok = b.build();
        index = VocabularyIndex::build(*tok);
    }
    GrammarConstraint constraint(std::string_view gbnf) const {
        return GrammarConstraint(std::make_shared<const Grammar>(Grammar::parse_gbnf(gbnf)), index);
    }
};

bool allowed(GrammarConstraint& c, TokenId id) {
    std::vector<uint64_t> m = c.allowed_mask();
    return (m[static_cast<size_t>(id) / 64] >> (id % 64)) & 1;
}

std::vector<TokenId> allowed_ids(GrammarConstraint& c) {
    std::vector<uint64_t> m = c.allowed_mask();
    std::vector<TokenId> out;
    for (size_t i = 0; i < m.size() * 64; ++i) {
        if ((m[i / 64] >> (i % 64)) & 1) out.push_back(static_cast<TokenId>(i));
    }
    return out;
}

TEST(GrammarConstraint, MasksAndTokensSpanningElements) {
    Fixture f;
    TokenId open = f.b.add("{"), open_q = f.b.add("{\""), qa = f.b.add("\"a"),
            colon = f.b.add("\":"), one = f.b.add("1"), twelve = f.b.add("12"),
            close = f.b.add("}"), x = f.b.add("x"), all = f.b.add("{\"a\":1}");
    f.build();
    GrammarConstraint c = f.constraint(R"(root ::= "{" "\"a\"" ":" [0-9]+ "}")");
    EXPECT_EQ(allowed_ids(c), (std::vector<TokenId>{byte_id('{'), open, open_q, all}));
    EXPECT_FALSE(c.can_end());
    c.accept(open);
    EXPECT_EQ(allowed_ids(c), (std::vector<TokenId>{byte_id('"'), qa}));
    c.accept(qa);
    c.accept(colon);
    EXPECT_TRUE(allowed(c, one));
    EXPECT_TRUE(allowed(c, twelve));
    EXPECT_FALSE(allowed(c, close));
    EXPECT_FALSE(allowed(c, x));
    EXPECT_THROW(c.accept(close), Error);
    c.accept(twelve);
    EXPECT_TRUE(allowed(c, close));
    EXPECT_FALSE(allowed(c, kEos));
    EXPECT_THROW(c.accept(kEos), Error);
    c.accept(close);
    EXPECT_TRUE(c.can_end());
    EXPECT_TRUE(c.finished());
    EXPECT_EQ(allowed_ids(c), (std::vector<TokenId>{kEos}));  // complete: only the end
    c.accept(kEos);
    c.reset();
    c.accept(all);
    EXPECT_TRUE(c.finished());
}

TEST(GrammarConstraint, EndOfGenerationOnlyWhereTheGrammarMayEnd) {
    Fixture f;
    TokenId a = f.b.add("a");
    f.build();
    GrammarConstraint c = f.constraint(R"(root ::= "a" "a"?)");
    EXPECT_FALSE(allowed(c, kEos));
    c.accept(a);
    EXPECT_TRUE(allowed(c, kEos));  // may end, or take one more
    EXPECT_TRUE(allowed(c, a));
    EXPECT_TRUE(c.can_end());
    EXPECT_FALSE(c.finished());
}

TEST(GrammarConstraint, PartialUtf8AcrossTokens) {
    Fixture f;
    TokenId e_acute = f.b.add("\xc3\xa9"), e_bang = f.b.add("\xc3\xa9!"), bang = f.b.add("!");
    f.build();
    GrammarConstraint c = f.constraint("root ::= \"\xc3\xa9\" \"!\"");
    EXPECT_EQ(allowed_ids(c), (std::vector<TokenId>{byte_id(0xc3), e_acute, e_bang}));
    c.accept(byte_id(0xc3));  // ends mid-character
    EXPECT_FALSE(c.can_end());
    EXPECT_EQ(allowed_ids(c), (std::vector<TokenId>{byte_id(0xa9)}));
    GrammarConstraint copy = c;
    c.accept(byte_id(0xa9));
    EXPECT_EQ(allowed_ids(c), (std::vector<TokenId>{byte_id('!'), bang}));
    // The branch taken before the second byte is unaffected.
    EXPECT_THROW(copy.accept(bang), Error);
    copy.accept(byte_id(0xa9));
    copy.accept(bang);
    EXPECT_TRUE(copy.finished());
}

TEST(GrammarConstraint, PartialUtf8PrunedWhenNoCharacterCanFollow) {
    Fixture f;
    f.build();
    GrammarConstraint ascii = f.constraint("root ::= [a-z]");
    EXPECT_FALSE(allowed(ascii, byte_id(0xc3)));
    GrammarConstraint accented = f.constraint("root ::= [\\u00e0-\\u00ff]");
    EXPECT_TRUE(allowed(accented, byte_id(0xc3)));
    EXPECT_FALSE(allowed(accented, byte_id(0xc4)));  // U+0100.. is out of the class
    EXPECT_FALSE(allowed(accented, byte_id(0xa9)));  // a lone continuation byte
    GrammarConstraint negated = f.constraint("root ::= [^\\u0080-\\u07ff]");
    EXPECT_FALSE(allowed(negated, byte_id(0xc3)));  // every 2-byte character is excluded
    EXPECT_TRUE(allowed(negated, byte_id(0xe2)));
}

TEST(GrammarConstraint, ControlTokensNeverAllowed) {
    Fixture f;
    TokenId ctl = f.b.add("<|tool|>", 0.0f, tokenizer::kAttrControl);
    TokenId text = f.b.add("<|tool|>x");
    f.build();
    GrammarConstraint c = f.constraint("root ::= .*");
    EXPECT_FALSE(allowed(c, ctl));
    EXPECT_TRUE(allowed(c, text));
    EXPECT_TRUE(allowed(c, kEos));
    EXPECT_FALSE(allowed(c, tokenizer::test::kBos));
    EXPECT_THROW(c.accept(ctl), Error);
}

TEST(GrammarConstraint, CloneIsIndependentAndSamplerUsesIt) {
    Fixture f;
    TokenId a = f.b.add("a"), b = f.b.add("b");
    f.build();
    GrammarConstraint c = f.constraint(R"(root ::= ("a" | "b") "b")");
    std::unique_ptr<SamplingConstraint> clone = c.clone();
    c.accept(a);
    clone->accept(b);
    EXPECT_TRUE(allowed(c, b));
    EXPECT_FALSE(allowed(c, a));
    clone->accept(b);
    EXPECT_TRUE(clone->can_end());
    EXPECT_FALSE(c.can_end());

    Sampler s(SamplingParams::greedy());
    s.add_constraint(c.clone());
    std::vector<float> logits(f.tok->n_vocab(), 0.0f);
    logits[static_cast<size_t>(a)] = 5.0f;  // the model prefers "a", the grammar wants "b"
    logits[static_cast<size_t>(b)] = 1.0f;
    EXPECT_EQ(s.sample(logits), b);
}

// The trie walk must agree with advancing over each token's text on its own, on a vocabulary
// with many overlapping pieces, along random paths through a JSON-ish grammar.
TEST(GrammarConstraint, TrieWalkAgreesWithTokenByTokenChecks) {
    Fixture f;
    const char* pieces[] = {
        "{",     "}",        "[",        "]",    ",",     ":",    "\"", "\":",  "\",",   "{\"",
        "\"}",   "true",     "tr",       "ue",   "false", "null", " ",  "  ",   "\n",    "1",
        "12",    "123",      "-",        ".",    "e",     "ab",   "a",  "b\"",  "\\",    "\\n",
        "\\u00", "\xc3\xa9", "\xe2\x82", "\xac", "\"a\"", "[]",   "{}", ", \"", "\":\"", "0."};
    for (const char* p : pieces) f.b.add(p);
    f.build();
    Grammar g = Grammar::json();
    auto grammar = std::make_shared<const Grammar>(g);
    std::mt19937 rng(7);
    for (int run = 0; run < 30; ++run) {
        GrammarConstraint c(grammar, f.index);
        for (int step = 0; step < 40; ++step) {
            std::vector<TokenId> ids = allowed_ids(c);
            for (TokenId id = 0; static_cast<size_t>(id) < f.tok->n_vocab(); ++id) {
                auto probe = c.clone();
                bool ok = true;
                try {
                    probe->accept(id);
                } catch (const Error&) {
                    ok = false;
                }
                bool in_mask = std::binary_search(ids.begin(), ids.end(), id);
                ASSERT_EQ(ok, in_mask) << "token " << id << " run " << run << " step " << step;
            }
            ASSERT_FALSE(ids.empty());
            TokenId pick = ids[rng() % ids.size()];
            if (f.index->is_eog(pick)) break;
            c.accept(pick);
        }
    }
}

}  // namespace
}  // namespace pocket
