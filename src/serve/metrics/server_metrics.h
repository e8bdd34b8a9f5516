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
  Gauge& kv_cache_blocks_used;
  Gauge& kv_cache_blocks_total;
  Counter& preemptions_total;
  Counter& engine_steps_total;
  Counter& prefix_cache_queries_total;
  Counter& prefix_cache_hits_total;
  Gauge& http_open_connections;
  Counter& http_disconnects_total;            // responses cut short by the client leaving
  Family<Counter>& rate_limited_total;        // {limit}: "requests" or "tokens"

  // Brings a counter that mirrors a monotonic total kept elsewhere (the engine's, the HTTP
  // server's) up to `total`; a total that went down (restart) is ignored.
  static void sync_counter(Counter& c, double total) { c.inc(total - c.value()); }

  // Convenience for the end of a request.
  void count_request(std::string_view endpoint, int status);
};

}  // namespace nova::serve::metrics
