// Decoders. Expected tokens come from the unit tests of Hugging Face `tokenizers`
// (tokenizers/src/decoders/*.rs and pre_tokenizers/metaspace.rs), produced by the reference.
#include "tokenizer/decoder.h"

#include <gtest/gtest.h>

#include "components_test_util.h"
#include "core/error.h"

namespace nova::tokenizer {
namespace {

using Tokens = std::vector<std::string>;
using test::decode_chain;

TEST(Decoder, ByteFallback) {
  const json spec = {{"type", "ByteFallback"}};
  EXPECT_EQ(decode_chain(spec, {"Hey", "friend!"}), (Tokens{"Hey", "friend!"}));
  EXPECT_EQ(decode_chain(spec, {"<0x61>"}), (Tokens{"a"}));
  EXPECT_EQ(decode_chain(spec, {"<0xE5>"}), (Tokens{"\uFFFD"}));
  EXPECT_EQ(decode_chain(spec, {"<0xE5>", "<0x8f>"}), (Tokens{"\uFFFD", "\uFFFD"}));
  EXPECT_EQ(decode_chain(spec, {"<0xE5>", "<0x8f>", "<0xab>"}), (Tokens{"叫"}));
  EXPECT_EQ(decode_chain(spec, {"<0xE5>", "<0x8f>", "<0xab>", "a"}), (Tokens{"叫", "a"}));
  EXPECT_EQ(decode_chain(spec, {"<0xE5>", "<0x8f>", "a"}), (Tokens{"\uFFFD", "\uFFFD", "a"}));
}

TEST(Decoder, Strip) {
  EXPECT_EQ(decode_chain({{"type", "Strip"}, {"content", "H"}, {"start", 1}, {"stop", 0}}, {"Hey", " friend!", "HHH"}),
            (Tokens{"ey", " friend!", "HH"}));
  EXPECT_EQ(decode_chain({{"type", "Strip"}, {"content", "y"}, {"start", 0}, {"stop", 1}}, {"Hey", " friend!"}),
            (Tokens{"He", " friend!"}));
}

TEST(Decoder, WordPiece) {
  const Tokens out = decode_chain({{"type", "WordPiece"}, {"prefix", "##"}, {"cleanup", false}},
                                  {"##uelo", "Ara", "##új", "##o", "No", "##guera"});
  std::string joined;
  for (const auto& t : out) joined += t;
  EXPECT_EQ(joined, "##uelo Araújo Noguera");
}

TEST(Decoder, Metaspace) {
  EXPECT_EQ(decode_chain({{"type", "Metaspace"}, {"replacement", "▁"}, {"prepend_scheme", "always"}},
                         {"▁Hey", "▁friend!"}),
            (Tokens{"Hey", " friend!"}));
  EXPECT_EQ(decode_chain({{"type", "Metaspace"}, {"replacement", "▁"}, {"prepend_scheme", "never"}},
                         {"▁Hey", "▁friend!"}),
            (Tokens{" Hey", " friend!"}));
}

TEST(Decoder, ByteLevelJoinsAndRepairsUtf8) {
  // "Ġ" is the image of the space byte; "\u00e5" alone is the lead byte 0xE5 of a 3-byte character.
  EXPECT_EQ(decode_chain({{"type", "ByteLevel"}}, {"Hello", "Ġworld"}), (Tokens{"Hello world"}));
  EXPECT_EQ(decode_chain({{"type", "ByteLevel"}}, {"a", "\u00e5", "b"}), (Tokens{"a\uFFFDb"}));
}

TEST(Decoder, MalformedSpecsAreErrors) {
  const std::string file = "components.json";
  for (const json& spec : {json{{"type", "Nope"}}, json{{"type", "Strip"}, {"content", " "}, {"start", -1}, {"stop", 0}},
                           json{{"type", "Strip"}, {"content", "ab"}, {"start", 1}, {"stop", 0}},
                           json{{"type", "Sequence"}, {"decoders", {{{"type", "Fuse"}}, 7}}}, json("ByteLevel")}) {
    EXPECT_THROW(decoder_from_json(spec, JsonPath{&file, "decoder"}), Error) << spec.dump();
  }
}

}  // namespace
}  // namespace nova::tokenizer
