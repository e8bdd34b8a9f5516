// The streaming tokenizer.json reader (Tokenizer::from_file) must give exactly what the plain JSON
// tree path (Tokenizer::from_json) gives: the same tokenizer, or the same error.
#include "tokenizer/tokenizer_json_reader.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer_test_util.h"

namespace nova::tokenizer {
namespace {

// A byte-level tokenizer whose vocab repeats a token and shares an id, with both merge forms.
std::string tricky_tokenizer_text() {
  return R"({"version": "1.0", "added_tokens": [{"id": 9, "content": "<s>", "special": true}],
  "normalizer": null, "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "use_regex": true},
  "decoder": {"type": "ByteLevel"},
  "model": {"type": "BPE", "merges": ["a b", ["ab", "c"], ["Ġ", "a"]],
            "vocab": {"a": 0, "b": 1, "c": 2, "ab": 3, "abc": 4, "Ġ": 5, "Ġa": 6, "b": 1, "zz": 6, "\u00e9": 7}}})";
}

// "ok vocab=N ids=..." or the error message.
std::string outcome(const std::function<Tokenizer()>& load) {
  try {
    const Tokenizer t = load();
    std::string s = "ok vocab=" + std::to_string(t.vocab_size()) + " ids=";
    for (const int32_t id : t.encode("abc ab<s> aé", true)) s += std::to_string(id) + ",";
    for (int32_t id = 0; id < std::min(t.vocab_size(), 64); ++id) {
      try {
        s += t.id_to_token(id) + "|";
      } catch (const Error&) {
        s += "?|";
      }
    }
    return s;
  } catch (const Error& e) {
    return std::string("error: ") + e.what();
  }
}

std::string via_file(const std::string& path, const std::string& text) {
  nova::test::write_file(path, text);
  return outcome([&] { return Tokenizer::from_file(path); });
}

std::string via_tree(const std::string& path, const std::string& text) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    return std::string("error: ") + path + ": not valid JSON: " + e.what();
  }
  return outcome([&] { return Tokenizer::from_json(j, path); });
}

TEST(TokenizerJsonReader, SameAsTreePath) {
  const std::string path = nova::test::scratch_dir("tokenizer_json_reader") + "/tokenizer.json";
  const std::string text = tricky_tokenizer_text();
  const std::string expected = via_tree(path, text);
  ASSERT_EQ(expected.rfind("ok", 0), 0u) << expected;
  EXPECT_EQ(via_file(path, text), expected);
  // Tokens the streaming reader leaves to the tree path: non-integer ids, odd merges, repeated keys.
  for (const auto& [from, to] : std::vector<std::pair<std::string, std::string>>{
           {"\"c\": 2", "\"c\": 2.0"}, {"\"c\": 2", "\"c\": -2"}, {"\"c\": 2", "\"c\": \"2\""},
           {"\"c\": 2", "\"c\": 4294967296"}, {"[\"ab\", \"c\"]", "[\"ab\", \"c\", \"d\"]"},
           {"[\"ab\", \"c\"]", "[\"ab\"]"}, {"[\"ab\", \"c\"]", "[\"ab\", 3]"}, {"\"a b\"", "\"a  b\""},
           {"\"a b\"", "\"a x\""}, {"\"merges\"", "\"merges\": [], \"merges\""}, {"\"vocab\"", "\"vocab\": {}, \"vocab\""},
           {"\"model\"", "\"model\": {}, \"model\""}, {"\"vocab\"", "\"vocab\": [], \"vocab\""}}) {
    std::string mutated = text;
    mutated.replace(mutated.find(from), from.size(), to);
    EXPECT_EQ(via_file(path, mutated), via_tree(path, mutated)) << to;
  }
}

TEST(TokenizerJsonReader, MutationFuzzAgreesWithTreePath) {
  const std::string path = nova::test::scratch_dir("tokenizer_json_reader_fuzz") + "/tokenizer.json";
  nova::test::mutate_each(tricky_tokenizer_text(), 1500 / test::kRandomCaseDivisor, 29, [&](const std::string& text) {
    EXPECT_EQ(via_file(path, text), via_tree(path, text)) << text;
  });
}

TEST(TokenizerJsonReader, FixtureTablesMatchTree) {
  // Building llama2's tree is slow under sanitizers: there the small file stands in.
  const std::string text = test::kRandomCaseDivisor > 1
                               ? tricky_tokenizer_text()
                               : nova::test::read_file(test::fixture_path("llama2", "tokenizer.json"));
  const std::optional<StreamedTokenizerJson> streamed = read_tokenizer_json(text);
  ASSERT_TRUE(streamed);
  const json tree = json::parse(text);
  ASSERT_TRUE(streamed->tables.has_vocab && streamed->tables.has_merges);
  EXPECT_GE(streamed->tables.vocab.size(), tree["model"]["vocab"].size());  // repeats are kept in the tables
  ASSERT_EQ(streamed->tables.merges.size(), tree["model"]["merges"].size());
  for (const auto& [token, id] : streamed->tables.vocab) {
    EXPECT_EQ(tree["model"]["vocab"][std::string(streamed->tables.text(token))], id);
  }
  json rest = tree;
  rest["model"]["vocab"] = json::object();
  rest["model"]["merges"] = json::array();
  EXPECT_EQ(streamed->tree, rest);
}

}  // namespace
}  // namespace nova::tokenizer
