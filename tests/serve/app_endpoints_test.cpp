// The non-completion routes of ServeApp (models, health, metrics, invocations, 404) and the
// disconnect path: a client that goes away mid-stream must not keep engine KV blocks.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
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
  EXPECT_EQ(call(port(), "POST", "/nothing/here", "{}").status, 404);
  EXPECT_EQ(call(port(), "DELETE", "/v1/models").status, 405);
  EXPECT_NE(call(port(), "GET", "/metrics").body.find("nova_requests_total{endpoint=\"other\",status=\"404\"}"),
            std::string::npos);
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

TEST_F(AppEndpoints, MetricsExposeEngineGaugesAndRequestCounts) {
  ASSERT_EQ(call(port(), "POST", "/v1/completions", R"({"prompt":"x","max_tokens":3,"temperature":0,"ignore_eos":true})")
                .status,
            200);
  ASSERT_EQ(call(port(), "POST", "/v1/completions", R"({"prompt":"x","max_tokens":0})").status, 400);
  const auto r = call(port(), "GET", "/metrics");
  ASSERT_EQ(r.status, 200);
  EXPECT_NE(r.head.find("text/plain; version=0.0.4"), std::string::npos);
  for (const char* name :
       {"nova_requests_total", "nova_time_to_first_token_seconds", "nova_inter_token_latency_seconds",
        "nova_e2e_request_latency_seconds", "nova_prompt_tokens_total", "nova_generation_tokens_total",
        "nova_queue_length", "nova_running_batch_size", "nova_kv_cache_usage_ratio", "nova_kv_cache_blocks_used",
        "nova_kv_cache_blocks_total", "nova_engine_steps_total", "nova_http_open_connections"})
    EXPECT_NE(r.body.find(std::string("# TYPE ") + name + " "), std::string::npos) << name;
  EXPECT_NE(r.body.find("nova_requests_total{endpoint=\"/v1/completions\",status=\"200\"}"), std::string::npos);
  EXPECT_NE(r.body.find("nova_requests_total{endpoint=\"/v1/completions\",status=\"400\"}"), std::string::npos);
  EXPECT_EQ(r.body.find("nova_generation_tokens_total 0\n"), std::string::npos);
  EXPECT_EQ(r.body.find("nova_time_to_first_token_seconds_count 0\n"), std::string::npos);
}

// The value of an unlabelled sample in a /metrics text (NaN when absent).
double metric_value(const std::string& text, const std::string& name) {
  const size_t at = text.find("\n" + name + " ");
  if (at == std::string::npos) return NAN;
  return std::stod(text.substr(at + name.size() + 2));
}

TEST_F(AppEndpoints, DisconnectMidStreamFreesKvBlocksWithinAStep) {
  // Long requests (n=4, whole context) so the stream is still running when the client leaves.
  const int64_t generated_before = app_->engine().stats().generated_tokens;
  TestClient c(port());
  const std::string body = R"({"prompt":"go","temperature":1,"ignore_eos":true,"n":4,"stream":true,"max_tokens":250})";
  ASSERT_TRUE(c.send(request_bytes("POST", "/v1/completions", body)));
  ASSERT_FALSE(c.read_until("data: ", 5000).empty());
  const std::string during = call(port(), "GET", "/metrics").body;
  EXPECT_GT(metric_value(during, "nova_kv_cache_blocks_used"), 0) << during;
  EXPECT_GE(metric_value(during, "nova_running_batch_size"), 1);
  const double disconnects_before = metric_value(during, "nova_http_disconnects_total");
  c.reset();
  const int64_t steps_at_reset = app_->engine().stats().steps;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  engine::EngineStats s = app_->engine().stats();
  while ((s.kv.used_blocks != 0 || s.running != 0 || s.waiting != 0) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::microseconds(200));
    s = app_->engine().stats();
  }
  EXPECT_EQ(s.kv.used_blocks, 0);
  EXPECT_EQ(s.running, 0u);
  EXPECT_EQ(s.waiting, 0u);
  // The loop sees the reset at once and sets the cancellation tokens; the engine frees the
  // blocks at its next step. One more step of slack for the step already running at the reset.
  EXPECT_LE(s.steps - steps_at_reset, 2) << "steps between the disconnect and the blocks being freed";
  // Cancelled, not run to the end: far fewer than the 4 x 250 tokens asked for.
  EXPECT_LT(s.generated_tokens - generated_before, 4 * 250);
  std::cout << "[ info ] tokens generated for the 4x250-token stream before it stopped: "
            << s.generated_tokens - generated_before << "; steps after the reset: " << s.steps - steps_at_reset << "\n";
  // Visible in /metrics: no block in use, the disconnect counted.
  const std::string after = call(port(), "GET", "/metrics").body;
  EXPECT_EQ(metric_value(after, "nova_kv_cache_blocks_used"), 0);
  EXPECT_EQ(metric_value(after, "nova_running_batch_size"), 0);
  EXPECT_EQ(metric_value(after, "nova_http_disconnects_total"), disconnects_before + 1);
}

}  // namespace
}  // namespace nova::serve::app::test
