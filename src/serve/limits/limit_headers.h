// HTTP headers describing a rate-limit decision, named as OpenAI names them:
// x-ratelimit-limit-{requests,tokens}, x-ratelimit-remaining-{requests,tokens}, and on a refusal
// Retry-After (whole seconds; left out when the request can never pass).
#pragma once

#include "serve/http/http_request.h"
#include "serve/limits/rate_limiter.h"

namespace nova::serve::limits {

http::Headers rate_limit_headers(const Limits& limits, const LimitDecision& decision);

// The 429 message for a refusal, e.g. "Rate limit reached for requests per minute (limit 60);
// retry in 12 s." — names the key id only.
std::string rate_limit_message(std::string_view key_id, const Limits& limits, const LimitDecision& decision,
                               int64_t tokens);

}  // namespace nova::serve::limits
