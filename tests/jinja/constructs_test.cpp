// The template language construct by construct, with the output Python Jinja2 gives (trim_blocks,
// lstrip_blocks, no trailing newline), worked out from Jinja2's and Python's documented rules.
#include <gtest/gtest.h>

#include "jinja/jinja_test_util.h"

namespace pocket::test {
namespace {

using J = nlohmann::ordered_json;

TEST(JinjaWhitespace, TrimAndLstripBlocks) {
    EXPECT_EQ(render("{% if true %}\n  yes\n{% endif %}\nend"), "  yes\nend");
    EXPECT_EQ(render("a\n    {% if true %}\nb\n    {% endif %}\nc"), "a\nb\nc");
    EXPECT_EQ(render("a {%- if true %} b {% endif -%} c"), "a b c");
    EXPECT_EQ(render("x  {{- 1 -}}  y"), "x1y");
    EXPECT_EQ(render("x {#- comment -#} y"), "xy");
    EXPECT_EQ(render("a\n  {# c #}\nb"), "a\nb");
    EXPECT_EQ(render("line\n"), "line");      // one trailing newline dropped
    EXPECT_EQ(render("line\n\n"), "line\n");  // only one
    EXPECT_EQ(render("  {%+ if true %}x{% endif %}"), "  x");
    EXPECT_EQ(render("{{ 'a' }}  {% if true %}b{% endif %}"), "a  b");  // not at line start
    EXPECT_EQ(render("{% if true +%}\nx{% endif %}"), "\nx");
}

TEST(JinjaLiterals, PrintLikePython) {
    EXPECT_EQ(render("{{ none }}|{{ None }}|{{ true }}|{{ False }}"), "None|None|True|False");
    EXPECT_EQ(render("{{ 1.0 }}|{{ 2.5 }}|{{ 1e20 }}|{{ 0.0001 }}|{{ 1/3 }}"),
              "1.0|2.5|1e+20|0.0001|0.3333333333333333");
    EXPECT_EQ(render("{{ ['a', \"b'c\", 1, none, true] }}"), "['a', \"b'c\", 1, None, True]");
    EXPECT_EQ(render("{{ {'k': 'v', 'n': [1]} }}"), "{'k': 'v', 'n': [1]}");
    EXPECT_EQ(render("{{ (1, 'a') }}|{{ (1,) }}"), "(1, 'a')|(1,)");
    EXPECT_EQ(render("{{ 'tab\\there\\n' | length }}|{{ '\\u00e9' }}"), "9|é");
    EXPECT_EQ(render("{{ 'a' 'b' }}"), "ab");
    EXPECT_EQ(render("{{ undefined_thing }}|{{ x.y if x is defined else 'no' }}"), "|no");
}

TEST(JinjaOperators, ArithmeticAndComparison) {
    EXPECT_EQ(
        render("{{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 2 ** 10 }} {{ 7 / 2 }}"),
        "3 -4 1 2 1024 3.5");
    EXPECT_EQ(
        render("{{ 1 + 2.0 }} {{ 'a' + 'b' }} {{ 'ab' * 3 }} {{ [1] + [2] }} {{ 1 ~ 'x' ~ none }}"),
        "3.0 ab ababab [1, 2] 1xNone");
    EXPECT_EQ(
        render("{{ 1 == 1.0 }} {{ true == 1 }} {{ 'a' < 'b' }} {{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }}"),
        "True True True True False");
    EXPECT_EQ(
        render("{{ 'b' in 'abc' }} {{ 2 in [1, 2] }} {{ 'k' in {'k': 1} }} {{ 3 not in [1] }}"),
        "True True True True");
    EXPECT_EQ(render("{{ 0 or 'x' }} {{ 1 and 'y' }} {{ not [] }} {{ none or [] }}"),
              "x y True []");
    EXPECT_EQ(render("{{ 'yes' if 0 else 'no' }}|{{ 'yes' if 0 }}|"), "no||");
    EXPECT_EQ(render("{{ -3 | abs }} {{ 2 + 3 | abs }}"), "3 5");  // filters bind tighter
    EXPECT_THROW(render("{{ 2 + 3 | string }}"), TemplateError);   // 2 + '3'
}

TEST(JinjaStatements, ForLoops) {
    EXPECT_EQ(render("{% for x in xs %}{{ loop.index }}{{ x }}{% if not loop.last %},{% endif %}"
                     "{% endfor %}",
                     {{"xs", {"a", "b", "c"}}}),
              "1a,2b,3c");
    EXPECT_EQ(render("{% for x in [] %}x{% else %}empty{% endfor %}"), "empty");
    EXPECT_EQ(render("{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}",
                     {{"d", {{"b", 1}, {"a", 2}}}}),
              "b=1;a=2;");
    EXPECT_EQ(render("{% for x in range(10) if x is odd %}{{ x }}{{ loop.length }} {% endfor %}"),
              "15 35 55 75 95 ");
    EXPECT_EQ(render("{% for x in range(5) %}{% if x == 3 %}{% break %}{% endif %}"
                     "{% if x == 1 %}{% continue %}{% endif %}{{ x }}{% endfor %}"),
              "02");
    EXPECT_EQ(
        render("{% for x in 'ab' %}{{ loop.revindex }}{{ loop.previtem }}{{ x }}{% endfor %}"),
        "2a1ab");
    EXPECT_EQ(render("{% for x in {'a': 1, 'b': 2} %}{{ x }}{% endfor %}"), "ab");
    EXPECT_EQ(render("{% for x in [1, 2] %}{% for y in 'ab' %}{{ loop.index0 }}{{ y }}{% endfor %}"
                     "{{ loop.index }}{% endfor %}"),
              "0a1b10a1b2");
}

TEST(JinjaStatements, SetScopesAndNamespaces) {
    // A set inside a loop does not leak; a namespace carries state out.
    EXPECT_EQ(render("{% set x = 1 %}{% for i in [1] %}{% set x = 2 %}{% endfor %}{{ x }}"), "1");
    EXPECT_EQ(render("{% set ns = namespace(n=0) %}{% for i in range(3) %}{% set ns.n = ns.n + i %}"
                     "{% endfor %}{{ ns.n }}"),
              "3");
    EXPECT_EQ(render("{% if true %}{% set x = 5 %}{% endif %}{{ x }}"), "5");
    EXPECT_EQ(render("{% set a, b = [1, 2] %}{{ b }}{{ a }}"), "21");
    EXPECT_EQ(render("{% set block %}  hi {{ 1 }} {% endset %}[{{ block }}]"), "[  hi 1 ]");
    EXPECT_EQ(render("{% set t | trim | upper %}  hi  {% endset %}[{{ t }}]"), "[HI]");
    EXPECT_EQ(render("{% filter upper %}abc{% endfilter %}"), "ABC");
}

TEST(JinjaStatements, Macros) {
    EXPECT_EQ(render("{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}"
                     "{{ greet('a') }} {{ greet('b', '?') }} {{ greet(punct='.', name='c') }}"),
              "Hi a! Hi b? Hi c.");
    EXPECT_EQ(render("{% macro f(n) %}{% if n > 0 %}{{ n }}{{ f(n - 1) }}{% endif %}{% endmacro %}"
                     "{{ f(3) }}"),
              "321");
}

TEST(JinjaFilters, Common) {
    EXPECT_EQ(render("{{ '  x  ' | trim }}|{{ 'ab' | upper }}|{{ 'hello world' | title }}|"
                     "{{ 'hELLO' | capitalize }}"),
              "x|AB|Hello World|Hello");
    EXPECT_EQ(render("{{ [3, 1, 2] | sort | join(',') }}|{{ ['b', 'A', 'a'] | unique | list }}|"
                     "{{ [1, 2] | reverse | list }}|{{ [1, 2] | first }}{{ [1, 2] | last }}"),
              "1,2,3|['b', 'A']|[2, 1]|12");
    EXPECT_EQ(render("{{ x | default('d') }}|{{ '' | default('d', true) }}|{{ '' | d('e') }}"),
              "d|d|");
    EXPECT_EQ(render("{{ {'b': 1, 'a': 2} | dictsort }}"), "[('a', 2), ('b', 1)]");
    EXPECT_EQ(render("{{ '12' | int + 1 }}|{{ 'x' | int }}|{{ 2.7 | int }}|{{ '1.5' | float }}|"
                     "{{ 2.5 | round }}|{{ 3.14159 | round(2) }}"),
              "13|0|2|1.5|2.0|3.14");
    EXPECT_EQ(render("{{ 'a-b-c' | replace('-', '+') }}|{{ 'aaa' | replace('a', 'b', 2) }}"),
              "a+b+c|bba");
    EXPECT_EQ(render("{{ 'a\\nb\\n\\nc' | indent(2) }}|{{ 'x\\ny' | indent(2, true) }}"),
              "a\n  b\n\n  c|  x\n  y");
    EXPECT_EQ(
        render("{{ msgs | selectattr('role', 'equalto', 'user') | map(attribute='c') | list }}"
               "{{ msgs | rejectattr('role', 'equalto', 'user') | list | length }}"
               "{{ msgs | selectattr('c') | list | length }}",
               {{"msgs",
                 {{{"role", "user"}, {"c", "1"}},
                  {{"role", "sys"}, {"c", ""}},
                  {{"role", "user"}, {"c", "3"}}}}}),
        "['1', '3']12");
    EXPECT_EQ(render("{{ [1, 2, 3, 4] | select('even') | list }}{{ [0, 1] | reject | list }}"
                     "{{ ['a', 'b'] | map('upper') | join }}"),
              "[2, 4][0]AB");
    EXPECT_EQ(render("{{ [1, 2, 3] | batch(2) | list }}{{ 'a b  c' | wordcount }}"),
              "[[1, 2], [3]]3");
}

TEST(JinjaFilters, ToJsonLikePythonJsonDumps) {
    const J vars = {{"d", {{"name", "f"}, {"args", {1, 2.5, true, nullptr}}, {"é", "ü\n\"x\""}}}};
    EXPECT_EQ(render("{{ d | tojson }}", vars),
              "{\"name\": \"f\", \"args\": [1, 2.5, true, null], \"é\": \"ü\\n\\\"x\\\"\"}");
    EXPECT_EQ(render("{{ d.args | tojson(indent=2) }}", vars),
              "[\n  1,\n  2.5,\n  true,\n  null\n]");
    EXPECT_EQ(render("{{ {'b': 1, 'a': {}} | tojson(sort_keys=true) }}"), "{\"a\": {}, \"b\": 1}");
    EXPECT_EQ(render("{{ {'a': [1, 2]} | tojson(separators=(',', ':')) }}"), "{\"a\":[1,2]}");
    EXPECT_EQ(render("{{ 'é😀' | tojson(ensure_ascii=true) }}|{{ 'é' | tojson }}"),
              "\"\\u00e9\\ud83d\\ude00\"|\"é\"");
}

TEST(JinjaMethods, StringsAndDicts) {
    EXPECT_EQ(render("{{ '  a b  '.strip() }}|{{ 'xxaxx'.strip('x') }}|{{ 'a,b,,c'.split(',') }}|"
                     "{{ ' a  b '.split() }}|{{ 'a b c'.split(' ', 1) }}"),
              "a b|a|['a', 'b', '', 'c']|['a', 'b']|['a', 'b c']");
    EXPECT_EQ(
        render("{{ 'abc'.startswith('ab') }}{{ 'abc'.endswith(('x', 'c')) }}{{ 'abc'.find('c') }}"
               "{{ 'hello world'.title() }}{{ 'ab'.upper() }}{{ '-'.join(['a', 'b']) }}"),
        "TrueTrue2Hello WorldAB"
        "a-b");
    EXPECT_EQ(render("{{ 'abcdef'[1:4] }}|{{ 'abcdef'[::-1] }}|{{ 'abc'[-1] }}|{{ [1, 2, 3][1:] }}|"
                     "{{ 'zürich'[1] }}|{{ 'zürich'[:2] }}"),
              "bcd|fedcba|c|[2, 3]|ü|zü");
    EXPECT_EQ(
        render("{{ d.get('a') }}|{{ d.get('z', 'no') }}|{{ d.get('z') }}|{{ d.keys() | list }}|"
               "{{ d['a'] }}{{ d.a }}",
               {{"d", {{"a", 1}}}}),
        "1|no|None|['a']|11");
    EXPECT_EQ(render("{{ '{} and {}'.format('x', 1) }}"), "x and 1");
}

TEST(JinjaTests, IsTests) {
    EXPECT_EQ(render("{{ x is defined }}{{ none is none }}{{ 'a' is string }}{{ 1 is number }}"
                     "{{ 1 is integer }}{{ 1.0 is float }}{{ true is boolean }}{{ {} is mapping }}"
                     "{{ [] is iterable }}{{ 'a' is sequence }}{{ 3 is odd }}{{ 4 is even }}"
                     "{{ 9 is divisibleby 3 }}{{ 'a' is equalto 'a' }}{{ 1 is not string }}"),
              "FalseTrueTrueTrueTrueTrueTrueTrueTrueTrueTrueTrueTrueTrueTrue");
    EXPECT_EQ(render("{{ true is true }}{{ 1 is true }}{{ false is false }}{{ x is undefined }}"),
              "TrueFalseTrueTrue");
}

TEST(JinjaGlobals, FunctionsAndClock) {
    EXPECT_EQ(render("{{ range(3) | list }}{{ range(1, 7, 2) | list }}"), "[0, 1, 2][1, 3, 5]");
    EXPECT_EQ(render("{{ dict(a=1, b='x') }}"), "{'a': 1, 'b': 'x'}");
    EXPECT_EQ(render("{{ strftime_now('%d %b %Y') }}|{{ strftime_now('%Y-%m-%d %H:%M') }}"),
              "26 Jul 2024|2024-07-26 12:00");
}

TEST(JinjaUndefined, MatchesJinja2DefaultUndefined) {
    EXPECT_EQ(render("[{{ missing }}][{% for x in missing %}x{% endfor %}][{{ missing | length }}]"
                     "[{{ missing is defined }}][{{ 'a' ~ missing }}]"),
              "[][][0][False][a]");
    EXPECT_EQ(render("{{ d.missing }}|{{ d['missing'] is defined }}", {{"d", J::object()}}),
              "|False");
    // Using undefined's attribute, arithmetic or calling it raises.
    try {
        render("{{ missing.attr }}");
        FAIL();
    } catch (const TemplateError& e) {
        EXPECT_EQ(e.description(), "UndefinedError: 'missing' is undefined");
    }
    try {
        render("{{ d.a.b }}", {{"d", J::object()}});
        FAIL();
    } catch (const TemplateError& e) {
        EXPECT_EQ(e.description(), "UndefinedError: 'dict object' has no attribute 'a'");
    }
    EXPECT_THROW(render("{{ missing + 1 }}"), TemplateError);
    EXPECT_THROW(render("{{ missing() }}"), TemplateError);
}

TEST(JinjaMessages, ContentPartsAndRealisticLoop) {
    const J messages = {{{"role", "user"}, {"content", {{{"type", "text"}, {"text", "hi"}}}}}};
    ChatTemplate t{std::string(builtin_chat_template())};
    ChatTemplateInputs in;
    in.messages = messages;
    EXPECT_EQ(t.render_text(in), "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n");
}

}  // namespace
}  // namespace pocket::test
