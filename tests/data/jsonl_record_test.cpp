#include "data/jsonl_record.h"

#include <gtest/gtest.h>

#include "support/fixtures.h"

namespace nova::data {
namespace {

TEST(JsonlRecord, TextAndPromptCompletion) {
  JsonlParse p = parse_jsonl_line(R"({"text": "hello\nworld", "id": 3})");
  ASSERT_EQ(p.issue, JsonlIssue::none);
  EXPECT_EQ(p.record.completion, "hello\nworld");
  EXPECT_FALSE(p.record.is_pair);

  p = parse_jsonl_line("{\"prompt\": \"Q: 2+2?\", \"completion\": \" 4\"}\r");
  ASSERT_EQ(p.issue, JsonlIssue::none);
  EXPECT_TRUE(p.record.is_pair);
  EXPECT_EQ(p.record.prompt, "Q: 2+2?");
  EXPECT_EQ(p.record.completion, " 4");

  p = parse_jsonl_line(R"({"prompt": "p", "completion": "c", "text": "t"})");  // text wins
  ASSERT_EQ(p.issue, JsonlIssue::none);
  EXPECT_EQ(p.record.completion, "t");
  EXPECT_FALSE(p.record.is_pair);

  p = parse_jsonl_line(R"({"text": "caf\u00e9 \ud83d\ude00"})");
  ASSERT_EQ(p.issue, JsonlIssue::none);
  EXPECT_EQ(p.record.completion, "caf\xc3\xa9 \xf0\x9f\x98\x80");
}

TEST(JsonlRecord, ClassifiesBadLines) {
  EXPECT_EQ(parse_jsonl_line(R"({"text": "unterminated)").issue, JsonlIssue::invalid_json);
  EXPECT_EQ(parse_jsonl_line(R"({"text": "a"} trailing)").issue, JsonlIssue::invalid_json);
  EXPECT_EQ(parse_jsonl_line(R"({"text": "\ud800"})").issue, JsonlIssue::invalid_json);  // lone surrogate
  EXPECT_EQ(parse_jsonl_line("").issue, JsonlIssue::invalid_json);
  EXPECT_EQ(parse_jsonl_line(R"({"body": "x"})").issue, JsonlIssue::missing_field);
  EXPECT_EQ(parse_jsonl_line(R"({"prompt": "x"})").issue, JsonlIssue::missing_field);
  EXPECT_EQ(parse_jsonl_line(R"({"text": 5})").issue, JsonlIssue::wrong_type);
  EXPECT_EQ(parse_jsonl_line(R"({"text": null})").issue, JsonlIssue::wrong_type);
  EXPECT_EQ(parse_jsonl_line(R"({"prompt": "x", "completion": ["y"]})").issue, JsonlIssue::wrong_type);
  EXPECT_EQ(parse_jsonl_line(R"(["text"])").issue, JsonlIssue::wrong_type);
  EXPECT_EQ(parse_jsonl_line(R"("text")").issue, JsonlIssue::wrong_type);
  EXPECT_EQ(parse_jsonl_line("{\"text\": \"\xff\"}").issue, JsonlIssue::invalid_utf8);
  EXPECT_EQ(parse_jsonl_line("{\"text\": \"\xc0\xaf\"}").issue, JsonlIssue::invalid_utf8);  // overlong '/'
  EXPECT_STREQ(to_string(JsonlIssue::wrong_type), "wrong type");
}

TEST(Utf8, StrictValidation) {
  EXPECT_TRUE(is_valid_utf8(""));
  EXPECT_TRUE(is_valid_utf8("ascii"));
  EXPECT_TRUE(is_valid_utf8("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf"));  // é € 😀 U+10FFFF
  EXPECT_FALSE(is_valid_utf8("\x80"));              // stray continuation
  EXPECT_FALSE(is_valid_utf8("\xc3"));              // truncated
  EXPECT_FALSE(is_valid_utf8("\xe0\x80\xaf"));      // overlong
  EXPECT_FALSE(is_valid_utf8("\xed\xa0\x80"));      // surrogate U+D800
  EXPECT_FALSE(is_valid_utf8("\xf4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(is_valid_utf8("\xf5\x80\x80\x80"));
  EXPECT_FALSE(is_valid_utf8("\xe2\x82"));
}

TEST(JsonlRecordFuzz, NeverThrows) {
  // Any line is either a record or a classified issue; nothing may escape.
  const std::string seeds[] = {R"({"text": "The jury said \"no\" \u00e9."})",
                               R"({"prompt": "Q: what?", "completion": " A: that.", "meta": [1, 2.5, null]})"};
  int ok = 0, bad = 0;
  for (const std::string& seed : seeds) {
    test::mutate_each(seed, 2500, 99, [&](const std::string& line) {
      JsonlParse p;
      EXPECT_NO_THROW(p = parse_jsonl_line(line));
      if (p.issue == JsonlIssue::none) {
        ++ok;
        EXPECT_TRUE(is_valid_utf8(p.record.completion));
        EXPECT_TRUE(is_valid_utf8(p.record.prompt));
      } else {
        ++bad;
      }
    });
  }
  EXPECT_GT(ok, 0);
  EXPECT_GT(bad, 0);
}

}  // namespace
}  // namespace nova::data
