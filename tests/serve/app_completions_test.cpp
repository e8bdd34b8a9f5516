// /v1/chat/completions and /v1/completions end to end on the demo model: response shapes,
// streaming vs non-streaming agreement, stop strings, n, logprobs, usage.
#include <gtest/gtest.h>

#include "app_test_support.h"

namespace nova::serve::app::test {
namespace {

using nlohmann::json;

class AppCompletions : public ServeAppTest {};

const char* kChat = R"({"messages":[{"role":"user","content":"Hello there"}],"temperature":0,"max_tokens":12,"ignore_eos":true})";

TEST_F(AppCompletions, ChatNonStreamingShapeAndUsage) {
  const auto r = call(port(), "POST", "/v1/chat/completions", kChat);
  ASSERT_EQ(r.status, 200) << r.body;
  const json j = json::parse(r.body);
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["id"].get<std::string>().rfind("chatcmpl-", 0), 0u);
  EXPECT_EQ(j["model"], "demo");
  EXPECT_TRUE(j["created"].is_number_integer());
  ASSERT_EQ(j["choices"].size(), 1u);
  const json& c = j["choices"][0];
  EXPECT_EQ(c["index"], 0);
  EXPECT_EQ(c["message"]["role"], "assistant");
  EXPECT_TRUE(c["message"]["content"].is_string());
  EXPECT_TRUE(c["logprobs"].is_null());
  EXPECT_EQ(c["finish_reason"], "length");
  EXPECT_EQ(j["usage"]["completion_tokens"], 12);
  // The ChatML prompt, rendered and tokenized the way the server must do it.
  const auto& m = app_->model();
  const std::string prompt = chat::apply_chat_template(
      *m.chat_template, nlohmann::ordered_json::parse(R"([{"role":"user","content":"Hello there"}])"), nullptr, true);
  const int prompt_tokens = static_cast<int>(m.tokenizer->encode(prompt, false).size());
  EXPECT_EQ(j["usage"]["prompt_tokens"], prompt_tokens);
  EXPECT_EQ(j["usage"]["total_tokens"], prompt_tokens + 12);
}

TEST_F(AppCompletions, ChatLogprobsListTopEntries) {
  const auto r = call(port(), "POST", "/v1/chat/completions",
                      R"({"messages":[{"role":"user","content":"Hi"}],"temperature":0,"max_tokens":6,"ignore_eos":true,"logprobs":true,"top_logprobs":3})");
  ASSERT_EQ(r.status, 200) << r.body;
  const json content = json::parse(r.body)["choices"][0]["logprobs"]["content"];
  ASSERT_EQ(content.size(), 6u);
  for (const auto& t : content) {
    ASSERT_EQ(t["top_logprobs"].size(), 3u);
    EXPECT_TRUE(t["token"].is_string());
    EXPECT_TRUE(t["bytes"].is_array());
    // Greedy picks the best entry, lowest id on ties: the same logprob as top_logprobs[0].
    EXPECT_EQ(t["logprob"].get<float>(), t["top_logprobs"][0]["logprob"].get<float>());
    EXPECT_GE(t["top_logprobs"][0]["logprob"].get<float>(), t["top_logprobs"][1]["logprob"].get<float>());
  }
}

TEST_F(AppCompletions, ChatStreamMatchesNonStreamingGreedy) {
  const json full = json::parse(call(port(), "POST", "/v1/chat/completions", kChat).body);
  json req = json::parse(kChat);
  req["stream"] = true;
  req["stream_options"] = {{"include_usage", true}};
  const auto s = stream(port(), "/v1/chat/completions", req.dump());
  EXPECT_NE(s.head.find("text/event-stream"), std::string::npos) << s.head;
  ASSERT_GE(s.data.size(), 3u);
  EXPECT_EQ(s.data.back(), "[DONE]");
  std::string text;
  std::string finish;
  bool saw_role = false;
  json usage;
  for (size_t i = 0; i + 1 < s.data.size(); ++i) {
    const json c = json::parse(s.data[i]);
    EXPECT_EQ(c["object"], "chat.completion.chunk");
    EXPECT_EQ(c["id"], json::parse(s.data[0])["id"]);
    EXPECT_TRUE(c.contains("usage"));
    if (c["choices"].empty()) {
      usage = c["usage"];
      continue;
    }
    const json& d = c["choices"][0]["delta"];
    if (d.contains("role")) saw_role = true;
    if (d.contains("content")) text += d["content"].get<std::string>();
    if (!c["choices"][0]["finish_reason"].is_null()) finish = c["choices"][0]["finish_reason"];
  }
  EXPECT_TRUE(saw_role);
  EXPECT_EQ(text, full["choices"][0]["message"]["content"].get<std::string>());
  EXPECT_EQ(finish, "length");
  EXPECT_EQ(usage, full["usage"]);
}

TEST_F(AppCompletions, CompletionShapeStopStringAndLogprobs) {
  const auto r = call(port(), "POST", "/v1/completions",
                      R"({"prompt":"The quick brown","max_tokens":40,"temperature":0,"ignore_eos":true,"logprobs":2})");
  ASSERT_EQ(r.status, 200) << r.body;
  const json j = json::parse(r.body);
  EXPECT_EQ(j["object"], "text_completion");
  EXPECT_EQ(j["id"].get<std::string>().rfind("cmpl-", 0), 0u);
  const json& c = j["choices"][0];
  const std::string text = c["text"];
  EXPECT_EQ(c["finish_reason"], "length");
  ASSERT_EQ(c["logprobs"]["tokens"].size(), 40u);
  ASSERT_EQ(c["logprobs"]["token_logprobs"].size(), 40u);
  ASSERT_EQ(c["logprobs"]["top_logprobs"].size(), 40u);
  // Greedy: the chosen token is the most likely one, so no top entry beats it. (Entries are keyed
  // by token text, and byte tokens that decode to U+FFFD share a key, so equality is not checked.)
  for (size_t i = 0; i < 40; ++i) {
    for (auto& [k, v] : c["logprobs"]["top_logprobs"][i].items())
      EXPECT_GE(c["logprobs"]["token_logprobs"][i].get<float>(), v.get<float>());
  }
  // Stop at an ASCII character that first appears after the start: the text is the prefix before it.
  std::string stop;
  for (size_t i = 1; i < text.size() && stop.empty(); ++i) {
    const char ch = text[i];
    if (ch > 32 && ch < 127 && text.find(ch) == i) stop = std::string(1, ch);
  }
  ASSERT_FALSE(stop.empty()) << "no usable stop character in " << json(text).dump();
  json req = {{"prompt", "The quick brown"}, {"max_tokens", 40}, {"temperature", 0}, {"ignore_eos", true}, {"stop", stop}};
  const json s = json::parse(call(port(), "POST", "/v1/completions", req.dump()).body);
  EXPECT_EQ(s["choices"][0]["text"], text.substr(0, text.find(stop)));
  EXPECT_EQ(s["choices"][0]["finish_reason"], "stop");
  // The same through the stream.
  req["stream"] = true;
  const auto st = stream(port(), "/v1/completions", req.dump());
  std::string streamed;
  for (size_t i = 0; i + 1 < st.data.size(); ++i) streamed += json::parse(st.data[i])["choices"][0]["text"].get<std::string>();
  EXPECT_EQ(streamed, text.substr(0, text.find(stop)));
  EXPECT_EQ(st.data.back(), "[DONE]");
}

TEST_F(AppCompletions, NTwoChoicesNonStreamingAndStreaming) {
  const char* body = R"({"prompt":"abc","max_tokens":8,"temperature":1,"seed":7,"ignore_eos":true,"n":2})";
  const json j = json::parse(call(port(), "POST", "/v1/completions", body).body);
  ASSERT_EQ(j["choices"].size(), 2u);
  EXPECT_EQ(j["choices"][0]["index"], 0);
  EXPECT_EQ(j["choices"][1]["index"], 1);
  EXPECT_EQ(j["usage"]["completion_tokens"], 16);
  json req = json::parse(body);
  req["stream"] = true;
  const auto s = stream(port(), "/v1/completions", req.dump());
  std::string texts[2];
  int finished = 0;
  for (size_t i = 0; i + 1 < s.data.size(); ++i) {
    const json c = json::parse(s.data[i]);
    const int idx = c["choices"][0]["index"];
    ASSERT_TRUE(idx == 0 || idx == 1);
    texts[idx] += c["choices"][0]["text"].get<std::string>();
    if (!c["choices"][0]["finish_reason"].is_null()) ++finished;
  }
  EXPECT_EQ(finished, 2);
  // Same seeds -> same samples as the non-streaming run.
  EXPECT_EQ(texts[0], j["choices"][0]["text"].get<std::string>());
  EXPECT_EQ(texts[1], j["choices"][1]["text"].get<std::string>());
}

TEST_F(AppCompletions, BadRequestsAre400WithParam) {
  struct Case {
    const char* path;
    const char* body;
    const char* param;  // nullptr: param is null
  };
  const Case cases[] = {
      {"/v1/chat/completions", "{not json", nullptr},
      {"/v1/chat/completions", "[1,2]", nullptr},
      {"/v1/chat/completions", R"({"messages":[]})", "messages"},
      {"/v1/chat/completions", R"({"messages":[{"role":"user","content":"x"}],"temperature":"hot"})", "temperature"},
      {"/v1/chat/completions", R"({"messages":[{"role":"user","content":"x"}],"temperature":5})", "temperature"},
      {"/v1/chat/completions", R"({"messages":[{"role":"user","content":"x"}],"max_tokens":0})", "max_tokens"},
      {"/v1/chat/completions", R"({"messages":[{"role":"user","content":"x"}],"max_tokens":100000})", "max_tokens"},
      {"/v1/chat/completions", R"({"messages":[{"role":"user","content":"x"}],"n":0})", "n"},
      {"/v1/chat/completions", R"({"messages":[{"role":"user","content":"x"}],"stop":[1]})", "stop[0]"},
      {"/v1/chat/completions", R"({"messages":[{"role":"user","content":"x"}],"top_logprobs":3})", "top_logprobs"},
      {"/v1/completions", R"({"max_tokens":3})", "prompt"},
      {"/v1/completions", R"({"prompt":"x","top_p":0})", "top_p"},
      {"/v1/completions", R"({"prompt":[1,99999]})", "prompt"},
      {"/v1/completions", R"({"prompt":"x","logprobs":9})", "logprobs"},
      {"/v1/completions", R"({"prompt":"x","presence_penalty":3})", "presence_penalty"},
      {"/invocations", R"({"max_length":3})", "prompt"},
  };
  for (const auto& k : cases) {
    const auto r = call(port(), "POST", k.path, k.body);
    EXPECT_EQ(r.status, 400) << k.body << " -> " << r.body;
    const json j = json::parse(r.body, nullptr, false);
    ASSERT_TRUE(j.contains("error")) << r.body;
    EXPECT_EQ(j["error"]["type"], "invalid_request_error");
    if (k.param) EXPECT_EQ(j["error"]["param"], k.param) << k.body;
    else EXPECT_TRUE(j["error"]["param"].is_null()) << k.body;
  }
}

TEST_F(AppCompletions, BuildersSurviveMutatedBodies) {
  // Mutations of a valid body through parse + model checks: each is a request or an
  // InvalidRequest, never another exception or a crash.
  const auto& m = app_->model();
  const std::string seed =
      R"({"messages":[{"role":"user","content":"hi"}],"prompt":"ab","max_tokens":2,"temperature":0.5,"stop":["x"],"n":1,"top_p":0.9})";
  int built = 0;
  nova::test::mutate_each(seed, 600, 11, [&](const std::string& body) {
    for (auto build : {build_chat_request, build_completion_request, build_invocation_request}) {
      try {
        (void)build(openai::parse_json_body(body), m, RequestBounds{});
        ++built;
      } catch (const openai::InvalidRequest& e) {
        EXPECT_TRUE(e.status() == 400 || e.status() == 404 || e.status() == 413 || e.status() == 422) << e.status();
      }
    }
  });
  EXPECT_GT(built, 0);
}

}  // namespace
}  // namespace nova::serve::app::test
