#include <gtest/gtest.h>

#include <random>

#include "serve/openai/stream_chunks.h"

namespace nova::serve::openai {
namespace {

// The reference is the DOM path the server used before for every streamed chunk.
std::string sse(const Json& j) { return "data: " + dump_json(j) + "\n\n"; }

std::string random_text(std::mt19937& rng) {
  static const std::vector<std::string> pieces = {"a", " the", "\"", "\\", "\n", "\t", "\x01", "é", "\xE2\x82",
                                                  "\xAC", "\xFF", "😀", "</s>", "", "{\"x\":1}", "\x7f"};
  std::string s;
  for (size_t n = rng() % 4; n > 0; --n) s += pieces[rng() % pieces.size()];
  return s;
}

TokenLogprob random_logprob(std::mt19937& rng) {
  TokenLogprob t{random_text(rng), -static_cast<double>(static_cast<float>(rng() % 100000) / 977.0f), {}};
  for (size_t n = rng() % 4; n > 0; --n)  // repeated alternatives happen when two ids decode alike
    t.top.push_back({rng() % 3 == 0 ? t.token : random_text(rng), -static_cast<double>(rng() % 1000) / 7.0});
  return t;
}

TEST(StreamChunkWriter, ByteIdenticalToTheJsonBuilders) {
  std::mt19937 rng(11);
  const std::vector<ResponseMeta> metas = {{"chatcmpl-AbC123", 1700000000, "qwen", ""},
                                           {"cmpl-x\"y", 1, "demo/model\xFF", "fp_nova"}};
  int checked = 0;
  for (const auto& meta : metas)
    for (bool usage : {false, true}) {
      const StreamChunkWriter chat(meta, StreamChunkWriter::Kind::kChat, usage);
      const StreamChunkWriter text(meta, StreamChunkWriter::Kind::kText, usage);
      std::string out;
      ChatDelta r;
      r.index = 3;
      r.role = "assistant";
      r.content = "";
      chat.role(out, 3);
      EXPECT_EQ(out, sse(chat_chunk_json(meta, {r}, usage)));
      for (int i = 0; i < 500; ++i, ++checked) {
        const int64_t index = rng() % 5;
        const std::string delta = random_text(rng);
        const TokenLogprob lp = random_logprob(rng);
        const bool with_lp = rng() % 2;

        ChatDelta d;
        d.index = index;
        d.content = delta;
        if (with_lp) d.logprobs = std::vector<TokenLogprob>{lp};
        out.clear();
        chat.delta(out, index, delta, with_lp ? &lp : nullptr);
        ASSERT_EQ(out, sse(chat_chunk_json(meta, {d}, usage)));

        CompletionChoice c{index, delta, std::nullopt, std::nullopt};
        if (with_lp) c.logprobs = completion_logprobs_json({lp});
        out.clear();
        text.delta(out, index, delta, with_lp ? &lp : nullptr);
        ASSERT_EQ(out, sse(text_completion_json(meta, {c}, std::nullopt, usage)));
      }
      for (const std::string reason : {"stop", "length"}) {
        ChatDelta d;
        d.index = 1;
        d.finish_reason = reason;
        out.clear();
        chat.finish(out, 1, reason);
        EXPECT_EQ(out, sse(chat_chunk_json(meta, {d}, usage)));
        CompletionChoice c{1, "", reason, std::nullopt};
        out.clear();
        text.finish(out, 1, reason);
        EXPECT_EQ(out, sse(text_completion_json(meta, {c}, std::nullopt, usage)));
      }
    }
  EXPECT_EQ(checked, 2000);
}

}  // namespace
}  // namespace nova::serve::openai
