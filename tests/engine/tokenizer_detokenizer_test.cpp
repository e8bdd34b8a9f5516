// generate() through a real Hugging Face tokenizer: the streamed text is exactly the tokenizer's
// decode of the generated ids, and stop strings cut it where they first appear.
#include "engine/tokenizer_detokenizer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "engine/generate.h"
#include "support/fixtures.h"
#include "toy_session.h"

namespace nova::engine {
namespace {

void check_tokenizer(const std::string& name) {
  const auto tok = tokenizer::Tokenizer::from_file(test::fixture("tokenizers/" + name + "/tokenizer.json"));
  std::istringstream lines(test::read_file(test::fixture("tokenizers/" + name + "/cases.jsonl")));
  std::string line;
  int cases = 0;
  while (std::getline(lines, line) && cases < 10) {
    const auto c = nlohmann::json::parse(line);
    const auto ids = c["ids"].get<std::vector<int32_t>>();
    if (ids.empty()) continue;
    ++cases;
    const std::vector<int32_t> prompt = {ids[0]};
    test::ToySession s(tok.vocab_size(), 4096, test::scripted_logits(ids, prompt.size()));
    GenerationRequest r;
    r.prompt = prompt;
    r.max_tokens = static_cast<int>(ids.size());
    r.sampling.temperature = 0;
    std::string streamed;
    const auto res = generate(s, &tok, r, [&](const TokenEvent& ev) {
      streamed += ev.text;
      return true;
    });
    ASSERT_EQ(res.tokens, ids) << name << ": " << line;
    const std::string full = tok.decode(ids, /*skip_special_tokens=*/true);
    EXPECT_EQ(res.text, full) << name << ": " << line;
    EXPECT_EQ(streamed, res.text);

    // A stop string from the middle of an ASCII text.
    const bool ascii = std::all_of(full.begin(), full.end(), [](char ch) { return static_cast<unsigned char>(ch) < 0x80; });
    if (ascii && full.size() >= 8) {
      const std::string stop = full.substr(full.size() / 2, 3);
      test::ToySession s2(tok.vocab_size(), 4096, test::scripted_logits(ids, prompt.size()));
      r.stop_strings = {stop};
      const auto cut = generate(s2, &tok, r);
      EXPECT_EQ(cut.text, full.substr(0, full.find(stop))) << name << ": " << line;
      EXPECT_EQ(cut.finish_reason, "stop");
    }
  }
  EXPECT_GE(cases, 10);
}

TEST(TokenizerDetokenizer, Gpt2StreamsExactlyTheDecodedText) { check_tokenizer("gpt2"); }
TEST(TokenizerDetokenizer, Llama2StreamsExactlyTheDecodedText) { check_tokenizer("llama2"); }

}  // namespace
}  // namespace nova::engine
