#include "server/json_fields.h"

#include <string>

#include <gtest/gtest.h>

namespace pocket::server {
namespace {

// Runs f, which must throw an ApiError 400; returns it for further checks.
template <class F>
ApiError expect_400(F&& f) {
    try {
        f();
    } catch (const ApiError& e) {
        EXPECT_EQ(e.status(), 400) << e.message();
        return e;
    }
    ADD_FAILURE() << "no ApiError thrown";
    return ApiError(0, "", "");
}

bool contains(const std::string& s, const std::string& part) {
    return s.find(part) != std::string::npos;
}

// ---- UTF-8 ----

TEST(Utf8, AcceptsWellFormedText) {
    EXPECT_FALSE(find_invalid_utf8(""));
    EXPECT_FALSE(find_invalid_utf8("plain ascii"));
    EXPECT_FALSE(find_invalid_utf8("\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));  // é € 😀
    EXPECT_FALSE(find_invalid_utf8("\xc2\x80 \xe0\xa0\x80 \xf0\x90\x80\x80"));  // smallest of each
    EXPECT_FALSE(find_invalid_utf8("\xed\x9f\xbf \xee\x80\x80"));  // U+D7FF and U+E000 border
    EXPECT_FALSE(find_invalid_utf8("\xf4\x8f\xbf\xbf"));           // U+10FFFF
    EXPECT_FALSE(find_invalid_utf8(std::string("a\0b", 3)));
}

void expect_invalid(std::string_view bytes, size_t offset, const char* reason) {
    const auto e = find_invalid_utf8(bytes);
    ASSERT_TRUE(e) << reason;
    EXPECT_EQ(e->offset, offset) << reason;
    EXPECT_STREQ(e->reason, reason);
}

TEST(Utf8, RejectsEachKindOfMalformation) {
    expect_invalid("ab\x80", 2, "unexpected continuation byte");
    expect_invalid("\xbf", 0, "unexpected continuation byte");
    expect_invalid("\xc0\xaf", 0, "overlong encoding");  // '/' in two bytes
    expect_invalid("\xc1\xbf", 0, "overlong encoding");
    expect_invalid("x\xe0\x80\xaf", 1, "overlong encoding");     // '/' in three bytes
    expect_invalid("\xe0\x9f\xbf", 0, "overlong encoding");      // U+07FF in three bytes
    expect_invalid("\xf0\x80\x80\xaf", 0, "overlong encoding");  // '/' in four bytes
    expect_invalid("\xf0\x8f\xbf\xbf", 0, "overlong encoding");  // U+FFFF in four bytes
    expect_invalid("\xed\xa0\x80", 0, "UTF-16 surrogate");       // U+D800
    expect_invalid("\xed\xbf\xbf", 0, "UTF-16 surrogate");       // U+DFFF
    expect_invalid("\xf4\x90\x80\x80", 0, "code point above U+10FFFF");
    expect_invalid("\xf5\x80\x80\x80", 0, "code point above U+10FFFF");
    expect_invalid("\xf7\xbf\xbf\xbf", 0, "code point above U+10FFFF");
    expect_invalid("\xf8\x88\x80\x80\x80", 0, "invalid byte");
    expect_invalid("\xff", 0, "invalid byte");
    expect_invalid("\xfe", 0, "invalid byte");
    expect_invalid("ok\xc3", 2, "truncated sequence");
    expect_invalid("\xe2\x82", 0, "truncated sequence");
    expect_invalid("\xf0\x9f\x98", 0, "truncated sequence");
    expect_invalid("\xe2\x28\xa1", 0, "invalid continuation byte");
    expect_invalid("\xe2\x82\x28", 0, "invalid continuation byte");
    expect_invalid("\xf0\x9f\x98\x41", 0, "invalid continuation byte");
    expect_invalid("\xc3\xc3\xa9", 0, "invalid continuation byte");
}

// ---- parse_body ----

TEST(ParseBody, ParsesAnObject) {
    const json j = parse_body(R"({"model":"m","n":1,"x":[1,{"y":null}],"s":"\ud83d\ude00"})");
    EXPECT_EQ(j["model"], "m");
    EXPECT_EQ(j["x"][1]["y"], nullptr);
    EXPECT_EQ(j["s"], "\xf0\x9f\x98\x80");
    EXPECT_EQ(parse_body(R"({"a":1,"a":2})")["a"], 2);  // the last duplicate wins
    EXPECT_EQ(parse_body(" \n{}\t"), json::object());
}

TEST(ParseBody, RejectsInvalidUtf8WithItsOffset) {
    const auto in_string = expect_400([] { parse_body("{\"content\":\"caf\xe9\"}"); });
    EXPECT_TRUE(contains(in_string.message(), "UTF-8")) << in_string.message();
    EXPECT_TRUE(contains(in_string.message(), "byte 15")) << in_string.message();
    const auto surrogate = expect_400([] { parse_body("{\"a\":\"\xed\xa0\x80\"}"); });
    EXPECT_TRUE(contains(surrogate.message(), "surrogate")) << surrogate.message();
    const auto outside = expect_400([] { parse_body("{\"a\":1}\xff"); });
    EXPECT_TRUE(contains(outside.message(), "byte 7")) << outside.message();
}

TEST(ParseBody, RejectsLoneSurrogateEscape) {
    expect_400([] { parse_body(R"({"a":"\ud800"})"); });
    expect_400([] { parse_body(R"({"a":"\udc00\ud800"})"); });
}

std::string nested(size_t depth) {
    // {"a": [[[...]]]} with `depth` containers in all.
    return "{\"a\":" + std::string(depth - 1, '[') + std::string(depth - 1, ']') + "}";
}

TEST(ParseBody, DepthLimitIsExact) {
    EXPECT_NO_THROW(parse_body(nested(kMaxJsonDepth)));
    const auto e = expect_400([] { parse_body(nested(kMaxJsonDepth + 1)); });
    EXPECT_TRUE(contains(e.message(), "deeper than 64")) << e.message();
    EXPECT_NO_THROW(parse_body(nested(3), 3));
    expect_400([] { parse_body(nested(4), 3); });
}

TEST(ParseBody, DeepNestingIsRefusedWithoutCrashing) {
    expect_400([] { parse_body(nested(10000)); });
    expect_400([] { parse_body("{\"a\":" + std::string(1000000, '[')); });  // never closed
    expect_400([] { parse_body(std::string(100000, '{')); });
    std::string objects;
    for (int i = 0; i < 10000; ++i) objects += "{\"k\":";
    objects += "1" + std::string(10000, '}');
    expect_400([&] { parse_body(objects); });
}

TEST(ParseBody, SyntaxErrorsNameTheBytePosition) {
    const auto e = expect_400([] { parse_body(R"({"a": })"); });
    EXPECT_TRUE(contains(e.message(), "at byte 7")) << e.message();
    EXPECT_FALSE(contains(e.message(), "json.exception")) << e.message();
    expect_400([] { parse_body(R"({"a":1,})"); });
    expect_400([] { parse_body(R"({"a":1} {"b":2})"); });  // trailing data
    expect_400([] { parse_body(R"({"a":1)"); });
    expect_400([] { parse_body(R"({'a':1})"); });
    expect_400([] { parse_body(R"({"a":01})"); });
    expect_400([] { parse_body(R"({"a":NaN})"); });
    expect_400([] { parse_body("{\"a\":\"raw\ncontrol\"}"); });
    expect_400([] { parse_body(R"({/*c*/"a":1})"); });
}

TEST(ParseBody, RequiresANonEmptyTopLevelObject) {
    const auto empty = expect_400([] { parse_body(""); });
    EXPECT_TRUE(contains(empty.message(), "empty")) << empty.message();
    const auto arr = expect_400([] { parse_body("[1,2]"); });
    EXPECT_TRUE(contains(arr.message(), "must be a JSON object, got array")) << arr.message();
    expect_400([] { parse_body("\"s\""); });
    expect_400([] { parse_body("42"); });
    expect_400([] { parse_body("null"); });
}

TEST(ParseBody, NumberOverflowNamesTheField) {
    const auto top = expect_400([] { parse_body(R"({"max_tokens": 1e400})"); });
    EXPECT_TRUE(contains(top.message(), "`max_tokens`")) << top.message();
    EXPECT_TRUE(contains(top.message(), "1e400")) << top.message();
    EXPECT_EQ(top.param(), "max_tokens");
    const auto deep =
        expect_400([] { parse_body(R"({"messages":[{"a":1},{"b":[0,0,-1e999]}]})"); });
    EXPECT_EQ(deep.param(), "messages[1].b[2]") << deep.message();
}

// ---- typed readers ----

TEST(Fields, NumberReadsInRangeAndTreatsNullAsAbsent) {
    const json b = parse_body(R"({"temperature":0.7,"top_p":1,"nul":null})");
    EXPECT_EQ(number(b, "temperature", 0, 2), 0.7);
    EXPECT_EQ(number(b, "top_p", 0, 1), 1.0);
    EXPECT_FALSE(number(b, "nul", 0, 1));
    EXPECT_FALSE(number(b, "absent", 0, 1));
}

TEST(Fields, NumberRejectsWrongTypeAndRange) {
    const json b = parse_body(R"({"temperature":"hot","t2":3.5,"t3":true})");
    const auto type = expect_400([&] { number(b, "temperature", 0, 2); });
    EXPECT_EQ(type.message(), "`temperature` must be a number, got string.");
    EXPECT_EQ(type.param(), "temperature");
    const auto range = expect_400([&] { number(b, "t2", 0, 2); });
    EXPECT_EQ(range.message(), "`t2` must be between 0 and 2, got 3.5.");
    const json c = parse_body(R"({"x":-3})");
    EXPECT_EQ(expect_400([&] { number(c, "x", 0, INFINITY); }).message(),
              "`x` must be at least 0, got -3.");
    const auto boolean = expect_400([&] { number(b, "t3", 0, 2); });
    EXPECT_TRUE(contains(boolean.message(), "got boolean")) << boolean.message();
}

TEST(Fields, IntegerAcceptsIntegralValues) {
    const json b = parse_body(
        R"({"a":5,"b":5.0,"c":1e2,"d":-9223372036854775808,"e":9223372036854775807,"f":0})");
    EXPECT_EQ(integer(b, "a", 0, 10), 5);
    EXPECT_EQ(integer(b, "b", 0, 10), 5);
    EXPECT_EQ(integer(b, "c", 0, 1000), 100);
    EXPECT_EQ(integer(b, "d", INT64_MIN, INT64_MAX), INT64_MIN);
    EXPECT_EQ(integer(b, "e", INT64_MIN, INT64_MAX), INT64_MAX);
    EXPECT_EQ(integer(b, "f", 0, 0), 0);
}

TEST(Fields, IntegerRejectsFractionsHugeAndNegativeValuesNamingTheField) {
    const json b = parse_body(
        R"({"half":2.5,"neg":-1,"big":1e300,"pow70":1180591620717411303424,
            "u64":18446744073709551615,"i64p1":9223372036854775808,"tiny":1e-300,
            "str":"5","arr":[5]})");
    for (const char* key : {"half", "neg", "big", "pow70", "u64", "i64p1", "tiny"}) {
        const auto e = expect_400([&] { integer(b, key, 0, INT64_MAX); });
        EXPECT_TRUE(contains(e.message(), "`" + std::string(key) + "` must be an integer"))
            << e.message();
        EXPECT_EQ(e.param(), key);
    }
    const auto neg = expect_400([&] { integer(b, "neg", 1, 100); });
    EXPECT_EQ(neg.message(), "`neg` must be an integer between 1 and 100, got -1.");
    const auto half = expect_400([&] { integer(b, "half", 0, 100); });
    EXPECT_TRUE(contains(half.message(), "got 2.5")) << half.message();
    const auto str = expect_400([&] { integer(b, "str", 0, 100); });
    EXPECT_EQ(str.message(), "`str` must be an integer, got string.");
    const auto arr = expect_400([&] { integer(b, "arr", 0, 100); });
    EXPECT_TRUE(contains(arr.message(), "got array")) << arr.message();
    // Negative values are fine where the range allows them.
    EXPECT_EQ(integer(b, "neg", -5, 5), -1);
}

TEST(Fields, BooleanStringObjectArray) {
    const json b = parse_body(R"({"stream":true,"s":"x","o":{"k":1},"a":[1],"wrong":1})");
    EXPECT_EQ(boolean(b, "stream"), true);
    EXPECT_FALSE(boolean(b, "absent"));
    EXPECT_EQ(string(b, "s"), "x");
    ASSERT_NE(object(b, "o"), nullptr);
    EXPECT_EQ((*object(b, "o"))["k"], 1);
    ASSERT_NE(array(b, "a"), nullptr);
    EXPECT_EQ(array(b, "absent"), nullptr);
    EXPECT_EQ(expect_400([&] { boolean(b, "wrong"); }).message(),
              "`wrong` must be a boolean, got integer.");
    EXPECT_EQ(expect_400([&] { string(b, "wrong"); }).message(),
              "`wrong` must be a string, got integer.");
    EXPECT_EQ(expect_400([&] { object(b, "a"); }).message(), "`a` must be an object, got array.");
    EXPECT_EQ(expect_400([&] { array(b, "o"); }).message(), "`o` must be an array, got object.");
}

TEST(Fields, StringOrStrings) {
    const json b = parse_body(
        R"({"one":"\n","many":["a","b"],"bad":["a",2],"num":3,"lots":["1","2","3","4","5"]})");
    EXPECT_EQ(string_or_strings(b, "one", 4), std::vector<std::string>{"\n"});
    EXPECT_EQ(string_or_strings(b, "many", 4), (std::vector<std::string>{"a", "b"}));
    const auto bad = expect_400([&] { string_or_strings(b, "bad", 4); });
    EXPECT_EQ(bad.message(), "`bad[1]` must be a string, got integer.");
    EXPECT_EQ(bad.param(), "bad[1]");
    const auto num = expect_400([&] { string_or_strings(b, "num", 4); });
    EXPECT_TRUE(contains(num.message(), "a string or an array of strings")) << num.message();
    const auto lots = expect_400([&] { string_or_strings(b, "lots", 4); });
    EXPECT_TRUE(contains(lots.message(), "at most 4")) << lots.message();
}

TEST(Fields, NestedPathsNameTheElement) {
    const json b = parse_body(
        R"({"messages":[{"role":"user","content":"hi"},{"role":"user"},{"role":"user","content":7}]})");
    const json& messages = required(array(b, "messages"), "messages");
    for (size_t i = 0; i < 2; ++i) {
        const std::string where = index_path("messages", i);
        const json& m = as_object(messages[i], where);
        if (i == 0) {
            EXPECT_EQ(required(string(m, "content", where), "content", where), "hi");
        } else {
            const auto e =
                expect_400([&] { required(string(m, "content", where), "content", where); });
            EXPECT_EQ(e.message(), "`messages[1].content` is required.");
            EXPECT_EQ(e.param(), "messages[1].content");
        }
    }
    const auto e = expect_400([&] { string(messages[2], "content", "messages[2]"); });
    EXPECT_EQ(e.message(), "`messages[2].content` must be a string, got integer.");
    EXPECT_EQ(e.param(), "messages[2].content");
}

TEST(Fields, RequiredMissingField) {
    const json b = parse_body("{}");
    const auto e = expect_400([&] { required(string(b, "model"), "model"); });
    EXPECT_EQ(e.message(), "`model` is required.");
    EXPECT_EQ(e.param(), "model");
    EXPECT_EQ(join_path("", "a"), "a");
    EXPECT_EQ(join_path("a[1]", "b"), "a[1].b");
    EXPECT_EQ(index_path("a.b", 3), "a.b[3]");
}

}  // namespace
}  // namespace pocket::server
