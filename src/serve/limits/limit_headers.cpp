#include "serve/limits/limit_headers.h"

namespace nova::serve::limits {

http::Headers rate_limit_headers(const Limits& limits, const LimitDecision& d) {
  http::Headers h;
  if (limits.requests_per_minute) {
    h.emplace_back("x-ratelimit-limit-requests", std::to_string(*limits.requests_per_minute));
    if (d.remaining_requests) h.emplace_back("x-ratelimit-remaining-requests", std::to_string(*d.remaining_requests));
  }
  if (limits.tokens_per_minute) {
    h.emplace_back("x-ratelimit-limit-tokens", std::to_string(*limits.tokens_per_minute));
    if (d.remaining_tokens) h.emplace_back("x-ratelimit-remaining-tokens", std::to_string(*d.remaining_tokens));
  }
  if (!d.allowed && !d.never()) h.emplace_back("Retry-After", std::to_string(d.retry_after_header()));
  return h;
}

std::string rate_limit_message(std::string_view key_id, const Limits& limits, const LimitDecision& d, int64_t tokens) {
  const bool by_tokens = d.exceeded == LimitKind::kTokens;
  const int64_t limit = by_tokens ? limits.tokens_per_minute.value_or(0) : limits.requests_per_minute.value_or(0);
  std::string msg = "Rate limit reached for " + std::string(by_tokens ? "tokens" : "requests") + " per minute on key " +
                    std::string(key_id) + " (limit " + std::to_string(limit) + ")";
  if (d.never())
    return msg + ": this request needs " + std::to_string(tokens) +
           " tokens (prompt + max_tokens), more than the limit allows; lower max_tokens or shorten the prompt.";
  return msg + "; retry in " + std::to_string(d.retry_after_header()) + " s.";
}

}  // namespace nova::serve::limits
