// Rate limits shared by every replica through one Redis server. Each check is one EVALSHA of a
// Lua script that, atomically on the server, refills the key's buckets from the Redis server's
// own TIME (so replicas with skewed clocks agree), takes the cost from all of them or none, and
// writes them back with an expiry (a bucket left alone until full is simply deleted).
//
// Keys: <prefix>{<key id>}:requests and <prefix>{<key id>}:tokens (the hash tag keeps both in
// one Redis Cluster slot). Failure: LimiterUnavailable (503, fail closed); after a failure the
// next connection attempt waits reconnect_interval, calls in between fail fast.
#pragma once

#include <chrono>
#include <mutex>
#include <string>

#include "serve/limits/rate_limiter.h"

struct redisContext;

namespace nova::serve::limits {

struct RedisOptions {
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string password;  // AUTH when non-empty
  std::chrono::milliseconds connect_timeout{200};
  std::chrono::milliseconds command_timeout{200};
  std::chrono::milliseconds reconnect_interval{1000};
  std::string key_prefix = "nova:ratelimit:";
};

class RedisRateLimiter : public RateLimiter {
 public:
  // Does not connect yet: the first call does (so a server can start before Redis is up).
  explicit RedisRateLimiter(RedisOptions options);
  ~RedisRateLimiter() override;
  RedisRateLimiter(const RedisRateLimiter&) = delete;
  RedisRateLimiter& operator=(const RedisRateLimiter&) = delete;

  LimitDecision acquire(std::string_view key_id, const Limits& limits, int64_t tokens) override;
  void refund(std::string_view key_id, const Limits& limits, int64_t tokens) override;

  // Whether a connection is currently open (for health/metrics).
  bool connected() const;

  // The Lua source (exposed for tests and documentation).
  static const char* script();

 private:
  struct ScriptReply;
  ScriptReply run_script(const std::string& mode, std::string_view key_id, const Limits& limits, int64_t tokens);
  void connect_locked();
  void drop_locked();
  [[noreturn]] void unavailable_locked(const std::string& why);

  RedisOptions options_;
  mutable std::mutex mu_;  // hiredis contexts are not thread-safe: one command at a time
  redisContext* ctx_ = nullptr;
  std::string script_sha_;
  std::chrono::steady_clock::time_point next_attempt_{};
  std::string last_error_;
};

}  // namespace nova::serve::limits
