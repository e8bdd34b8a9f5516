#include <gtest/gtest.h>

#include <string>

#include "serve/openai/chat_request.h"
#include "serve/openai/completion_request.h"
#include "support/fixtures.h"

namespace nova::serve::openai {
namespace {

// Every mutation must parse or throw InvalidRequest (which is a nova::Error) — nothing else.
template <class Parse>
void fuzz(const std::string& seed, uint32_t rng_seed, Parse parse) {
  int accepted = 0, rejected = 0;
  test::mutate_each(seed, 1500, rng_seed, [&](const std::string& body) {
    try {
      parse(body);
      ++accepted;
    } catch (const InvalidRequest& e) {
      ++rejected;
      EXPECT_GE(e.status(), 400);
      EXPECT_LT(e.status(), 500);
    }
  });
  EXPECT_GT(rejected, 0);
  EXPECT_EQ(accepted + rejected, 1500);
}

TEST(OpenAIFuzz, ChatBodies) {
  const std::string seed = R"({"model":"m","messages":[{"role":"system","content":[{"type":"text","text":"sys"}]},
    {"role":"user","content":"héllo ✓","name":"u"},
    {"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]},
    {"role":"tool","tool_call_id":"c1","content":"1"}],
    "max_tokens":64,"temperature":0.7,"top_p":0.9,"n":2,"stop":["\n\n","END"],"seed":1,"presence_penalty":0.1,
    "frequency_penalty":-0.1,"logprobs":true,"top_logprobs":2,"stream":true,"stream_options":{"include_usage":true},
    "tools":[{"type":"function","function":{"name":"f","description":"d","parameters":{"type":"object"}}}],
    "tool_choice":"auto","priority":1,"min_p":0.05,"top_k":20,"repetition_penalty":1.1,"logit_bias":{"1":2}})";
  (void)parse_chat_completion_request(seed);  // the seed itself is valid
  fuzz(seed, 1, [](const std::string& b) { (void)parse_chat_completion_request(b); });
}

TEST(OpenAIFuzz, CompletionEmbeddingInvocationBodies) {
  const std::string completion = R"({"model":"m","prompt":[[1,2,3],[4]],"max_tokens":8,"echo":true,"logprobs":3,
    "stop":"x","n":2,"best_of":2,"stream":false,"suffix":null,"temperature":1})";
  (void)parse_completion_request(completion);
  fuzz(completion, 2, [](const std::string& b) { (void)parse_completion_request(b); });

  const std::string embedding = R"({"model":"e","input":["alpha","beta"],"encoding_format":"float","dimensions":8})";
  (void)parse_embedding_request(embedding);
  fuzz(embedding, 3, [](const std::string& b) { (void)parse_embedding_request(b); });

  const std::string invocation = R"({"inputs":"hi","parameters":{"max_new_tokens":4,"do_sample":true,"top_k":5},"max_length":9})";
  (void)parse_invocation_request(invocation);
  fuzz(invocation, 4, [](const std::string& b) { (void)parse_invocation_request(b); });
}

TEST(OpenAIFuzz, InvalidUtf8AnywhereIsA400) {
  const std::string seed = R"({"messages":[{"role":"user","content":"abc"}],"user":"u"})";
  for (size_t pos = 0; pos <= seed.size(); ++pos) {
    for (const char* bad : {"\xff", "\xc0\xaf", "\xe0\x80", "\xf4\x90\x80\x80"}) {
      std::string body = seed;
      body.insert(pos, bad);
      try {
        (void)parse_chat_completion_request(body);
        ADD_FAILURE() << "accepted invalid UTF-8 at " << pos;
      } catch (const InvalidRequest& e) {
        EXPECT_EQ(e.status(), 400);
      }
    }
  }
}

}  // namespace
}  // namespace nova::serve::openai
