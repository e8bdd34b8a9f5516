// A minimal Prometheus text exposition of the engine's and the HTTP server's counters, used
// for GET /metrics until serve/metrics provides the full registry.
#pragma once

#include <string>

#include "engine/llm_engine.h"
#include "serve/http/http_server.h"

namespace nova::serve::app {

std::string engine_prometheus_text(const engine::EngineStats& engine, const http::HttpServer::Stats& server,
                                   const std::string& model_name);

}  // namespace nova::serve::app
