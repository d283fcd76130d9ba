// GBNF parsing: syntax, desugaring, errors with positions, and matching through the engine.
#include <gtest/gtest.h>

#include <string>

#include "pocket/core/error.h"
#include "pocket/generate/grammar.h"

namespace pocket {
namespace {

bool matches(std::string_view gbnf, std::string_view text) {
    return grammar_matches(Grammar::parse_gbnf(gbnf), text);
}

std::string parse_error(std::string_view gbnf) {
    try {
        Grammar::parse_gbnf(gbnf);
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

TEST(Gbnf, LiteralsAndSequences) {
    EXPECT_TRUE(matches(R"(root ::= "ab" "c")", "abc"));
    EXPECT_FALSE(matches(R"(root ::= "ab" "c")", "ab"));
    EXPECT_FALSE(matches(R"(root ::= "ab" "c")", "abcd"));
    EXPECT_TRUE(matches(R"(root ::= "")", ""));
}

TEST(Gbnf, Alternatives) {
    const char* g = R"(root ::= "yes" | "no" | "maybe")";
    EXPECT_TRUE(matches(g, "yes"));
    EXPECT_TRUE(matches(g, "maybe"));
    EXPECT_FALSE(matches(g, "ye"));
}

TEST(Gbnf, Escapes) {
    EXPECT_TRUE(matches(R"(root ::= "a\nb\t\\\"")", "a\nb\t\\\""));
    EXPECT_TRUE(matches(R"(root ::= "\x41\u00e9\U0001F600")", "A\xc3\xa9\xf0\x9f\x98\x80"));
    EXPECT_TRUE(matches(R"(root ::= [\x30-\x39\]]+)", "1]2"));
    EXPECT_TRUE(matches("root ::= \"\xc3\xa9t\xc3\xa9\"", "\xc3\xa9t\xc3\xa9"));  // raw UTF-8
}

TEST(Gbnf, Classes) {
    EXPECT_TRUE(matches("root ::= [a-z0-9_]+", "abc_09"));
    EXPECT_FALSE(matches("root ::= [a-z0-9_]+", "abC"));
    EXPECT_TRUE(matches("root ::= [^\"]*", "x y\xc3\xa9"));
    EXPECT_FALSE(matches("root ::= [^\"]*", "x\"y"));
    EXPECT_TRUE(matches("root ::= . . .", "a\xe2\x82\xac\n"));
    EXPECT_FALSE(matches("root ::= . . .", "ab"));
    EXPECT_TRUE(matches("root ::= [-a]+", "-a-"));
}

TEST(Gbnf, Repetition) {
    EXPECT_TRUE(matches(R"(root ::= "a"* "b")", "b"));
    EXPECT_TRUE(matches(R"(root ::= "a"* "b")", "aaaab"));
    EXPECT_FALSE(matches(R"(root ::= "a"+ "b")", "b"));
    EXPECT_TRUE(matches(R"(root ::= "a"+ "b")", "ab"));
    EXPECT_TRUE(matches(R"(root ::= "a"? "b")", "ab"));
    EXPECT_FALSE(matches(R"(root ::= "a"? "b")", "aab"));
    EXPECT_TRUE(matches(R"(root ::= "ab"{2})", "abab"));
    EXPECT_FALSE(matches(R"(root ::= "ab"{2})", "ab"));
    const char* range = R"(root ::= [0-9]{2,4})";
    EXPECT_FALSE(matches(range, "1"));
    EXPECT_TRUE(matches(range, "12"));
    EXPECT_TRUE(matches(range, "1234"));
    EXPECT_FALSE(matches(range, "12345"));
    EXPECT_TRUE(matches(R"(root ::= "x"{3,})", "xxxxxx"));
    EXPECT_FALSE(matches(R"(root ::= "x"{3,})", "xx"));
    EXPECT_TRUE(matches(R"(root ::= "x"{0})", ""));
}

TEST(Gbnf, GroupsRulesCommentsAndLines) {
    const char* g = R"(
# a comment line
root   ::= "[" ws ( item ( "," ws item )* )? "]"   # trailing comment
item   ::=
    num
  | "\"" [a-z]* "\""
num    ::= "-"? [0-9]+
ws     ::= [ \n]*
)";
    EXPECT_TRUE(matches(g, "[]"));
    EXPECT_TRUE(matches(g, "[ 1, \"ab\",\n-3]"));
    EXPECT_FALSE(matches(g, "[1,]"));
    EXPECT_FALSE(matches(g, "[1"));
}

TEST(Gbnf, RecursiveRules) {
    const char* g = R"g(root ::= "(" root ")" | "")g";
    EXPECT_TRUE(matches(g, "((()))"));
    EXPECT_FALSE(matches(g, "(()"));
}

TEST(Gbnf, OtherRoot) {
    Grammar g = Grammar::parse_gbnf(R"(a ::= "x" b
b ::= "y")",
                                    "a");
    EXPECT_TRUE(grammar_matches(g, "xy"));
}

TEST(Gbnf, InvalidUtf8NeverMatches) {
    EXPECT_FALSE(matches("root ::= .*", "\xff"));
    EXPECT_FALSE(matches("root ::= .*", "\xc3"));          // cut short
    EXPECT_FALSE(matches("root ::= .*", "\xed\xa0\x80"));  // a surrogate
    EXPECT_FALSE(matches("root ::= .*", "\xe0\x80\xaf"));  // overlong
}

TEST(Gbnf, ToGbnfRoundTrips) {
    const char* src = R"(root ::= "a\n\"" [^a-c\]] ( "x" | "y" )* . [0-9]{1,3} "")";
    Grammar g = Grammar::parse_gbnf(src);
    Grammar back = Grammar::parse_gbnf(g.to_gbnf());
    for (std::string_view s : {"a\n\"dx1",
                               "a\n\"]yxy\xe2\x82\xac"
                               "123",
                               "a\n\"a1", "a\n\"d1"}) {
        EXPECT_EQ(grammar_matches(g, s), grammar_matches(back, s)) << s;
    }
    EXPECT_TRUE(grammar_matches(back, "a\n\"dxy!12"));
}

TEST(GbnfErrors, NamePositions) {
    EXPECT_NE(parse_error("root ::= \"a\" foo").find("line 1, column 14: undefined rule 'foo'"),
              std::string::npos)
        << parse_error("root ::= \"a\" foo");
    EXPECT_NE(parse_error("root ::= \"a\"\n  x ::= \"b").find("line 2, column 9"),
              std::string::npos)
        << parse_error("root ::= \"a\"\n  x ::= \"b");
    EXPECT_NE(parse_error("root ::= [a-z").find("line 1, column 10: unterminated character class"),
              std::string::npos);
    EXPECT_NE(parse_error("root ::= (\"a\"").find("expected ')'"), std::string::npos);
    EXPECT_NE(parse_error("root ::= \"a\" )").find("unmatched ')'"), std::string::npos);
    EXPECT_NE(parse_error("root ::= \"\\q\"").find("unknown escape"), std::string::npos);
    EXPECT_NE(parse_error("root ::= \"a\"{3,1}").find("n < m"), std::string::npos);
    EXPECT_NE(parse_error("root \"a\"").find("line 1, column 6: expected '::='"), std::string::npos)
        << parse_error("root \"a\"");
    EXPECT_NE(parse_error("root ::= \"a\" @").find("unexpected character '@'"), std::string::npos);
}

TEST(GbnfErrors, EmptyMissingRootDuplicate) {
    EXPECT_NE(parse_error("").find("empty grammar"), std::string::npos);
    EXPECT_NE(parse_error("  # only a comment\n").find("empty grammar"), std::string::npos);
    EXPECT_NE(parse_error("item ::= \"a\"").find("no rule 'root'"), std::string::npos);
    EXPECT_NE(parse_error("root ::= \"a\"\nroot ::= \"b\"")
                  .find("line 2, column 1: rule 'root' "
                        "is defined twice"),
              std::string::npos);
}

TEST(GbnfErrors, LeftRecursion) {
    std::string e = parse_error("root ::= expr\nexpr ::= expr \"+\" \"1\" | \"1\"");
    EXPECT_NE(e.find("line 2, column 1: rule 'expr' is left-recursive"), std::string::npos) << e;
    // Through a nullable prefix too.
    e = parse_error("root ::= a\na ::= b a \"x\" | \"y\"\nb ::= \"z\"?");
    EXPECT_NE(e.find("left-recursive"), std::string::npos) << e;
    // Right recursion is fine.
    EXPECT_EQ(parse_error("root ::= \"1\" (\"+\" root)?"), "");
}

}  // namespace
}  // namespace pocket
