#include "serve/limits/redis_rate_limiter.h"

#include <hiredis/hiredis.h>
#include <sys/time.h>

#include <cmath>
#include <cstdlib>
#include <memory>
#include <vector>

namespace nova::serve::limits {

namespace {

// KEYS[i]: bucket hashes {tokens, ts}. ARGV[1]: "take" or "refund"; then per key: capacity, cost.
// Returns {allowed (0/1), retry-after seconds ("-1" = never), index of the refusing key (0 = none),
// tokens left per key...}. Numbers travel as strings: Redis truncates Lua numbers to integers.
constexpr const char* kScript = R"lua(
if redis.replicate_commands then pcall(redis.replicate_commands) end
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local take = ARGV[1] == 'take'
local n = #KEYS
local left = {}
local allowed = 1
local wait = 0
local refused = 0
for i = 1, n do
  local cap = tonumber(ARGV[2 * i])
  local cost = tonumber(ARGV[2 * i + 1])
  local rate = cap / 60
  local v = redis.call('HMGET', KEYS[i], 'tokens', 'ts')
  local tokens = tonumber(v[1])
  local ts = tonumber(v[2])
  if tokens == nil or ts == nil then
    tokens = cap
  elseif now > ts then
    tokens = tokens + (now - ts) * rate
  end
  if tokens > cap then tokens = cap end
  left[i] = tokens
  if take and cost > tokens then
    if refused == 0 then refused = i end
    allowed = 0
    if cost > cap then
      wait = -1
    elseif wait >= 0 then
      local w = (cost - tokens) / rate
      if w > wait then wait = w end
    end
  end
end
if allowed == 1 then
  for i = 1, n do
    local cap = tonumber(ARGV[2 * i])
    local cost = tonumber(ARGV[2 * i + 1])
    if take then left[i] = left[i] - cost else left[i] = math.min(cap, left[i] + cost) end
    redis.call('HSET', KEYS[i], 'tokens', tostring(left[i]), 'ts', tostring(now))
    redis.call('EXPIRE', KEYS[i], math.ceil((cap - left[i]) / (cap / 60)) + 1)
  end
end
local out = {allowed, tostring(wait), refused}
for i = 1, n do out[#out + 1] = tostring(left[i]) end
return out
)lua";

struct ReplyDeleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using ReplyPtr = std::unique_ptr<redisReply, ReplyDeleter>;

timeval to_timeval(std::chrono::milliseconds ms) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return tv;
}

std::string reply_string(const redisReply* r) {
  if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS || r->type == REDIS_REPLY_ERROR)
    return std::string(r->str, r->len);
  if (r->type == REDIS_REPLY_INTEGER) return std::to_string(r->integer);
  return {};
}

double parse_double(const std::string& s) {
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  return end == s.c_str() ? 0.0 : v;
}

}  // namespace

struct RedisRateLimiter::ScriptReply {
  bool allowed = true;
  double wait = 0;   // -1 = never
  int refused = 0;   // 1-based index into the keys sent
  std::vector<double> left;
};

const char* RedisRateLimiter::script() { return kScript; }

RedisRateLimiter::RedisRateLimiter(RedisOptions options) : options_(std::move(options)) {}

RedisRateLimiter::~RedisRateLimiter() { drop_locked(); }

bool RedisRateLimiter::connected() const {
  std::lock_guard lock(mu_);
  return ctx_ != nullptr;
}

void RedisRateLimiter::drop_locked() {
  if (ctx_) redisFree(ctx_);
  ctx_ = nullptr;
  script_sha_.clear();
}

void RedisRateLimiter::unavailable_locked(const std::string& why) {
  drop_locked();
  last_error_ = why;
  next_attempt_ = std::chrono::steady_clock::now() + options_.reconnect_interval;
  throw LimiterUnavailable("rate limiter",
                           "Redis at " + options_.host + ":" + std::to_string(options_.port) + " is unavailable: " + why);
}

void RedisRateLimiter::connect_locked() {
  if (ctx_) return;
  if (std::chrono::steady_clock::now() < next_attempt_)
    throw LimiterUnavailable("rate limiter", "Redis at " + options_.host + ":" + std::to_string(options_.port) +
                                                 " is unavailable (will retry shortly): " + last_error_);
  ctx_ = redisConnectWithTimeout(options_.host.c_str(), options_.port, to_timeval(options_.connect_timeout));
  if (!ctx_) unavailable_locked("out of memory");
  if (ctx_->err) unavailable_locked(ctx_->errstr);
  if (redisSetTimeout(ctx_, to_timeval(options_.command_timeout)) != REDIS_OK) unavailable_locked(ctx_->errstr);
  if (!options_.password.empty()) {
    const char* argv[] = {"AUTH", options_.password.c_str()};
    const size_t lens[] = {4, options_.password.size()};
    ReplyPtr r(static_cast<redisReply*>(redisCommandArgv(ctx_, 2, argv, lens)));
    if (!r) unavailable_locked(ctx_->errstr);
    if (r->type == REDIS_REPLY_ERROR) unavailable_locked("AUTH failed");  // never echo the password
  }
  const char* argv[] = {"SCRIPT", "LOAD", kScript};
  const size_t lens[] = {6, 4, std::char_traits<char>::length(kScript)};
  ReplyPtr r(static_cast<redisReply*>(redisCommandArgv(ctx_, 3, argv, lens)));
  if (!r) unavailable_locked(ctx_->errstr);
  if (r->type != REDIS_REPLY_STRING) unavailable_locked("SCRIPT LOAD failed: " + reply_string(r.get()));
  script_sha_ = reply_string(r.get());
}

RedisRateLimiter::ScriptReply RedisRateLimiter::run_script(const std::string& mode, std::string_view key_id,
                                                           const Limits& limits, int64_t tokens) {
  validate(limits);
  std::vector<std::string> keys, args;
  const std::string base = options_.key_prefix + "{" + std::string(key_id) + "}:";
  if (limits.requests_per_minute) {
    keys.push_back(base + "requests");
    args.push_back(std::to_string(*limits.requests_per_minute));
    args.push_back(mode == "take" ? "1" : "0");
  }
  if (limits.tokens_per_minute) {
    keys.push_back(base + "tokens");
    args.push_back(std::to_string(*limits.tokens_per_minute));
    args.push_back(std::to_string(std::max<int64_t>(0, tokens)));
  }
  std::lock_guard lock(mu_);
  for (int attempt = 0; attempt < 2; ++attempt) {
    connect_locked();
    std::vector<std::string> words = {"EVALSHA", script_sha_, std::to_string(keys.size())};
    words.insert(words.end(), keys.begin(), keys.end());
    words.push_back(mode);
    words.insert(words.end(), args.begin(), args.end());
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    for (const auto& w : words) {
      argv.push_back(w.data());
      lens.push_back(w.size());
    }
    ReplyPtr r(static_cast<redisReply*>(redisCommandArgv(ctx_, static_cast<int>(argv.size()), argv.data(), lens.data())));
    if (!r) unavailable_locked(ctx_->errstr);  // I/O error or timeout: the connection is unusable
    if (r->type == REDIS_REPLY_ERROR) {
      const std::string err = reply_string(r.get());
      if (err.rfind("NOSCRIPT", 0) == 0 && attempt == 0) {  // the server restarted or flushed scripts
        drop_locked();
        continue;
      }
      unavailable_locked("script error: " + err);
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 + keys.size()) unavailable_locked("unexpected script reply");
    ScriptReply out;
    out.allowed = r->element[0]->type == REDIS_REPLY_INTEGER && r->element[0]->integer == 1;
    out.wait = parse_double(reply_string(r->element[1]));
    out.refused = r->element[2]->type == REDIS_REPLY_INTEGER ? static_cast<int>(r->element[2]->integer) : 0;
    for (size_t i = 0; i < keys.size(); ++i) out.left.push_back(parse_double(reply_string(r->element[3 + i])));
    return out;
  }
  unavailable_locked("script could not be loaded");
}

LimitDecision RedisRateLimiter::acquire(std::string_view key_id, const Limits& limits, int64_t tokens) {
  LimitDecision d;
  if (!limits.requests_per_minute && !limits.tokens_per_minute) return d;
  const ScriptReply r = run_script("take", key_id, limits, tokens);
  d.allowed = r.allowed;
  size_t i = 0;
  std::optional<LimitKind> kinds[2];
  if (limits.requests_per_minute) {
    kinds[i] = LimitKind::kRequests;
    d.remaining_requests = static_cast<int64_t>(std::floor(r.left[i++]));
  }
  if (limits.tokens_per_minute) {
    kinds[i] = LimitKind::kTokens;
    d.remaining_tokens = static_cast<int64_t>(std::floor(r.left[i++]));
  }
  if (!d.allowed) {
    d.exceeded = r.refused >= 1 && r.refused <= 2 ? kinds[r.refused - 1] : std::nullopt;
    d.retry_after_seconds = r.wait < 0 ? INFINITY : r.wait;
  }
  return d;
}

void RedisRateLimiter::refund(std::string_view key_id, const Limits& limits, int64_t tokens) {
  if (!limits.tokens_per_minute || tokens <= 0) return;
  Limits only_tokens;
  only_tokens.tokens_per_minute = limits.tokens_per_minute;
  run_script("refund", key_id, only_tokens, tokens);
}

}  // namespace nova::serve::limits
