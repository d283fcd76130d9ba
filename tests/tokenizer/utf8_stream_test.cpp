// UTF-8 helpers and the streaming detokenizer.
#include <gtest/gtest.h>

#include "pocket/tokenizer/stream_decoder.h"
#include "pocket/tokenizer/utf8.h"
#include "tokenizer/vocab_builder.h"

namespace pocket::tokenizer {
namespace {

using test::byte_id;

TEST(Utf8, LeadLengthIsLenient) {
    EXPECT_EQ(utf8::lead_length('a'), 1u);
    EXPECT_EQ(utf8::lead_length(0x80), 1u);  // stray continuation byte: a symbol of its own
    EXPECT_EQ(utf8::lead_length(0xC3), 2u);
    EXPECT_EQ(utf8::lead_length(0xE2), 3u);
    EXPECT_EQ(utf8::lead_length(0xF0), 4u);
    EXPECT_EQ(utf8::lead_length(0xFF), 4u);
}

TEST(Utf8, DecodeIsStrict) {
    const auto d = utf8::decode("\xF0\x9F\x9A\x80");
    EXPECT_EQ(d.status, utf8::Status::Complete);
    EXPECT_EQ(d.code_point, U'\U0001F680');
    EXPECT_EQ(d.length, 4u);
    EXPECT_EQ(utf8::decode("\xE2\x82").status, utf8::Status::Incomplete);
    EXPECT_EQ(utf8::decode("\xC0\x80").status, utf8::Status::Invalid);          // overlong
    EXPECT_EQ(utf8::decode("\xE0\x80\x80").status, utf8::Status::Invalid);      // overlong
    EXPECT_EQ(utf8::decode("\xED\xA0\x80").status, utf8::Status::Invalid);      // surrogate
    EXPECT_EQ(utf8::decode("\xF4\x90\x80\x80").status, utf8::Status::Invalid);  // > U+10FFFF
    EXPECT_EQ(utf8::decode("\x80").status, utf8::Status::Invalid);
    EXPECT_EQ(utf8::decode("\xE2\x41").status, utf8::Status::Invalid);
    EXPECT_TRUE(utf8::is_valid("Z\xC3\xBCrich \xE2\x80\x94 \xE6\x9D\xB1"));
    EXPECT_FALSE(utf8::is_valid("\xE6\x9D"));
}

TEST(Utf8, EncodeAndSanitize) {
    EXPECT_EQ(utf8::encode(U'\u00FC'), "\xC3\xBC");
    EXPECT_EQ(utf8::encode(U'\U0001F680'), "\xF0\x9F\x9A\x80");
    EXPECT_EQ(utf8::encode(0xD800), utf8::kReplacementUtf8);
    const std::string r(utf8::kReplacementUtf8);
    EXPECT_EQ(utf8::sanitize("a\xFF"
                             "b"),
              "a" + r + "b");
    EXPECT_EQ(utf8::sanitize("\xE2\x82"), r + r);  // one replacement per byte
    EXPECT_EQ(utf8::sanitize("\xE2\x82\xAC"), "\xE2\x82\xAC");
}

TEST(StreamDecoder, HoldsAnEmojiSplitAcrossByteTokens) {
    test::SpmBuilder b;
    const TokenId hi = b.add(test::sp("hi"));
    auto tok = b.build();
    StreamDecoder stream(*tok);
    EXPECT_EQ(stream.feed(hi), " hi");
    EXPECT_EQ(stream.feed(byte_id(0xF0)), "");
    EXPECT_EQ(stream.feed(byte_id(0x9F)), "");
    EXPECT_EQ(stream.feed(byte_id(0x9A)), "");
    EXPECT_TRUE(stream.has_pending());
    EXPECT_EQ(stream.feed(byte_id(0x80)), "\xF0\x9F\x9A\x80");
    EXPECT_FALSE(stream.has_pending());
    EXPECT_EQ(stream.flush(), "");
}

TEST(StreamDecoder, ReplacesBytesThatCanNeverBeValid) {
    test::SpmBuilder b;
    const TokenId hi = b.add(test::sp("hi"));
    auto tok = b.build();
    const std::string r(utf8::kReplacementUtf8);
    StreamDecoder stream(*tok);
    EXPECT_EQ(stream.feed(byte_id(0xFF)), r);
    // A started sequence interrupted by ASCII: each held byte becomes U+FFFD.
    EXPECT_EQ(stream.feed(byte_id(0xF0)), "");
    EXPECT_EQ(stream.feed(byte_id(0x9F)), "");
    EXPECT_EQ(stream.feed(hi), r + r + " hi");
    // Left unfinished at the end.
    EXPECT_EQ(stream.feed(byte_id(0xE2)), "");
    EXPECT_EQ(stream.flush(), r);
    EXPECT_FALSE(stream.has_pending());
}

TEST(StreamDecoder, SpecialTokensRenderOnlyWhenAsked) {
    test::SpmBuilder b;
    auto tok = b.build();
    StreamDecoder plain(*tok);
    EXPECT_EQ(plain.feed(test::kEos), "");
    StreamDecoder special(*tok, /*special=*/true);
    EXPECT_EQ(special.feed(test::kEos), "</s>");
}

TEST(StreamDecoder, CompletesCharactersAcrossMultiByteChunks) {
    test::SpmBuilder b;
    auto tok = b.build();
    StreamDecoder stream(*tok);
    EXPECT_EQ(stream.feed_bytes("x\xE2\x82"), "x");
    EXPECT_EQ(stream.feed_bytes("\xAC\xC3"), "\xE2\x82\xAC");
    EXPECT_EQ(stream.feed_bytes("\xBCy"), "\xC3\xBCy");
}

}  // namespace
}  // namespace pocket::tokenizer
