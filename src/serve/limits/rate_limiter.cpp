#include "serve/limits/rate_limiter.h"

namespace nova::serve::limits {

void validate(const Limits& limits) {
  if (limits.requests_per_minute) require(*limits.requests_per_minute > 0, "requests_per_minute", "must be positive");
  if (limits.tokens_per_minute) require(*limits.tokens_per_minute > 0, "tokens_per_minute", "must be positive");
}

std::string_view limit_kind_name(LimitKind kind) { return kind == LimitKind::kRequests ? "requests" : "tokens"; }

}  // namespace nova::serve::limits
