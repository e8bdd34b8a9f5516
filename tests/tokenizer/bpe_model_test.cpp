// BPE model behaviour. Expected ids come from the unit tests of Hugging Face `tokenizers`
// (tokenizers/src/models/bpe/model.rs), i.e. they were produced by the reference implementation.
#include "tokenizer/bpe_model.h"

#include <gtest/gtest.h>

#include <ctime>

#include "core/error.h"
#include "tokenizer_test_util.h"

namespace nova::tokenizer {
namespace {

std::shared_ptr<const BpeModel> bpe(json model) {
  static const std::string where = "test.json";
  model["type"] = "BPE";
  return BpeModel::from_json(model, JsonPath{&where, "model"});
}

std::vector<int32_t> tokenize(const BpeModel& m, std::string_view word) {
  std::vector<int32_t> ids;
  m.tokenize(word, ids);
  return ids;
}

TEST(BpeModel, MergesByRank) {
  const auto m = bpe({{"vocab", {{"u", 0}, {"n", 1}, {"r", 2}, {"e", 3}, {"l", 4}, {"a", 5}, {"t", 6}, {"d", 7},
                                 {"re", 8}, {"at", 9}, {"ed", 10}, {"un", 11}, {"ated", 12}, {"rel", 13},
                                 {"related", 14}, {"unrelated", 15}}},
                      {"merges", {"r e", "a t", "e d", "u n", "at ed", "re l", "rel ated", "un related"}}});
  EXPECT_EQ(tokenize(*m, "unrelated"), (std::vector<int32_t>{15}));
  // Cached second call gives the same.
  EXPECT_EQ(tokenize(*m, "unrelated"), (std::vector<int32_t>{15}));
}

TEST(BpeModel, UnknownNotFused) {
  const auto m = bpe({{"vocab", {{"<unk>", 0}, {"a", 1}, {"b", 2}}}, {"merges", json::array()}, {"unk_token", "<unk>"}});
  EXPECT_EQ(tokenize(*m, "c"), (std::vector<int32_t>{0}));
  EXPECT_EQ(tokenize(*m, "cc"), (std::vector<int32_t>{0, 0}));
  EXPECT_EQ(tokenize(*m, "accb"), (std::vector<int32_t>{1, 0, 0, 2}));
}

TEST(BpeModel, UnknownFused) {
  const auto m = bpe({{"vocab", {{"<unk>", 0}, {"a", 1}, {"b", 2}}},
                      {"merges", json::array()},
                      {"unk_token", "<unk>"},
                      {"fuse_unk", true}});
  EXPECT_EQ(tokenize(*m, "c"), (std::vector<int32_t>{0}));
  EXPECT_EQ(tokenize(*m, "cc"), (std::vector<int32_t>{0}));
  EXPECT_EQ(tokenize(*m, "accb"), (std::vector<int32_t>{1, 0, 2}));
}

TEST(BpeModel, ByteFallback) {
  const auto m = bpe({{"vocab", {{"<unk>", 0}, {"<0x61>", 1}, {"<0x0A>", 2}}},
                      {"merges", json::array()},
                      {"unk_token", "<unk>"},
                      {"byte_fallback", true}});
  EXPECT_EQ(tokenize(*m, "c"), (std::vector<int32_t>{0}));
  EXPECT_EQ(tokenize(*m, "a"), (std::vector<int32_t>{1}));
  EXPECT_EQ(tokenize(*m, "\n"), (std::vector<int32_t>{2}));
}

TEST(BpeModel, ContinuingSubwordPrefix) {
  const auto m = bpe({{"vocab", {{"a", 0}, {"##b", 1}, {"##c", 2}, {"ab", 3}, {"abc", 4}}},
                      {"merges", json::array({json::array({"a", "##b"}), json::array({"ab", "##c"})})},
                      {"unk_token", "[UNK]"},
                      {"continuing_subword_prefix", "##"}});
  EXPECT_EQ(tokenize(*m, "ab"), (std::vector<int32_t>{3}));
  EXPECT_EQ(tokenize(*m, "abc"), (std::vector<int32_t>{4}));
}

TEST(BpeModel, IgnoreMerges) {
  json model = {{"vocab",
                 {{".:.:", 0}, {"Ġbelirtilen", 1}, {".", 2}, {":", 3}, {"bel", 4}, {"irtilen", 5}, {"Ġ", 6},
                  {".:", 7}, {"belirtilen", 8}, {".:.", 9}, {"be", 10}, {"l", 11}, {"ir", 12}, {"ti", 13},
                  {"en", 14}, {"irtil", 15}, {"irti", 16}, {"i", 17}, {"r", 18}, {"t", 19}, {"b", 20},
                  {"e", 21}, {"n", 22}}},
                {"merges", {". :", "b e", "be l", "i r", "t i", "ir ti", "e n", "irti l"}},
                {"ignore_merges", true}};
  const auto with = bpe(model);
  EXPECT_EQ(tokenize(*with, ".:.:"), (std::vector<int32_t>{0}));
  EXPECT_EQ(tokenize(*with, "Ġbelirtilen"), (std::vector<int32_t>{1}));
  model["ignore_merges"] = false;
  const auto without = bpe(model);
  EXPECT_EQ(tokenize(*without, ".:.:"), (std::vector<int32_t>{7, 7}));
  EXPECT_EQ(tokenize(*without, "Ġbelirtilen"), (std::vector<int32_t>{6, 4, 15, 14}));
}

TEST(BpeModel, MergeWithUnknownTokenIsAnError) {
  try {
    bpe({{"vocab", {{"a", 0}, {"b", 1}, {"ab", 2}}}, {"merges", {"a b", "b d"}}});
    FAIL() << "expected nova::Error";
  } catch (const Error& e) {
    EXPECT_EQ(e.where(), "test.json");
    EXPECT_NE(e.problem().find("model.merges[1]"), std::string::npos) << e.what();
    EXPECT_NE(e.problem().find("\"d\""), std::string::npos) << e.what();
  }
  EXPECT_THROW(bpe({{"vocab", {{"a", 0}, {"b", 1}}}, {"merges", {"a b"}}}), Error);  // "ab" missing
  EXPECT_THROW(bpe({{"vocab", {{"a", 0}, {"b", 1}, {"ab", 2}}}, {"merges", {"a  b"}}}), Error);
  EXPECT_THROW(bpe({{"vocab", {{"a", 0}}}, {"merges", {{"a"}}}}), Error);
  EXPECT_THROW(bpe({{"vocab", {{"a", -1}}}, {"merges", json::array()}}), Error);
  EXPECT_THROW(bpe({{"vocab", {{"a", "0"}}}, {"merges", json::array()}}), Error);
  EXPECT_THROW(bpe({{"vocab", json::array()}, {"merges", json::array()}}), Error);
  EXPECT_THROW(bpe({{"merges", json::array()}}), Error);
}

TEST(BpeModel, LegacyAndPairMergesAgree) {
  const json vocab = {{"h", 0}, {"e", 1}, {"l", 2}, {"o", 3}, {"he", 4}, {"ll", 5}, {"llo", 6}, {"hello", 7}};
  const auto legacy = bpe({{"vocab", vocab}, {"merges", {"h e", "l l", "ll o", "he llo"}}});
  const auto pairs = bpe({{"vocab", vocab}, {"merges", json::array({json::array({"h", "e"}), json::array({"l", "l"}), json::array({"ll", "o"}), json::array({"he", "llo"})})}});
  for (const char* w : {"hello", "hell", "olleh", "lol", "hhello"}) EXPECT_EQ(tokenize(*legacy, w), tokenize(*pairs, w)) << w;
  EXPECT_EQ(tokenize(*legacy, "hello"), (std::vector<int32_t>{7}));
}

// Encoding 1 MB of text must take well under a second on one core (checked in optimised builds).
// gpt2 splits it into words (cached); llama2 has no pre-tokenizer, so it is one 1 MB word.
TEST(BpeModel, EncodesOneMegabyteQuickly) {
  for (const std::string family : {"gpt2", "llama2"}) {
  const Tokenizer& tok = test::fixture_tokenizer(family);
  std::string text;
  const std::string sample = nova::test::read_file(nova::test::source_dir() + "/src/tokenizer/bpe_model.cpp");
#if defined(__SANITIZE_ADDRESS__) || !defined(NDEBUG)
  const size_t size = 16u << 10;  // instrumented builds only check correctness, on less text
#else
  const size_t size = 1u << 20;
#endif
  while (text.size() < size) text += sample;
  // CPU time of this (single-threaded) process: robust to other jobs sharing the machine.
  const std::clock_t t0 = std::clock();
  const std::vector<int32_t> ids = tok.encode(text, false);
  const double secs = static_cast<double>(std::clock() - t0) / CLOCKS_PER_SEC;
  EXPECT_GT(ids.size(), text.size() / 8);
  EXPECT_EQ(tok.decode(ids), text);
  RecordProperty("encode_1MB_seconds_" + family, std::to_string(secs));
#if defined(NDEBUG) && !defined(__SANITIZE_ADDRESS__)
  EXPECT_LT(secs, 1.0) << family;
#endif
  }
}

}  // namespace
}  // namespace nova::tokenizer
