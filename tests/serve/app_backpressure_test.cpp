// Back-pressure: a burst beyond the engine's bounded queue gets 429 + Retry-After (OpenAI error
// bodies) and every request that was accepted runs to its end — none is lost or cut short.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "app_test_support.h"

namespace nova::serve::app::test {
namespace {

using nlohmann::json;

TEST(AppBackpressure, BurstBeyondQueueGets429AndEveryAcceptedRequestCompletes) {
  // The engine does not step on its own here (background = false): the whole burst arrives while
  // nothing runs, so exactly max_waiting requests are accepted and the rest refused, whatever
  // the machine's speed. Then the test steps the engine until every accepted request is done.
  ServeAppOptions o;
  o.model_dir = nova::test::source_dir() + "/models/demo";
  o.engine.max_running = 1;
  o.engine.max_waiting = 3;
  o.engine.background = false;
  o.server.worker_threads = 2;
  ServeApp app(o);
  app.start("127.0.0.1", 0);
  constexpr int kClients = 16, kTokens = 6;
  const std::string body = R"({"prompt":"burst","max_tokens":)" + std::to_string(kTokens) +
                           R"(,"ignore_eos":true,"temperature":0})";
  std::vector<TestClient::Response> responses(kClients);
  std::atomic<int> answered{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kClients; ++i)
    threads.emplace_back([&, i] {
      TestClient c(app.port());
      c.send(request_bytes("POST", "/v1/completions", body));
      responses[static_cast<size_t>(i)] = c.read_response(30000);
      ++answered;
    });
  // Every refusal arrives while the three accepted requests wait in the queue.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while ((answered < kClients - 3 || app.engine().stats().waiting < 3) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  EXPECT_EQ(answered.load(), kClients - 3);
  EXPECT_EQ(app.engine().stats().waiting, 3u);
  while (answered < kClients && std::chrono::steady_clock::now() < deadline)
    if (!app.engine().step()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  for (auto& t : threads) t.join();
  int ok = 0, refused = 0;
  for (const auto& r : responses) {
    if (r.status == 200) {
      ++ok;
      const json j = json::parse(r.body);
      EXPECT_EQ(j["usage"]["completion_tokens"], kTokens);  // ran to its end
      EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
    } else {
      ASSERT_EQ(r.status, 429) << r.head << r.body;
      ++refused;
      EXPECT_TRUE(is_openai_error(r.body)) << r.body;
      EXPECT_EQ(json::parse(r.body)["error"]["code"], "server_overloaded");
      EXPECT_EQ(header_value(r.head, "retry-after"), "1");
    }
  }
  EXPECT_EQ(ok, 3);  // every accepted request completed: none lost
  EXPECT_EQ(refused, kClients - 3);
  const std::string m = call(app.port(), "GET", "/metrics").body;
  EXPECT_NE(m.find("nova_requests_total{endpoint=\"/v1/completions\",status=\"429\"} " + std::to_string(refused) + "\n"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("nova_requests_total{endpoint=\"/v1/completions\",status=\"200\"} 3\n"), std::string::npos) << m;
  const auto s = app.engine().stats();
  EXPECT_EQ(s.waiting + s.running, 0u);
}

}  // namespace
}  // namespace nova::serve::app::test
