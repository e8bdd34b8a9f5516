// The non-completion routes of ServeApp (models, health, metrics, invocations, 404) and the
// disconnect path: a client that goes away mid-stream must not keep engine KV blocks.
#include <gtest/gtest.h>

#include <chrono>
#include <iostream>
#include <thread>

#include "app_test_support.h"

namespace nova::serve::app::test {
namespace {

using nlohmann::json;

class AppEndpoints : public ServeAppTest {};

TEST_F(AppEndpoints, ModelsHealthPing) {
  const auto m = call(port(), "GET", "/v1/models");
  ASSERT_EQ(m.status, 200);
  const json j = json::parse(m.body);
  EXPECT_EQ(j["object"], "list");
  ASSERT_EQ(j["data"].size(), 1u);
  EXPECT_EQ(j["data"][0]["id"], "demo");
  EXPECT_EQ(j["data"][0]["object"], "model");
  EXPECT_EQ(j["data"][0]["max_model_len"], 256);
  EXPECT_EQ(call(port(), "GET", "/health").status, 200);
  EXPECT_EQ(call(port(), "GET", "/ping").status, 200);
}

TEST_F(AppEndpoints, UnknownRouteIs404AndWrongMethod405) {
  const auto r = call(port(), "GET", "/v1/nothing");
  EXPECT_EQ(r.status, 404);
  EXPECT_TRUE(json::parse(r.body).contains("error"));
  EXPECT_EQ(call(port(), "GET", "/v1/chat/completions").status, 405);
}

TEST_F(AppEndpoints, InvocationsSageMakerShape) {
  const auto r = call(port(), "POST", "/invocations", R"({"prompt":"Once upon","max_length":5,"temperature":0})");
  ASSERT_EQ(r.status, 200) << r.body;
  const json j = json::parse(r.body);
  ASSERT_EQ(j["responses"].size(), 1u);
  EXPECT_TRUE(j["responses"][0].is_string());
  EXPECT_EQ(j["input_prompt"], "Once upon");
  EXPECT_EQ(j["generation_config"]["temperature"], 0.0);
  EXPECT_LE(j["generation_config"]["max_length"].get<int>(), 5);
  // The text is what /v1/completions gives for the same greedy request.
  const json c = json::parse(
      call(port(), "POST", "/v1/completions", R"({"prompt":"Once upon","max_tokens":5,"temperature":0})").body);
  EXPECT_EQ(j["responses"][0], c["choices"][0]["text"]);
}

TEST_F(AppEndpoints, MetricsExposeEngineGauges) {
  call(port(), "POST", "/v1/completions", R"({"prompt":"x","max_tokens":3,"temperature":0,"ignore_eos":true})");
  const auto r = call(port(), "GET", "/metrics");
  ASSERT_EQ(r.status, 200);
  EXPECT_NE(r.head.find("text/plain"), std::string::npos);
  for (const char* name : {"nova_num_requests_waiting", "nova_num_requests_running", "nova_kv_cache_blocks_total",
                           "nova_kv_cache_blocks_used", "nova_kv_cache_usage_ratio", "nova_generation_tokens_total",
                           "nova_http_requests_total"})
    EXPECT_NE(r.body.find(std::string("# TYPE ") + name), std::string::npos) << name;
  EXPECT_NE(r.body.find("model_name=\"demo\""), std::string::npos);
  EXPECT_EQ(r.body.find("nova_generation_tokens_total{model_name=\"demo\"} 0\n"), std::string::npos);
}

TEST_F(AppEndpoints, DisconnectMidStreamFreesKvBlocks) {
  // Long requests (n=4, whole context) so the stream is still running when the client leaves.
  const int64_t generated_before = app_->engine().stats().generated_tokens;
  TestClient c(port());
  const std::string body = R"({"prompt":"go","temperature":1,"ignore_eos":true,"n":4,"stream":true,"max_tokens":250})";
  ASSERT_TRUE(c.send(request_bytes("POST", "/v1/completions", body)));
  ASSERT_FALSE(c.read_until("data: ", 5000).empty());
  c.reset();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  engine::EngineStats s = app_->engine().stats();
  while ((s.kv.used_blocks != 0 || s.running != 0 || s.waiting != 0) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    s = app_->engine().stats();
  }
  EXPECT_EQ(s.kv.used_blocks, 0);
  EXPECT_EQ(s.running, 0u);
  EXPECT_EQ(s.waiting, 0u);
  // Cancelled, not run to the end: far fewer than the 4 x 250 tokens asked for.
  EXPECT_LT(s.generated_tokens - generated_before, 4 * 250);
  std::cout << "[ info ] tokens generated for the 4x250-token stream before it stopped: "
            << s.generated_tokens - generated_before << "\n";
  // The server still answers.
  EXPECT_EQ(call(port(), "GET", "/health").status, 200);
}

}  // namespace
}  // namespace nova::serve::app::test
