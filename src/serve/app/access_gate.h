// The policy in front of every API route: who is calling (Bearer key -> Principal, 401/403) and
// whether their per-key budget allows this request (token buckets in memory or in Redis, 429
// with Retry-After; 503 when the shared limiter is unreachable — it fails closed).
//
// Limits: a key's own requests/tokens-per-minute win; unset ones fall back to the server's
// defaults (--rpm / --tpm); unset there too means unlimited. Without --api-keys the server is
// open and every caller is the one principal "local" (so limits, if set, are shared by all).
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "serve/app/request_record.h"
#include "serve/auth/authenticator.h"
#include "serve/http/http_request.h"
#include "serve/limits/rate_limiter.h"
#include "serve/metrics/server_metrics.h"

namespace nova::serve::app {

// What admit() took from a key's buckets, so unused tokens can be given back at the end.
struct Reservation {
  std::string key_id;
  limits::Limits limits;
  int64_t tokens = 0;
  http::Headers headers;  // x-ratelimit-* for the success response
};

class AccessGate {
 public:
  // `limiter` may be null: no rate limiting at all.
  AccessGate(auth::Authenticator authenticator, std::shared_ptr<limits::RateLimiter> limiter,
             limits::Limits defaults, metrics::ServerMetrics* metrics);

  bool auth_enabled() const { return auth_.enabled(); }
  auth::Authenticator& authenticator() { return auth_; }
  const limits::Limits& default_limits() const { return defaults_; }

  // The caller, or nullopt after answering 401/403 (and finishing `record`).
  std::optional<auth::Principal> authenticate(const http::HttpRequest& req, http::ResponseWriter& w,
                                              RequestRecord& record, auth::Role needed = auth::Role::kUser);

  // Takes one request and `tokens` from the principal's buckets; nullopt after answering 429
  // (or 503 when the limiter is unavailable).
  std::optional<Reservation> admit(const auth::Principal& who, int64_t tokens, http::ResponseWriter& w,
                                   RequestRecord& record);
  // Gives back what a request reserved but did not use (`used` tokens of its reservation).
  void settle(const Reservation& r, int64_t used);

  limits::Limits limits_for(const auth::Principal& who) const;

 private:
  auth::Authenticator auth_;
  std::shared_ptr<limits::RateLimiter> limiter_;
  limits::Limits defaults_;
  metrics::ServerMetrics* metrics_;
};

}  // namespace nova::serve::app
