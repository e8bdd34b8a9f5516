// Expressions and statements with Python/jinja2 semantics. Expected strings are derived by
// reasoning about jinja2 3.1 and CPython (they could not be run here); the qwen3 fixture test
// is the one checked against the real stack.
#include "chat/interpreter.h"

#include <gtest/gtest.h>

#include "render_helpers.h"

namespace nova::chat {
namespace {

using json = nlohmann::ordered_json;
using testing::render;
using testing::render_error;

TEST(Interpreter, ArithmeticFollowsPython) {
  EXPECT_EQ(render("{{ 1 + 2 * 3 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 7 / 2 }} {{ 4 / 2 }}"),
            "7 3 -4 1 2 3.5 2.0");
  EXPECT_EQ(render("{{ 2 ** 3 ** 2 }}"), "64");  // jinja2's ** is left-associative
  EXPECT_EQ(render("{{ -2 ** 2 }} {{ 2 ** -1 }}"), "4 0.5");
  EXPECT_EQ(render("{{ 0.1 + 0.2 }} {{ 1e16 }} {{ 123456789012345.0 }} {{ 0.0001 }} {{ 0.00001 }}"),
            "0.30000000000000004 1e+16 123456789012345.0 0.0001 1e-05");
  EXPECT_EQ(render("{{ true + 1 }} {{ 3 * 'ab' }} {{ [1] * 2 }} {{ -7.5 // 2 }} {{ -7.5 % 2 }}"),
            "2 ababab [1, 1] -4.0 0.5");
  EXPECT_EQ(render("{{ 'a' ~ 1 ~ none ~ missing ~ true }}"), "a1NoneTrue");
  EXPECT_EQ(render("{{ -1|abs }} {{ -x|abs }}", json{{"x", 3}}), "1 3");  // filter binds after unary minus
  EXPECT_EQ(render("{{ '%s=%d, %.2f%%' % ('a', 3, 1.5) }}"), "a=3, 1.50%");
}

TEST(Interpreter, PrintsValuesAsPythonStr) {
  EXPECT_EQ(render("{{ [1, 'a', none, true, 1.5, {'k': \"it's\"}] }}"), "[1, 'a', None, True, 1.5, {'k': \"it's\"}]");
  EXPECT_EQ(render("{{ (1,) }} {{ 1, 2 }} {{ () }}"), "(1,) (1, 2) ()");
  EXPECT_EQ(render("{{ none }}|{{ missing }}|{{ false }}|{{ 1.0 }}|{{ 10**20 if false else 2.5e-3 }}"),
            "None||False|1.0|0.0025");
  EXPECT_EQ(render("{{ ['a\\nb', '\\u00e9', '\\x00'] }}"), "['a\\nb', '\xC3\xA9', '\\x00']");
  EXPECT_EQ(render("{{ x }}", json{{"x", json::parse(R"({"b": [1, 2.0], "a": null})")}}), "{'b': [1, 2.0], 'a': None}");
}

TEST(Interpreter, ComparisonsAndLogic) {
  EXPECT_EQ(render("{{ 1 < 2 < 3 }} {{ 1 < 3 < 2 }} {{ 1 == 1.0 }} {{ 'a' in 'cat' }} {{ 2 not in [1] }} "
                   "{{ 'k' in {'k': 1} }} {{ [1, 2] < [1, 3] }} {{ 'b' > 'a' }} {{ none == none }}"),
            "True False True True True True True True True");
  EXPECT_EQ(render("{{ 0 or 'x' }} {{ 1 and 'y' }} {{ not 0 }} {{ '' or [] }} {{ not x is defined }}"),
            "x y True [] True");
  EXPECT_EQ(render("[{{ 'a' if false }}] {{ 'a' if 0 else 'b' }} {{ 1 if x else 2 if y else 3 }}", json{{"y", 1}}),
            "[] b 2");
}

TEST(Interpreter, SubscriptsAndSlices) {
  const json ctx = {{"m", json::parse(R"([{"role": "system"}, {"role": "user"}, {"role": "assistant"}])")}};
  EXPECT_EQ(render("{{ m[1:]|length }} {{ (m[::-1]|first).role }} {{ m[-1]['role'] }} {{ m[0].role }}", ctx),
            "2 assistant assistant system");
  EXPECT_EQ(render("{{ [1,2,3,4][1:3] }} {{ [1,2,3][::-1] }} {{ [1,2,3,4,5][::2] }} {{ [1,2,3][-2:] }}"),
            "[2, 3] [3, 2, 1] [1, 3, 5] [2, 3]");
  EXPECT_EQ(render("{{ 'h\xC3\xA9llo'[1:3] }} {{ 'abc'[-1] }} {{ 'abc'[::-1] }} [{{ [1][5] }}] {{ m.0.role }}", ctx),
            "\xC3\xA9l c cba [] system");
}

TEST(Interpreter, Tests) {
  EXPECT_EQ(render("{{ 1 is number }} {{ true is number }} {{ true is integer }} {{ 1.0 is float }} {{ 'x' is string }} "
                   "{{ {} is mapping }} {{ 'x' is sequence }} {{ none is none }} {{ x is defined }} {{ x is undefined }}"),
            "True True False True True True True True False True");
  EXPECT_EQ(render("{{ 3 is odd }} {{ 9 is divisibleby 3 }} {{ 2 is even }} {{ 1 is eq 1 }} {{ x is not defined }} "
                   "{{ false is false }} {{ 0 is false }} {{ true is true }} {{ 1 is boolean }} {{ 2 is in [1, 2] }}"),
            "True True True True True True False True False True");
  EXPECT_EQ(render("{{ 'abc' is lower }} {{ 'ABC' is upper }} {{ x is iterable }} {{ 3 is iterable }} "
                   "{{ 'upper' is filter }} {{ 'odd' is test }} {{ 2 is gt 1 }} {{ 5 is le 4 }}"),
            "True True True False True True True False");
}

TEST(Interpreter, ForLoops) {
  EXPECT_EQ(render("{% for x in [1,2,3] %}{{ loop.index }}{{ loop.index0 }}{{ loop.first }}{{ loop.last }}"
                   "{{ loop.length }}{{ loop.revindex }}{{ loop.revindex0 }}|{% endfor %}"),
            "10TrueFalse332|21FalseFalse321|32FalseTrue310|");
  EXPECT_EQ(render("{% for x in [] %}a{% else %}b{% endfor %}"), "b");
  EXPECT_EQ(render("{% for x in range(10) if x is odd %}{{ x }}{{ loop.length }},{% endfor %}"), "15,35,55,75,95,");
  EXPECT_EQ(render("{% for k, v in {'a': 1, 'b': 2}.items() %}{{ k }}={{ v }};{% endfor %}"), "a=1;b=2;");
  EXPECT_EQ(render("{% for k in {'a': 1, 'b': 2} %}{{ k }}{% endfor %}"), "ab");
  EXPECT_EQ(render("{% for c in 'h\xC3\xA9' %}[{{ c }}]{% endfor %}"), "[h][\xC3\xA9]");
  EXPECT_EQ(render("{% for i in range(3) %}{{ loop.cycle('a', 'b') }}{% endfor %}"), "aba");
  EXPECT_EQ(render("{% for i in [1, 2] %}{{ loop.previtem is defined }}{{ loop.nextitem }}{% endfor %}"), "False2True");
  EXPECT_EQ(render("{% for i in range(5) %}{% if i == 3 %}{% break %}{% endif %}{% if i == 1 %}{% continue %}"
                   "{% endif %}{{ i }}{% endfor %}"),
            "02");
  EXPECT_EQ(render("{% for a in [1, 2] %}{% for b in 'xy' %}{{ loop.index }}{{ a }}{{ b }} {% endfor %}{% endfor %}"),
            "11x 21y 12x 22y ");
  EXPECT_EQ(render("{% for x in missing %}a{% else %}empty{% endfor %}"), "empty");
}

TEST(Interpreter, ScopingAndAssignment) {
  EXPECT_EQ(render("{% set x = 1 %}{% for i in [1] %}{% set x = 2 %}{{ x }}{% endfor %}{{ x }}"), "21");
  EXPECT_EQ(render("{% if true %}{% set y = 5 %}{% endif %}{{ y }}"), "5");
  EXPECT_EQ(render("{% set ns = namespace(n=0, s='') %}{% for i in [1,2,3] %}{% set ns.n = ns.n + i %}"
                   "{% set ns.s = ns.s ~ i %}{% endfor %}{{ ns.n }} {{ ns.s }}"),
            "6 123");
  EXPECT_EQ(render("{% set a, b = 1, 2 %}{{ a }}{{ b }}{% set (c, d) = [3, 4] %}{{ c }}{{ d }}"), "1234");
  EXPECT_EQ(render("{% set b %}hi {{ 1 }}{% endset %}{{ b|upper }}"), "HI 1");
  EXPECT_EQ(render("{% set b | upper | replace('A', '4') %}abc{% endset %}{{ b }}"), "4BC");
  EXPECT_EQ(render("{% with a = 2, b = 3 %}{{ a * b }}{% endwith %}[{{ a }}]"), "6[]");
  EXPECT_EQ(render("{% set messages = messages[1:] %}{{ messages|length }}", json{{"messages", {1, 2, 3}}}), "2");
  EXPECT_NE(render_error("{% set x = 1 %}{% set x.y = 2 %}"), "");
}

TEST(Interpreter, MacrosCallAndFilterBlocks) {
  EXPECT_EQ(render("{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}"
                   "{{ greet('Bob') }} {{ greet('Al', punct='?') }} {{ greet(name='Cy') }}"),
            "Hi Bob! Hi Al? Hi Cy!");
  EXPECT_EQ(render("{% macro m(a) %}{{ a }}{{ varargs }}{{ kwargs }}{% endmacro %}{{ m(1, 2, k=3) }}"), "1(2,){'k': 3}");
  EXPECT_EQ(render("{% macro wrap(t) %}<{{ t }}>{{ caller() }}</{{ t }}>{% endmacro %}{% call wrap('b') %}in{% endcall %}"),
            "<b>in</b>");
  EXPECT_EQ(render("{% macro each(xs) %}{% for x in xs %}{{ caller(x) }}{% endfor %}{% endmacro %}"
                   "{% call(v) each([1, 2]) %}[{{ v }}]{% endcall %}"),
            "[1][2]");
  EXPECT_EQ(render("{% filter upper %}abc{{ 'd' }}{% endfilter %}"), "ABCD");
  EXPECT_EQ(render("{% set g = 'G' %}{% macro f() %}{{ g }}{% endmacro %}{{ f() }}"), "G");
  EXPECT_EQ(render("{% macro f(n) %}{{ n }}{% if n > 0 %}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(3) }}"), "3210");
  EXPECT_EQ(render("{% generation %}kept{% endgeneration %}"), "kept");
  EXPECT_EQ(render("{% print 1, 'a' %}"), "1a");
}

TEST(Interpreter, UndefinedBehavesLikeJinja) {
  EXPECT_EQ(render("[{{ missing }}][{{ missing|length }}][{{ {}.x }}][{{ none.x }}][{{ missing is none }}]"
                   "[{{ missing == missing2 }}][{{ missing|default('d') }}][{{ x.get('k') }}]",
                   json{{"x", json::object()}}),
            "[][0][][][False][True][d][None]");
  EXPECT_NE(render_error("{{ missing.attr }}").find("'missing' is undefined"), std::string::npos);
  EXPECT_NE(render_error("{{ {}.x.y }}").find("'dict object' has no attribute 'x'"), std::string::npos);
  EXPECT_NE(render_error("{{ missing + 1 }}").find("UndefinedError"), std::string::npos);
  EXPECT_NE(render_error("{{ 'a' + missing }}").find("UndefinedError"), std::string::npos);
  EXPECT_NE(render_error("{{ missing() }}"), "");
  EXPECT_NE(render_error("{{ m.content.startswith('x') }}", json{{"m", json::object()}}), "");
}

TEST(Interpreter, MethodsOnStringsDictsAndLists) {
  EXPECT_EQ(render("{{ ' a '.strip() }}|{{ 'xxhixx'.strip('x') }}|{{ 'a,b'.split(',') }}|{{ ' a b  c '.split() }}|"
                   "{{ 'a.b.c'.rsplit('.', 1) }}|{{ 'a b c'.split(none, 1) }}"),
            "a|hi|['a', 'b']|['a', 'b', 'c']|['a.b', 'c']|['a', 'b c']");
  EXPECT_EQ(render("{{ 'abc'.startswith('ab') }} {{ 'abc'.startswith(('x', 'a')) }} {{ 'abc'.endswith('bc') }} "
                   "{{ 'h\xC3\xA9llo'.find('l') }} {{ 'abc'.find('z') }} {{ 'aaa'.count('a') }}"),
            "True True True 2 -1 3");
  EXPECT_EQ(render("{{ 'x{}y{}'.format(1, 'z') }} {{ '{name}!'.format(name='N') }} {{ '{0}{0}'.format('r') }} "
                   "{{ '{:>4}|{:<3}|{:^5}|{:.2f}'.format('a', 'b', 'c', 3.14159) }}"),
            "x1yz N! rr    a|b  |  c  |3.14");
  EXPECT_EQ(render("{{ 'Hello'.upper() }} {{ 'Hello'.lower() }} {{ \"it's a\".title() }} {{ 'aBC'.capitalize() }} "
                   "{{ 'a-a'.replace('a', 'b') }} {{ 'a-a'.replace('a', 'b', 1) }} {{ '-'.join(['x', 'y']) }}"),
            "HELLO hello It'S A Abc b-b b-a x-y");
  EXPECT_EQ(render("{{ 'a\\nb\\r\\nc'.splitlines() }} {{ '12'.isdigit() }} {{ 'ab'.isalpha() }} {{ '  '.isspace() }}"),
            "['a', 'b', 'c'] True True True");
  EXPECT_EQ(render("{{ d.get('a') }} {{ d.get('b') }} {{ d.get('b', 2) }} {{ d.keys()|list }} {{ d.values()|list }} "
                   "{{ d['a'] }} {{ d.items()|list }}",
                   json{{"d", json{{"a", 1}}}}),
            "1 None 2 ['a'] [1] 1 [('a', 1)]");
  EXPECT_EQ(render("{{ [1, 2, 1].count(1) }} {{ [1, 2].index(2) }}"), "2 1");
  // transformers renders in an ImmutableSandboxedEnvironment: mutating methods are refused.
  EXPECT_NE(render_error("{% set l = [] %}{{ l.append(1) }}").find("unsafe"), std::string::npos);
  EXPECT_NE(render_error("{% set d = {} %}{{ d.update({'a': 1}) }}").find("unsafe"), std::string::npos);
  // A key named like a dict method: `.items` is the method, ['items'] the key.
  EXPECT_EQ(render("{{ d['items'] }} {{ d.items is defined }}", json{{"d", json{{"items", 5}}}}), "5 True");
}

TEST(Interpreter, Globals) {
  EXPECT_EQ(render("{{ range(3)|list }} {{ range(1, 10, 3)|list }} {{ range(3, 0, -1)|list }} {{ range(0)|list }}"),
            "[0, 1, 2] [1, 4, 7] [3, 2, 1] []");
  EXPECT_EQ(render("{{ dict(a=1, b='x') }} {{ dict([('k', 2)]) }} {{ namespace(a=1).a }}"), "{'a': 1, 'b': 'x'} {'k': 2} 1");
  EXPECT_EQ(render("{% set j = joiner('+') %}{% for i in [1,2,3] %}{{ j() }}{{ i }}{% endfor %}"), "1+2+3");
  EXPECT_EQ(render("{% set c = cycler('a', 'b') %}{{ c.next() }}{{ c.next() }}{{ c.next() }}{{ c.current }}"), "abab");
  RenderLimits at;
  at.now = 962452800;  // 2000-07-01 12:00 UTC: the same calendar day in every time zone
  EXPECT_EQ(render("{{ strftime_now('%d %b %Y') }}|{{ strftime_now is defined }}", json::object(), at),
            "01 Jul 2000|True");
  EXPECT_NE(render_error("{{ range(100001)|length }}").find("MAX_RANGE"), std::string::npos);
}

TEST(Interpreter, RaiseExceptionCarriesTheTemplateMessage) {
  try {
    Template::parse("{% if x %}{{ raise_exception('Roles must alternate: ' ~ x) }}{% endif %}", "tpl").render(json{{"x", "u"}});
    FAIL() << "expected TemplateRaised";
  } catch (const TemplateRaised& e) {
    EXPECT_EQ(e.problem(), "Roles must alternate: u");
    EXPECT_EQ(e.where(), "tpl");
  }
}

}  // namespace
}  // namespace nova::chat
