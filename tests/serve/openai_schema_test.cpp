#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "serve/openai/chat_request.h"
#include "serve/openai/completion_request.h"

namespace nova::serve::openai {
namespace {

enum class Endpoint { kChat, kCompletion, kEmbedding, kInvocation };

struct Case {
  Endpoint endpoint;
  std::string body;
  std::string param;  // "" = valid; "<body>" = a body-level error with no param
  int status = 400;
};

void parse(Endpoint e, std::string_view body) {
  switch (e) {
    case Endpoint::kChat: (void)parse_chat_completion_request(body); break;
    case Endpoint::kCompletion: (void)parse_completion_request(body); break;
    case Endpoint::kEmbedding: (void)parse_embedding_request(body); break;
    case Endpoint::kInvocation: (void)parse_invocation_request(body); break;
  }
}

const std::string kMsgs = R"("messages":[{"role":"user","content":"hi"}])";

std::vector<Case> cases() {
  using E = Endpoint;
  const auto chat = [](std::string extra) { return "{" + kMsgs + (extra.empty() ? "" : "," + extra) + "}"; };
  return {
      // ---- chat: valid
      {E::kChat, chat(""), ""},
      {E::kChat, chat(R"("model":"m","temperature":0,"top_p":1,"n":16,"stop":["a","b","c","d"],"seed":-5)"), ""},
      {E::kChat, chat(R"("temperature":null,"max_tokens":null,"unknown_field":{"x":[1]})"), ""},
      {E::kChat, chat(R"("max_tokens":16.0,"presence_penalty":-2,"frequency_penalty":2,"logprobs":true,"top_logprobs":20)"), ""},
      {E::kChat, chat(R"("stream":true,"stream_options":{"include_usage":true},"priority":-3,"min_p":0.1,"top_k":-1,"repetition_penalty":1.1)"), ""},
      {E::kChat, chat(R"("logit_bias":{"50256":-100,"7":5.5},"user":"u1","parallel_tool_calls":false,"response_format":{"type":"text"})"), ""},
      {E::kChat, R"({"messages":[{"role":"system","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]},
                   {"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]},
                   {"role":"tool","tool_call_id":"c1","content":"42"},{"role":"developer","content":"d","name":"n"}],
                   "tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],
                   "tool_choice":{"type":"function","function":{"name":"f"}}})", ""},
      // ---- chat: invalid, with the param OpenAI would name
      {E::kChat, "{}", "messages"},
      {E::kChat, R"({"messages":[]})", "messages"},
      {E::kChat, R"({"messages":"hi"})", "messages"},
      {E::kChat, R"({"messages":[1]})", "messages[0]"},
      {E::kChat, R"({"messages":[{"content":"x"}]})", "messages[0].role"},
      {E::kChat, R"({"messages":[{"role":"wizard","content":"x"}]})", "messages[0].role"},
      {E::kChat, R"({"messages":[{"role":"user"}]})", "messages[0].content"},
      {E::kChat, R"({"messages":[{"role":"user","content":5}]})", "messages[0].content"},
      {E::kChat, R"({"messages":[{"role":"user","content":[]}]})", "messages[0].content"},
      {E::kChat, R"({"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}]})", "messages[0].content[0].type"},
      {E::kChat, R"({"messages":[{"role":"user","content":[{"type":"text"}]}]})", "messages[0].content[0].text"},
      {E::kChat, R"({"messages":[{"role":"user","content":"a"},{"role":"assistant"}]})", "messages[1].content"},
      {E::kChat, R"({"messages":[{"role":"tool","content":"a"}]})", "messages[0].tool_call_id"},
      {E::kChat, R"({"messages":[{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f"}}]}]})", "messages[0].tool_calls[0].function.arguments"},
      {E::kChat, R"({"messages":[{"role":"user","content":"a","name":7}]})", "messages[0].name"},
      {E::kChat, chat(R"("model":5)"), "model"},
      {E::kChat, chat(R"("temperature":2.5)"), "temperature"},
      {E::kChat, chat(R"("temperature":-0.1)"), "temperature"},
      {E::kChat, chat(R"("temperature":"1")"), "temperature"},
      {E::kChat, chat(R"("top_p":0)"), "top_p"},
      {E::kChat, chat(R"("top_p":1.5)"), "top_p"},
      {E::kChat, chat(R"("n":0)"), "n"},
      {E::kChat, chat(R"("n":17)"), "n"},
      {E::kChat, chat(R"("n":1.5)"), "n"},
      {E::kChat, chat(R"("max_tokens":0)"), "max_tokens"},
      {E::kChat, chat(R"("max_tokens":1e300)"), "max_tokens"},
      {E::kChat, chat(R"("max_tokens":99999999999999999999999)"), "max_tokens"},
      {E::kChat, chat(R"("max_completion_tokens":-1)"), "max_completion_tokens"},
      {E::kChat, chat(R"("stop":["a","b","c","d","e"])"), "stop"},
      {E::kChat, chat(R"("stop":[1])"), "stop[0]"},
      {E::kChat, chat(R"("stop":"")"), "stop"},
      {E::kChat, chat(R"("stop":{})"), "stop"},
      {E::kChat, chat(R"("seed":"x")"), "seed"},
      {E::kChat, chat(R"("presence_penalty":3)"), "presence_penalty"},
      {E::kChat, chat(R"("frequency_penalty":-2.01)"), "frequency_penalty"},
      {E::kChat, chat(R"("logprobs":1)"), "logprobs"},
      {E::kChat, chat(R"("top_logprobs":3)"), "top_logprobs"},
      {E::kChat, chat(R"("logprobs":true,"top_logprobs":21)"), "top_logprobs"},
      {E::kChat, chat(R"("stream":"yes")"), "stream"},
      {E::kChat, chat(R"("stream_options":{"include_usage":true})"), "stream_options"},
      {E::kChat, chat(R"("stream":true,"stream_options":{"include_usage":1})"), "stream_options.include_usage"},
      {E::kChat, chat(R"("tools":{})"), "tools"},
      {E::kChat, chat(R"("tools":[{"type":"function","function":{"name":"bad name"}}])"), "tools[0].function.name"},
      {E::kChat, chat(R"("tools":[{"type":"retrieval"}])"), "tools[0].type"},
      {E::kChat, chat(R"("tool_choice":"required")"), "tool_choice"},
      {E::kChat, chat(R"("tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":{"type":"function","function":{"name":"g"}})"), "tool_choice"},
      {E::kChat, chat(R"("tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"sometimes")"), "tool_choice"},
      {E::kChat, chat(R"("response_format":{"type":"json_object"})"), "response_format"},
      {E::kChat, chat(R"("logit_bias":{"abc":1})"), "logit_bias"},
      {E::kChat, chat(R"("logit_bias":{"5":101})"), "logit_bias"},
      {E::kChat, chat(R"("min_p":1.5)"), "min_p"},
      {E::kChat, chat(R"("top_k":-2)"), "top_k"},
      {E::kChat, chat(R"("repetition_penalty":0)"), "repetition_penalty"},
      {E::kChat, chat(R"("priority":1e10)"), "priority"},
      // ---- body-level
      {E::kChat, "", "<body>"},
      {E::kChat, "[1,2]", "<body>"},
      {E::kChat, "{\"messages\":[{\"role\":\"user\",\"content\":\"\xff\"}]}", "<body>"},
      {E::kChat, "{\"messages\":[{\"role\":\"user\",\"content\":\"\xc3\"}]}", "<body>"},
      {E::kChat, "{\"messages\":[{\"role\":\"user\",\"content\":\"\xed\xa0\x80\"}]}", "<body>"},  // surrogate
      {E::kChat, R"({"messages":[{"role":"user","content":"\ud800"}]})", "<body>"},  // lone escaped surrogate
      {E::kChat, R"({"temperature":1e400})", "<body>"},
      {E::kChat, R"({"temperature":NaN})", "<body>"},
      {E::kChat, std::string(100, '[') + std::string(100, ']'), "<body>"},
      {E::kChat, R"({"messages":[{"role":"user","content":"hi"}]} trailing)", "<body>"},
      // ---- completions
      {E::kCompletion, R"({"prompt":"Hello"})", ""},
      {E::kCompletion, R"({"prompt":""})", ""},
      {E::kCompletion, R"({"prompt":["a","b"],"echo":true,"logprobs":5,"suffix":"","best_of":1})", ""},
      {E::kCompletion, R"({"prompt":[1,2,3],"stream":true,"stream_options":{"include_usage":false}})", ""},
      {E::kCompletion, R"({"prompt":[[1,2],[3]],"n":2,"best_of":2})", ""},
      {E::kCompletion, R"({})", "prompt"},
      {E::kCompletion, R"({"prompt":[]})", "prompt"},
      {E::kCompletion, R"({"prompt":5})", "prompt"},
      {E::kCompletion, R"({"prompt":["a",1]})", "prompt[1]"},
      {E::kCompletion, R"({"prompt":[[1],[]]})", "prompt[1]"},
      {E::kCompletion, R"({"prompt":[1,-2]})", "prompt[1]"},
      {E::kCompletion, R"({"prompt":[1,"a"]})", "prompt"},
      {E::kCompletion, R"({"prompt":[1,3000000000]})", "prompt[1]"},
      {E::kCompletion, R"({"prompt":"a","suffix":"b"})", "suffix"},
      {E::kCompletion, R"({"prompt":"a","logprobs":6})", "logprobs"},
      {E::kCompletion, R"({"prompt":"a","logprobs":true})", "logprobs"},
      {E::kCompletion, R"({"prompt":"a","echo":"yes"})", "echo"},
      {E::kCompletion, R"({"prompt":"a","best_of":3})", "best_of"},
      // ---- embeddings
      {E::kEmbedding, R"({"input":"a","model":"e","encoding_format":"base64"})", ""},
      {E::kEmbedding, R"({"input":["a","b"],"dimensions":64})", ""},
      {E::kEmbedding, R"({"input":[[1,2],[3]]})", ""},
      {E::kEmbedding, R"({"input":""})", "input"},
      {E::kEmbedding, R"({"input":["a",""]})", "input[1]"},
      {E::kEmbedding, R"({"input":"a","encoding_format":"int8"})", "encoding_format"},
      {E::kEmbedding, R"({"input":"a","dimensions":0})", "dimensions"},
      {E::kEmbedding, R"({"inputs":"a"})", "input"},
      // ---- invocations
      {E::kInvocation, R"({"prompt":"a","max_length":32,"temperature":0.7,"top_k":50})", ""},
      {E::kInvocation, R"({"inputs":"a","parameters":{"max_new_tokens":8,"do_sample":false}})", ""},
      {E::kInvocation, R"({"max_length":32})", "prompt"},
      {E::kInvocation, R"({"prompt":"a","max_length":0})", "max_length"},
      {E::kInvocation, R"({"prompt":"a","parameters":[]})", "parameters"},
      {E::kInvocation, R"({"prompt":"a","parameters":{"temperature":9}})", "temperature"},
  };
}

TEST(OpenAISchema, TableOfValidAndInvalidBodies) {
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.body.substr(0, 200));
    try {
      parse(c.endpoint, c.body);
      EXPECT_EQ(c.param, "") << "accepted an invalid body";
    } catch (const InvalidRequest& e) {
      EXPECT_NE(c.param, "") << "rejected a valid body: " << e.what();
      EXPECT_EQ(e.param(), c.param == "<body>" ? "" : c.param) << e.message();
      EXPECT_EQ(e.status(), c.status);
      EXPECT_FALSE(e.message().empty());
    }
  }
}

TEST(OpenAISchema, ChatFieldsLandInTheStruct) {
  const auto r = parse_chat_completion_request(R"({
    "model": "qwen", "messages": [
      {"role": "system", "content": [{"type": "text", "text": "be"}, {"type": "text", "text": "brief"}]},
      {"role": "user", "content": "hi", "name": "ann"},
      {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{\"x\":1}"}}]},
      {"role": "tool", "tool_call_id": "c1", "content": "2"}],
    "max_tokens": 10, "max_completion_tokens": 20, "temperature": 0.5, "top_p": 0.9, "n": 2, "stop": "END",
    "seed": 7, "logprobs": true, "top_logprobs": 3, "stream": true, "stream_options": {"include_usage": true},
    "tools": [{"type": "function", "function": {"name": "f", "description": "d", "parameters": {"type": "object"}, "strict": true}}],
    "priority": 4, "top_k": 40, "min_p": 0.05, "repetition_penalty": 1.2, "logit_bias": {"11": -1}})");
  EXPECT_EQ(r.model, "qwen");
  ASSERT_EQ(r.messages.size(), 4u);
  EXPECT_EQ(r.messages[0].content, "be\nbrief");
  EXPECT_EQ(r.messages[0].parts.size(), 2u);
  EXPECT_EQ(r.messages[1].name, "ann");
  EXPECT_FALSE(r.messages[2].content.has_value());
  ASSERT_EQ(r.messages[2].tool_calls.size(), 1u);
  EXPECT_EQ(r.messages[2].tool_calls[0].arguments, "{\"x\":1}");
  EXPECT_EQ(r.messages[3].tool_call_id, "c1");
  EXPECT_EQ(r.sampling.max_tokens, 20);  // max_completion_tokens wins
  EXPECT_EQ(r.sampling.temperature, 0.5);
  EXPECT_EQ(r.sampling.top_p, 0.9);
  EXPECT_EQ(r.sampling.n, 2);
  EXPECT_EQ(r.sampling.stop, std::vector<std::string>{"END"});
  EXPECT_EQ(r.sampling.seed, 7);
  EXPECT_EQ(r.sampling.top_k, 40);
  EXPECT_EQ(r.sampling.min_p, 0.05);
  EXPECT_EQ(r.sampling.repetition_penalty, 1.2);
  EXPECT_EQ(r.sampling.logit_bias.at(11), -1);
  EXPECT_TRUE(r.logprobs);
  EXPECT_EQ(r.top_logprobs, 3);
  EXPECT_TRUE(r.stream);
  EXPECT_TRUE(r.include_usage);
  ASSERT_EQ(r.tools.size(), 1u);
  EXPECT_TRUE(r.tools[0].strict);
  EXPECT_EQ(r.tools[0].parameters["type"], "object");
  EXPECT_EQ(r.tool_choice.mode, ToolChoice::Mode::kAuto);
  EXPECT_EQ(r.priority, 4);

  const auto plain = parse_chat_completion_request("{" + kMsgs + "}");
  EXPECT_EQ(plain.tool_choice.mode, ToolChoice::Mode::kNone);
  EXPECT_FALSE(plain.sampling.max_tokens.has_value());
  EXPECT_FALSE(plain.sampling.temperature.has_value());
  EXPECT_EQ(plain.sampling.n, 1);
}

TEST(OpenAISchema, CompletionEmbeddingAndInvocationFields) {
  auto c = parse_completion_request(R"({"prompt": [[1, 2], [3]], "echo": true, "logprobs": 2})");
  ASSERT_EQ(c.prompts.size(), 2u);
  EXPECT_TRUE(c.prompts[0].is_tokens());
  EXPECT_EQ(c.prompts[0].token_ids, (std::vector<int32_t>{1, 2}));
  EXPECT_EQ(c.sampling.max_tokens, 16);  // OpenAI's completions default
  EXPECT_EQ(c.logprobs, 2);
  c = parse_completion_request(R"({"prompt": ["x", "y"], "max_tokens": 5})");
  EXPECT_EQ(c.prompts[1].text, "y");
  EXPECT_EQ(c.sampling.max_tokens, 5);

  const auto e = parse_embedding_request(R"({"input": [5, 6, 7], "encoding_format": "base64"})");
  ASSERT_EQ(e.inputs.size(), 1u);
  EXPECT_EQ(e.inputs[0].token_ids.size(), 3u);
  EXPECT_EQ(e.encoding_format, EncodingFormat::kBase64);

  auto inv = parse_invocation_request(R"({"prompt": "a", "max_length": 32, "temperature": 0.7, "top_k": 50, "stop": ["x"]})");
  EXPECT_EQ(inv.prompts[0].text, "a");
  EXPECT_EQ(inv.sampling.max_tokens, 32);
  EXPECT_EQ(inv.sampling.temperature, 0.7);
  EXPECT_EQ(inv.sampling.top_k, 50);
  EXPECT_EQ(inv.sampling.stop, std::vector<std::string>{"x"});
  inv = parse_invocation_request(R"({"inputs": "b", "temperature": 0.3, "parameters": {"max_new_tokens": 8, "do_sample": false}})");
  EXPECT_EQ(inv.prompts[0].text, "b");
  EXPECT_EQ(inv.sampling.max_tokens, 8);
  EXPECT_EQ(inv.sampling.temperature, 0.0);
}

TEST(OpenAISchema, OversizedBodiesAreRefusedBeforeParsing) {
  const std::string huge = R"({"messages":[{"role":"user","content":")" + std::string(10 << 20, 'a') + "\"}]}";
  try {
    (void)parse_chat_completion_request(huge);
    FAIL() << "accepted a 10 MB body";
  } catch (const InvalidRequest& e) {
    EXPECT_EQ(e.status(), 413);
    EXPECT_EQ(e.code(), "request_too_large");
  }
  // Under the limit, a large string parses (the tokenizer decides about context length).
  const std::string big = R"({"prompt":")" + std::string(1 << 20, 'b') + "\"}";
  EXPECT_EQ(parse_completion_request(big).prompts[0].text->size(), 1u << 20);
  // Nesting: refused by a scan, not by recursion.
  const std::string deep = R"({"messages":)" + std::string(1 << 20, '[') + std::string(1 << 20, ']') + "}";
  EXPECT_THROW((void)parse_chat_completion_request(deep), InvalidRequest);
}

TEST(OpenAISchema, ErrorMessagesNeverEchoTheBody) {
  const std::string secret = "top-secret-prompt-text";
  try {
    (void)parse_chat_completion_request("{\"messages\": \"" + secret + "\" garbage");
    FAIL();
  } catch (const InvalidRequest& e) {
    EXPECT_EQ(std::string(e.what()).find(secret), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace nova::serve::openai
