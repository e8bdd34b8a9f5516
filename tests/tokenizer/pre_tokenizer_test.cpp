// Pre-tokenizers. Expected pieces come from the unit tests of Hugging Face `tokenizers`
// (tokenizers/src/pre_tokenizers/*.rs and tokenizer/normalizer.rs), produced by the reference.
#include "tokenizer/pre_tokenizer.h"

#include <gtest/gtest.h>

#include "components_test_util.h"
#include "core/error.h"

namespace nova::tokenizer {
namespace {

using Pieces = std::vector<std::string>;
using test::pre_tokenize;

TEST(PreTokenizer, SplitBehaviours) {
  auto split = [](const char* behavior) {
    return pre_tokenize({{"type", "Split"}, {"pattern", {{"String", "-"}}}, {"behavior", behavior}, {"invert", false}},
                        "The-final--countdown");
  };
  EXPECT_EQ(split("Removed"), (Pieces{"The", "final", "countdown"}));
  EXPECT_EQ(split("Isolated"), (Pieces{"The", "-", "final", "-", "-", "countdown"}));
  EXPECT_EQ(split("MergedWithPrevious"), (Pieces{"The-", "final-", "-", "countdown"}));
  EXPECT_EQ(split("MergedWithNext"), (Pieces{"The", "-final", "-", "-countdown"}));
  EXPECT_EQ(split("Contiguous"), (Pieces{"The", "-", "final", "--", "countdown"}));
}

TEST(PreTokenizer, ByteLevel) {
  const json spec = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}};
  EXPECT_EQ(pre_tokenize(spec, "Hello my friend, how is your day going?"),
            (Pieces{"Hello", "Ġmy", "Ġfriend", ",", "Ġhow", "Ġis", "Ġyour", "Ġday", "Ġgoing", "?"}));
  EXPECT_EQ(pre_tokenize(spec, "Hello there\nHello there"), (Pieces{"Hello", "Ġthere", "Ċ", "Hello", "Ġthere"}));
}

TEST(PreTokenizer, Metaspace) {
  const json spec = {{"type", "Metaspace"}, {"replacement", "▁"}, {"prepend_scheme", "always"}, {"split", true}};
  EXPECT_EQ(pre_tokenize(spec, "Hey friend!"), (Pieces{"▁Hey", "▁friend!"}));
  EXPECT_EQ(pre_tokenize(spec, "Hey   friend!"), (Pieces{"▁Hey", "▁", "▁", "▁friend!"}));
}

TEST(PreTokenizer, MetaspacePrependFirstOnlyAtStartOfInput) {
  const json first = {{"type", "Sequence"},
                      {"pretokenizers",
                       {{{"type", "Split"}, {"pattern", {{"Regex", "(<s>)"}}}, {"behavior", "Isolated"}},
                        {{"type", "Metaspace"}, {"replacement", "▁"}, {"prepend_scheme", "first"}, {"split", false}}}}};
  EXPECT_EQ(pre_tokenize(first, "Hey my friend <s>how▁are you"), (Pieces{"▁Hey▁my▁friend▁", "<s>", "how▁are▁you"}));
  EXPECT_EQ(pre_tokenize(first, " Hey <s>how"), (Pieces{"▁Hey▁", "<s>", "how"}));
  json then_always = first;
  then_always["pretokenizers"].push_back(
      {{"type", "Metaspace"}, {"replacement", "▁"}, {"prepend_scheme", "always"}, {"split", true}});
  EXPECT_EQ(pre_tokenize(then_always, "Hey my friend <s>how▁are you"),
            (Pieces{"▁Hey", "▁my", "▁friend", "▁", "▁<s>", "▁how", "▁are", "▁you"}));
}

TEST(PreTokenizer, Digits) {
  EXPECT_EQ(pre_tokenize({{"type", "Digits"}, {"individual_digits", false}}, "Hey 123 friend!"),
            (Pieces{"Hey ", "123", " friend!"}));
  EXPECT_EQ(pre_tokenize({{"type", "Digits"}, {"individual_digits", true}}, "Hey 123 friend!"),
            (Pieces{"Hey ", "1", "2", "3", " friend!"}));
}

TEST(PreTokenizer, Punctuation) {
  EXPECT_EQ(pre_tokenize({{"type", "Punctuation"}}, "Hey friend!     How are you?!?"),
            (Pieces{"Hey friend", "!", "     How are you", "?", "!", "?"}));
}

TEST(PreTokenizer, Whitespace) {
  EXPECT_EQ(pre_tokenize({{"type", "Whitespace"}}, "Hey man!"), (Pieces{"Hey", "man", "!"}));
  EXPECT_EQ(pre_tokenize({{"type", "Whitespace"}}, "How are you doing?"),
            (Pieces{"How", "are", "you", "doing", "?"}));
  EXPECT_EQ(pre_tokenize({{"type", "Whitespace"}}, "\n"), Pieces{});
  EXPECT_EQ(pre_tokenize({{"type", "WhitespaceSplit"}}, "Hey man!"), (Pieces{"Hey", "man!"}));
  EXPECT_EQ(pre_tokenize({{"type", "WhitespaceSplit"}}, "Hey, man, Good?"), (Pieces{"Hey,", "man,", "Good?"}));
}

TEST(PreTokenizer, MalformedSpecsAreErrors) {
  const std::string file = "components.json";
  for (const json& spec : {json{{"type", "Nope"}}, json{{"type", "Split"}, {"pattern", {{"Regex", "("}}}, {"behavior", "Isolated"}},
                           json{{"type", "Split"}, {"pattern", {{"String", "-"}}}, {"behavior", "Sideways"}},
                           json{{"type", "Metaspace"}, {"replacement", "ab"}}, json{{"type", 3}}, json::array()}) {
    EXPECT_THROW(pre_tokenizer_from_json(spec, JsonPath{&file, "pre_tokenizer"}), Error) << spec.dump();
  }
}

}  // namespace
}  // namespace nova::tokenizer
