// StreamDecoder on random id sequences (byte tokens that split characters included): every push
// returns valid UTF-8 and the concatenation equals decode() of all ids.
#include <gtest/gtest.h>

#include <random>

#include "tokenizer/unicode.h"
#include "tokenizer_test_util.h"

namespace nova::tokenizer {
namespace {

void check_stream(const Tokenizer& tok, const std::vector<int32_t>& ids, bool skip) {
  StreamDecoder stream(tok, skip);
  std::string all;
  for (const int32_t id : ids) {
    const std::string piece = stream.push(id);
    ASSERT_TRUE(unicode::is_valid_utf8(piece));
    all += piece;
  }
  const std::string rest = stream.flush();
  ASSERT_TRUE(unicode::is_valid_utf8(rest));
  all += rest;
  EXPECT_EQ(all, tok.decode(ids, skip));
  EXPECT_EQ(stream.flush(), "");
}

TEST(StreamDecoder, RandomIdsMatchFullDecode) {
  std::mt19937 rng(5);
  for (const std::string family : {"gpt2", "llama2", "qwen3"}) {
    const Tokenizer& tok = test::fixture_tokenizer(family);
    for (int i = 0; i < 150 / test::kRandomCaseDivisor; ++i) {
      std::vector<int32_t> ids(rng() % 24);
      for (int32_t& id : ids) {
        // Mostly low ids: byte tokens (llama2 3..258, byte-level singles) that split characters.
        id = static_cast<int32_t>(rng() % 3 == 0 ? rng() % static_cast<uint32_t>(tok.vocab_size()) : rng() % 300);
      }
      check_stream(tok, ids, false);
      check_stream(tok, ids, true);
    }
  }
}

TEST(StreamDecoder, MultiByteCharacterIsHeldBack) {
  const Tokenizer& tok = test::fixture_tokenizer("llama2");
  // "中" = E4 B8 AD as three byte-fallback tokens.
  const std::vector<int32_t> ids = tok.encode("中", false);
  StreamDecoder stream(tok);
  std::string out;
  for (const int32_t id : ids) out += stream.push(id);
  out += stream.flush();
  EXPECT_EQ(out, tok.decode(ids));
  StreamDecoder partial(tok);
  const int32_t e4 = *tok.token_to_id("<0xE4>"), b8 = *tok.token_to_id("<0xB8>");
  EXPECT_EQ(partial.push(e4), "");
  EXPECT_EQ(partial.push(b8), "");
  EXPECT_EQ(partial.flush(), "\uFFFD\uFFFD");
}

}  // namespace
}  // namespace nova::tokenizer
