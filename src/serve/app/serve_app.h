// The OpenAI-compatible inference server: loads one model directory, runs one LlmEngine (its
// background step thread batches every request) and serves, over HttpServer:
//   POST /v1/chat/completions, /v1/completions, /v1/embeddings, /invocations
//   GET  /v1/models, /v1/models/{id}
//   GET/POST /v1/admin/keys, DELETE /v1/admin/keys/{id}   (admin keys only)
//   GET  /health, /ping, /metrics                         (never need a key)
// Every API route goes through the AccessGate (API keys, roles, per-key rate limits), answers
// errors in OpenAI's shape, updates the Prometheus metrics and writes one request-log line.
// docs/SERVING.md describes the whole surface.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "engine/llm_engine.h"
#include "engine/tokenizer_detokenizer.h"
#include "serve/app/access_gate.h"
#include "serve/app/embedder.h"
#include "serve/app/generation_request.h"
#include "serve/app/model_bundle.h"
#include "serve/app/request_record.h"
#include "serve/http/http_server.h"
#include "serve/logging/request_log.h"
#include "serve/metrics/registry.h"
#include "serve/metrics/server_metrics.h"
#include "serve/openai/json_body.h"

namespace nova::serve::app {

struct ServeAppOptions {
  ServeAppOptions() { server.limits.max_body_bytes = openai::kMaxBodyBytes; }  // 8 MiB unless set

  std::string model_dir;
  engine::EngineConfig engine;
  http::ServerConfig server;  // server.limits.max_body_bytes bounds every request body (413)
  // API keys: "" = open server (no auth); a path = JSON keys file; "sqlite:PATH" = SQLite.
  std::string api_keys;
  // Rate-limit state: "" = in this process; "redis://..." = shared by every replica.
  std::string redis_url;
  limits::Limits default_limits;  // per key, for keys without their own limits; unset = unlimited
  // Request log: "" = none, "-" = stderr, else a file (appended, mode 0600).
  std::string request_log;
  bool log_prompts = false;         // write prompts and completions into the log (else only lengths)
  int64_t max_prompt_tokens = 0;    // 0: the model's context length
  std::chrono::milliseconds request_timeout{0};  // per generation; 0 = none
};

class ServeApp {
 public:
  // Loads the model (throws nova::Error naming the file), opens the key store and limiter, and
  // starts the engine's step thread.
  explicit ServeApp(ServeAppOptions options);
  ~ServeApp();  // stop()
  ServeApp(const ServeApp&) = delete;
  ServeApp& operator=(const ServeApp&) = delete;

  // Binds and serves; port 0 picks an ephemeral port (see port()).
  void start(const std::string& host, uint16_t port);
  uint16_t port() const;
  http::HttpServer& server() { return *server_; }  // after start()
  // Graceful: the server drains its in-flight responses, then the engine finishes and stops.
  void stop();

  engine::LlmEngine& engine() { return *engine_; }
  const ModelBundle& model() const { return model_; }
  AccessGate& gate() { return *gate_; }
  metrics::ServerMetrics& metrics() { return *metrics_; }
  // One line on how the server is protected: auth mode, limits, where limit state lives.
  std::string policy_summary() const;
  // The routes, bound to this app (start() uses them; exposed for tests).
  http::Router router();
  // The /metrics text (engine and HTTP gauges refreshed first).
  std::string metrics_text();

 private:
  std::shared_ptr<RequestRecord> new_record(const std::string& endpoint, const http::HttpRequest& req);
  // Runs `body`, turning openai::InvalidRequest / nova::Error / anything else into 400-class /
  // 500 answers on `record` (when nothing was answered yet).
  void guarded(http::ResponseWriter& w, RequestRecord& record, const std::function<void()>& body);
  void handle_generation(Endpoint endpoint, const http::HttpRequest& req, http::ResponseWriterPtr w);
  void handle_embeddings(const http::HttpRequest& req, http::ResponseWriterPtr w);
  void handle_models(const http::HttpRequest& req, http::ResponseWriterPtr w, bool one);
  void handle_admin_keys(const http::HttpRequest& req, http::ResponseWriterPtr w);
  void handle_admin_revoke(const http::HttpRequest& req, http::ResponseWriterPtr w);

  ServeAppOptions options_;
  ModelBundle model_;
  std::unique_ptr<engine::TokenizerDetokenizer> detok_;
  std::unique_ptr<engine::LlmEngine> engine_;
  std::unique_ptr<Embedder> embedder_;
  metrics::Registry registry_;
  std::unique_ptr<metrics::ServerMetrics> metrics_;
  std::unique_ptr<logging::RequestLogger> logger_;
  Telemetry telemetry_;
  std::unique_ptr<AccessGate> gate_;
  std::unique_ptr<http::HttpServer> server_;
  std::mutex scrape_mu_;
  int64_t created_ = 0;
  bool stopped_ = false;
};

}  // namespace nova::serve::app
