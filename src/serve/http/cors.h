// CORS for browser clients: which response headers an allowed Origin gets, and the answer to
// an OPTIONS preflight.
#pragma once

#include <optional>

#include "serve/http/http_request.h"
#include "serve/http/server_config.h"

namespace nova::serve::http {

class CorsPolicy {
 public:
  explicit CorsPolicy(CorsConfig config) : config_(std::move(config)) {}

  bool enabled() const { return !config_.allowed_origins.empty(); }
  bool origin_allowed(std::string_view origin) const;

  // OPTIONS with Origin and Access-Control-Request-Method.
  bool is_preflight(const HttpRequest& req) const;

  // Headers to add to an ordinary response (empty without Origin or when it is not allowed).
  Headers response_headers(const HttpRequest& req) const;

  // Headers a 204 answer to a preflight adds to response_headers(); nullopt when the origin
  // is not allowed.
  std::optional<Headers> preflight_headers(const HttpRequest& req) const;

 private:
  CorsConfig config_;
};

}  // namespace nova::serve::http
