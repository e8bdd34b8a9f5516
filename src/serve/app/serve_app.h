// The OpenAI-compatible inference server: loads one model directory, runs one LlmEngine (its
// background step thread batches every request) and serves /v1/chat/completions,
// /v1/completions, /v1/models, /invocations, /health, /ping and /metrics over HttpServer.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "engine/llm_engine.h"
#include "engine/tokenizer_detokenizer.h"
#include "serve/app/model_bundle.h"
#include "serve/app/request_parsing.h"
#include "serve/http/http_server.h"

namespace nova::serve::app {

struct ServeAppOptions {
  std::string model_dir;
  engine::EngineConfig engine;
  http::ServerConfig server;
};

class ServeApp {
 public:
  // Loads the model (throws nova::Error naming the file) and starts the engine's step thread.
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
  // The routes, bound to this app (start() uses them; exposed for tests).
  http::Router router();

 private:
  void handle_generation(Endpoint endpoint, const http::HttpRequest& req, http::ResponseWriterPtr w);

  ServeAppOptions options_;
  ModelBundle model_;
  std::unique_ptr<engine::TokenizerDetokenizer> detok_;
  std::unique_ptr<engine::LlmEngine> engine_;
  std::unique_ptr<http::HttpServer> server_;
  int64_t created_ = 0;
  bool stopped_ = false;
};

}  // namespace nova::serve::app
