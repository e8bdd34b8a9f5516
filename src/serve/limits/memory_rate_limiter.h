// Rate limits kept in this process (one replica, or tests). Thread-safe; the clock is
// injectable so refill arithmetic can be tested without sleeping.
#pragma once

#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>

#include "serve/limits/rate_limiter.h"
#include "serve/limits/token_bucket.h"

namespace nova::serve::limits {

class MemoryRateLimiter : public RateLimiter {
 public:
  using Clock = std::function<double()>;  // seconds, monotonic
  explicit MemoryRateLimiter(Clock clock = {});

  LimitDecision acquire(std::string_view key_id, const Limits& limits, int64_t tokens) override;
  void refund(std::string_view key_id, const Limits& limits, int64_t tokens) override;

  size_t tracked_keys() const;

 private:
  struct Buckets {
    BucketState requests;
    BucketState tokens;
    double last_used = 0;
  };
  void sweep_locked(double now);

  Clock clock_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Buckets> buckets_;
  uint64_t calls_ = 0;
};

}  // namespace nova::serve::limits
