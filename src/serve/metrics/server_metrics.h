// The metrics the server exports at /metrics, declared once so every handler updates the same
// objects. Latencies are in seconds.
#pragma once

#include <string_view>

#include "serve/metrics/registry.h"

namespace nova::serve::metrics {

// Buckets: latency from 1 ms (cached prefixes, tiny prompts) up to minutes (long generations).
inline const std::vector<double> kTimeToFirstTokenBuckets = {0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25,
                                                            0.5,   0.75,  1,    2.5,  5,    7.5,  10,   20,  40, 80};
inline const std::vector<double> kInterTokenBuckets = {0.001, 0.0025, 0.005, 0.01, 0.015, 0.02, 0.025, 0.03, 0.04,
                                                       0.05,  0.075,  0.1,   0.15, 0.2,   0.3,  0.4,   0.5,  1,  2.5};
inline const std::vector<double> kEndToEndBuckets = {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 20, 30, 40, 60, 120, 300, 600};

struct ServerMetrics {
  explicit ServerMetrics(Registry& registry);

  Registry& registry;
  Family<Counter>& requests_total;            // {endpoint, status}
  Histogram& time_to_first_token_seconds;
  Histogram& inter_token_latency_seconds;
  Histogram& e2e_request_latency_seconds;
  Counter& prompt_tokens_total;
  Counter& generation_tokens_total;
  Gauge& queue_length;
  Gauge& running_batch_size;
  Gauge& kv_cache_usage_ratio;
  Family<Counter>& rate_limited_total;        // {limit}: "requests" or "tokens"

  // Convenience for the end of a request.
  void count_request(std::string_view endpoint, int status);
};

}  // namespace nova::serve::metrics
