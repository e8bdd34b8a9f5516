// Syntax errors name line and column; hostile templates and contexts end in nova::Error,
// never a crash, hang or stack overflow; mutation fuzzing of the qwen3 template and of contexts.
#include <gtest/gtest.h>

#include "render_helpers.h"
#include "support/fixtures.h"

namespace nova::chat {
namespace {

using json = nlohmann::ordered_json;
using testing::render;
using testing::render_error;

std::string parse_error(const std::string& source) {
  try {
    Template::parse(source, "tpl");
  } catch (const Error& e) {
    EXPECT_EQ(e.where(), "tpl");
    return e.problem();
  }
  return "";
}

TEST(Errors, SyntaxErrorsNameLineColumnAndExpectation) {
  EXPECT_EQ(parse_error("a\n  {{ 1 + }}"), "line 2:col 10: unexpected end of print statement");
  EXPECT_NE(parse_error("{% for x in y %}\n{{ x }}").find("'endfor' or 'else'"), std::string::npos);
  EXPECT_NE(parse_error("{% if x %}").find("line 1:col "), std::string::npos);
  EXPECT_NE(parse_error("{% endfor %}").find("unknown tag 'endfor'"), std::string::npos);
  EXPECT_NE(parse_error("{% frobnicate %}").find("unknown tag"), std::string::npos);
  EXPECT_NE(parse_error("{{ x|nosuchfilter }}").find("No filter named 'nosuchfilter'"), std::string::npos);
  EXPECT_NE(parse_error("{{ x is nosuchtest }}").find("No test named"), std::string::npos);
  EXPECT_NE(parse_error("{{ 'abc }}").find("unterminated string"), std::string::npos);
  EXPECT_NE(parse_error("{# unclosed").find("Missing end of comment tag"), std::string::npos);
  EXPECT_NE(parse_error("{{ (1 }}").find("unexpected '}', expected ')'"), std::string::npos);
  EXPECT_NE(parse_error("{{ f(1 2) }}").find("expected token ','"), std::string::npos);
  EXPECT_NE(parse_error("{{ ] }}").find("unexpected ']'"), std::string::npos);
  EXPECT_NE(parse_error("{{ a ! b }}").find("unexpected char '!'"), std::string::npos);
  EXPECT_NE(parse_error("{% set 1 = 2 %}").find("can't assign"), std::string::npos);
  EXPECT_NE(parse_error("{% break %}").find("outside of a loop"), std::string::npos);
  EXPECT_NE(parse_error("{{ '\\x4' }}").find("truncated"), std::string::npos);
  EXPECT_NE(parse_error("{{ 99999999999999999999 }}").find("too large"), std::string::npos);
  EXPECT_NE(parse_error("{% macro m(a=1, b) %}{% endmacro %}").find("non-default"), std::string::npos);
  EXPECT_NE(parse_error("{{ x is defined is defined }}"), "");
}

TEST(Errors, RuntimeErrorsNameTheLine) {
  const std::string e = render_error("a\n\n{{ 1 / 0 }}");
  EXPECT_NE(e.find("line 3"), std::string::npos) << e;
  EXPECT_NE(e.find("ZeroDivisionError"), std::string::npos) << e;
  EXPECT_NE(render_error("{{ 'a' + 1 }}").find("can only concatenate str"), std::string::npos);
  EXPECT_NE(render_error("{{ 1 < 'a' }}").find("not supported"), std::string::npos);
  EXPECT_NE(render_error("{% set a, b = [1] %}").find("not enough values"), std::string::npos);
  EXPECT_NE(render_error("{{ 9223372036854775807 + 1 }}").find("OverflowError"), std::string::npos);
  EXPECT_NE(render_error("{{ 'a'.split('') }}").find("empty separator"), std::string::npos);
  EXPECT_NE(render_error("{{ 1() }}").find("not callable"), std::string::npos);
}

TEST(Errors, RunawayTemplatesAreBounded) {
  EXPECT_NE(render_error("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}").find("RecursionError"), std::string::npos);
  RenderLimits small;
  small.max_steps = 20000;
  EXPECT_NE(render_error("{% for i in range(1000) %}{% for j in range(1000) %}{% for k in range(1000) %}{% endfor %}"
                         "{% endfor %}{% endfor %}",
                         json::object(), small)
                .find("budget"),
            std::string::npos);
  EXPECT_NE(render_error("{{ 'a' * 1000000000 }}").find("MemoryError"), std::string::npos);
  RenderLimits one_mb;
  one_mb.max_output_bytes = 1 << 20;
  EXPECT_NE(render_error("{% set ns = namespace(s='ab') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
                         json::object(), one_mb)
                .find("MemoryError"),
            std::string::npos);
  EXPECT_NE(render_error("{% set ns = namespace(x=[]) %}{% for i in range(2000) %}{% set ns.x = [ns.x] %}{% endfor %}{{ ns.x }}")
                .find("nested too deeply"),
            std::string::npos);
}

TEST(Errors, DeepNestingIsASyntaxErrorNotAStackOverflow) {
  EXPECT_NE(parse_error("{{ " + std::string(10000, '(') + "1" + std::string(10000, ')') + " }}").find("nested too deeply"),
            std::string::npos);
  EXPECT_NE(parse_error("{{ " + std::string(10000, '[') + " }}"), "");
  std::string ifs;
  for (int i = 0; i < 1000; ++i) ifs += "{% if x %}";
  EXPECT_NE(parse_error(ifs).find("nested too deeply"), std::string::npos);
  EXPECT_NE(parse_error("{{ " + std::string(10000, '-') + "1 }}").find("nested too deeply"), std::string::npos);
  EXPECT_NE(parse_error("{{ " + [] {
              std::string s;
              for (int i = 0; i < 10000; ++i) s += "not ";
              return s;
            }() + "x }}").find("nested too deeply"),
            std::string::npos);
}

TEST(Errors, DeeplyNestedContextIsRejected) {
  const json deep = json::parse(std::string(2000, '[') + std::string(2000, ']'));
  EXPECT_NE(render_error("{{ x|length }}", json{{"x", deep}}).find("nested too deeply"), std::string::npos);
}

TEST(Errors, FuzzQwen3TemplateSource) {
  const json cfg = json::parse(test::read_file(test::fixture("tokenizers/qwen3/tokenizer_config.json")));
  const std::string source = cfg["chat_template"].get<std::string>();
  const json ctx = json::parse(R"({"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"},
      {"role": "assistant", "content": "<think>r</think>a", "tool_calls": [{"function": {"name": "f", "arguments": {"x": 1}}}]},
      {"role": "tool", "content": "t"}], "tools": [{"name": "f"}], "add_generation_prompt": true})");
  int parsed = 0, rendered = 0;
  RenderLimits limits;
  limits.max_steps = 20000;
  test::mutate_each(source, 700, 1234, [&](const std::string& s) {
    try {
      const Template t = Template::parse(s, "fuzz");
      ++parsed;
      t.render(ctx, limits);
      ++rendered;
    } catch (const Error&) {
    }
  });
  EXPECT_GT(parsed, 50);  // the fuzz must exercise the renderer, not only the lexer
  EXPECT_GT(rendered, 25);
}

TEST(Errors, FuzzRenderContexts) {
  const json cfg = json::parse(test::read_file(test::fixture("tokenizers/qwen3/tokenizer_config.json")));
  const Template t = Template::parse(cfg["chat_template"].get<std::string>(), "qwen3");
  const std::string seed = R"({"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "<think>x</think>y",
      "tool_calls": [{"function": {"name": "f", "arguments": "{}"}}]}, {"role": "tool", "content": "r"}],
      "tools": [{"type": "function"}], "add_generation_prompt": true, "enable_thinking": false})";
  int rendered = 0;
  test::mutate_each(seed, 2000, 99, [&](const std::string& s) {
    const json ctx = json::parse(s, nullptr, false);
    if (ctx.is_discarded()) return;
    try {
      t.render(ctx);
      ++rendered;
    } catch (const Error&) {
    }
  });
  EXPECT_GT(rendered, 10);
}

}  // namespace
}  // namespace nova::chat
