#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include <chrono>
#include <thread>

#include "limits_redis_server.h"
#include "serve/limits/redis_rate_limiter.h"

namespace nova::serve::limits {
namespace {

RedisOptions options_for(int port) {
  RedisOptions o;
  o.port = port;
  o.reconnect_interval = std::chrono::milliseconds(50);
  o.key_prefix = "test:rl:";
  return o;
}

// Runs one command on a fresh connection (test-side inspection of the shared state).
std::string redis_command(int port, const std::vector<std::string>& words) {
  redisContext* c = redisConnect("127.0.0.1", port);
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (const auto& w : words) {
    argv.push_back(w.data());
    lens.push_back(w.size());
  }
  auto* r = static_cast<redisReply*>(redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data()));
  std::string out;
  if (r && r->type == REDIS_REPLY_INTEGER) out = std::to_string(r->integer);
  else if (r && r->str) out = std::string(r->str, r->len);
  if (r) freeReplyObject(r);
  redisFree(c);
  return out;
}

class LimitsRedisTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!test::redis_server_available()) GTEST_SKIP() << test::kRedisServerPath << " is not installed";
    port_ = test::free_loopback_port();
    server_ = std::make_unique<test::RedisServer>(port_);
    ASSERT_TRUE(server_->running()) << "redis-server did not start on port " << port_;
  }
  int port_ = 0;
  std::unique_ptr<test::RedisServer> server_;
};

TEST_F(LimitsRedisTest, TwoReplicasShareOneBucket) {
  RedisRateLimiter a(options_for(port_)), b(options_for(port_));
  const Limits limits{5, std::nullopt};
  int allowed = 0;
  LimitDecision last;
  for (int i = 0; i < 10; ++i) {
    last = (i % 2 ? b : a).acquire("team", limits, 0);
    allowed += last.allowed;
  }
  EXPECT_EQ(allowed, 5);
  EXPECT_FALSE(last.allowed);
  EXPECT_EQ(last.exceeded, LimitKind::kRequests);
  // 5/min: one token per 12 s; a few milliseconds passed since the bucket emptied.
  EXPECT_GT(last.retry_after_seconds, 11.0);
  EXPECT_LE(last.retry_after_seconds, 12.0);
  EXPECT_EQ(last.retry_after_header(), 12);
  EXPECT_TRUE(a.acquire("someone-else", limits, 0).allowed);
  // The bucket expires on its own once it would be full again (<= 60 s + 1).
  const int ttl = std::stoi(redis_command(port_, {"TTL", "test:rl:{team}:requests"}));
  EXPECT_GT(ttl, 0);
  EXPECT_LE(ttl, 61);
}

TEST_F(LimitsRedisTest, TokenBucketAcrossReplicasWithRefund) {
  RedisRateLimiter a(options_for(port_)), b(options_for(port_));
  const Limits limits{1000, 600};
  auto d = a.acquire("k", limits, 500);
  ASSERT_TRUE(d.allowed);
  EXPECT_EQ(d.remaining_tokens, 100);
  EXPECT_EQ(d.remaining_requests, 999);
  d = b.acquire("k", limits, 200);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.exceeded, LimitKind::kTokens);
  EXPECT_NEAR(d.retry_after_seconds, 10.0, 0.1);  // 100 missing at 10 tokens/s
  EXPECT_EQ(d.remaining_requests, 999);           // all-or-nothing: the request token stayed
  a.refund("k", limits, 400);                     // the first request used only 100
  d = b.acquire("k", limits, 200);
  EXPECT_TRUE(d.allowed);
  EXPECT_GE(d.remaining_tokens.value(), 300);
  d = b.acquire("k", limits, 601);
  EXPECT_FALSE(d.allowed);
  EXPECT_TRUE(d.never());
}

TEST_F(LimitsRedisTest, ConcurrentReplicasNeverOvershoot) {
  RedisRateLimiter a(options_for(port_)), b(options_for(port_));
  const Limits limits{40, std::nullopt};
  std::atomic<int> allowed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i)
        if ((t % 2 ? a : b).acquire("hot", limits, 0).allowed) ++allowed;
    });
  for (auto& t : threads) t.join();
  // 100 attempts within well under a second: 40 plus at most a token or two of refill.
  EXPECT_GE(allowed.load(), 40);
  EXPECT_LE(allowed.load(), 42);
}

TEST_F(LimitsRedisTest, SurvivesAScriptFlush) {
  RedisRateLimiter a(options_for(port_));
  ASSERT_TRUE(a.acquire("k", {10, std::nullopt}, 0).allowed);
  redis_command(port_, {"SCRIPT", "FLUSH"});  // what a Redis restart does to the script cache
  auto d = a.acquire("k", {10, std::nullopt}, 0);
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.remaining_requests, 8);
}

TEST(LimitsRedisDown, FailsClosedThenReconnects) {
  if (!test::redis_server_available()) GTEST_SKIP() << test::kRedisServerPath << " is not installed";
  const int port = test::free_loopback_port();
  RedisRateLimiter rl(options_for(port));
  const Limits limits{10, std::nullopt};
  try {
    rl.acquire("k", limits, 0);
    FAIL() << "no error with Redis down";
  } catch (const LimiterUnavailable& e) {
    EXPECT_NE(std::string(e.what()).find(std::to_string(port)), std::string::npos);
  }
  EXPECT_THROW(rl.acquire("k", limits, 0), LimiterUnavailable);  // within the back-off: fails fast
  EXPECT_FALSE(rl.connected());
  // No limits at all needs no Redis.
  EXPECT_TRUE(rl.acquire("k", {}, 0).allowed);

  {
    test::RedisServer server(port);
    ASSERT_TRUE(server.running());
    std::this_thread::sleep_for(std::chrono::milliseconds(60));
    EXPECT_TRUE(rl.acquire("k", limits, 0).allowed);
    EXPECT_TRUE(rl.connected());
    server.stop();
    EXPECT_THROW(rl.acquire("k", limits, 0), LimiterUnavailable);
    EXPECT_FALSE(rl.connected());
  }
  test::RedisServer again(port);
  ASSERT_TRUE(again.running());
  std::this_thread::sleep_for(std::chrono::milliseconds(60));
  const auto d = rl.acquire("k", limits, 0);  // a new, empty Redis: the bucket starts full
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.remaining_requests, 9);
}

}  // namespace
}  // namespace nova::serve::limits
