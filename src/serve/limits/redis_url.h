// redis://[[USER]:PASSWORD@]HOST[:PORT][/0] -> RedisOptions. Only database 0: the limiter's
// keys carry their own prefix, so a separate database buys nothing. USER is accepted and
// ignored (AUTH with a password only).
#pragma once

#include <string>

#include "serve/limits/redis_rate_limiter.h"

namespace nova::serve::limits {

// Throws nova::Error naming the URL's problem (never echoing the password).
RedisOptions parse_redis_url(const std::string& url);

// The URL with any password replaced by "***", for logs and startup lines.
std::string redact_redis_url(const std::string& url);

}  // namespace nova::serve::limits
