// Built-in filters, with outputs derived from jinja2 3.1's filter code and CPython semantics
// (not executed against jinja2 here), and transformers' tojson.
#include <gtest/gtest.h>

#include "render_helpers.h"

namespace nova::chat {
namespace {

using json = nlohmann::ordered_json;
using testing::render;
using testing::render_error;

TEST(Filters, Strings) {
  EXPECT_EQ(render("{{ '  x  '|trim }}|{{ 'xxhixx'|trim('x') }}|{{ 'hello world'|title }}|{{ \"it's o-neil\"|title }}|"
                   "{{ 'aBC'|capitalize }}|{{ 'Ab'|upper }}{{ 'Ab'|lower }}|{{ 'a-b'|replace('-', '+') }}"),
            "x|hi|Hello World|It's O-Neil|Abc|ABab|a+b");
  EXPECT_EQ(render("{{ 'a\\nb'|indent(2) }}|{{ 'a\\n\\nb'|indent(2, true) }}|{{ 'a\\n\\nb'|indent(2, blank=true) }}|"
                   "{{ 'x'|indent('> ', first=true) }}"),
            "a\n  b|  a\n\n  b|a\n  \n  b|> x");
  EXPECT_EQ(render("[{{ 'abc'|center(7) }}] {{ 'a b c'|wordcount }} {{ 'hello world foo'|truncate(9) }} "
                   "{{ 'hello world foo'|truncate(9, true) }} {{ '<a href=\"x\">'|e }} {{ '%s-%d'|format('a', 3) }}"),
            "[  abc  ] 3 hello... hello ... &lt;a href=&#34;x&#34;&gt; a-3");
  EXPECT_EQ(render("{{ 1|string ~ none|string }} {{ [1]|safe }} {{ 'abc'|reverse }} {{ 'abc'|list }}"),
            "1None [1] cba ['a', 'b', 'c']");
}

TEST(Filters, Numbers) {
  EXPECT_EQ(render("{{ '3'|int + 1 }} {{ '4.7'|int }} {{ 'x'|int }} {{ 'x'|int(7) }} {{ '0x1A'|int(base=16) }} "
                   "{{ ' 12 '|int }} {{ 3.9|int }} {{ '2.5'|float }} {{ 3|float }} {{ 'n'|float }}"),
            "4 4 0 7 26 12 3 2.5 3.0 0.0");
  EXPECT_EQ(render("{{ 2.5|round }} {{ 3.5|round }} {{ 2.675|round(2) }} {{ 1.55|round(1, 'floor') }} "
                   "{{ 1.21|round(1, 'ceil') }} {{ 3|round }} {{ -3|abs }} {{ -2.5|abs }}"),
            "2.0 4.0 2.67 1.5 1.3 3 3 2.5");
}

TEST(Filters, Sequences) {
  EXPECT_EQ(render("{{ [3,1,2]|sort }} {{ [3,1,2]|sort(reverse=true) }} {{ ['b','A','c']|sort }} "
                   "{{ ['b','A']|sort(case_sensitive=true) }}"),
            "[1, 2, 3] [3, 2, 1] ['A', 'b', 'c'] ['A', 'b']");
  EXPECT_EQ(render("{{ x|sort(attribute='n')|map(attribute='n')|join(',') }} {{ x|map(attribute='z', default='-')|list }}",
                   json{{"x", json::parse(R"([{"n": "b"}, {"n": "A"}])")}}),
            "A,b ['-', '-']");
  EXPECT_EQ(render("{{ ['a','b']|join(', ') }} {{ [1,2]|join }} {{ x|join('/', attribute='n') }}",
                   json{{"x", json::parse(R"([{"n": 1}, {"n": 2}])")}}),
            "a, b 12 1/2");
  EXPECT_EQ(render("{{ [1,2,3]|first }}{{ [1,2,3]|last }}{{ [1,2,3]|length }}{{ [1,2,3]|count }}{{ [1,2,3]|sum }}"
                   "{{ [1,2,3]|max }}{{ [1,2,3]|min }} {{ [1,2,3]|reverse|list }} [{{ []|first }}] {{ x|sum(attribute='n') }}",
                   json{{"x", json::parse(R"([{"n": 1}, {"n": 2}])")}}),
            "1333631 [3, 2, 1] [] 3");
  EXPECT_EQ(render("{{ [1,2,2,1]|unique|list }} {{ ['A','a']|unique|list }} {{ [1,2,3,4]|select('odd')|list }} "
                   "{{ [1,2,3,4]|reject('odd')|list }} {{ [1,2,3]|select('gt', 1)|list }} {{ ['a','b']|map('upper')|list }}"),
            "[1, 2] ['A'] [1, 3] [2, 4] [2, 3] ['A', 'B']");
  EXPECT_EQ(render("{{ x|selectattr('a')|list }} {{ x|rejectattr('a', 'equalto', 1)|list }} "
                   "{{ x|selectattr('a', 'defined')|list|length }}",
                   json{{"x", json::parse(R"([{"a": 1}, {"a": 0}, {}])")}}),
            "[{'a': 1}] [{'a': 0}, {}] 2");
  EXPECT_EQ(render("{{ {'b': 1, 'a': 2}|dictsort }} {{ {'b': 1, 'a': 2}|dictsort(by='value') }} {{ {'a': 1}|items|list }} "
                   "{{ [1,2,3,4,5]|batch(2)|list }} {{ [1,2,3]|batch(2, 0)|list }}"),
            "[('a', 2), ('b', 1)] [('b', 1), ('a', 2)] [('a', 1)] [[1, 2], [3, 4], [5]] [[1, 2], [3, 0]]");
  EXPECT_EQ(render("{{ none|default('d') }} {{ missing|default('d') }} {{ ''|default('d', true) }} {{ missing|d('z') }}"),
            "None d d z");
}

TEST(Filters, ToJsonMatchesTransformers) {
  // json.dumps(x, ensure_ascii=False): ", " and ": " separators, no HTML escaping, key order kept.
  EXPECT_EQ(render("{{ {'a': [1, 2.0, none, true, 'é\"<>&\\n'], 'z': {}}|tojson }}"),
            "{\"a\": [1, 2.0, null, true, \"é\\\"<>&\\n\"], \"z\": {}}");
  EXPECT_EQ(render("{{ {'a': [1], 'b': []}|tojson(indent=2) }}"), "{\n  \"a\": [\n    1\n  ],\n  \"b\": []\n}");
  EXPECT_EQ(render("{{ 'é🙂\\x01'|tojson(ensure_ascii=true) }}"), "\"\\u00e9\\ud83d\\ude42\\u0001\"");
  EXPECT_EQ(render("{{ {'b': 1, 'a': 2}|tojson(sort_keys=true) }} {{ [1, 2]|tojson(separators=(',', ':')) }} "
                   "{{ (1, 'x')|tojson }} {{ {1: 2}|tojson }}"),
            "{\"a\": 2, \"b\": 1} [1,2] [1, \"x\"] {\"1\": 2}");
  EXPECT_EQ(render("{{ x|tojson }}", json{{"x", json::parse(R"({"z": 1, "a": {"y": 1e100, "x": -0.0}})")}}),
            "{\"z\": 1, \"a\": {\"y\": 1e+100, \"x\": -0.0}}");
  EXPECT_NE(render_error("{{ missing|tojson }}").find("not JSON serializable"), std::string::npos);
  EXPECT_NE(render_error("{{ namespace(a=1)|tojson }}").find("not JSON serializable"), std::string::npos);
}

TEST(Filters, ArgumentErrors) {
  EXPECT_NE(render_error("{{ 'a'|replace('a') }}"), "");
  EXPECT_NE(render_error("{{ 'a'|trim(1, 2) }}"), "");
  EXPECT_NE(render_error("{{ 'a'|upper(x=1) }}"), "");
  EXPECT_NE(render_error("{{ [1, 'a']|sort }}").find("not supported"), std::string::npos);
  EXPECT_NE(render_error("{{ 1|items }}"), "");
  EXPECT_NE(render_error("{{ 5|length }}"), "");
}

}  // namespace
}  // namespace nova::chat
