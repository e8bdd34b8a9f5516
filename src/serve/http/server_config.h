// Limits and timeouts of the HTTP server; every value that bounds what a client can make the
// server hold (bytes, connections, time) lives here.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include "serve/http/request_parser.h"

namespace nova::serve::http {

struct CorsConfig {
  // Origins allowed to call the API from a browser ("https://app.example"); "*" allows any.
  // Empty: no CORS headers are sent and OPTIONS goes to the router like any other method.
  std::vector<std::string> allowed_origins;
  std::string allowed_methods = "GET, POST, OPTIONS";
  // Empty: echo the preflight's Access-Control-Request-Headers.
  std::string allowed_headers = "Authorization, Content-Type, OpenAI-Organization, OpenAI-Project";
  std::string expose_headers;
  bool allow_credentials = false;
  int max_age_s = 600;
};

struct ServerConfig {
  ParserLimits limits;
  int worker_threads = 4;            // handlers that are not cheap enough to run on the loop
  size_t max_connections = 16384;    // beyond this, new connections get a 503 and are closed
  // Per-connection backlog of streamed bytes the client has not read yet. A stream that
  // overruns it is cut (the client is too slow) so one reader cannot pin unbounded memory.
  size_t max_output_queue_bytes = 4 * 1024 * 1024;
  // Slowloris: a request's head must be complete this long after its first byte (or after
  // accept on a fresh connection); its body within body_timeout after the head.
  std::chrono::milliseconds header_timeout{10'000};
  std::chrono::milliseconds body_timeout{60'000};
  std::chrono::milliseconds idle_timeout{60'000};   // keep-alive wait for the next request
  std::chrono::milliseconds write_timeout{60'000};  // no write progress at all -> close
  std::chrono::milliseconds drain_timeout{10'000};  // graceful stop: in-flight deadline
  // After answering an error we half-close and discard input this long, so the client reads
  // our response instead of getting a reset for the bytes it was still sending.
  std::chrono::milliseconds linger_timeout{1'000};
  int listen_backlog = 4096;
  CorsConfig cors;
};

}  // namespace nova::serve::http
