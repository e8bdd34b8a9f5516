// Shared by the app_*_test.cpp files: one ServeApp on the bundled demo model, bound to
// 127.0.0.1:0, and blocking helpers for JSON requests and SSE streams over TestClient.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "http_test_client.h"
#include "serve/app/serve_app.h"
#include "support/fixtures.h"

namespace nova::serve::app::test {

using http::test::TestClient;

// `key`: sent as "Authorization: Bearer <key>" when not empty.
inline std::string request_bytes(const std::string& method, const std::string& path, const std::string& body,
                                 const std::string& key = "") {
  const std::string auth = key.empty() ? "" : "Authorization: Bearer " + key + "\r\n";
  return method + " " + path + " HTTP/1.1\r\nHost: x\r\n" + auth + "Content-Type: application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

inline TestClient::Response call(uint16_t port, const std::string& method, const std::string& path,
                                 const std::string& body = "", const std::string& key = "") {
  TestClient c(port);
  EXPECT_TRUE(c.ok());
  EXPECT_TRUE(c.send(request_bytes(method, path, body, key)));
  return c.read_response(10000);
}

// The value of header `name` (lower-case) in a response head, "" when absent.
inline std::string header_value(const std::string& head, const std::string& name) {
  const std::string lower = TestClient::lower(head);
  const size_t at = lower.find("\r\n" + name + ":");
  if (at == std::string::npos) return {};
  size_t v = at + 2 + name.size() + 1;
  while (v < head.size() && head[v] == ' ') ++v;
  return head.substr(v, head.find("\r\n", v) - v);
}

// True when `body` is an OpenAI error object: {"error": {"message": str, "type": str, "param", "code"}}.
inline bool is_openai_error(const std::string& body) {
  const auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("error")) return false;
  const auto& e = j["error"];
  return e.is_object() && e.contains("message") && e["message"].is_string() && e.contains("type") &&
         e["type"].is_string() && e.contains("param") && e.contains("code");
}

// Decodes a chunked body that is already complete in `raw`.
inline std::string dechunk(std::string raw) {
  std::string out;
  for (;;) {
    const size_t eol = raw.find("\r\n");
    if (eol == std::string::npos) return out;
    const size_t n = std::stoul(raw.substr(0, eol), nullptr, 16);
    if (n == 0) return out;
    out += raw.substr(eol + 2, n);
    raw.erase(0, eol + 2 + n + 2);
  }
}

struct SseResult {
  std::string head;
  std::vector<std::string> data;  // every "data: " payload, in order
};

inline SseResult stream(uint16_t port, const std::string& path, const std::string& body) {
  TestClient c(port);
  EXPECT_TRUE(c.send(request_bytes("POST", path, body)));
  SseResult r;
  r.head = c.read_until("\r\n\r\n", 5000);
  const std::string raw = c.read_until("\r\n0\r\n\r\n", 5000);
  EXPECT_FALSE(raw.empty()) << "stream did not end: " << c.buffered();
  const std::string text = dechunk(raw);
  size_t at = 0;
  while (at < text.size()) {
    size_t eol = text.find('\n', at);
    if (eol == std::string::npos) eol = text.size();
    const std::string line = text.substr(at, eol - at);
    if (line.rfind("data: ", 0) == 0) r.data.push_back(line.substr(6));
    at = eol + 1;
  }
  return r;
}

class ServeAppTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ServeAppOptions o;
    o.model_dir = nova::test::source_dir() + "/models/demo";
    o.engine.max_running = 8;
    o.server.worker_threads = 2;
    app_ = new ServeApp(o);
    app_->start("127.0.0.1", 0);
  }
  static void TearDownTestSuite() {
    delete app_;
    app_ = nullptr;
  }
  static uint16_t port() { return app_->port(); }
  inline static ServeApp* app_ = nullptr;
};

}  // namespace nova::serve::app::test
