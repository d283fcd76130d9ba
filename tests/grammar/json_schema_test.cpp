// JSON Schema to grammar: every supported keyword accepts what the schema allows and rejects
// what it forbids; unsupported keywords are errors that name them.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "pocket/core/error.h"
#include "pocket/generate/grammar.h"
#include "pocket/generate/json_schema.h"

namespace pocket {
namespace {

using nlohmann::ordered_json;

struct Schema {
    Grammar g;
    explicit Schema(const char* text) : g(Grammar::from_json_schema(ordered_json::parse(text))) {}
    bool operator()(std::string_view doc) const { return grammar_matches(g, doc); }
};

std::string schema_error(const char* text) {
    try {
        json_schema_to_gbnf(ordered_json::parse(text));
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

TEST(JsonSchema, Primitives) {
    Schema str(R"({"type": "string"})");
    EXPECT_TRUE(str(R"("hi \"there\" \\ \n \u00e9 \ud7ff")"));
    EXPECT_TRUE(str("\"\xc3\xa9\""));
    EXPECT_FALSE(str("\"a\nb\""));     // raw control character
    EXPECT_FALSE(str(R"("\ud800")"));  // lone surrogate escape
    EXPECT_FALSE(str(R"("\q")"));
    EXPECT_FALSE(str("hi"));
    Schema num(R"({"type": "number"})");
    for (const char* ok : {"0", "-1", "3.25", "1e5", "-2.5E-3", "12345678"}) EXPECT_TRUE(num(ok));
    for (const char* bad : {"01", "1.", ".5", "+1", "1e", "--1"}) EXPECT_FALSE(num(bad)) << bad;
    Schema integer(R"({"type": "integer"})");
    EXPECT_TRUE(integer("-42"));
    EXPECT_FALSE(integer("4.2"));
    EXPECT_FALSE(integer("12345678901234567"));  // 17 digits: bounded
    Schema boolean(R"({"type": "boolean"})");
    EXPECT_TRUE(boolean("true"));
    EXPECT_TRUE(boolean("false"));
    EXPECT_FALSE(boolean("null"));
    Schema null(R"({"type": "null"})");
    EXPECT_TRUE(null("null"));
}

TEST(JsonSchema, TypeListsAndStringLengths) {
    Schema s(R"({"type": ["string", "null"], "minLength": 2, "maxLength": 3})");
    EXPECT_TRUE(s("null"));
    EXPECT_FALSE(s(R"("a")"));
    EXPECT_TRUE(s(R"("ab")"));
    EXPECT_TRUE(s(R"("a\nc")"));  // an escape is one character
    EXPECT_FALSE(s(R"("abcd")"));
    Schema min_only(R"({"type": "string", "minLength": 1})");
    EXPECT_FALSE(min_only(R"("")"));
    EXPECT_TRUE(min_only(R"("abcdefgh")"));
}

TEST(JsonSchema, IntegerBounds) {
    Schema range(R"({"type": "integer", "minimum": -3, "maximum": 120})");
    for (int v : {-3, 0, 7, 99, 100, 120}) EXPECT_TRUE(range(std::to_string(v))) << v;
    for (const char* bad : {"-4", "121", "1000", "007", "-0"}) EXPECT_FALSE(range(bad)) << bad;
    Schema min(R"({"type": "integer", "minimum": 18})");
    EXPECT_FALSE(min("17"));
    EXPECT_TRUE(min("18"));
    EXPECT_TRUE(min("99"));
    EXPECT_TRUE(min("100"));
    EXPECT_TRUE(min("123456"));
    EXPECT_FALSE(min("-5"));
    Schema max(R"({"type": "integer", "exclusiveMaximum": 10})");
    EXPECT_TRUE(max("9"));
    EXPECT_FALSE(max("10"));
    EXPECT_TRUE(max("-100"));
    Schema excl(R"({"type": "integer", "exclusiveMinimum": 0, "maximum": 5})");
    EXPECT_FALSE(excl("0"));
    EXPECT_TRUE(excl("5"));
}

TEST(JsonSchema, ObjectsRequiredAndOptional) {
    Schema s(R"({"type": "object", "properties": {
        "name": {"type": "string"}, "age": {"type": "integer"}, "tags": {"type": "array"}},
        "required": ["age"]})");
    EXPECT_TRUE(s(R"({"age":3})"));
    EXPECT_TRUE(s(R"({"name":"x","age":3})"));
    EXPECT_TRUE(s(R"({ "name" : "x" , "age": 3, "tags": [1, "a"] })"));
    EXPECT_TRUE(s("{\n  \"age\": 3\n}"));
    EXPECT_FALSE(s(R"({"name":"x"})"));          // required missing
    EXPECT_FALSE(s(R"({"age":3,"name":"x"})"));  // schema order
    EXPECT_FALSE(s(R"({"age":3,"other":1})"));   // no extras unless asked for
    EXPECT_FALSE(s(R"({"age":3,})"));
    EXPECT_FALSE(s("{\"age\":3          }"));  // whitespace is bounded
    Schema all_optional(R"({"properties": {"a": {"const": 1}, "b": {"const": 2}}})");
    EXPECT_TRUE(all_optional("{}"));
    EXPECT_TRUE(all_optional(R"({"b":2})"));
    EXPECT_TRUE(all_optional(R"({"a":1,"b":2})"));
    EXPECT_FALSE(all_optional(R"({"a":1,})"));
    EXPECT_FALSE(all_optional(R"({,"b":2})"));
}

TEST(JsonSchema, AdditionalProperties) {
    Schema yes(R"({"type": "object", "properties": {"a": {"type": "integer"}},
                   "additionalProperties": true})");
    EXPECT_TRUE(yes(R"({"a":1,"x":[null],"y":{}})"));
    EXPECT_TRUE(yes(R"({"x":"s"})"));
    Schema typed(R"({"type": "object", "additionalProperties": {"type": "number"}})");
    EXPECT_TRUE(typed(R"({"x":1.5,"y":2})"));
    EXPECT_FALSE(typed(R"({"x":"s"})"));
    Schema no(R"({"type": "object", "properties": {"a": {"type": "integer"}},
                  "additionalProperties": false})");
    EXPECT_FALSE(no(R"({"a":1,"x":2})"));
    Schema any(R"({"type": "object"})");
    EXPECT_TRUE(any(R"({"k":{"n":[1,2,{"m":null}]}})"));
}

TEST(JsonSchema, Arrays) {
    Schema s(R"({"type": "array", "items": {"type": "integer"}, "minItems": 1, "maxItems": 3})");
    EXPECT_FALSE(s("[]"));
    EXPECT_TRUE(s("[1]"));
    EXPECT_TRUE(s("[1, 2,3]"));
    EXPECT_FALSE(s("[1,2,3,4]"));
    EXPECT_FALSE(s("[1,]"));
    EXPECT_FALSE(s(R"(["a"])"));
    Schema open(R"({"type": "array", "items": {"type": "boolean"}})");
    EXPECT_TRUE(open("[]"));
    EXPECT_TRUE(open("[true,false,true,true]"));
    Schema prefix(R"({"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}]})");
    EXPECT_TRUE(prefix("[]"));
    EXPECT_TRUE(prefix(R"(["a"])"));
    EXPECT_TRUE(prefix(R"(["a",1])"));
    EXPECT_FALSE(prefix(R"([1])"));
    EXPECT_FALSE(prefix(R"(["a",1,2])"));
    Schema prefix_more(
        R"({"type": "array", "prefixItems": [{"type": "string"}], "items": {"type": "null"}})");
    EXPECT_TRUE(prefix_more(R"(["a",null,null])"));
}

// Lengths and item counts become GBNF repetitions, bounded by Grammar::kMaxRepeat (fuzz_json_schema
// found maxLength 10^6 converting to GBNF that did not parse): a larger maximum is no bound, a
// larger minimum or a negative count is a clear error.
TEST(JsonSchema, HugeAndNegativeCountsAreHandled) {
    Schema long_string(R"({"type": "string", "minLength": 2, "maxLength": 1000000})");
    EXPECT_TRUE(long_string(R"("ab")"));
    EXPECT_TRUE(long_string("\"" + std::string(3000, 'x') + "\""));
    EXPECT_FALSE(long_string(R"("a")"));
    Schema at_limit(R"({"type": "string", "maxLength": 100000})");
    EXPECT_TRUE(at_limit(R"("abc")"));
    Schema many_items(R"({"type": "array", "items": {"type": "null"}, "maxItems": 100000000})");
    EXPECT_TRUE(many_items("[null,null,null]"));
    EXPECT_NE(schema_error(R"({"type": "string", "minLength": 100001})").find("'minLength' above"),
              std::string::npos);
    EXPECT_NE(schema_error(R"({"type": "array", "minItems": 1e9})").find("'minItems' above"),
              std::string::npos);
    EXPECT_NE(schema_error(R"({"type": "string", "maxLength": -1})").find("must not be negative"),
              std::string::npos);
    EXPECT_NE(schema_error(R"({"type": "array", "minItems": -3})").find("must not be negative"),
              std::string::npos);
    EXPECT_EQ(schema_error(R"({"type": "string", "minLength": 5, "maxLength": 1e9})"), "");
}

// Integer bounds at the ends of int64 are errors, never overflow.
TEST(JsonSchema, IntegerBoundsAtTheEndsOfInt64) {
    EXPECT_NE(schema_error(R"({"type": "integer", "exclusiveMinimum": 9223372036854775807})")
                  .find("no integer is above"),
              std::string::npos);
    EXPECT_NE(schema_error(R"({"type": "integer", "exclusiveMaximum": -9223372036854775808})")
                  .find("no integer is below"),
              std::string::npos);
    EXPECT_NE(schema_error(R"({"type": "integer", "minimum": -9223372036854775808,
                               "maximum": 9223372036854775807})")
                  .find("supported up to"),
              std::string::npos);
    Schema top(R"({"type": "integer", "minimum": 9223372036854775805,
                   "maximum": 9223372036854775807})");
    EXPECT_TRUE(top("9223372036854775807"));
    EXPECT_TRUE(top("9223372036854775805"));
    EXPECT_FALSE(top("9223372036854775804"));
    EXPECT_NE(schema_error(R"({"type": "integer", "minimum": 9000000000000000000})")
                  .find("too large to enumerate"),
              std::string::npos);
}

TEST(JsonSchema, EnumConstAnyOfOneOf) {
    Schema e(R"({"enum": ["red", "green", 3, null, {"a": [1]}]})");
    EXPECT_TRUE(e(R"("red")"));
    EXPECT_TRUE(e("3"));
    EXPECT_TRUE(e("null"));
    EXPECT_TRUE(e(R"({"a":[1]})"));
    EXPECT_FALSE(e(R"("blue")"));
    Schema typed_enum(R"({"type": "string", "enum": ["a\"b"]})");
    EXPECT_TRUE(typed_enum(R"("a\"b")"));
    Schema c(R"({"const": "fixed"})");
    EXPECT_TRUE(c(R"("fixed")"));
    EXPECT_FALSE(c(R"("other")"));
    Schema any(R"({"anyOf": [{"type": "integer"}, {"type": "string", "maxLength": 1}]})");
    EXPECT_TRUE(any("5"));
    EXPECT_TRUE(any(R"("x")"));
    EXPECT_FALSE(any(R"("xy")"));
    Schema one(R"({"oneOf": [{"type": "boolean"}, {"type": "null"}]})");
    EXPECT_TRUE(one("null"));
    EXPECT_TRUE(one("true"));
}

TEST(JsonSchema, AllOfMergesObjects) {
    Schema s(R"({"allOf": [
        {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]},
        {"$ref": "#/$defs/b"}],
        "$defs": {"b": {"type": "object", "properties": {"b": {"type": "string"}}}}})");
    EXPECT_TRUE(s(R"({"a":1})"));
    EXPECT_TRUE(s(R"({"a":1,"b":"x"})"));
    EXPECT_FALSE(s(R"({"b":"x"})"));
}

TEST(JsonSchema, RefsAndRecursion) {
    Schema s(R"({
        "$defs": {"node": {"type": "object", "properties": {
            "v": {"type": "integer"},
            "kids": {"type": "array", "items": {"$ref": "#/$defs/node"}}},
            "required": ["v"]}},
        "$ref": "#/$defs/node"})");
    EXPECT_TRUE(s(R"({"v":1})"));
    EXPECT_TRUE(s(R"({"v":1,"kids":[{"v":2},{"v":3,"kids":[{"v":4}]}]})"));
    EXPECT_FALSE(s(R"({"v":1,"kids":[{}]})"));
    Schema old(R"({"type": "object", "properties": {"p": {"$ref": "#/definitions/pt"}},
                   "definitions": {"pt": {"type": "array", "items": {"type": "number"}}}})");
    EXPECT_TRUE(old(R"({"p":[1,2.5]})"));
}

TEST(JsonSchema, Formats) {
    Schema date(R"({"type": "string", "format": "date"})");
    EXPECT_TRUE(date(R"("2024-02-29")"));
    EXPECT_FALSE(date(R"("2024-13-01")"));
    Schema dt(R"({"type": "string", "format": "date-time"})");
    EXPECT_TRUE(dt(R"("2024-02-29T13:05:00Z")"));
    EXPECT_TRUE(dt(R"("2024-02-29T13:05:00.123+02:00")"));
    Schema uuid(R"({"format": "uuid"})");
    EXPECT_TRUE(uuid(R"("123e4567-e89b-12d3-a456-426614174000")"));
}

TEST(JsonSchema, AnnotationsIgnoredAndEmptySchemaIsAnyValue) {
    Schema s(R"({"$schema": "https://json-schema.org/draft/2020-12/schema", "title": "t",
                 "description": "d", "examples": [1], "default": 2, "type": "integer"})");
    EXPECT_TRUE(s("7"));
    Schema any(R"({})");
    EXPECT_TRUE(any(R"([1,{"a":"b"},null])"));
    EXPECT_TRUE(any("true"));
}

TEST(JsonSchema, GenericJsonObject) {
    Grammar g = Grammar::json();
    EXPECT_TRUE(grammar_matches(g, R"({"a": [1, 2.5, "x", true, null, {"b": {}}]})"));
    EXPECT_TRUE(grammar_matches(g, "{}"));
    EXPECT_FALSE(grammar_matches(g, "[1]"));  // an object at the top
    EXPECT_FALSE(grammar_matches(g, R"({"a": 1)"));
}

TEST(JsonSchema, UnsupportedKeywordsNameThemselves) {
    EXPECT_NE(schema_error(R"({"type": "string", "pattern": "^a+$"})")
                  .find("#: unsupported keyword 'pattern'"),
              std::string::npos);
    EXPECT_NE(schema_error(R"({"properties": {"x": {"type": "integer", "multipleOf": 2}}})")
                  .find("#/properties/x: unsupported keyword 'multipleOf'"),
              std::string::npos)
        << schema_error(R"({"properties": {"x": {"type": "integer", "multipleOf": 2}}})");
    EXPECT_NE(schema_error(R"({"type": "string", "format": "email"})").find("format 'email'"),
              std::string::npos);
    EXPECT_NE(schema_error(R"({"$ref": "#/$defs/missing"})").find("does not resolve"),
              std::string::npos);
    EXPECT_NE(schema_error(R"({"type": "number", "minimum": 0})").find("'minimum' on numbers"),
              std::string::npos);
    EXPECT_NE(schema_error(R"({"type": "object", "required": ["x"]})").find("'x'"),
              std::string::npos);
    EXPECT_NE(schema_error(R"({"type": "wat"})").find("unknown type 'wat'"), std::string::npos);
    EXPECT_NE(schema_error("false").find("accepts nothing"), std::string::npos);
}

TEST(JsonSchema, GbnfTextIsExposedAndReadable) {
    std::string text = json_schema_to_gbnf(ordered_json::parse(
        R"({"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]})"));
    EXPECT_EQ(text.rfind("root ::= ", 0), 0u) << text;
    EXPECT_NE(text.find("json-string ::="), std::string::npos) << text;
    EXPECT_EQ(text.find("json-number ::="), std::string::npos) << text;  // only what is used
}

TEST(JsonSchema, DesugaredGrammarPrintsBackToAnEquivalentOne) {
    Grammar g = Grammar::from_json_schema(ordered_json::parse(
        R"({"type": "object", "properties": {"s": {"type": "string", "maxLength": 3},
            "n": {"type": "integer", "minimum": 5, "maximum": 12}}, "required": ["n"]})"));
    Grammar back = Grammar::parse_gbnf(g.to_gbnf());
    for (const char* doc : {R"({"n":7})", R"({"s":"ab\n","n":12})", R"({"s":"abcd","n":7})",
                            R"({"n":4})", R"({"n":13})", R"({ "s": "", "n": 5 })"}) {
        EXPECT_EQ(grammar_matches(g, doc), grammar_matches(back, doc)) << doc;
    }
    EXPECT_TRUE(grammar_matches(back, R"({"n":12})"));
}

}  // namespace
}  // namespace pocket
