// SPM tokenizer behaviour on small hand-built vocabularies. Each expectation is worked out by hand
// from llama.cpp's rules, noted next to it.
#include <gtest/gtest.h>

#include "pocket/core/error.h"
#include "pocket/tokenizer/special_partition.h"
#include "tokenizer/vocab_builder.h"

namespace pocket::tokenizer {
namespace {

using test::byte_id;
using test::kBos;
using test::kEos;
using test::kUnk;
using test::sp;
using test::SpmBuilder;
using Ids = std::vector<TokenId>;

// ▁, a, b, c, ab, bc, ▁a, abc with scores chosen so that the merge order matters.
struct AbcVocab {
    SpmBuilder b;
    TokenId space = b.add(sp(), -1.0f);
    TokenId a = b.add("a", -1.0f);
    TokenId bb = b.add("b", -1.0f);
    TokenId c = b.add("c", -1.0f);
    TokenId ab = b.add("ab", -2.0f);
    TokenId bc = b.add("bc", -0.5f);
    TokenId space_a = b.add(sp("a"), -3.0f);
    TokenId abc = b.add("abc", -1.5f);
};

TEST(SpmTokenizer, MergesHighestScoringPairFirst) {
    AbcVocab v;
    auto tok = v.b.build();
    // "▁abc": pairs ▁a(-3) ab(-2) bc(-0.5) -> bc first; then a+bc = abc(-1.5) beats ▁a(-3);
    // ▁+abc is no token, so ▁ stays alone.
    EXPECT_EQ(tok->encode("abc", false, false), (Ids{v.space, v.abc}));
    // add_special adds BOS only (SPM default: add_bos true, add_eos false).
    EXPECT_EQ(tok->encode("abc", true, false), (Ids{kBos, v.space, v.abc}));
    // "▁a▁▁b": only ▁a is a token pair.
    EXPECT_EQ(tok->encode("a  b", false, false), (Ids{v.space_a, v.space, v.space, v.bb}));
    // Empty text: nothing, or just BOS.
    EXPECT_EQ(tok->encode("", false, false), Ids{});
    EXPECT_EQ(tok->encode("", true, false), Ids{kBos});
}

TEST(SpmTokenizer, EqualScoresMergeLeftmostPairFirst) {
    SpmBuilder b;
    b.spec.flags.add_space_prefix = false;
    const TokenId a = b.add("a", -1.0f);
    const TokenId aa = b.add("aa", -1.0f);
    auto tok = b.build();
    EXPECT_EQ(tok->encode("aaa", false, false), (Ids{aa, a}));
    EXPECT_EQ(tok->encode("aaaaa", false, false), (Ids{aa, aa, a}));
}

TEST(SpmTokenizer, WithoutSpacePrefixFlagNoSpaceIsAdded) {
    AbcVocab v;
    v.b.spec.flags.add_space_prefix = false;
    auto tok = v.b.build();
    EXPECT_EQ(tok->encode("abc", false, false), (Ids{v.abc}));
    EXPECT_EQ(tok->encode(" abc", false, false), (Ids{v.space, v.abc}));
}

TEST(SpmTokenizer, UnknownCharactersFallBackToByteTokens) {
    AbcVocab v;
    auto tok = v.b.build();
    // é = C3 A9, 🚀 = F0 9F 9A 80
    EXPECT_EQ(tok->encode("a\xC3\xA9", false, false),
              (Ids{v.space_a, byte_id(0xC3), byte_id(0xA9)}));
    EXPECT_EQ(tok->encode("\xF0\x9F\x9A\x80", false, false),
              (Ids{v.space, byte_id(0xF0), byte_id(0x9F), byte_id(0x9A), byte_id(0x80)}));
    // Symbols are cut by lead byte alone: 0xFF announces 4 bytes and swallows the "a" after it
    // (clamped at the end of the text), so "a" is not a token of its own here.
    EXPECT_EQ(tok->encode("\xFF"
                          "a",
                          false, false),
              (Ids{v.space, byte_id(0xFF), byte_id('a')}));
}

TEST(SpmTokenizer, WithoutByteTokensAnUnknownCharacterBecomesOneUnk) {
    SpmBuilder b(/*with_byte_tokens=*/false);
    const TokenId space = b.add(sp());
    const TokenId a = b.add("a");
    auto tok = b.build();
    EXPECT_EQ(tok->encode("a\xC3\xA9"
                          "a",
                          false, false),
              (Ids{space, a, kUnk, a}));

    b.spec.special.unk = kNoToken;
    auto no_unk = b.build();
    EXPECT_THROW(no_unk->encode("\xC3\xA9", false, false), Error);
}

TEST(SpmTokenizer, ControlTokenTextIsPlainTextUnlessParseSpecial) {
    AbcVocab v;
    auto tok = v.b.build();
    // Fragments <s>, "abc", </s>: the text after a special token gets the space prefix.
    EXPECT_EQ(tok->encode("<s>abc</s>", false, true), (Ids{kBos, v.space, v.abc, kEos}));
    // As text, "<", "s", ">", "/" are not tokens and fall back to bytes.
    EXPECT_EQ(tok->encode("<s>abc</s>", false, false),
              (Ids{v.space, byte_id('<'), byte_id('s'), byte_id('>'), v.abc, byte_id('<'),
                   byte_id('/'), byte_id('s'), byte_id('>')}));
    // <unk> is special too (unknown attribute).
    EXPECT_EQ(tok->encode("<unk>", false, true), (Ids{kUnk}));
}

TEST(SpmTokenizer, UserDefinedTokensAreMatchedEvenWithoutParseSpecial) {
    AbcVocab v;
    const TokenId tag = v.b.add("<tag>", 0.0f, kAttrUserDefined);
    auto tok = v.b.build();
    // "a" -> "▁a"; <tag>; "b" after a special token -> "▁b" = ▁ b.
    EXPECT_EQ(tok->encode("a<tag>b", false, false), (Ids{v.space_a, tag, v.space, v.bb}));
    EXPECT_EQ(tok->encode("<tag><tag>", false, false), (Ids{tag, tag}));
}

TEST(SpecialPartition, LongestSpecialTokenIsCutFirst) {
    AbcVocab v;
    const TokenId x = v.b.add("[X]", 0.0f, kAttrControl);
    const TokenId xy = v.b.add("[X][Y]", 0.0f, kAttrControl);
    const Vocab vocab(v.b.spec);
    const auto fragments = partition_special_tokens(vocab, "a[X][Y][X]b", true);
    ASSERT_EQ(fragments.size(), 4u);
    EXPECT_EQ(fragments[0].text, "a");
    EXPECT_EQ(fragments[1].token, xy);
    EXPECT_EQ(fragments[2].token, x);
    EXPECT_EQ(fragments[3].text, "b");
    EXPECT_TRUE(partition_special_tokens(vocab, "", true).empty());
}

TEST(SpecialPartition, StripAttributesSwallowAsciiWhitespace) {
    AbcVocab v;
    const TokenId r = v.b.add("<r>", 0.0f, kAttrControl | kAttrRStrip);
    const TokenId l = v.b.add("<l>", 0.0f, kAttrControl | kAttrLStrip);
    auto tok = v.b.build();
    EXPECT_EQ(tok->encode("<r> \t\n a", false, true), (Ids{r, v.space_a}));
    EXPECT_EQ(tok->encode("a \n<l>", false, true), (Ids{v.space_a, l}));
    // Only whitespace after <r>: nothing is left.
    EXPECT_EQ(tok->encode("<r>  ", false, true), (Ids{r}));
    // Without the attribute the whitespace is text: " \n" after <r> -> "▁▁" + newline byte.
    EXPECT_EQ(tok->encode("<s> \na", false, true),
              (Ids{kBos, v.space, v.space, byte_id('\n'), v.a}));
}

TEST(Vocab, Phi3ModelNamesGiveSpecialTokensRStrip) {
    SpmBuilder b;
    const TokenId user = b.add("<|user|>", 0.0f, kAttrControl);
    const TokenId endoftext = b.add("<|endoftext|>", 0.0f, kAttrControl);
    b.spec.model_name = "Tiny-PHI3-model";
    const Vocab phi(b.spec);
    EXPECT_TRUE(phi.has_attr(user, kAttrRStrip));
    EXPECT_TRUE(phi.has_attr(kEos, kAttrRStrip));  // </s>
    EXPECT_FALSE(phi.has_attr(kBos, kAttrRStrip));
    EXPECT_FALSE(phi.has_attr(kUnk, kAttrRStrip));
    EXPECT_FALSE(phi.has_attr(endoftext, kAttrRStrip));

    b.spec.model_name = "phi-3-mini";
    EXPECT_TRUE(Vocab(b.spec).has_attr(user, kAttrRStrip));
    b.spec.model_name = "llama";
    EXPECT_FALSE(Vocab(b.spec).has_attr(user, kAttrRStrip));
}

TEST(Vocab, EndOfTurnTokensAreFoundByText) {
    SpmBuilder b;
    const TokenId endoftext = b.add("<|endoftext|>");
    const TokenId end = b.add("<|end|>");
    const TokenId other = b.add("<|other|>", 0.0f, kAttrControl);
    const Vocab vocab(b.spec);
    // <|end|> is listed before <|endoftext|> among the end-of-turn texts.
    EXPECT_EQ(vocab.special().eot, end);
    EXPECT_TRUE(vocab.has_attr(end, kAttrControl));
    EXPECT_TRUE(
        vocab.has_attr(endoftext, kAttrControl));  // forced: it is an end-of-generation text
    EXPECT_EQ(vocab.eog_ids(), (Ids{kEos, endoftext, end}));
    EXPECT_TRUE(vocab.is_eog(end));
    EXPECT_FALSE(vocab.is_eog(other));
    EXPECT_FALSE(vocab.is_eog(kNoToken));
    // Given explicitly, the id wins over text detection.
    b.spec.special.eot = endoftext;
    EXPECT_EQ(Vocab(b.spec).special().eot, endoftext);
}

TEST(Vocab, LinefeedIsTheNewlineByteToken) {
    SpmBuilder b;
    EXPECT_EQ(Vocab(b.spec).special().linefeed, byte_id('\n'));
}

TEST(SpmTokenizer, PiecesFollowTokenAttributes) {
    AbcVocab v;
    const TokenId normal = v.b.add("x" + sp("y"));
    const TokenId user = v.b.add("u" + sp("v"), 0.0f, kAttrUserDefined);
    const TokenId unused = v.b.add("unused", 0.0f, kAttrUnused);
    auto tok = v.b.build();
    EXPECT_EQ(tok->token_to_piece(normal, false), "x y");  // ▁ -> space in normal tokens only
    EXPECT_EQ(tok->token_to_piece(user, false), "u" + sp("v"));
    EXPECT_EQ(tok->token_to_piece(unused, true), "");
    EXPECT_EQ(tok->token_to_piece(byte_id(0xC3), false), "\xC3");
    EXPECT_EQ(tok->token_to_piece(kBos, false), "");
    EXPECT_EQ(tok->token_to_piece(kBos, true), "<s>");
    EXPECT_EQ(tok->token_to_piece(kUnk, false), "");
    EXPECT_EQ(tok->token_to_piece(kUnk, true), "<unk>");
    EXPECT_THROW(tok->token_to_piece(static_cast<TokenId>(tok->n_vocab()), true), Error);
    EXPECT_THROW(tok->token_to_piece(-1, true), Error);
}

TEST(SpmTokenizer, DecodeRemovesTheSpacePrefixUnlessABosWasDropped) {
    AbcVocab v;
    auto tok = v.b.build();
    const Ids text{v.space, v.abc};
    const Ids with_bos{kBos, v.space, v.abc};
    EXPECT_EQ(tok->decode(text, true, false), "abc");
    EXPECT_EQ(tok->decode(with_bos, true, false), " abc");
    // BOS kept but rendered as "": it still used up the one-space strip.
    EXPECT_EQ(tok->decode(with_bos, false, false), " abc");
    EXPECT_EQ(tok->decode(with_bos, false, true), "<s> abc");
    // Only one space is stripped.
    EXPECT_EQ(tok->decode(Ids{v.space, v.space, v.a}, false, false), " a");
    // EOS is dropped only when the vocabulary adds EOS.
    const Ids with_eos{v.space, v.abc, kEos};
    EXPECT_EQ(tok->decode(with_eos, true, true), "abc</s>");
    v.b.spec.flags.add_eos = true;
    EXPECT_EQ(v.b.build()->decode(with_eos, true, true), "abc");
    EXPECT_EQ(tok->decode(Ids{}, true, true), "");
}

TEST(Tokenizer, CleanSpacesJoinsPunctuationAndContractions) {
    SpmBuilder b;
    b.spec.flags.clean_spaces = true;
    const TokenId hi = b.add(sp("hi"));
    const TokenId q = b.add(sp("?"));
    const TokenId s = b.add(sp("'s"));
    const TokenId t = b.add(sp("'t"));
    const TokenId re = b.add(sp("'re"));
    const TokenId apos = b.add(sp("'"));
    const TokenId x = b.add(sp("x"));
    auto tok = b.build();
    EXPECT_EQ(tok->decode(Ids{hi, q}, false, false), "hi?");
    EXPECT_EQ(tok->decode(Ids{hi, s}, false, false), "hi's");
    EXPECT_EQ(tok->decode(Ids{hi, t}, false, false), "hi 't");
    EXPECT_EQ(tok->decode(Ids{hi, re}, false, false), "hi're");
    EXPECT_EQ(tok->decode(Ids{hi, apos, x}, false, false), "hi'x");
    // "hi ' ' x": the second apostrophe follows the swallowed space, so only the first pair joins.
    EXPECT_EQ(tok->decode(Ids{hi, apos, apos, x}, false, false), "hi'' x");
}

TEST(Vocab, RejectsMalformedVocabularies) {
    {
        SpmBuilder b;
        b.add("dup");
        b.add("dup");
        EXPECT_THROW(Vocab{b.spec}, Error);
    }
    {
        SpmBuilder b;
        b.spec.special.eot = 100000;
        EXPECT_THROW(Vocab{b.spec}, Error);
    }
    {
        VocabSpec empty;
        EXPECT_THROW(Vocab{empty}, Error);
    }
    {
        SpmBuilder b;
        b.add("<0xZZ>", 0.0f, kAttrByte);
        EXPECT_THROW(b.build(), Error);
    }
    {
        SpmBuilder b;
        b.spec.kind = VocabKind::Bpe;
        b.spec.pre_tokenizer = "not-a-pre-tokenizer";
        try {
            b.build();
            FAIL() << "an unknown BPE pre-tokenizer must be rejected";
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find("'not-a-pre-tokenizer'"), std::string::npos)
                << e.what();
        }
    }
}

TEST(Vocab, EmptyTokenTextsGetPlaceholders) {
    SpmBuilder b;
    const TokenId empty = b.add("");
    const Vocab vocab(b.spec);
    EXPECT_EQ(vocab.text(empty), "[EMPTY_" + std::to_string(empty) + "]");
    EXPECT_EQ(vocab.find(vocab.text(empty)), empty);
    EXPECT_EQ(vocab.find("absent"), kNoToken);
}

}  // namespace
}  // namespace pocket::tokenizer
