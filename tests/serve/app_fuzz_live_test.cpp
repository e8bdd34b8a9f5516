// Request-body fuzz against the LIVE server (every layer: HTTP parser, JSON guard, OpenAI schema,
// model checks, engine): mutated valid bodies plus hand-made hostile ones (malformed JSON, wrong
// types, huge numbers, invalid UTF-8, 10 MB bodies, deep nesting). Every reply must be a
// well-formed success or an OpenAI error with a 4xx status, and the server must stay up.
#include <gtest/gtest.h>

#include "app_test_support.h"

namespace nova::serve::app::test {
namespace {

using nlohmann::json;

class AppFuzzLive : public ServeAppTest {};

struct Reply {
  int status = 0;
  std::string head, body;
};

// One request on a fresh connection; a chunked (streamed) answer is read to its end.
Reply send_raw(uint16_t port, const std::string& path, const std::string& body) {
  TestClient c(port);
  Reply r;
  if (!c.send(request_bytes("POST", path, body))) {
    // The server may answer 413 and close before a huge body is fully sent; read what came.
  }
  r.head = c.read_until("\r\n\r\n", 20000);
  if (r.head.size() < 12) return r;
  r.status = std::stoi(r.head.substr(9, 3));
  const std::string lower = TestClient::lower(r.head);
  if (lower.find("transfer-encoding: chunked") != std::string::npos) {
    r.body = dechunk(c.read_until("\r\n0\r\n\r\n", 20000));
  } else if (const size_t cl = lower.find("content-length:"); cl != std::string::npos) {
    r.body = c.read_exact(std::stoul(r.head.substr(cl + 15)), 20000);
  }
  return r;
}

// A 200 must look like the endpoint's success shape, anything else like an OpenAI error.
void check_reply(const std::string& path, const std::string& body, const Reply& r) {
  ASSERT_NE(r.status, 0) << "no answer (hang or crash) for " << path << " body " << json(body.substr(0, 200)).dump();
  if (r.status == 200) {
    if (r.head.find("text/event-stream") != std::string::npos) {
      EXPECT_NE(r.body.find("data: [DONE]"), std::string::npos) << r.body.substr(0, 300);
      return;
    }
    const json j = json::parse(r.body, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << r.body.substr(0, 300);
    EXPECT_TRUE(j.contains("choices") || j.contains("data") || j.contains("responses")) << r.body.substr(0, 300);
    return;
  }
  EXPECT_TRUE(r.status == 400 || r.status == 404 || r.status == 413 || r.status == 422 || r.status == 429)
      << r.status << " for " << path << " body " << json(body.substr(0, 200)).dump() << " -> " << r.body;
  EXPECT_TRUE(is_openai_error(r.body)) << r.status << " " << r.body.substr(0, 300);
}

TEST_F(AppFuzzLive, MutatedBodiesGetWellFormedAnswers) {
  const std::pair<const char*, const char*> seeds[] = {
      {"/v1/chat/completions",
       R"({"messages":[{"role":"system","content":"s"},{"role":"user","content":[{"type":"text","text":"hi"}]}],"max_tokens":1,"temperature":0.5,"stop":["x"],"n":1,"logprobs":true,"top_logprobs":2,"seed":3})"},
      {"/v1/completions", R"({"prompt":["ab",[1,2,3]],"max_tokens":1,"top_p":0.9,"logprobs":1,"echo":true,"stream":false})"},
      {"/v1/embeddings", R"({"input":["hello",[5,6]],"encoding_format":"float","dimensions":16})"},
      {"/invocations", R"({"inputs":"once","parameters":{"max_new_tokens":1,"do_sample":false,"top_k":5}})"},
  };
  // Live requests cost a model forward each (slow under ASan); the parsers alone get thousands
  // of mutations in openai_fuzz_test.cpp.
  constexpr int kPerSeed = 150;
  int answered = 0;
  for (const auto& [path, seed] : seeds) {
    nova::test::mutate_each(seed, kPerSeed, 1234, [&](const std::string& body) {
      check_reply(path, body, send_raw(port(), path, body));
      ++answered;
    });
  }
  EXPECT_EQ(answered, 4 * kPerSeed);
  EXPECT_EQ(call(port(), "GET", "/health").status, 200);
}

TEST_F(AppFuzzLive, HostileBodiesAreRefusedCleanly) {
  const std::string deep_array = std::string(100000, '[') + std::string(100000, ']');
  std::string deep_object;
  for (int i = 0; i < 5000; ++i) deep_object += R"({"a":)";
  deep_object += "1" + std::string(5000, '}');
  const std::string ten_mb = R"({"prompt":")" + std::string(10u << 20, 'a') + R"(","max_tokens":1})";
  const std::vector<std::pair<std::string, int>> cases = {
      {"", 400},
      {"null", 400},
      {"[]", 400},
      {"\"just a string\"", 400},
      {"{\"prompt\":\"x\",", 400},
      {deep_array, 400},
      {R"({"prompt":)" + deep_array + "}", 400},
      {deep_object, 400},
      {ten_mb, 413},
      {"{\"prompt\":\"\xff\xfe bad utf8\",\"max_tokens\":1}", 400},
      {"{\"prompt\":\"ok\",\"user\":\"\xc3\x28\"}", 400},
      {R"({"prompt":"x","max_tokens":1e400})", 400},
      {R"({"prompt":"x","max_tokens":18446744073709551616})", 400},
      {R"({"prompt":"x","max_tokens":-9223372036854775808})", 400},
      {R"({"prompt":"x","max_tokens":2.5})", 400},
      {R"({"prompt":"x","n":1000000000})", 400},
      {R"({"prompt":"x","temperature":1e308})", 400},
      {R"({"prompt":"x","temperature":NaN})", 400},
      {R"({"prompt":"x","seed":1e30})", 400},
      {R"({"prompt":[2147483648]})", 400},
      {R"({"prompt":[-1]})", 400},
      {R"({"prompt":{"a":1}})", 400},
      {R"({"prompt":"x","stop":["a","b","c","d","e"]})", 400},
      {R"({"prompt":"x","logit_bias":{"1":5}})", 400},
      {R"({"prompt":")" + std::string(100000, 'z') + R"(","max_tokens":1})", 400},  // longer than the context
  };
  for (const auto& [body, status] : cases) {
    const Reply r = send_raw(port(), "/v1/completions", body);
    check_reply("/v1/completions", body, r);
    EXPECT_EQ(r.status, status) << json(body.substr(0, 120)).dump() << " -> " << r.body.substr(0, 300);
  }
  // Chat-specific wrong types.
  for (const char* body : {R"({"messages":"hi"})", R"({"messages":[{"role":"wizard","content":"x"}]})",
                           R"({"messages":[{"role":"user","content":5}]})", R"({"messages":[{"role":"user"}]})",
                           R"({"messages":[{"role":"user","content":[{"type":"image_url"}]}]})",
                           R"({"messages":[{"role":"user","content":"x"}],"tools":"all"})"}) {
    const Reply r = send_raw(port(), "/v1/chat/completions", body);
    check_reply("/v1/chat/completions", body, r);
    EXPECT_EQ(r.status, 400) << body;
  }
  EXPECT_EQ(call(port(), "GET", "/health").status, 200);
  EXPECT_EQ(call(port(), "POST", "/v1/completions", R"({"prompt":"still alive","max_tokens":2})").status, 200);
}

}  // namespace
}  // namespace nova::serve::app::test
