// Per-key rate limits: requests per minute and tokens per minute, each a token bucket
// (token_bucket.h). A request takes one request token and its token reservation together, or
// nothing.
//
// Token accounting (the choice): before a request runs we reserve its *estimate*, prompt tokens
// + max_tokens (the most it can use), so a burst of long requests cannot overshoot the limit;
// when it finishes, refund() returns what it did not use (reserved - prompt - completion). A
// request whose estimate alone exceeds the per-minute capacity can never pass: the decision
// says so (retry_after = +inf) and the server answers 429 without a Retry-After.
//
// Limiter failure policy: when the shared store (Redis) cannot be reached, acquire() throws
// LimiterUnavailable and the server answers 503 — it fails closed, because silently dropping
// limits on a multi-replica deployment is worse than a short outage. The limiter reconnects on
// a later call by itself.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string_view>

#include "core/error.h"

namespace nova::serve::limits {

// Unset = unlimited in that dimension.
struct Limits {
  std::optional<int64_t> requests_per_minute;
  std::optional<int64_t> tokens_per_minute;
};

// Throws nova::Error unless every set limit is positive.
void validate(const Limits& limits);

enum class LimitKind { kRequests, kTokens };
std::string_view limit_kind_name(LimitKind kind);  // "requests" / "tokens"

struct LimitDecision {
  bool allowed = true;
  std::optional<LimitKind> exceeded;  // the first bucket that refused, when !allowed
  double retry_after_seconds = 0;     // 0 when allowed; +inf when it can never pass
  // What is left after this decision (floor); nullopt for an unlimited dimension.
  std::optional<int64_t> remaining_requests;
  std::optional<int64_t> remaining_tokens;

  bool never() const { return std::isinf(retry_after_seconds); }
  // The Retry-After header value: whole seconds, rounded up, at least 1.
  int64_t retry_after_header() const {
    return std::max<int64_t>(1, static_cast<int64_t>(std::ceil(retry_after_seconds)));
  }
};

// The limiter's backing store is unreachable: answer 503 (see the policy above).
class LimiterUnavailable : public Error {
 public:
  using Error::Error;
};

class RateLimiter {
 public:
  virtual ~RateLimiter() = default;
  // Takes one request and `tokens` tokens from `key_id`'s buckets, all or nothing.
  virtual LimitDecision acquire(std::string_view key_id, const Limits& limits, int64_t tokens) = 0;
  // Gives back unused reserved tokens (capped at the capacity).
  virtual void refund(std::string_view key_id, const Limits& limits, int64_t tokens) = 0;
};

}  // namespace nova::serve::limits
