#include "serve/app/access_gate.h"

#include "serve/limits/limit_headers.h"

namespace nova::serve::app {

AccessGate::AccessGate(auth::Authenticator authenticator, std::shared_ptr<limits::RateLimiter> limiter,
                       limits::Limits defaults, metrics::ServerMetrics* metrics)
    : auth_(std::move(authenticator)), limiter_(std::move(limiter)), defaults_(defaults), metrics_(metrics) {
  limits::validate(defaults_);
}

limits::Limits AccessGate::limits_for(const auth::Principal& who) const {
  limits::Limits l;
  l.requests_per_minute = who.limits.requests_per_minute ? who.limits.requests_per_minute : defaults_.requests_per_minute;
  l.tokens_per_minute = who.limits.tokens_per_minute ? who.limits.tokens_per_minute : defaults_.tokens_per_minute;
  return l;
}

std::optional<auth::Principal> AccessGate::authenticate(const http::HttpRequest& req, http::ResponseWriter& w,
                                                        RequestRecord& record, auth::Role needed) {
  const auth::AuthResult r = auth_.check(req.header("Authorization"));
  if (!r.ok()) {
    http::Headers h;
    if (r.error.status == 401) h.emplace_back("WWW-Authenticate", "Bearer");
    answer_error(w, record, r.error.status, r.error.message, r.error.code, {}, h);
    return std::nullopt;
  }
  record.set_key_id(r.principal->key_id);
  if (auto denied = auth::require_role(*r.principal, needed)) {
    answer_error(w, record, denied->status, denied->message, denied->code);
    return std::nullopt;
  }
  return r.principal;
}

std::optional<Reservation> AccessGate::admit(const auth::Principal& who, int64_t tokens, http::ResponseWriter& w,
                                             RequestRecord& record) {
  Reservation res;
  res.key_id = who.key_id;
  res.limits = limits_for(who);
  if (!limiter_ || (!res.limits.requests_per_minute && !res.limits.tokens_per_minute)) return res;
  // Unlimited tokens: reserve nothing, so nothing is refunded either.
  const int64_t cost = res.limits.tokens_per_minute ? tokens : 0;
  limits::LimitDecision d;
  try {
    d = limiter_->acquire(who.key_id, res.limits, cost);
  } catch (const limits::LimiterUnavailable& e) {
    answer_error(w, record, 503, "The rate limiter is unavailable; retry later.", "rate_limiter_unavailable", {},
                 {{"Retry-After", "1"}});
    return std::nullopt;
  }
  if (!d.allowed) {
    if (metrics_) metrics_->rate_limited_total.with({std::string(limits::limit_kind_name(*d.exceeded))}).inc();
    answer_error(w, record, 429, limits::rate_limit_message(who.key_id, res.limits, d, cost), "rate_limit_exceeded", {},
                 limits::rate_limit_headers(res.limits, d));
    return std::nullopt;
  }
  res.tokens = cost;
  res.headers = limits::rate_limit_headers(res.limits, d);
  return res;
}

void AccessGate::settle(const Reservation& r, int64_t used) {
  if (!limiter_ || r.tokens <= 0 || used >= r.tokens) return;
  try {
    limiter_->refund(r.key_id, r.limits, r.tokens - used);
  } catch (const std::exception&) {
    // A lost refund only makes the limit stricter for a moment; the request already succeeded.
  }
}

}  // namespace nova::serve::app
