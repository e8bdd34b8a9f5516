#include "serve/http/cors.h"

namespace nova::serve::http {

bool CorsPolicy::origin_allowed(std::string_view origin) const {
  for (const auto& o : config_.allowed_origins)
    if (o == "*" || o == origin) return true;
  return false;
}

bool CorsPolicy::is_preflight(const HttpRequest& req) const {
  return enabled() && req.method == "OPTIONS" && req.header("Origin") &&
         req.header("Access-Control-Request-Method");
}

Headers CorsPolicy::response_headers(const HttpRequest& req) const {
  Headers out;
  const auto origin = req.header("Origin");
  if (!enabled() || !origin || !origin_allowed(*origin)) return out;
  bool any = false;
  for (const auto& o : config_.allowed_origins) any = any || o == "*";
  const bool wildcard = any && !config_.allow_credentials;
  // A credentialed response may not use "*", so the origin is echoed (and caches told so).
  out.emplace_back("Access-Control-Allow-Origin", wildcard ? "*" : std::string(*origin));
  if (!wildcard) out.emplace_back("Vary", "Origin");
  if (config_.allow_credentials) out.emplace_back("Access-Control-Allow-Credentials", "true");
  if (!config_.expose_headers.empty()) out.emplace_back("Access-Control-Expose-Headers", config_.expose_headers);
  return out;
}

std::optional<Headers> CorsPolicy::preflight_headers(const HttpRequest& req) const {
  const auto origin = req.header("Origin");
  if (!origin || !origin_allowed(*origin)) return std::nullopt;
  Headers out;
  out.emplace_back("Access-Control-Allow-Methods", config_.allowed_methods);
  std::string allowed = config_.allowed_headers;
  if (allowed.empty()) allowed = std::string(req.header("Access-Control-Request-Headers").value_or(""));
  if (!allowed.empty()) out.emplace_back("Access-Control-Allow-Headers", allowed);
  out.emplace_back("Access-Control-Max-Age", std::to_string(config_.max_age_s));
  return out;
}

}  // namespace nova::serve::http
