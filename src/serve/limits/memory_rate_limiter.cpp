#include "serve/limits/memory_rate_limiter.h"

#include <algorithm>
#include <chrono>
#include <cmath>

namespace nova::serve::limits {

MemoryRateLimiter::MemoryRateLimiter(Clock clock) : clock_(std::move(clock)) {
  if (!clock_) {
    clock_ = [] {
      return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
    };
  }
}

LimitDecision MemoryRateLimiter::acquire(std::string_view key_id, const Limits& limits, int64_t tokens) {
  const double now = clock_();
  const double cost = static_cast<double>(std::max<int64_t>(0, tokens));
  validate(limits);
  std::lock_guard lock(mu_);
  if (++calls_ % 1024 == 0) sweep_locked(now);
  Buckets& b = buckets_[std::string(key_id)];
  b.last_used = now;

  LimitDecision d;
  const auto rpm = limits.requests_per_minute;
  const auto tpm = limits.tokens_per_minute;
  if (rpm) refill(b.requests, static_cast<double>(*rpm), now);
  if (tpm) refill(b.tokens, static_cast<double>(*tpm), now);
  // Both buckets must agree before either is charged.
  if (rpm && b.requests.tokens < 1.0) {
    d.allowed = false;
    d.exceeded = LimitKind::kRequests;
    d.retry_after_seconds = seconds_until(b.requests.tokens, static_cast<double>(*rpm), 1.0);
  }
  if (tpm && b.tokens.tokens < cost) {
    const double wait = seconds_until(b.tokens.tokens, static_cast<double>(*tpm), cost);
    if (d.allowed) d.exceeded = LimitKind::kTokens;
    d.allowed = false;
    d.retry_after_seconds = std::max(d.retry_after_seconds, wait);
  }
  if (d.allowed) {
    if (rpm) b.requests.tokens -= 1.0;
    if (tpm) b.tokens.tokens -= cost;
  }
  if (rpm) d.remaining_requests = static_cast<int64_t>(std::floor(b.requests.tokens));
  if (tpm) d.remaining_tokens = static_cast<int64_t>(std::floor(b.tokens.tokens));
  return d;
}

void MemoryRateLimiter::refund(std::string_view key_id, const Limits& limits, int64_t tokens) {
  if (!limits.tokens_per_minute || tokens <= 0) return;
  const double now = clock_();
  std::lock_guard lock(mu_);
  auto it = buckets_.find(std::string(key_id));
  if (it == buckets_.end()) return;  // swept: it refilled to full anyway
  give_back(it->second.tokens, static_cast<double>(*limits.tokens_per_minute), now, static_cast<double>(tokens));
}

size_t MemoryRateLimiter::tracked_keys() const {
  std::lock_guard lock(mu_);
  return buckets_.size();
}

void MemoryRateLimiter::sweep_locked(double now) {
  // After 60 s unused, every bucket is full again: forgetting it changes nothing.
  for (auto it = buckets_.begin(); it != buckets_.end();) {
    if (now - it->second.last_used > 60.0) it = buckets_.erase(it);
    else ++it;
  }
}

}  // namespace nova::serve::limits
