#include <gtest/gtest.h>

#include <set>

#include "serve/openai/responses.h"

namespace nova::serve::openai {
namespace {

const ResponseMeta kMeta{"chatcmpl-x", 1700000000, "qwen", "fp_nova"};

// Expected shapes follow OpenAI's API reference for each object.
TEST(OpenAIResponses, ChatCompletionObject) {
  ChatChoice text{0, "Hello!", {}, "stop", std::nullopt};
  ChatChoice tools{1, std::nullopt, {{"call_1", "function", "get_weather", "{\"city\":\"Oslo\"}"}}, "tool_calls",
                   std::vector<TokenLogprob>{{"Hi", -0.5, {{"Hi", -0.5}, {"Hey", -1.25}}}}};
  const Json j = chat_completion_json(kMeta, {text, tools}, {9, 12, 4});
  const Json expected = Json::parse(R"({
    "id": "chatcmpl-x", "object": "chat.completion", "created": 1700000000, "model": "qwen",
    "system_fingerprint": "fp_nova",
    "choices": [
      {"index": 0, "message": {"role": "assistant", "content": "Hello!", "refusal": null},
       "logprobs": null, "finish_reason": "stop"},
      {"index": 1, "message": {"role": "assistant", "content": null, "refusal": null,
         "tool_calls": [{"id": "call_1", "type": "function",
                         "function": {"name": "get_weather", "arguments": "{\"city\":\"Oslo\"}"}}]},
       "logprobs": {"content": [{"token": "Hi", "logprob": -0.5, "bytes": [72, 105],
                                 "top_logprobs": [{"token": "Hi", "logprob": -0.5, "bytes": [72, 105]},
                                                  {"token": "Hey", "logprob": -1.25, "bytes": [72, 101, 121]}]}],
                    "refusal": null},
       "finish_reason": "tool_calls"}],
    "usage": {"prompt_tokens": 9, "completion_tokens": 12, "total_tokens": 21,
              "prompt_tokens_details": {"cached_tokens": 4}}})");
  EXPECT_EQ(j, expected) << j.dump(2);
}

TEST(OpenAIResponses, ChatChunksAndUsageChunk) {
  ChatDelta first;
  first.role = "assistant";
  first.content = "";
  Json j = chat_chunk_json(kMeta, {first}, /*include_usage=*/false);
  EXPECT_EQ(j, Json::parse(R"({"id": "chatcmpl-x", "object": "chat.completion.chunk", "created": 1700000000,
      "model": "qwen", "system_fingerprint": "fp_nova",
      "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": null, "finish_reason": null}]})"));

  ChatDelta call;
  call.tool_calls = {{0, "call_1", "f", "{\"a\""}};
  ChatDelta last;
  last.finish_reason = "stop";
  j = chat_chunk_json(kMeta, {call, last}, /*include_usage=*/true);
  EXPECT_EQ(j["choices"][0]["delta"], Json::parse(R"({"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                                                     "function": {"name": "f", "arguments": "{\"a\""}}]})"));
  EXPECT_EQ(j["choices"][1]["delta"], Json::object());
  EXPECT_EQ(j["choices"][1]["finish_reason"], "stop");
  ASSERT_TRUE(j.contains("usage"));
  EXPECT_TRUE(j["usage"].is_null());

  j = chat_usage_chunk_json(kMeta, {3, 4, std::nullopt});
  EXPECT_EQ(j["choices"], Json::array());
  EXPECT_EQ(j["usage"], Json::parse(R"({"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7})"));
}

TEST(OpenAIResponses, TextCompletionWithLegacyLogprobs) {
  const Json lp = completion_logprobs_json({{"Hel", -0.25, {{"Hel", -0.25}, {"He", -2}}}, {"lo", -0.5, {}}}, 5);
  EXPECT_EQ(lp, Json::parse(R"({"tokens": ["Hel", "lo"], "token_logprobs": [-0.25, -0.5],
      "top_logprobs": [{"Hel": -0.25, "He": -2}, {}], "text_offset": [5, 8]})"));
  ResponseMeta meta{"cmpl-y", 1, "m", ""};
  Json j = text_completion_json(meta, {{0, "Hello", "length", lp}}, Usage{5, 2, std::nullopt});
  EXPECT_EQ(j, Json::parse(R"({"id": "cmpl-y", "object": "text_completion", "created": 1, "model": "m",
      "system_fingerprint": null,
      "choices": [{"text": "Hello", "index": 0, "logprobs": )" + lp.dump() + R"(, "finish_reason": "length"}],
      "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}})"));
  j = text_completion_json(meta, {{0, "He", std::nullopt, std::nullopt}}, std::nullopt, /*include_usage=*/true);
  EXPECT_TRUE(j["choices"][0]["finish_reason"].is_null());
  EXPECT_TRUE(j["usage"].is_null());
  EXPECT_FALSE(text_completion_json(meta, {}, std::nullopt).contains("usage"));
}

TEST(OpenAIResponses, EmbeddingsFloatAndBase64) {
  Json j = embeddings_json("e5", {{1.0f, -2.0f}, {0.5f}}, EncodingFormat::kFloat, 6);
  EXPECT_EQ(j, Json::parse(R"({"object": "list", "model": "e5",
      "data": [{"object": "embedding", "index": 0, "embedding": [1.0, -2.0]},
               {"object": "embedding", "index": 1, "embedding": [0.5]}],
      "usage": {"prompt_tokens": 6, "total_tokens": 6}})"));
  // 1.0f = 00 00 80 3f, -2.0f = 00 00 00 c0 (little-endian) -> base64 by hand.
  EXPECT_EQ(base64_floats({1.0f}), "AACAPw==");
  EXPECT_EQ(base64_floats({1.0f, -2.0f}), "AACAPwAAAMA=");
  EXPECT_EQ(base64_floats({}), "");
  j = embeddings_json("e5", {{1.0f}}, EncodingFormat::kBase64, 1);
  EXPECT_EQ(j["data"][0]["embedding"], "AACAPw==");
}

TEST(OpenAIResponses, ModelsIdsAndDumping) {
  EXPECT_EQ(models_json({{"qwen", 5, "nova"}}),
            Json::parse(R"({"object": "list", "data": [{"id": "qwen", "object": "model", "created": 5, "owned_by": "nova"}]})"));
  std::set<std::string> ids;
  for (int i = 0; i < 1000; ++i) {
    const std::string id = make_id("chatcmpl-");
    ASSERT_EQ(id.size(), 9u + 24u);
    ASSERT_EQ(id.rfind("chatcmpl-", 0), 0u);
    for (char c : id.substr(9)) ASSERT_TRUE(std::isalnum(static_cast<unsigned char>(c)));
    ids.insert(id);
  }
  EXPECT_EQ(ids.size(), 1000u);
  EXPECT_GT(unix_now(), 1700000000);
  // A token cut mid-character must not make serialisation throw.
  EXPECT_EQ(dump_json(Json{{"t", std::string("a\xe2\x82")}}), "{\"t\":\"a\xef\xbf\xbd\"}");
}

}  // namespace
}  // namespace nova::serve::openai
