// Normalizers. Expected strings come from the unit tests of Hugging Face `tokenizers`
// (tokenizers/src/normalizers/*.rs), produced by the reference, or are Unicode-defined forms.
#include "tokenizer/normalizer.h"

#include <gtest/gtest.h>

#include "components_test_util.h"
#include "core/error.h"

namespace nova::tokenizer {
namespace {

using test::normalize;

TEST(Normalizer, NfkdThenStripAccents) {
  const json spec = {{"type", "Sequence"}, {"normalizers", {{{"type", "NFKD"}}, {{"type", "StripAccents"}}}}};
  EXPECT_EQ(normalize(spec, "Me llamó"), "Me llamo");
  EXPECT_EQ(normalize(spec, "这很简单"), "这很简单");
  EXPECT_EQ(normalize(spec, "ậ…"), "a...");
  EXPECT_EQ(normalize(spec, "ำน\u0E49ำ3ลำ"), "านา3ลา");
  EXPECT_EQ(normalize(spec, "e\u0304\u0304\u0304o"), "eo");
  json lower = spec;
  lower["normalizers"].push_back({{"type", "Lowercase"}});
  EXPECT_EQ(normalize(lower, "Cụ thể, bạn sẽ tham gia một nhóm các giám đốc điều hành…"),
            "cu the, ban se tham gia mot nhom cac giam đoc đieu hanh...");
}

TEST(Normalizer, UnicodeForms) {
  // U+00E9 vs e + U+0301; U+FB01 (fi ligature) only changes under compatibility forms.
  EXPECT_EQ(normalize({{"type", "NFC"}}, "e\u0301\uFB01"), "\u00E9\uFB01");
  EXPECT_EQ(normalize({{"type", "NFD"}}, "\u00E9"), "e\u0301");
  EXPECT_EQ(normalize({{"type", "NFKC"}}, "e\u0301\uFB01"), "\u00E9fi");
  EXPECT_EQ(normalize({{"type", "NFKD"}}, "\u00E9\uFB01"), "e\u0301fi");
}

TEST(Normalizer, LowercaseStripReplacePrepend) {
  EXPECT_EQ(normalize({{"type", "Lowercase"}}, "HeLLo ÀÉ \u0130"), "hello àé i\u0307");
  EXPECT_EQ(normalize({{"type", "Strip"}, {"strip_left", true}, {"strip_right", true}}, "  \t hi there \n"), "hi there");
  EXPECT_EQ(normalize({{"type", "Strip"}, {"strip_left", true}, {"strip_right", false}}, "  hi  "), "hi  ");
  EXPECT_EQ(normalize({{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "▁"}}, "a b  c"), "a▁b▁▁c");
  EXPECT_EQ(normalize({{"type", "Replace"}, {"pattern", {{"Regex", "\\s+"}}}, {"content", " "}}, "a \t\nb"), "a b");
  EXPECT_EQ(normalize({{"type", "Prepend"}, {"prepend", "▁"}}, "hey"), "▁hey");
  EXPECT_EQ(normalize({{"type", "Prepend"}, {"prepend", "▁"}}, ""), "");
}

TEST(Normalizer, Bert) {
  const json spec = {{"type", "BertNormalizer"}, {"clean_text", true}, {"handle_chinese_chars", true},
                     {"strip_accents", nullptr}, {"lowercase", true}};
  EXPECT_EQ(normalize(spec, "Héllo\tWORLD\x01 中"), "hello world  中 ");
}

TEST(Normalizer, MalformedSpecsAreErrors) {
  const std::string file = "components.json";
  for (const json& spec : {json{{"type", "Nope"}}, json{{"type", "Replace"}, {"pattern", {{"Regex", "[a-"}}}, {"content", ""}},
                           json{{"type", "Replace"}, {"pattern", "x"}, {"content", ""}},
                           json{{"type", "Prepend"}}, json{{"type", "Sequence"}, {"normalizers", 3}},
                           json{{"type", "Precompiled"}, {"precompiled_charsmap", "AAAA"}}, json{{"kind", "NFC"}}}) {
    EXPECT_THROW(normalizer_from_json(spec, JsonPath{&file, "normalizer"}), Error) << spec.dump();
  }
}

}  // namespace
}  // namespace nova::tokenizer
