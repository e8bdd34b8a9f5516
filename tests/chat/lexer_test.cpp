// Whitespace control exactly as jinja2 with trim_blocks=True, lstrip_blocks=True.
// Expected strings derived by hand from jinja2's lexer rules (not run through jinja2 here).
#include "chat/lexer.h"

#include <gtest/gtest.h>

#include "render_helpers.h"

namespace nova::chat {
namespace {

using testing::render;

TEST(Lexer, TrimBlocksDropsOneNewlineAfterABlockTag) {
  EXPECT_EQ(render("{% if true %}\n  x\n{% endif %}\n"), "  x\n");
  EXPECT_EQ(render("{% if true %}\n\nx{% endif %}"), "\nx");
  EXPECT_EQ(render("{% if true +%}\nx{% endif %}"), "\nx");  // `+%}` keeps the newline
}

TEST(Lexer, LstripBlocksRemovesIndentBeforeBlockAndCommentTagsOnly) {
  EXPECT_EQ(render("a\n    {% if true %}b{% endif %}\nc"), "a\nbc");
  EXPECT_EQ(render("  {{ 'x' }}"), "  x");                  // not for variable tags
  EXPECT_EQ(render("a b {% if true %}c{% endif %}"), "a b c");  // text before the tag on the line
  EXPECT_EQ(render("  {%+ if true %}x{% endif %}"), "  x");     // `{%+` disables it
  EXPECT_EQ(render("a\n  {# note #}\nb"), "a\nb");
  EXPECT_EQ(render("\t {% if true %}x{% endif %}"), "x");      // at template start
  // After a tag whose trim ate the newline, the next line's indent counts as line start.
  EXPECT_EQ(render("{% if true %}\n    {% if true %}y{% endif %}\n{% endif %}"), "y");
}

TEST(Lexer, MinusStripsAllWhitespaceOnItsSide) {
  EXPECT_EQ(render("a  \n {%- if true -%} \n b \n {%- endif -%}  c"), "abc");
  EXPECT_EQ(render("a\n\n  {{- 'x' -}}  \n\nb"), "axb");
  EXPECT_EQ(render("a  {#- c -#}  b"), "ab");
}

TEST(Lexer, TrailingNewlineAndLineEndingsAreNormalised) {
  EXPECT_EQ(render("{{ 'x' }}\n"), "x");
  EXPECT_EQ(render("{{ 'x' }}\n\n"), "x\n");
  EXPECT_EQ(render("a\r\nb\rc"), "a\nb\nc");
  EXPECT_EQ(render("{{ 'a\r\nb' }}"), "a\nb");
}

TEST(Lexer, RawBlocksAreVerbatim) {
  EXPECT_EQ(render("{% raw %}{{ x }}{% if %}{% endraw %}"), "{{ x }}{% if %}");
  EXPECT_EQ(render("{%- raw -%}  a  {%- endraw -%}"), "a");
}

TEST(Lexer, BracesInsideTagsDoNotEndThem) {
  EXPECT_EQ(render("{{ {'a': {'b': 1}} }}"), "{'a': {'b': 1}}");
  EXPECT_EQ(render("{% set d = {'k': {'v': 2}} %}{{ d.k.v }}"), "2");
}

TEST(Lexer, TokensCarryLineAndColumn) {
  const auto toks = tokenize("ab\n  {{ x + 1 }}", "t");
  ASSERT_GE(toks.size(), 5u);
  EXPECT_EQ(toks[0].type, Token::Type::Data);
  EXPECT_EQ(toks[1].type, Token::Type::VarBegin);
  EXPECT_EQ(toks[1].line, 2);
  EXPECT_EQ(toks[1].col, 3);
  EXPECT_EQ(toks[2].value, "x");
  EXPECT_EQ(toks[2].col, 6);
  EXPECT_EQ(toks[4].type, Token::Type::Integer);
  EXPECT_EQ(toks[4].int_value, 1);
}

TEST(Lexer, StringEscapesFollowPython) {
  EXPECT_EQ(render(R"({{ 'a\nb\t\\\'\x41\u00e9\U0001F642\101' }})"), "a\nb\t\\'A\xC3\xA9\xF0\x9F\x99\x82" "A");
  EXPECT_EQ(render(R"({{ "\d" }})"), "\\d");  // unknown escapes stay
  EXPECT_EQ(render(R"({{ 'a' "b" 'c' }})"), "abc");  // adjacent literals join
}

TEST(Lexer, NumberLiterals) {
  EXPECT_EQ(render("{{ 1_000 }} {{ 0x1F }} {{ 0b101 }} {{ 0o17 }} {{ 1.5e3 }} {{ 2.50 }} {{ 1e-7 }}"),
            "1000 31 5 15 1500.0 2.5 1e-07");
}

}  // namespace
}  // namespace nova::chat
