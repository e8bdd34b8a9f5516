// Every case of shared/fixtures/tokenizers/*/cases.jsonl (ids and decoded text from Hugging Face
// `tokenizers`): encode, decode (skip_special_tokens=false, as the fixtures were made) and streaming
// decode must reproduce them exactly.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "tokenizer/unicode.h"
#include "tokenizer_test_util.h"

namespace nova::tokenizer {
namespace {

struct FixtureCase {
  std::string family;
  int line = 0;
  std::string text;
  bool add_special_tokens = false;
  std::vector<int32_t> ids;
  std::string decoded;
};

std::vector<FixtureCase> load_cases() {
  std::vector<FixtureCase> cases;
  for (const std::string family : {"gpt2", "llama2", "qwen3"}) {
    std::ifstream in(test::fixture_path(family, "cases.jsonl"));
    std::string line;
    int n = 0;
    while (std::getline(in, line)) {
      ++n;
      if (line.empty()) continue;
      const auto j = nlohmann::json::parse(line);
      cases.push_back({family, n, j.at("text").get<std::string>(), j.at("add_special_tokens").get<bool>(),
                       j.at("ids").get<std::vector<int32_t>>(), j.at("decoded").get<std::string>()});
    }
  }
  return cases;
}

std::string describe(const FixtureCase& c) {
  return c.family + "/cases.jsonl line " + std::to_string(c.line) + " add_special_tokens=" +
         (c.add_special_tokens ? "true" : "false") + " text=" + nlohmann::json(c.text).dump();
}

class FixtureCaseTest : public ::testing::TestWithParam<FixtureCase> {};

TEST_P(FixtureCaseTest, EncodeGivesReferenceIds) {
  const FixtureCase& c = GetParam();
  const Tokenizer& tok = test::fixture_tokenizer(c.family);
  EXPECT_EQ(tok.encode(c.text, c.add_special_tokens), c.ids) << describe(c);
}

TEST_P(FixtureCaseTest, DecodeGivesReferenceText) {
  const FixtureCase& c = GetParam();
  const Tokenizer& tok = test::fixture_tokenizer(c.family);
  EXPECT_EQ(tok.decode(c.ids), c.decoded) << describe(c);
}

TEST_P(FixtureCaseTest, StreamingDecodeEqualsFullDecode) {
  const FixtureCase& c = GetParam();
  const Tokenizer& tok = test::fixture_tokenizer(c.family);
  for (const bool skip : {false, true}) {
    StreamDecoder stream(tok, skip);
    std::string all;
    for (const int32_t id : c.ids) {
      const std::string piece = stream.push(id);
      EXPECT_TRUE(unicode::is_valid_utf8(piece)) << describe(c);
      all += piece;
    }
    const std::string rest = stream.flush();
    EXPECT_TRUE(unicode::is_valid_utf8(rest)) << describe(c);
    all += rest;
    EXPECT_EQ(all, tok.decode(c.ids, skip)) << describe(c) << " skip_special_tokens=" << skip;
  }
}

std::string case_name(const ::testing::TestParamInfo<FixtureCase>& info) {
  return info.param.family + "_line" + std::to_string(info.param.line);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, FixtureCaseTest, ::testing::ValuesIn(load_cases()), case_name);

TEST(FixtureCases, AllFamiliesPresent) {
  EXPECT_EQ(load_cases().size(), 240u);
}

}  // namespace
}  // namespace nova::tokenizer
