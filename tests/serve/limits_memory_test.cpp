#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <thread>
#include <vector>

#include "serve/limits/memory_rate_limiter.h"
#include "serve/limits/token_bucket.h"

namespace nova::serve::limits {
namespace {

TEST(LimitsBucket, RefillIsContinuousAndCapped) {
  BucketState s;
  EXPECT_TRUE(try_take(s, 60, 100.0, 60));  // starts full
  EXPECT_DOUBLE_EQ(s.tokens, 0);
  refill(s, 60, 100.5);  // 60/min = 1 per second
  EXPECT_DOUBLE_EQ(s.tokens, 0.5);
  refill(s, 60, 99.0);  // clock went backwards: nothing added, nothing lost
  EXPECT_DOUBLE_EQ(s.tokens, 0.5);
  refill(s, 60, 1000.0);
  EXPECT_DOUBLE_EQ(s.tokens, 60);
  refill(s, 10, 1000.0);  // a lowered limit applies at once
  EXPECT_DOUBLE_EQ(s.tokens, 10);
  EXPECT_DOUBLE_EQ(seconds_until(0, 60, 3), 3.0);
  EXPECT_DOUBLE_EQ(seconds_until(5, 60, 3), 0.0);
  EXPECT_TRUE(std::isinf(seconds_until(0, 60, 61)));
  give_back(s, 10, 1000.0, 50);
  EXPECT_DOUBLE_EQ(s.tokens, 10);
}

struct FakeClock {
  double now = 1000.0;
  MemoryRateLimiter::Clock fn() {
    return [this] { return now; };
  }
};

TEST(LimitsMemory, RequestsPerMinuteWithRetryAfter) {
  FakeClock clock;
  MemoryRateLimiter rl(clock.fn());
  const Limits limits{3, std::nullopt};
  for (int i = 0; i < 3; ++i) {
    const auto d = rl.acquire("k", limits, 100);
    EXPECT_TRUE(d.allowed);
    EXPECT_EQ(d.remaining_requests, 2 - i);
    EXPECT_FALSE(d.remaining_tokens.has_value());
  }
  auto d = rl.acquire("k", limits, 0);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.exceeded, LimitKind::kRequests);
  EXPECT_DOUBLE_EQ(d.retry_after_seconds, 20.0);  // 3/min: one token every 20 s
  EXPECT_EQ(d.retry_after_header(), 20);
  clock.now += 10;
  d = rl.acquire("k", limits, 0);
  EXPECT_FALSE(d.allowed);
  EXPECT_DOUBLE_EQ(d.retry_after_seconds, 10.0);
  clock.now += 10;
  EXPECT_TRUE(rl.acquire("k", limits, 0).allowed);
  EXPECT_FALSE(rl.acquire("k", limits, 0).allowed);
  // Other keys have their own buckets.
  EXPECT_TRUE(rl.acquire("other", limits, 0).allowed);
}

TEST(LimitsMemory, TokensReserveAndRefund) {
  FakeClock clock;
  MemoryRateLimiter rl(clock.fn());
  const Limits limits{100, 1000};
  auto d = rl.acquire("k", limits, 600);
  ASSERT_TRUE(d.allowed);
  EXPECT_EQ(d.remaining_tokens, 400);
  d = rl.acquire("k", limits, 600);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.exceeded, LimitKind::kTokens);
  EXPECT_DOUBLE_EQ(d.retry_after_seconds, 200.0 / (1000.0 / 60.0));  // 12 s
  EXPECT_EQ(d.remaining_requests, 99);  // the refused request took nothing
  rl.refund("k", limits, 300);          // the first request used 300 of its 600
  d = rl.acquire("k", limits, 600);
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.remaining_tokens, 100);
  EXPECT_EQ(d.remaining_requests, 98);
  // An estimate above the capacity can never pass.
  d = rl.acquire("k", limits, 1001);
  EXPECT_FALSE(d.allowed);
  EXPECT_TRUE(d.never());
}

TEST(LimitsMemory, UnlimitedAndInvalidLimits) {
  MemoryRateLimiter rl;
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(rl.acquire("k", {}, 1 << 20).allowed);
  EXPECT_THROW(rl.acquire("k", {0, std::nullopt}, 1), Error);
  EXPECT_THROW(rl.acquire("k", {std::nullopt, -1}, 1), Error);
}

TEST(LimitsMemory, ConcurrentCallersNeverOvershoot) {
  FakeClock clock;  // frozen: no refill during the test
  MemoryRateLimiter rl(clock.fn());
  const Limits limits{500, 100000};
  std::atomic<int> allowed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i)
        if (rl.acquire("shared", limits, 100).allowed) ++allowed;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(allowed.load(), 500);
}

TEST(LimitsMemory, IdleKeysAreForgotten) {
  FakeClock clock;
  MemoryRateLimiter rl(clock.fn());
  for (int i = 0; i < 1000; ++i) rl.acquire("k" + std::to_string(i), {10, std::nullopt}, 0);
  clock.now += 61;
  for (int i = 0; i < 100; ++i) rl.acquire("fresh", {10, std::nullopt}, 0);  // triggers the sweep
  EXPECT_LT(rl.tracked_keys(), 100u);
}

}  // namespace
}  // namespace nova::serve::limits

#include "serve/limits/limit_headers.h"

namespace nova::serve::limits {
namespace {

TEST(LimitsHeaders, OpenAINamesAndRetryAfter) {
  const Limits limits{3, 1000};
  LimitDecision ok;
  ok.remaining_requests = 2;
  ok.remaining_tokens = 400;
  EXPECT_EQ(rate_limit_headers(limits, ok),
            (http::Headers{{"x-ratelimit-limit-requests", "3"}, {"x-ratelimit-remaining-requests", "2"},
                           {"x-ratelimit-limit-tokens", "1000"}, {"x-ratelimit-remaining-tokens", "400"}}));
  LimitDecision refused = ok;
  refused.allowed = false;
  refused.exceeded = LimitKind::kRequests;
  refused.retry_after_seconds = 11.2;
  const auto h = rate_limit_headers(limits, refused);
  EXPECT_EQ(h.back(), (std::pair<std::string, std::string>{"Retry-After", "12"}));
  EXPECT_EQ(rate_limit_message("nova-AAAAAAAA", limits, refused, 10),
            "Rate limit reached for requests per minute on key nova-AAAAAAAA (limit 3); retry in 12 s.");
  refused.exceeded = LimitKind::kTokens;
  refused.retry_after_seconds = INFINITY;
  EXPECT_EQ(rate_limit_headers(limits, refused).back().first, "x-ratelimit-remaining-tokens");  // no Retry-After
  EXPECT_NE(rate_limit_message("nova-AAAAAAAA", limits, refused, 5000).find("needs 5000 tokens"), std::string::npos);
}

}  // namespace
}  // namespace nova::serve::limits
