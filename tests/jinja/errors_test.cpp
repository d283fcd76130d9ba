// Broken and hostile templates fail with a TemplateError that says where and why, and never crash,
// loop forever or exhaust memory.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <random>

#include "jinja/jinja_test_util.h"
#include "support/test_support.h"

namespace pocket::test {
namespace {

TemplateError error_of(const std::string& source,
                       const nlohmann::ordered_json& vars = nlohmann::ordered_json::object()) {
    try {
        render(source, vars);
    } catch (const TemplateError& e) {
        return e;
    }
    ADD_FAILURE() << "no error for: " << source;
    return TemplateError("", "", "", 0, 0);
}

TEST(JinjaErrors, SyntaxErrorsNameLineAndColumn) {
    auto e = error_of("line one\n{% if x %}\nno end");
    EXPECT_EQ(e.kind(), "TemplateSyntaxError");
    EXPECT_NE(e.message().find("endif"), std::string::npos) << e.what();

    e = error_of("a\nbb {{ 1 + }}");
    EXPECT_EQ(e.kind(), "TemplateSyntaxError");
    EXPECT_EQ(e.line(), 2);
    EXPECT_EQ(e.column(), 11);
    EXPECT_EQ(std::string(e.what()), "test:2:11: TemplateSyntaxError: unexpected '}}'");

    EXPECT_EQ(error_of("{% frobnicate %}").description(),
              "TemplateSyntaxError: Encountered unknown tag 'frobnicate'.");
    EXPECT_EQ(error_of("{{ 'unterminated }}").kind(), "TemplateSyntaxError");
    EXPECT_EQ(error_of("{# no end").kind(), "TemplateSyntaxError");
    // Unknown filters and tests fail when the template is compiled, as in Jinja2.
    EXPECT_THROW(ChatTemplate("{% if false %}{{ x | nosuch }}{% endif %}"), TemplateError);
    EXPECT_EQ(error_of("{{ x is nosuch }}").description(),
              "TemplateAssertionError: No test named 'nosuch'.");
}

TEST(JinjaErrors, RuntimeErrorsNameTheFailingExpression) {
    auto e = error_of("ok\n  {{ raise_exception('Bad role: ' ~ role) }}", {{"role", "x"}});
    EXPECT_EQ(e.description(), "TemplateError: Bad role: x");
    EXPECT_EQ(e.line(), 2);
    EXPECT_EQ(e.column(), 6);
    EXPECT_EQ(error_of("{% for x in n %}{% endfor %}", {{"n", nullptr}}).description(),
              "TypeError: 'NoneType' object is not iterable");
    EXPECT_EQ(error_of("{{ 1 + 'a' }}").description(),
              "TypeError: unsupported operand type(s) for +: 'int' and 'str'");
    EXPECT_EQ(error_of("{{ 'a' + 1 }}").description(),
              "TypeError: can only concatenate str (not \"int\") to str");
    EXPECT_EQ(error_of("{{ 1 // 0 }}").kind(), "ZeroDivisionError");
    EXPECT_EQ(error_of("{{ [1].append(2) }}").kind(), "SecurityError");  // immutable sandbox
    EXPECT_EQ(error_of("{% set x.y = 1 %}").kind(), "TemplateRuntimeError");
}

TEST(JinjaErrors, HostileTemplatesAreBounded) {
    const auto start = std::chrono::steady_clock::now();
    // Recursion, nesting, output size, time.
    EXPECT_THROW(render("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}"), TemplateError);
    EXPECT_THROW(render("{{ " + std::string(5000, '(') + "1" + std::string(5000, ')') + " }}"),
                 TemplateError);
    EXPECT_THROW(render("{{ 1" +
                        [] {
                            std::string s;
                            for (int i = 0; i < 20000; ++i) s += "+1";
                            return s;
                        }() +
                        " }}"),
                 TemplateError);
    std::string nested;
    for (int i = 0; i < 1000; ++i) nested += "{% if true %}";
    EXPECT_THROW(render(nested), TemplateError);
    EXPECT_THROW(render("{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}"), TemplateError);
    EXPECT_THROW(render("{{ 'x' * 1000000000 }}"), TemplateError);
    EXPECT_THROW(render("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}"
                        "{% endfor %}"),
                 TemplateError);
    EXPECT_THROW(render("{{ range(1000000000) }}"), TemplateError);
    EXPECT_THROW(render("{{ 9223372036854775807 + 1 }}"), TemplateError);
    // A namespace that holds itself: printing, tojson and comparisons stop.
    const std::string cycle = "{% set ns = namespace() %}{% set ns.a = [ns] %}";
    EXPECT_THROW(render(cycle + "{{ ns }}"), TemplateError);
    EXPECT_THROW(render(cycle + "{{ ns.a | tojson }}"), TemplateError);
    EXPECT_THROW(render(cycle + "{{ ns.a | string }}"), TemplateError);
    EXPECT_EQ(render(cycle + "{{ ns.a == ns.a }}"), "True");
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

// Random mutations and truncations of the real templates: parse and render either succeed or
// throw TemplateError, nothing else (run under ASan by scripts/test).
TEST(JinjaErrors, FuzzedRealTemplatesOnlyThrowTemplateError) {
    std::vector<std::string> sources;
    for (const auto& entry : std::filesystem::directory_iterator(shared_path("templates")))
        if (entry.path().extension() == ".jinja") sources.push_back(read_file_bytes(entry.path()));
    std::sort(sources.begin(), sources.end());
    ASSERT_FALSE(sources.empty());

    static const char* const kSnippets[] = {
        "{{",          "}}",         "{%",     "%}",       "{#",     "#}",
        "-",           "(",          ")",      "[",        "]",      "{",
        "}",           "'",          "\"",     "|",        ".",      ",",
        ":",           "=",          " if ",   " else ",   " for ",  " in ",
        "endif",       "endfor",     "loop",   "messages", " not ",  "~",
        "*",           "**",         "/",      "//",       "%",      "\\",
        "\n",          "0",          "-1",     "1e309",    "range(", "namespace(",
        "tojson",      "selectattr", "[::-1]", " is ",     "none",   "{% endmacro %}",
        "{% break %}", "\xc3",       "\xff"};
    ChatTemplateInputs in;
    in.messages = nlohmann::ordered_json::array(
        {{{"role", "system"}, {"content", "sys"}},
         {{"role", "user"}, {"content", "hi <|im_end|>"}},
         {{"role", "assistant"},
          {"content", "ok"},
          {"tool_calls", nlohmann::ordered_json::array()}},
         {{"role", "user"}, {"content", {{{"type", "text"}, {"text", "parts"}}}}}});
    in.tools = nlohmann::ordered_json::array(
        {{{"type", "function"}, {"function", {{"name", "f"}, {"parameters", {}}}}}});
    in.bos_token = "<s>";
    in.eos_token = "</s>";

    std::mt19937 rng(1234);
    auto pick = [&](size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng); };
    const auto start = std::chrono::steady_clock::now();
    int runs = 0, rendered = 0;
    while (runs < 3000 &&
           std::chrono::steady_clock::now() - start < std::chrono::milliseconds(1500)) {
        std::string s = sources[pick(sources.size())];
        const int edits = 1 + static_cast<int>(pick(4));
        for (int k = 0; k < edits && !s.empty(); ++k) {
            const size_t at = pick(s.size());
            switch (pick(4)) {
                case 0:
                    s.erase(at, 1 + pick(8));
                    break;
                case 1:
                    s.insert(at, kSnippets[pick(std::size(kSnippets))]);
                    break;
                case 2:
                    s.resize(at);
                    break;
                default: {
                    const size_t from = pick(s.size());
                    s.insert(at, s.substr(from, 1 + pick(40)));
                }
            }
        }
        ++runs;
        try {
            ChatTemplate t(s, "fuzz");
            t.set_clock(fixed_clock);
            t.render(in);
            ++rendered;
        } catch (const TemplateError&) {
        } catch (const std::exception& e) {
            ADD_FAILURE() << "non-template error " << e.what() << " for:\n" << s;
            break;
        }
    }
    EXPECT_GT(runs, 100);
    EXPECT_GT(rendered, 0);
}

}  // namespace
}  // namespace pocket::test
